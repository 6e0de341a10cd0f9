// Package erasure splits an encrypted segment into Reed–Solomon pieces and
// rebuilds it from any k of them (docs/spec.md §4).
//
// A segment of L bytes is cut into k data shards of Z = ceil(L/k) bytes (the
// last one zero-padded) followed by n−k parity shards of the same size,
// exactly as klauspost/reedsolomon's New(k, n−k), Split and Encode lay them
// out. Shard j is piece j. Pieces carry no header; the caller hashes and
// verifies them (package piece) before handing them to Decode, which trusts
// the bytes it is given.
package erasure

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/reedsolomon"
)

// MaxPieces is the largest n a Coder accepts (GF(2^8) Reed–Solomon).
const MaxPieces = 256

var (
	// ErrBadScheme reports a scheme outside 1 <= k < n <= 256, or a piece
	// list whose length is not n.
	ErrBadScheme = errors.New("erasure: invalid scheme")
	// ErrTooFewPieces reports a decode with fewer than k usable pieces.
	ErrTooFewPieces = errors.New("erasure: too few pieces")
	// ErrBadPiece reports a piece whose length does not match the segment
	// size (pieces of a segment all have PieceSize(size) bytes).
	ErrBadPiece = errors.New("erasure: piece has the wrong length")
	// ErrEmptySegment reports an attempt to encode or decode a segment of
	// zero bytes; the spec never produces one (empty files are inline).
	ErrEmptySegment = errors.New("erasure: empty segment")
)

// goroutines is the parallelism handed to reedsolomon. It must stay above 1
// even with GOMAXPROCS=1: with a single goroutine reedsolomon never takes
// its GFNI path for more than 10 data or parity shards and runs about 3×
// slower. The library caps it further (4 with GFNI, 8 with AVX2) by itself.
const goroutines = 64

// Coder encodes and decodes segments for one (k, n) scheme. It is safe for
// concurrent use.
type Coder struct {
	k, n int
	enc  reedsolomon.Encoder
}

// New returns a Coder for k data pieces out of n in total. It requires
// 1 <= k < n <= 256.
func New(k, n int) (*Coder, error) {
	if k < 1 || n <= k || n > MaxPieces {
		return nil, fmt.Errorf("%w: k=%d n=%d (want 1 <= k < n <= %d)", ErrBadScheme, k, n, MaxPieces)
	}
	enc, err := reedsolomon.New(k, n-k, reedsolomon.WithMaxGoroutines(goroutines))
	if err != nil {
		return nil, fmt.Errorf("%w: k=%d n=%d: %w", ErrBadScheme, k, n, err)
	}
	return &Coder{k: k, n: n, enc: enc}, nil
}

// K returns the number of pieces needed to rebuild a segment.
func (c *Coder) K() int { return c.k }

// N returns the number of pieces a segment is encoded into.
func (c *Coder) N() int { return c.n }

// PieceSize returns the size Z = ceil(segmentSize/k) of every piece of a
// segment of segmentSize bytes, or 0 if segmentSize <= 0.
func (c *Coder) PieceSize(segmentSize int64) int64 {
	if segmentSize <= 0 {
		return 0
	}
	k := int64(c.k)
	return segmentSize/k + min(segmentSize%k, 1)
}

// pieceSize is PieceSize for an in-memory length, checking that all n
// pieces fit in an int.
func (c *Coder) pieceSize(segmentLen int) (int, error) {
	if segmentLen == 0 {
		return 0, ErrEmptySegment
	}
	z := int(c.PieceSize(int64(segmentLen)))
	if z > maxInt/c.n {
		return 0, fmt.Errorf("erasure: segment of %d bytes is too large", segmentLen)
	}
	return z, nil
}

const maxInt = int(^uint(0) >> 1)

// Encode returns the n pieces of segment, each PieceSize(len(segment))
// bytes long.
//
// To avoid copying, the pieces share memory with segment: every data piece
// that fits in cap(segment) is a sub-slice of segment's backing array, and
// so are parity pieces while the capacity lasts. In particular, when
// cap(segment) >= k·Z the zero padding is written into
// segment[len(segment):k·Z], and when cap(segment) >= n·Z Encode does not
// allocate piece memory at all. Callers that must keep the bytes past
// len(segment) intact pass segment[:len(segment):len(segment)]. The
// returned pieces are valid until segment's memory is modified.
func (c *Coder) Encode(segment []byte) ([][]byte, error) {
	l := len(segment)
	z, err := c.pieceSize(l)
	if err != nil {
		return nil, err
	}
	pieces := make([][]byte, c.n)
	inPlace := min(cap(segment)/z, c.n) // whole pieces segment's memory holds
	if inPlace >= c.k {
		buf := segment[:inPlace*z]
		clear(buf[l : c.k*z])
		split(pieces[:inPlace], buf, z)
		if inPlace < c.n {
			split(pieces[inPlace:], make([]byte, (c.n-inPlace)*z), z)
		}
	} else {
		// Alias the full data pieces, copy only the partial one.
		full := l / z
		split(pieces[:full], segment, z)
		rest := make([]byte, (c.n-full)*z)
		copy(rest, segment[full*z:])
		split(pieces[full:], rest, z)
	}
	if err := c.enc.Encode(pieces); err != nil {
		return nil, fmt.Errorf("erasure: encode: %w", err)
	}
	return pieces, nil
}

// EncodeInto is Encode writing all n pieces into buf, which must hold at
// least n·PieceSize(len(segment)) bytes (io.ErrShortBuffer otherwise). The
// returned pieces are consecutive sub-slices of buf; segment is only read.
// segment may be buf's own prefix (buf[:L]), which saves the copy. Apart
// from the small slice of piece headers it allocates nothing.
func (c *Coder) EncodeInto(segment, buf []byte) ([][]byte, error) {
	l := len(segment)
	z, err := c.pieceSize(l)
	if err != nil {
		return nil, err
	}
	if len(buf) < c.n*z {
		return nil, fmt.Errorf("erasure: buffer of %d bytes for %d pieces of %d: %w", len(buf), c.n, z, io.ErrShortBuffer)
	}
	buf = buf[:c.n*z]
	if &buf[0] != &segment[0] {
		copy(buf, segment)
	}
	clear(buf[l : c.k*z])
	pieces := make([][]byte, c.n)
	split(pieces, buf, z)
	if err := c.enc.Encode(pieces); err != nil {
		return nil, fmt.Errorf("erasure: encode: %w", err)
	}
	return pieces, nil
}

// split sets dst[i] to the i-th z-byte slice of buf, capacity-limited so an
// append to one piece cannot overwrite the next.
func split(dst [][]byte, buf []byte, z int) {
	for i := range dst {
		dst[i] = buf[i*z : (i+1)*z : (i+1)*z]
	}
}

// Decode rebuilds a segment of size bytes from its pieces and appends it to
// dst, returning the extended slice.
//
// pieces must have n entries, pieces[j] being piece j or nil (or empty) when
// it is missing. Every present piece must be PieceSize(size) bytes long
// (ErrBadPiece otherwise) and at least k must be present (ErrTooFewPieces
// otherwise). Decode does not check the pieces against each other: the
// caller verifies each piece's hash first, as the spec requires. pieces and
// the slices in it are not modified; missing data is rebuilt directly into
// dst's spare capacity, which must not overlap any piece, with one
// exception: data piece i may already sit at its place in the output,
// dst[len(dst)+i·z:][:z] for pieces of z bytes (a caller that fetched it
// there), and is then not copied.
func (c *Coder) Decode(pieces [][]byte, size int64, dst []byte) ([]byte, error) {
	if len(pieces) != c.n {
		return dst, fmt.Errorf("%w: got %d pieces, scheme has %d", ErrBadScheme, len(pieces), c.n)
	}
	if size <= 0 {
		return dst, fmt.Errorf("%w: size %d", ErrEmptySegment, size)
	}
	z64 := c.PieceSize(size)
	if z64 > int64(maxInt/c.k) {
		return dst, fmt.Errorf("erasure: segment of %d bytes is too large", size)
	}
	z := int(z64)
	present := 0
	for j, p := range pieces {
		if len(p) == 0 {
			continue
		}
		if len(p) != z {
			return dst, fmt.Errorf("%w: piece %d has %d bytes, want %d for a %d-byte segment", ErrBadPiece, j, len(p), z, size)
		}
		present++
	}
	if present < c.k {
		return dst, fmt.Errorf("%w: have %d, need %d", ErrTooFewPieces, present, c.k)
	}

	// Only the data pieces covering the first size bytes are needed.
	needed := int((size + z64 - 1) / z64)
	base := len(dst)
	out := slices.Grow(dst, needed*z)[:base+needed*z]
	region := out[base:]

	var shards [][]byte
	var required []bool
	for i := range needed {
		if len(pieces[i]) != 0 {
			continue
		}
		if shards == nil {
			shards = make([][]byte, c.n)
			required = make([]bool, c.k)
			for j, p := range pieces {
				if len(p) != 0 {
					shards[j] = p
				}
			}
		}
		shards[i] = region[i*z : i*z : (i+1)*z] // reedsolomon fills it in place
		required[i] = true
	}
	if shards != nil {
		if err := c.enc.ReconstructSome(shards, required); err != nil {
			return dst, fmt.Errorf("erasure: reconstruct: %w", err)
		}
	}
	for i := range needed {
		// A piece the caller placed in dst already (fetched there) needs
		// no copy.
		if p := pieces[i]; len(p) != 0 && &p[0] != &region[i*z] {
			copy(region[i*z:], p)
		}
	}
	return out[:base+int(size)], nil
}
