package stream

import (
	"errors"
	"math"
	"testing"
)

const B = BlockSize

func TestLayout(t *testing.T) {
	tests := []struct {
		size, seg          int64
		blocks             int64
		segments           int
		cipherSize         int64
		lastOff, lastPlain int64
	}{
		{1, B, 1, 1, 17, 0, 1},
		{B - 1, B, 1, 1, B + 15, 0, B - 1},
		{B, B, 1, 1, B + 16, 0, B},
		{B + 1, B, 2, 2, B + 33, B, 1},
		{3 * B, B, 3, 3, 3*B + 48, 2 * B, B},
		{3*B + 7, 2 * B, 4, 2, 3*B + 7 + 64, 2 * B, B + 7},
		{16 << 20, 16 << 20, 256, 1, 16<<20 + 256*16, 0, 16 << 20},
		{16<<20 + 1, 16 << 20, 257, 2, 16<<20 + 1 + 257*16, 16 << 20, 1},
		{1<<30 + 5, 16 << 20, 16385, 65, 1<<30 + 5 + 16385*16, 1 << 30, 5},
		{5, 16 << 20, 1, 1, 21, 0, 5},
	}
	for _, tt := range tests {
		l, err := NewLayout(tt.size, tt.seg)
		if err != nil {
			t.Fatalf("NewLayout(%d, %d): %v", tt.size, tt.seg, err)
		}
		if l.Blocks() != tt.blocks || l.Segments() != tt.segments || l.CiphertextSize() != tt.cipherSize {
			t.Errorf("layout(%d, %d): blocks %d segments %d cipher %d, want %d %d %d", tt.size, tt.seg,
				l.Blocks(), l.Segments(), l.CiphertextSize(), tt.blocks, tt.segments, tt.cipherSize)
		}
		if off, n := l.SegmentPlain(tt.segments - 1); off != tt.lastOff || n != tt.lastPlain {
			t.Errorf("layout(%d, %d): last segment [%d, +%d), want [%d, +%d)", tt.size, tt.seg, off, n, tt.lastOff, tt.lastPlain)
		}
		checkLayoutConsistent(t, l)
	}
}

// checkLayoutConsistent checks that segments tile the plaintext, the blocks
// and the ciphertext exactly.
func checkLayoutConsistent(t *testing.T, l Layout) {
	t.Helper()
	var plain, cipher, blocks int64
	for s := 0; s < l.Segments(); s++ {
		off, n := l.SegmentPlain(s)
		if off != plain || n <= 0 || n > l.SegmentSize {
			t.Fatalf("%+v: segment %d plain [%d, +%d), want offset %d", l, s, off, n, plain)
		}
		if l.SegmentFirstBlock(s) != blocks || l.SegmentCipherOffset(s) != cipher {
			t.Fatalf("%+v: segment %d first block %d at %d, want %d at %d", l, s, l.SegmentFirstBlock(s), l.SegmentCipherOffset(s), blocks, cipher)
		}
		if l.SegmentCipherOffset(s) != l.SegmentFirstBlock(s)*(B+Overhead) {
			t.Fatalf("%+v: segment %d cipher offset is not first block × (B+16)", l, s)
		}
		nb := l.SegmentBlocks(s)
		if l.SegmentCipherSize(s) != n+nb*Overhead {
			t.Fatalf("%+v: segment %d cipher size %d", l, s, l.SegmentCipherSize(s))
		}
		if first, last := l.SegmentsFor(off, n); first != s || last != s {
			t.Fatalf("%+v: SegmentsFor(segment %d) = %d..%d", l, s, first, last)
		}
		plain += n
		cipher += l.SegmentCipherSize(s)
		blocks += nb
	}
	if plain != l.Size || cipher != l.CiphertextSize() || blocks != l.Blocks() {
		t.Fatalf("%+v: segments cover %d/%d/%d, want %d/%d/%d", l, plain, cipher, blocks, l.Size, l.CiphertextSize(), l.Blocks())
	}
	if l.SegmentFirstBlock(l.Segments()) != l.Blocks() {
		t.Fatalf("%+v: SegmentFirstBlock(Segments()) = %d", l, l.SegmentFirstBlock(l.Segments()))
	}
	var sum int64
	for i := max(0, l.Blocks()-3); i < l.Blocks(); i++ {
		sum += int64(l.BlockPlainSize(i))
	}
	if want := l.Size - max(0, l.Blocks()-3)*B; sum != want {
		t.Fatalf("%+v: last block sizes sum to %d, want %d", l, sum, want)
	}
}

func TestNewLayoutErrors(t *testing.T) {
	tests := []struct{ size, seg int64 }{
		{0, B}, {-1, B}, {MaxSize + 1, 1 << 40}, {math.MaxInt64, 1 << 40},
		{1, 0}, {1, -B}, {1, B + 1}, {1, 100000}, {1, B / 2},
		{1, MaxSize + B},
		{MaxSize, B}, // far too many segments
	}
	for _, tt := range tests {
		if _, err := NewLayout(tt.size, tt.seg); !errors.Is(err, ErrBadLayout) {
			t.Errorf("NewLayout(%d, %d) = %v, want ErrBadLayout", tt.size, tt.seg, err)
		}
	}
	if err := (Layout{Size: 10, BlockSize: 4096, SegmentSize: 4096}).Validate(); !errors.Is(err, ErrBadLayout) {
		t.Errorf("non-v1 block size: %v", err)
	}
	l, err := NewLayout(MaxSize, 1<<40)
	if err != nil {
		t.Fatalf("NewLayout(MaxSize): %v", err)
	}
	if l.CiphertextSize() < l.Size || l.CiphertextSize() > math.MaxInt64-Overhead {
		t.Fatalf("CiphertextSize(MaxSize) = %d overflows", l.CiphertextSize())
	}
	if _, err := NewCipher([32]byte{}, [16]byte{}, Layout{}); !errors.Is(err, ErrBadLayout) {
		t.Fatalf("NewCipher(zero layout) = %v", err)
	}
}

func TestZeroLayoutDoesNotPanic(t *testing.T) {
	for _, l := range []Layout{{}, {Size: 5}, {Size: 5, BlockSize: B}, {Size: -5, BlockSize: B, SegmentSize: B}} {
		_ = l.Blocks() + l.CiphertextSize() + l.SegmentCipherSize(0) + l.SegmentFirstBlock(0) + l.SegmentBlocks(0)
		_ = l.Segments() + l.BlockPlainSize(0)
		_, _ = l.SegmentPlain(0)
		if first, last := l.SegmentsFor(0, 1); l.SegmentSize <= 0 && first <= last {
			t.Fatalf("%+v: SegmentsFor returned a range", l)
		}
		if l.Validate() == nil {
			t.Fatalf("%+v: invalid layout validates", l)
		}
	}
}

func TestSegmentsFor(t *testing.T) {
	l, err := NewLayout(5*B+3, 2*B) // segments: [0,2B) [2B,4B) [4B,5B+3)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		off, n      int64
		first, last int
	}{
		{0, 1, 0, 0},
		{0, 2 * B, 0, 0},
		{0, 2*B + 1, 0, 1},
		{2*B - 1, 2, 0, 1},
		{2 * B, 1, 1, 1},
		{0, 5*B + 3, 0, 2},
		{0, math.MaxInt64, 0, 2},
		{5*B + 2, 100, 2, 2},
		{4 * B, 1, 2, 2},
		{5*B + 3, 1, 0, -1},
		{0, 0, 0, -1},
		{-1, 10, 0, -1},
		{10, -1, 0, -1},
		{math.MaxInt64, math.MaxInt64, 0, -1},
	}
	for _, tt := range tests {
		if first, last := l.SegmentsFor(tt.off, tt.n); first != tt.first || last != tt.last {
			t.Errorf("SegmentsFor(%d, %d) = %d, %d, want %d, %d", tt.off, tt.n, first, last, tt.first, tt.last)
		}
	}
	for s := -1; s <= l.Segments(); s++ {
		if s == -1 || s == l.Segments() {
			if off, n := l.SegmentPlain(s); off != 0 || n != 0 || l.SegmentCipherSize(s) != 0 {
				t.Errorf("segment %d out of range gave [%d, +%d)", s, off, n)
			}
		}
	}
}

func FuzzLayout(f *testing.F) {
	f.Add(int64(1), int64(B), int64(0), int64(1))
	f.Add(int64(5*B+3), int64(2*B), int64(B), int64(3*B))
	f.Add(int64(MaxSize), int64(1<<40), int64(MaxSize-1), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, size, seg, off, n int64) {
		l, err := NewLayout(size, seg)
		if err != nil {
			if !errors.Is(err, ErrBadLayout) {
				t.Fatal(err)
			}
			return
		}
		if l.Segments() <= 1000 {
			checkLayoutConsistent(t, l)
		}
		first, last := l.SegmentsFor(off, n)
		if first > last {
			return
		}
		if first < 0 || last >= l.Segments() {
			t.Fatalf("SegmentsFor(%d, %d) = %d..%d outside %d segments", off, n, first, last, l.Segments())
		}
		fo, _ := l.SegmentPlain(first)
		lo, ln := l.SegmentPlain(last)
		if off < fo || off >= lo+ln || (n < l.Size-off && off+n > lo+ln) || (off+n-1 >= 0 && n < l.Size-off && off+n-1 < lo) {
			t.Fatalf("SegmentsFor(%d, %d) = %d..%d does not cover exactly", off, n, first, last)
		}
	})
}
