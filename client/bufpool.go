package client

import (
	"sync"

	"github.com/nuage-storage/nuage/internal/hugepage"
)

// defaultPoolBytes bounds the memory a Client's buffer pool keeps idle. It
// covers the working set of one transfer at the default SegmentsInFlight of
// 2 with 16 MiB segments (a get holds about k+1 pieces per segment in
// flight, as it decrypts each segment over its ciphertext; a put three sets
// of n pieces, as it reads its input in small chunks straight into the
// seal),
// so a transfer reuses the same buffers from its first segment to its
// last, and the next transfer starts warm.
const defaultPoolBytes = 128 << 20

// bufPool recycles large byte slices, so that a multi-gigabyte transfer
// reuses a few segment-sized buffers instead of allocating (and zeroing) one
// per piece or segment. A Client shares one pool between its transfers.
//
// The pool keeps at most max bytes of idle buffers (capacity counted),
// dropping the oldest when a new one would exceed the bound; buffers in use
// are not counted, so the pool never limits how much a transfer holds, only
// how much stays allocated once it is done. get never returns a buffer more
// than twice the size asked for, so small requests do not pin large
// buffers. The zero value keeps nothing; it is safe for concurrent use.
type bufPool struct {
	mu   sync.Mutex
	max  int
	size int      // sum of the capacities in free
	free [][]byte // oldest first
}

func newBufPool(max int) *bufPool { return &bufPool{max: max} }

// get returns a slice of length n, reusing the smallest idle buffer that
// holds n bytes and is at most twice that size. The contents of the
// returned slice are unspecified.
func (p *bufPool) get(n int) []byte {
	p.mu.Lock()
	best := -1
	for i, b := range p.free {
		c := cap(b)
		if c >= n && c/2 <= n && (best < 0 || c < cap(p.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := p.free[best]
		p.free = append(p.free[:best], p.free[best+1:]...)
		p.size -= cap(b)
		p.mu.Unlock()
		return b[:n]
	}
	p.mu.Unlock()
	// Huge pages: the first touch of a fresh segment buffer is otherwise
	// thousands of page faults (see internal/hugepage).
	return hugepage.Alloc(n)
}

// put returns b for reuse; b must not be used afterwards.
func (p *bufPool) put(b []byte) {
	c := cap(b)
	if c == 0 || c > p.max {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.size+c > p.max && len(p.free) > 0 {
		p.size -= cap(p.free[0])
		p.free[0] = nil
		p.free = p.free[1:]
	}
	p.free = append(p.free, b[:0])
	p.size += c
}
