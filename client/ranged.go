package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/stream"
	"github.com/nuage-storage/nuage/internal/erasure"
)

// Ranged reads (docs/spec.md §4): a small plaintext range of a segment is
// read from byte ranges of the data pieces that hold its blocks'
// ciphertext, without fetching k whole pieces, and each block is
// authenticated by the content stream's AEAD before it is released. Any
// failure falls back to whole, hash-verified pieces.
const (
	// rangedMax is the largest plaintext range within one segment that is
	// read through byte ranges of data pieces.
	rangedMax = 4 << 20
	// rangedHead is how much of the first segment of a larger read is
	// read through byte ranges first, so that the first bytes are written
	// without waiting for the whole segment.
	rangedHead = 1 << 20
	// rangedWait is how long a node may take to answer a ranged read
	// (connection set-up included) before the read falls back to whole
	// pieces, which hedge across nodes.
	rangedWait = 2 * hedgeFirst
)

// errRanged marks a failure of the ranged path; the caller falls back to
// whole pieces.
var errRanged = errors.New("ranged read failed")

// checkSegment verifies that the coordinator's description of segment s
// matches the layout and scheme of the object, and that its piece list
// names each piece at most once.
func checkSegment(seg api.Segment, s int, layout stream.Layout, coder *erasure.Coder) error {
	if seg.Index != s || seg.Size != layout.SegmentCipherSize(s) || seg.K != coder.K() || seg.N != coder.N() || seg.PieceSize != coder.PieceSize(seg.Size) {
		return tampered("segment %d has unexpected size or scheme", s)
	}
	seen := make(map[int]bool, len(seg.Pieces))
	for _, p := range seg.Pieces {
		if p.Index < 0 || p.Index >= seg.N || seen[p.Index] {
			return tampered("segment %d lists piece %d twice or out of range", s, p.Index)
		}
		seen[p.Index] = true
	}
	return nil
}

// readRanged appends to dst the plaintext bytes [off, off+n) of segment s
// (relative to the segment's first plaintext byte, n > 0), reading only
// the ciphertext of the blocks that cover them from the data pieces that
// hold it. seg must have passed checkSegment. Every block is
// authenticated before any of its bytes are returned; on error (wrapping
// errRanged unless ctx ended) dst holds nothing new worth using.
func (c *Client) readRanged(ctx context.Context, seg api.Segment, s int, ciph *stream.Cipher, off, n int64, dst []byte) ([]byte, error) {
	layout := ciph.Layout()
	_, size := layout.SegmentPlain(s)
	if off < 0 || n <= 0 || off > size || n > size-off {
		return nil, fmt.Errorf("%w: range [%d, %d+%d) outside segment %d", errRanged, off, off, n, s)
	}
	bs := int64(layout.BlockSize)
	cbs := bs + stream.Overhead
	firstBlk, lastBlk := off/bs, (off+n-1)/bs // relative to the segment
	a, b := firstBlk*cbs, min((lastBlk+1)*cbs, seg.Size)
	z := seg.PieceSize
	if z <= 0 {
		return nil, fmt.Errorf("%w: segment %d: piece size %d", errRanged, s, z)
	}
	firstPiece, lastPiece := int(a/z), int((b-1)/z)
	if lastPiece >= seg.K {
		return nil, fmt.Errorf("%w: segment %d: ciphertext beyond the data pieces", errRanged, s)
	}
	orders := make([]api.PieceOrder, 0, lastPiece-firstPiece+1)
	for j := firstPiece; j <= lastPiece; j++ {
		i := indexOfPiece(seg.Pieces, j)
		if i < 0 {
			return nil, fmt.Errorf("%w: segment %d: data piece %d is not listed", errRanged, s, j)
		}
		orders = append(orders, seg.Pieces[i])
	}

	pool := c.nodes.bufs
	ct := pool.get(int(b - a))
	defer pool.put(ct)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(orders))
	var wg sync.WaitGroup
	for x, o := range orders {
		j := int64(firstPiece + x)
		lo, hi := max(a, j*z), min(b, (j+1)*z) // segment ciphertext offsets
		wg.Go(func() {
			if err := c.nodes.getRange(rctx, o, z, lo-j*z, ct[lo-a:hi-a], rangedWait); err != nil {
				errs[x] = err
				cancel() // the others are useless now
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: segment %d: %w", errRanged, s, err)
	}

	start := len(dst)
	base := layout.SegmentFirstBlock(s)
	for blk := firstBlk; blk <= lastBlk; blk++ {
		cOff := blk*cbs - a
		cEnd := min(cOff+cbs, b-a)
		cur := len(dst)
		out, err := ciph.OpenBlock(dst, base+blk, ct[cOff:cEnd])
		if err != nil {
			clear(dst[start:cur])
			return nil, fmt.Errorf("%w: segment %d: %w", errRanged, s, err)
		}
		lo := max(off, blk*bs) - blk*bs
		hi := min(off+n, (blk+1)*bs) - blk*bs
		if lo > 0 {
			copy(out[cur:], out[cur+int(lo):cur+int(hi)])
		}
		dst = out[:cur+int(hi-lo)]
	}
	return dst, nil
}

// indexOfPiece returns the position in pieces of the order for piece
// index j, or -1.
func indexOfPiece(pieces []api.PieceOrder, j int) int {
	for i, p := range pieces {
		if p.Index == j {
			return i
		}
	}
	return -1
}

// segResult is one run of plaintext of a segment, ready to be written, or
// the error that stopped the read.
type segResult struct {
	data []byte
	err  error
}

// readSegment sends to out, in order, the plaintext bytes [off, off+n)
// of segment s (relative to the segment's start): through a ranged read
// when the range is small, else (for the first segment of a read) its
// first bytes (at most rangedHead) through a ranged read and the rest from whole
// pieces. A failed ranged read falls back to whole pieces. out must have
// room for two results.
func (c *Client) readSegment(ctx context.Context, seg api.Segment, s int, ciph *stream.Cipher, coder *erasure.Coder,
	off, n int64, firstOfRead bool, out chan<- segResult) {
	if err := checkSegment(seg, s, ciph.Layout(), coder); err != nil {
		out <- segResult{nil, err}
		return
	}
	// A range is small when it is at most rangedMax and a quarter of
	// the segment: larger ones are cheaper from whole pieces, which hedge.
	_, segLen := ciph.Layout().SegmentPlain(s)
	small := min(rangedMax, segLen/4)
	head := int64(0)
	switch {
	case n <= small:
		head = n
	case firstOfRead:
		head = min(rangedHead, small)
	}
	if head > 0 {
		pool := c.nodes.bufs
		// Room for a whole first block: it is opened, then trimmed.
		buf := pool.get(int(head) + ciph.Layout().BlockSize)[:0]
		pt, err := c.readRanged(ctx, seg, s, ciph, off, head, buf)
		switch {
		case err == nil:
			out <- segResult{pt, nil}
			off, n = off+head, n-head
			if n == 0 {
				return
			}
		case ctx.Err() != nil:
			pool.put(buf)
			out <- segResult{nil, ctx.Err()}
			return
		default:
			pool.put(buf)
			c.opts.Logger.Debug("ranged read failed, fetching whole pieces", "segment", s, "err", err)
		}
	}
	// Whole pieces, first without their hashes: every block is
	// authenticated by the stream's AEAD anyway (spec §4). Only if one does
	// not is the segment fetched again with every piece hash-checked,
	// which finds the bad pieces and routes around them.
	pt, err := c.fetchSegment(ctx, seg, s, ciph, coder, off, n, firstOfRead, false)
	if errors.Is(err, errUnauthenticated) {
		c.opts.Logger.Warn("a segment did not authenticate; fetching it again with every piece hash-checked", "segment", s, "err", err)
		pt, err = c.fetchSegment(ctx, seg, s, ciph, coder, off, n, firstOfRead, true)
	}
	out <- segResult{pt, err}
}
