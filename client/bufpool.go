package client

import "sync"

// bufPool recycles large byte slices of at least a given size, so that a
// multi-gigabyte transfer reuses a few segment-sized buffers instead of
// allocating one per segment.
type bufPool struct {
	mu   sync.Mutex
	free [][]byte
}

// get returns a slice of length n.
func (p *bufPool) get(n int) []byte {
	p.mu.Lock()
	for i := len(p.free) - 1; i >= 0; i-- {
		if cap(p.free[i]) >= n {
			b := p.free[i]
			p.free = append(p.free[:i], p.free[i+1:]...)
			p.mu.Unlock()
			return b[:n]
		}
	}
	p.mu.Unlock()
	return make([]byte, n)
}

// put returns b for reuse. At most 8 buffers are kept.
func (p *bufPool) put(b []byte) {
	if b == nil {
		return
	}
	p.mu.Lock()
	if len(p.free) < 8 {
		p.free = append(p.free, b[:0])
	}
	p.mu.Unlock()
}
