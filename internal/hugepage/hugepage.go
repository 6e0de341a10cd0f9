// Package hugepage allocates large buffers that the operating system may
// back with huge pages.
//
// The first write to each page of fresh memory costs a page fault: 4,096 of
// them for a 16 MiB segment buffer with 4 KiB pages. On a virtual machine
// that hands freed memory back to its host (virtio-balloon free page
// reporting), each is also a host fault, far dearer than the bytes written:
// on the benchmark machine, touching 256 MiB of fresh memory took 0.71–0.77
// CPU seconds in 4 KiB pages and 0.14–0.49 with transparent huge pages
// (docs/benchmarks.md). A client's first large transfer touches about
// 110 MiB of fresh buffers.
//
// It is advice: where the system has no transparent huge pages (outside
// Linux, or with them disabled), or none is free, the buffers are ordinary
// memory.
package hugepage

// Size is the huge page size advice is aligned to (2 MiB on x86-64, and on
// arm64 with 4 KiB pages).
const Size = 2 << 20

// Alloc returns a zeroed slice of n bytes. When it spans at least two huge
// pages, the whole huge pages inside it are advised to be backed by huge
// pages; its first and last partial ones stay ordinary pages.
func Alloc(n int) []byte {
	b := make([]byte, n)
	if n >= 2*Size {
		advise(b)
	}
	return b
}
