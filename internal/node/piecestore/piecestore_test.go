package piecestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nuage-storage/nuage/internal/piece"
)

// randomPiece returns deterministic pseudo-random bytes and their ID.
func randomPiece(seed uint64, n int) ([]byte, piece.ID) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b, piece.Sum(b)
}

// diskState walks dir/pieces and returns the piece files with their sizes
// and the names of temporary files.
func diskState(t *testing.T, dir string) (pieces map[string]int64, temps []string) {
	t.Helper()
	pieces = map[string]int64{}
	err := filepath.WalkDir(filepath.Join(dir, piecesDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), tempPrefix) {
			temps = append(temps, p)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		pieces[d.Name()] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pieces, temps
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func TestOpenRejectsBadCapacity(t *testing.T) {
	for _, c := range []int64{0, -1} {
		if _, err := Open(t.TempDir(), c); err == nil {
			t.Errorf("Open with capacity %d succeeded", c)
		}
	}
}

// TestOpenCreatesPrefixDirectories checks that a fresh store has all 256
// prefix directories, so that no Put creates one on a piece's path, and
// that reopening keeps them and what they hold.
func TestOpenCreatesPrefixDirectories(t *testing.T) {
	dir := t.TempDir()
	prefixes := func() []string {
		t.Helper()
		entries, err := os.ReadDir(filepath.Join(dir, piecesDir))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
		return names
	}
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got := prefixes()
	if len(got) != 256 || got[0] != "00" || got[255] != "ff" {
		t.Fatalf("prefix directories after Open: %d (%v … %v), want 00 … ff", len(got), got[:min(2, len(got))], got[max(0, len(got)-2):])
	}
	data, id := randomPiece(7, 1000)
	if err := s.Put(context.Background(), id, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(prefixes()); n != 256 {
		t.Fatalf("prefix directories after reopening: %d, want 256", n)
	}
	if used := s.Used(); used != int64(len(data)) {
		t.Fatalf("Used after reopening = %d, want %d", used, len(data))
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	data, id := randomPiece(1, 300<<10) // more than one copy buffer
	if s.Has(id) {
		t.Fatal("Has before Put")
	}
	if _, _, err := s.Open(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open before Put: %v, want ErrNotFound", err)
	}
	if err := s.Put(context.Background(), id, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	h := id.String()
	if _, err := os.Stat(filepath.Join(dir, "pieces", h[:2], h)); err != nil {
		t.Fatalf("piece not at the documented path: %v", err)
	}
	if !s.Has(id) {
		t.Fatal("Has after Put is false")
	}
	if got, want := s.Used(), int64(len(data)); got != want {
		t.Fatalf("Used = %d, want %d", got, want)
	}
	if got, want := s.Free(), int64(1<<20-len(data)); got != want {
		t.Fatalf("Free = %d, want %d", got, want)
	}
	f, size, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (size %d), want the %d stored", len(got), size, len(data))
	}
	for range 2 { // idempotent
		if err := s.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	if s.Has(id) || s.Used() != 0 || s.Free() != 1<<20 {
		t.Fatalf("after Delete: Has=%v Used=%d Free=%d", s.Has(id), s.Used(), s.Free())
	}
}

func TestPutRejects(t *testing.T) {
	data, id := randomPiece(2, 10000)
	other, _ := randomPiece(3, 10000)
	tests := []struct {
		name string
		size int64
		body []byte
		want error
	}{
		{"short", int64(len(data)), data[:len(data)-1], ErrSizeMismatch},
		{"long", int64(len(data)), append(append([]byte{}, data...), 0), ErrSizeMismatch},
		{"empty", int64(len(data)), nil, ErrSizeMismatch},
		{"size too small", int64(len(data)) - 1, data, ErrSizeMismatch},
		{"negative size", -1, data, ErrSizeMismatch},
		{"hash", int64(len(data)), other, ErrHashMismatch},
		{"no space", 20000, data, ErrNoSpace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, 15000)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Put(context.Background(), id, tt.size, bytes.NewReader(tt.body))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Put: %v, want %v", err, tt.want)
			}
			pieces, temps := diskState(t, dir)
			if len(pieces) != 0 || len(temps) != 0 {
				t.Fatalf("left on disk: pieces %v, temporary files %v", pieces, temps)
			}
			if s.Has(id) || s.Used() != 0 || s.Free() != 15000 {
				t.Fatalf("Has=%v Used=%d Free=%d, want false 0 15000", s.Has(id), s.Used(), s.Free())
			}
		})
	}
}

func TestPutExistingIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	data, id := randomPiece(4, 5000)
	s, err := Open(dir, int64(len(data))) // full once the piece is stored
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, id, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, id, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatalf("second Put with no free space: %v", err)
	}
	bad := append([]byte{}, data...)
	bad[0] ^= 1
	if err := s.Put(ctx, id, int64(len(data)), bytes.NewReader(bad)); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Put of wrong bytes for a stored piece: %v, want ErrHashMismatch", err)
	}
	pieces, temps := diskState(t, dir)
	if len(pieces) != 1 || len(temps) != 0 || s.Used() != int64(len(data)) || s.Free() != 0 {
		t.Fatalf("pieces %v temps %v Used %d Free %d", pieces, temps, s.Used(), s.Free())
	}
}

func TestPutReplacesDamagedCopy(t *testing.T) {
	dir := t.TempDir()
	data, id := randomPiece(5, 5000)
	h := id.String()
	p := filepath.Join(dir, "pieces", h[:2], h)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data[:100], 0o600); err != nil { // truncated by some accident
		t.Fatal(err)
	}
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s.Used() != 100 {
		t.Fatalf("Used = %d, want 100", s.Used())
	}
	if err := s.Put(context.Background(), id, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("piece not replaced: %v", err)
	}
	if s.Used() != int64(len(data)) {
		t.Fatalf("Used = %d, want %d", s.Used(), len(data))
	}
}

// cancellingReader cancels its context after handing out after bytes.
type cancellingReader struct {
	r      io.Reader
	after  int
	read   int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.read >= c.after {
		c.cancel()
	}
	p = p[:min(len(p), 4096)]
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func TestPutCancelled(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	data, id := randomPiece(6, 2<<20)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancellingReader{r: bytes.NewReader(data), after: 1 << 20, cancel: cancel}
	err = s.Put(ctx, id, int64(len(data)), r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: %v, want context.Canceled", err)
	}
	pieces, temps := diskState(t, dir)
	if len(pieces) != 0 || len(temps) != 0 || s.Used() != 0 || s.Free() != 1<<30 {
		t.Fatalf("pieces %v temps %v Used %d Free %d", pieces, temps, s.Used(), s.Free())
	}
}

// errReader fails after n bytes.
type errReader struct {
	r io.Reader
	n int
}

var errBroken = errors.New("connection broken")

func (e *errReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, errBroken
	}
	p = p[:min(len(p), e.n)]
	n, err := e.r.Read(p)
	e.n -= n
	return n, err
}

func TestPutReadError(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	data, id := randomPiece(7, 1<<20)
	err = s.Put(context.Background(), id, int64(len(data)), &errReader{r: bytes.NewReader(data), n: 1000})
	if !errors.Is(err, errBroken) {
		t.Fatalf("Put: %v, want the reader's error", err)
	}
	pieces, temps := diskState(t, dir)
	if len(pieces) != 0 || len(temps) != 0 || s.Free() != 1<<30 {
		t.Fatalf("pieces %v temps %v Free %d", pieces, temps, s.Free())
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var ids []piece.ID
	var total int64
	for i := range 5 {
		data, id := randomPiece(uint64(10+i), 1000*(i+1))
		if err := s.Put(context.Background(), id, int64(len(data)), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		total += int64(len(data))
	}
	// A crash left temporary files; an operator left an unrelated file.
	h := ids[0].String()
	leftovers := []string{
		filepath.Join(dir, "pieces", h[:2], tempPrefix+"123"),
		filepath.Join(dir, "pieces", "ff", tempPrefix+"456"),
	}
	for _, p := range leftovers {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, 777), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	unrelated := filepath.Join(dir, "pieces", "README")
	if err := os.WriteFile(unrelated, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	unrelated2 := filepath.Join(dir, "pieces", h[:2], "notes.txt")
	if err := os.WriteFile(unrelated2, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Used() != total {
		t.Fatalf("Used after reopen = %d, want %d", s2.Used(), total)
	}
	for _, id := range ids {
		if !s2.Has(id) {
			t.Fatalf("piece %s lost", id)
		}
	}
	for _, p := range leftovers {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("temporary file %s not removed: %v", p, err)
		}
	}
	for _, p := range []string{unrelated, unrelated2} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("unrelated file removed: %v", err)
		}
	}
}

func TestConcurrentPuts(t *testing.T) {
	dir := t.TempDir()
	const capacity = 64 << 20
	s, err := Open(dir, capacity)
	if err != nil {
		t.Fatal(err)
	}
	const distinct, copies = 8, 4
	type item struct {
		data []byte
		id   piece.ID
	}
	items := make([]item, distinct)
	var want int64
	for i := range items {
		items[i].data, items[i].id = randomPiece(uint64(100+i), 100<<10+i*1000)
		want += int64(len(items[i].data))
	}
	var wg sync.WaitGroup
	errs := make(chan error, distinct*copies)
	for i := range distinct * copies {
		it := items[i%distinct]
		wg.Go(func() {
			errs <- s.Put(context.Background(), it.id, int64(len(it.data)), bytes.NewReader(it.data))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	pieces, temps := diskState(t, dir)
	if len(pieces) != distinct || len(temps) != 0 {
		t.Fatalf("%d pieces, temporary files %v", len(pieces), temps)
	}
	if s.Used() != want || sum(pieces) != want || s.Free() != capacity-want {
		t.Fatalf("Used %d, on disk %d, Free %d; want %d, %d, %d", s.Used(), sum(pieces), s.Free(), want, want, capacity-want)
	}
	for _, it := range items {
		f, _, err := s.Open(it.id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, it.data) {
			t.Fatalf("piece %s corrupted (%v)", it.id, err)
		}
	}
}

func TestConcurrentPutDelete(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	data, id := randomPiece(200, 64<<10)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				if (g+i)%2 == 0 {
					err := s.Put(context.Background(), id, int64(len(data)), bytes.NewReader(data))
					if err != nil && !errors.Is(err, ErrConflict) {
						t.Error(err)
					}
				} else if err := s.Delete(id); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	pieces, temps := diskState(t, dir)
	if len(temps) != 0 {
		t.Fatalf("temporary files left: %v", temps)
	}
	if s.Used() != sum(pieces) || s.Free() != 1<<30-sum(pieces) {
		t.Fatalf("Used %d Free %d, but %d bytes on disk", s.Used(), s.Free(), sum(pieces))
	}
	s2, err := Open(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Used() != s.Used() {
		t.Fatalf("reopened Used %d, live Used %d", s2.Used(), s.Used())
	}
}

func TestNoSpaceCountsReservations(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 150)
	if err != nil {
		t.Fatal(err)
	}
	a, ida := randomPiece(300, 100)
	b, idb := randomPiece(301, 100)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.Put(context.Background(), ida, int64(len(a)), pr) }()
	if _, err := pw.Write(a[:10]); err != nil { // the first Put now holds its reservation
		t.Fatal(err)
	}
	if got := s.Free(); got != 50 {
		t.Fatalf("Free during a Put = %d, want 50", got)
	}
	if err := s.Put(context.Background(), idb, int64(len(b)), bytes.NewReader(b)); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("second Put: %v, want ErrNoSpace", err)
	}
	if _, err := pw.Write(a[10:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.Used() != 100 || s.Free() != 50 {
		t.Fatalf("Used %d Free %d, want 100 50", s.Used(), s.Free())
	}
}

func BenchmarkPut4MiB(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, 1<<40)
	if err != nil {
		b.Fatal(err)
	}
	data, _ := randomPiece(400, 4<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		copy(data, fmt.Sprintf("%016d", i))
		id := piece.Sum(data)
		b.StartTimer()
		if err := s.Put(context.Background(), id, int64(len(data)), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Delete(id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
