package hugepage

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// advise marks the Size-aligned interior of b (fresh memory, not touched
// yet) for transparent huge pages. The Go runtime does not give back a
// live object's memory, and madvise only sets a flag on the range, so this
// is safe on the Go heap; an error (THP not built into the kernel) leaves
// ordinary pages.
func advise(b []byte) {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + Size - 1) &^ (Size - 1)
	hi := (start + uintptr(len(b))) &^ (Size - 1)
	if hi <= lo {
		return
	}
	_ = unix.Madvise(b[lo-start:hi-start], unix.MADV_HUGEPAGE)
}
