package piecestore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nuage-storage/nuage/internal/pagecache"
)

// TestPutLeavesNoPagesCached: a stored piece's pages are dropped from the
// page cache once it is durable, so that pieces do not crowd out the cache
// of the machine the node runs on.
func TestPutLeavesNoPagesCached(t *testing.T) {
	dir := t.TempDir()
	probe, err := os.Create(filepath.Join(dir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	probe.Write(make([]byte, 1<<20))
	probe.Sync()
	pagecache.Drop(probe, 0, 0)
	res, _, err := pagecache.Resident(probe)
	probe.Close()
	if err != nil || res != 0 {
		t.Skipf("the file system under the test directory keeps its pages (tmpfs?): %d resident, %v", res, err)
	}

	s, err := Open(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	data, id := randomPiece(7, 2<<20+123)
	if err := s.Put(context.Background(), id, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	f, size, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, pages, err := pagecache.Resident(f)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(data)) || res != 0 {
		t.Fatalf("after Put: %d of %d pages of the piece in the page cache, want 0", res, pages)
	}
}
