package stream

import (
	"fmt"
	"math"
)

// Layout describes how an object's plaintext is cut into blocks and
// segments (docs/spec.md §3). Its methods assume a valid layout, as
// returned by NewLayout or checked by Validate; on an invalid one they
// return zeros rather than panic.
type Layout struct {
	Size        int64 // plaintext bytes, at least 1
	BlockSize   int   // plaintext bytes per block: BlockSize (65536) in v1
	SegmentSize int64 // plaintext bytes per segment, a multiple of BlockSize
}

// NewLayout returns the v1 layout of a size-byte object cut into segments
// of segmentSize plaintext bytes. It fails with ErrBadLayout if size is not
// positive or segmentSize is not a positive multiple of BlockSize.
func NewLayout(size, segmentSize int64) (Layout, error) {
	l := Layout{Size: size, BlockSize: BlockSize, SegmentSize: segmentSize}
	if err := l.Validate(); err != nil {
		return Layout{}, err
	}
	return l, nil
}

// Validate checks l against the v1 rules and fails with ErrBadLayout.
func (l Layout) Validate() error {
	switch {
	case l.BlockSize != BlockSize:
		return fmt.Errorf("%w: block size %d, v1 uses %d", ErrBadLayout, l.BlockSize, BlockSize)
	case l.Size < 1:
		return fmt.Errorf("%w: size %d (an object is never empty; empty files are inline)", ErrBadLayout, l.Size)
	case l.Size > MaxSize:
		return fmt.Errorf("%w: size %d exceeds the maximum %d", ErrBadLayout, l.Size, int64(MaxSize))
	case l.SegmentSize <= 0 || l.SegmentSize%BlockSize != 0:
		return fmt.Errorf("%w: segment size %d is not a positive multiple of %d", ErrBadLayout, l.SegmentSize, BlockSize)
	case l.SegmentSize > MaxSize:
		return fmt.Errorf("%w: segment size %d exceeds the maximum %d", ErrBadLayout, l.SegmentSize, int64(MaxSize))
	case ceilDiv(l.Size, l.SegmentSize) > math.MaxInt32:
		return fmt.Errorf("%w: %d segments of %d bytes is too many", ErrBadLayout, ceilDiv(l.Size, l.SegmentSize), l.SegmentSize)
	}
	return nil
}

func ceilDiv(a, b int64) int64 {
	if b <= 0 || a <= 0 {
		return 0
	}
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

// Blocks returns the number of blocks, ceil(Size / BlockSize).
func (l Layout) Blocks() int64 { return ceilDiv(l.Size, int64(l.BlockSize)) }

// Segments returns the number of segments, ceil(Size / SegmentSize).
func (l Layout) Segments() int { return int(ceilDiv(l.Size, l.SegmentSize)) }

// CiphertextSize returns the length of the whole ciphertext stream.
func (l Layout) CiphertextSize() int64 { return l.Size + l.Blocks()*Overhead }

// BlockPlainSize returns the plaintext length of block i: BlockSize except
// for a shorter final block, and 0 if i is out of range.
func (l Layout) BlockPlainSize(i int64) int {
	n := l.Blocks()
	switch {
	case i < 0 || i >= n:
		return 0
	case i == n-1:
		return int(l.Size - i*int64(l.BlockSize))
	}
	return l.BlockSize
}

// BlockCipherOffset returns where block i starts in the ciphertext stream:
// i × (BlockSize + Overhead).
func (l Layout) BlockCipherOffset(i int64) int64 { return i * int64(l.BlockSize+Overhead) }

// blocksPerSegment returns SegmentSize / BlockSize.
func (l Layout) blocksPerSegment() int64 {
	if l.BlockSize <= 0 {
		return 0
	}
	return l.SegmentSize / int64(l.BlockSize)
}

// SegmentPlain returns the plaintext range [off, off+n) of segment s, or
// (0, 0) if s is out of range.
func (l Layout) SegmentPlain(s int) (off, n int64) {
	if s < 0 || s >= l.Segments() {
		return 0, 0
	}
	off = int64(s) * l.SegmentSize
	return off, min(l.SegmentSize, l.Size-off)
}

// SegmentBlocks returns the number of blocks in segment s (0 if out of range).
func (l Layout) SegmentBlocks(s int) int64 {
	_, n := l.SegmentPlain(s)
	return ceilDiv(n, int64(l.BlockSize))
}

// SegmentFirstBlock returns the index of segment s's first block,
// s × SegmentSize / BlockSize. For s = Segments() it is Blocks().
func (l Layout) SegmentFirstBlock(s int) int64 {
	if s >= l.Segments() {
		return l.Blocks()
	}
	return int64(max(s, 0)) * l.blocksPerSegment()
}

// SegmentCipherOffset returns where segment s starts in the ciphertext
// stream.
func (l Layout) SegmentCipherOffset(s int) int64 {
	return l.BlockCipherOffset(l.SegmentFirstBlock(s))
}

// SegmentCipherSize returns the ciphertext length of segment s: its
// plaintext length plus Overhead per block (0 if s is out of range).
func (l Layout) SegmentCipherSize(s int) int64 {
	_, n := l.SegmentPlain(s)
	return n + ceilDiv(n, int64(l.BlockSize))*Overhead
}

// SegmentsFor returns the first and last (inclusive) segments that hold
// the plaintext range [off, off+n), clipped to the object. An empty or
// out-of-range request returns (0, -1), so that
//
//	for s := first; s <= last; s++
//
// visits nothing.
func (l Layout) SegmentsFor(off, n int64) (first, last int) {
	if off < 0 || n <= 0 || off >= l.Size || l.SegmentSize <= 0 {
		return 0, -1
	}
	end := l.Size
	if n < l.Size-off {
		end = off + n
	}
	return int(off / l.SegmentSize), int((end - 1) / l.SegmentSize)
}
