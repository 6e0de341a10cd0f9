package client

import "testing"

func TestBufPool(t *testing.T) {
	p := newBufPool(10 << 10)
	a := p.get(4 << 10)
	if len(a) != 4<<10 {
		t.Fatalf("get(4 KiB) has length %d", len(a))
	}
	a[0] = 1
	p.put(a)
	if b := p.get(3 << 10); len(b) != 3<<10 || cap(b) != 4<<10 || b[:1][0] != 1 {
		t.Fatalf("get(3 KiB) after put(4 KiB): len %d cap %d, want the pooled buffer", len(b), cap(b))
	} else {
		p.put(b)
	}
	// A buffer more than twice the size asked for is not handed out.
	if b := p.get(1 << 10); cap(b) != 1<<10 {
		t.Fatalf("get(1 KiB) returned a buffer of capacity %d", cap(b))
	}
	// Best fit: the smallest buffer that holds the request.
	p.put(make([]byte, 6<<10)) // 4 + 6 = 10 KiB, at the bound
	if b := p.get(3 << 10); cap(b) != 4<<10 {
		t.Fatalf("get(3 KiB) chose capacity %d, want the 4 KiB buffer", cap(b))
	}
	p.put(make([]byte, 4<<10))
	// Over the bound, the oldest buffers go.
	p.put(make([]byte, 8<<10))
	p.mu.Lock()
	size, n := p.size, len(p.free)
	p.mu.Unlock()
	if size > 10<<10 || n != 1 || size != 8<<10 {
		t.Fatalf("after overflow: %d buffers, %d bytes; want the newest 8 KiB buffer only", n, size)
	}
	// Buffers larger than the whole bound are never kept.
	p.put(make([]byte, 11<<10))
	if b := p.get(11 << 10); cap(b) != 11<<10 {
		t.Fatalf("get(11 KiB) cap %d", cap(b))
	}
	p.mu.Lock()
	size = p.size
	p.mu.Unlock()
	if size != 8<<10 {
		t.Fatalf("pool holds %d bytes after put of an oversized buffer, want 8 KiB", size)
	}
	var zero bufPool
	zero.put(make([]byte, 1))
	if len(zero.free) != 0 {
		t.Fatal("the zero pool kept a buffer")
	}
}

// BenchmarkBufPool measures a get and put of a piece-sized buffer; it must
// not allocate.
func BenchmarkBufPool(b *testing.B) {
	p := newBufPool(defaultPoolBytes)
	const n = 4 << 20
	b.ReportAllocs()
	for b.Loop() {
		x := p.get(n)
		p.put(x)
	}
}
