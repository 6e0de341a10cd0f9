package hugepage

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestAllocUsesHugePages checks that a fresh buffer, once written, is
// backed by huge pages, where the kernel gives them only to ranges that ask
// (transparent huge pages in "madvise" mode): without the advice it would
// have none.
func TestAllocUsesHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		t.Skipf("no transparent huge pages: %v", err)
	}
	if !strings.Contains(string(mode), "[madvise]") {
		t.Skipf("transparent huge pages are %q: only the madvise mode tells advised ranges apart", strings.TrimSpace(string(mode)))
	}
	fallbacks := vmstat(t, "thp_fault_fallback")
	b := Alloc(8 * Size)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	start := uintptr(unsafe.Pointer(&b[0]))
	huge := anonHugeBytes(t, start, start+uintptr(len(b)))
	if huge == 0 && vmstat(t, "thp_fault_fallback") > fallbacks {
		t.Skip("the kernel had no huge page free and fell back to small pages")
	}
	// At least 7 of the 8 huge pages' worth lie whole inside b.
	if huge < 7*Size {
		t.Fatalf("%d bytes of the 16 MiB buffer are in huge pages, want at least %d", huge, 7*Size)
	}
}

// anonHugeBytes returns the AnonHugePages of the mappings that overlap
// [lo, hi), from /proc/self/smaps. (The advice splits the heap's mapping:
// the buffer's whole huge pages are a mapping of their own.)
func anonHugeBytes(t *testing.T, lo, hi uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	in, total, found := false, 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if from, to, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			a, err1 := strconv.ParseUint(from, 16, 64)
			b, err2 := strconv.ParseUint(to, 16, 64)
			if err1 == nil && err2 == nil {
				in = a < uint64(hi) && uint64(lo) < b
				found = found || in
				continue
			}
		}
		if in && fields[0] == "AnonHugePages:" && len(fields) >= 2 {
			kb, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatalf("smaps: %q: %v", sc.Text(), err)
			}
			total += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no mapping in /proc/self/smaps holds %#x", lo)
	}
	return total
}

// vmstat returns one counter of /proc/vmstat (0 when absent).
func vmstat(t *testing.T, name string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == name {
			var n int64
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}
