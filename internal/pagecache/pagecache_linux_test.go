package pagecache

import (
	"os"
	"path/filepath"
	"testing"
)

// dropWorks reports whether the file system of dir drops clean pages on
// request (tmpfs, for one, cannot).
func dropWorks(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	Drop(f, 0, 0)
	res, _, err := Resident(f)
	if err != nil {
		t.Fatal(err)
	}
	return res == 0
}

// droppingFile creates a file in a test directory whose file system drops
// clean pages on request, or skips the test.
func droppingFile(t *testing.T) *os.File {
	t.Helper()
	dir := t.TempDir()
	if !dropWorks(t, dir) {
		t.Skip("the file system under the test directory keeps its pages (tmpfs?)")
	}
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestDropAfterSync(t *testing.T) {
	f := droppingFile(t)
	if _, err := f.Write(randBytes(4<<20, 4)); err != nil {
		t.Fatal(err)
	}
	res, pages, err := Resident(f)
	if err != nil {
		t.Fatal(err)
	}
	if res != pages {
		t.Fatalf("%d of %d pages resident right after writing", res, pages)
	}
	Drop(f, 0, 0) // dirty pages stay
	if res, _, _ := Resident(f); res == 0 {
		t.Fatal("Drop dropped dirty pages")
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	Drop(f, 0, 0)
	if res, pages, _ := Resident(f); res != 0 {
		t.Fatalf("%d of %d pages resident after Sync and Drop", res, pages)
	}
}

// TestWriterKeepsFewWindows: however long the file, a Writer leaves at
// most lag+1 windows of it in the page cache.
func TestWriterKeepsFewWindows(t *testing.T) {
	f := droppingFile(t)
	w := NewWriter(f, 0)
	chunk := randBytes(1<<20, 5)
	for range 6 * window / len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	res, pages, err := Resident(f)
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	if limit := (lag+1)*window/ps + 1; res > limit {
		t.Fatalf("%d of %d pages resident after writing 6 windows, want at most %d", res, pages, limit)
	}
	t.Logf("%d of %d pages resident", res, pages)
}
