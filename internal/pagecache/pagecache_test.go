package pagecache

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func randBytes(n int, seed uint64) []byte {
	var s [32]byte
	s[0] = byte(seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

// TestWriterWritesEveryByte writes in uneven chunks, from an offset (a
// resumed download), across several windows.
func TestWriterWritesEveryByte(t *testing.T) {
	for _, start := range []int64{0, 1, 3*window + 5} {
		name := filepath.Join(t.TempDir(), "f")
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		head := randBytes(int(start), 1)
		if _, err := f.Write(head); err != nil {
			t.Fatal(err)
		}
		data := randBytes(3*window+12345, 2)
		w := NewWriter(f, start)
		r := rand.New(rand.NewPCG(3, 3))
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN(3<<20))
			m, err := w.Write(rest[:n])
			if err != nil || m != n {
				t.Fatalf("Write(%d bytes) = %d, %v", n, m, err)
			}
			rest = rest[n:]
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, append(head, data...)) {
			t.Fatalf("start %d: the file differs from what was written", start)
		}
	}
}
