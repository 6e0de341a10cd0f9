package piece_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/internal/piece"
)

// Known answers: BLAKE3-256 from the BLAKE3 reference implementation.
var known = []struct {
	in, want string
}{
	{"", "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
	{"abc", "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"},
}

func TestSumKnownAnswers(t *testing.T) {
	for _, tt := range known {
		if got := piece.Sum([]byte(tt.in)).String(); got != tt.want {
			t.Errorf("Sum(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestHasherMatchesSum(t *testing.T) {
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, chunk := range []int{1, 63, 1024, 65536, len(data)} {
		h := piece.NewHasher()
		for rest := data; len(rest) > 0; {
			n := min(chunk, len(rest))
			if chunk == 1 && len(rest) > 4096 { // keep the byte-at-a-time case fast
				n = len(rest) - 4096
			}
			h.Write(rest[:n])
			rest = rest[n:]
		}
		if got, want := piece.FromHasher(h), piece.Sum(data); got != want {
			t.Fatalf("chunks of %d: hasher %s, Sum %s", chunk, got, want)
		}
	}
	h := piece.NewHasher()
	h.Write([]byte("abc"))
	if got := piece.FromHasher(h).String(); got != known[1].want {
		t.Fatalf("hasher over \"abc\" = %s", got)
	}
	if h.Size() != piece.IDSize {
		t.Fatalf("hasher size %d, want %d", h.Size(), piece.IDSize)
	}
}

func TestParse(t *testing.T) {
	abc := known[1].want
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"valid", abc, true},
		{"zero", strings.Repeat("0", 64), true},
		{"empty", "", false},
		{"63 chars", abc[:63], false},
		{"65 chars", abc + "5", false},
		{"twice", abc + abc, false},
		{"non-hex", "x" + abc[1:], false},
		{"non-hex at the end", abc[:63] + "z", false},
		{"path traversal", "../" + abc[3:], false},
		{"slash", abc[:32] + "/" + abc[33:], false},
		{"multibyte", "ü" + abc[2:], false},
		{"very long", strings.Repeat("a", 10000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := piece.Parse(tt.in)
			if !tt.ok {
				if !errors.Is(err, piece.ErrBadID) {
					t.Fatalf("Parse(%q) = %v, want ErrBadID", tt.in, err)
				}
				if len(err.Error()) > 200 {
					t.Fatalf("error message of %d bytes echoes the whole input", len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.String() != tt.in {
				t.Fatalf("round trip gives %s", id)
			}
		})
	}
}

func TestIsZero(t *testing.T) {
	if !(piece.ID{}).IsZero() || piece.Sum(nil).IsZero() {
		t.Fatal("IsZero is wrong")
	}
}

func TestJSON(t *testing.T) {
	ids := []piece.ID{piece.Sum([]byte("abc")), piece.Sum([]byte("def"))}
	b, err := json.Marshal(ids)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`["%s","%s"]`, ids[0], ids[1])
	if string(b) != want {
		t.Fatalf("JSON = %s, want %s", b, want)
	}
	var back []piece.ID
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0] != ids[0] || back[1] != ids[1] {
		t.Fatal("JSON round trip changed the IDs")
	}
	if err := json.Unmarshal([]byte(`["00"]`), &back); !errors.Is(err, piece.ErrBadID) {
		t.Fatalf("short ID in JSON: %v, want ErrBadID", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, k := range known {
		f.Add(k.want)
	}
	f.Add("")
	f.Add(strings.Repeat("G", 64))
	f.Add(strings.Repeat("A", 64))
	f.Add("../../etc/passwd")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := piece.Parse(s)
		if err != nil {
			if !errors.Is(err, piece.ErrBadID) {
				t.Fatalf("Parse error %v does not wrap ErrBadID", err)
			}
			return
		}
		if len(s) != 2*piece.IDSize || !strings.EqualFold(id.String(), s) {
			t.Fatalf("Parse(%q) = %s", s, id)
		}
		if again, err := piece.Parse(id.String()); err != nil || again != id {
			t.Fatalf("canonical form does not round-trip: %v", err)
		}
	})
}

// BenchmarkSum hashes pieces of the sizes the data path produces: a
// 16 MiB segment's ciphertext split 4 ways (the default 4-of-6) and 29
// ways (a Storj-like 29-of-80), and smaller ones.
func BenchmarkSum(b *testing.B) {
	const segment = 16<<20 + 256*16 // ciphertext of a full segment
	for _, tc := range []struct {
		name string
		size int
	}{
		{"4KiB", 4 << 10},
		{"64KiB", 64 << 10},
		{"1MiB", 1 << 20},
		{"segment/29", (segment + 28) / 29},
		{"segment/4", segment / 4},
	} {
		b.Run(tc.name, func(b *testing.B) {
			data := bytes.Repeat([]byte{0x5a}, tc.size)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				piece.Sum(data)
			}
		})
	}
}

// BenchmarkHasher streams a 4 MiB piece through the hash.Hash in 256 KiB
// writes, as a node verifies a piece while it arrives.
func BenchmarkHasher(b *testing.B) {
	data := bytes.Repeat([]byte{0xa5}, 4<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		h := piece.NewHasher()
		for off := 0; off < len(data); off += 256 << 10 {
			h.Write(data[off : off+256<<10])
		}
		piece.FromHasher(h)
	}
}

func TestParseRejectsUpperCase(t *testing.T) {
	id := piece.Sum([]byte("abc"))
	if _, err := piece.Parse(strings.ToUpper(id.String())); !errors.Is(err, piece.ErrBadID) {
		t.Fatalf("upper-case piece ID: err = %v, want ErrBadID", err)
	}
}
