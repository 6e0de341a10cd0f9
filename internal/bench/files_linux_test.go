package bench

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nuage-storage/nuage/internal/pagecache"
)

// TestWarmFileCachesTheInput checks that warmFile brings a file whose
// pages were dropped back into the page cache, as every timed put expects.
func TestWarmFileCachesTheInput(t *testing.T) {
	name := filepath.Join(t.TempDir(), "input.bin")
	if _, err := writeRandomFile(name, 8<<20, 1); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	pagecache.Drop(f, 0, 0)
	before, pages, err := pagecache.Resident(f)
	if err != nil {
		t.Skipf("cannot see the page cache: %v", err)
	}
	if before == pages {
		t.Skip("the file system kept the pages after the drop: nothing to check")
	}
	if err := warmFile(name); err != nil {
		t.Fatal(err)
	}
	after, _, err := pagecache.Resident(f)
	if err != nil {
		t.Fatal(err)
	}
	if after != pages {
		t.Fatalf("%d of %d pages cached after warmFile (%d before), want all", after, pages, before)
	}
}
