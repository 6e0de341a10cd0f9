package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/stream"
	"github.com/nuage-storage/nuage/internal/erasure"
)

// data is one stored version of a file's bytes: inline, or a stored object.
type data struct {
	Size    int64
	Inline  []byte
	Content *content
}

// read writes bytes [off, off+n) of d to w (0 <= off, off+n <= d.Size).
func (c *Client) read(ctx context.Context, m data, off, n int64, w io.Writer, progress func(int64)) error {
	if m.Content == nil {
		if int64(len(m.Inline)) != m.Size {
			return tampered("inline data has %d bytes, metadata says %d", len(m.Inline), m.Size)
		}
		if n == 0 {
			return nil
		}
		if _, err := w.Write(m.Inline[off : off+n]); err != nil {
			return err
		}
		if progress != nil {
			progress(n)
		}
		return nil
	}
	ct := m.Content
	if ct.Block != stream.BlockSize || len(ct.Key) != 32 {
		return tampered("unsupported content parameters (block %d)", ct.Block)
	}
	if err := checkScheme(api.Scheme{K: ct.K, N: ct.N}, ct.Segment); err != nil {
		return tampered("%v", err)
	}
	if n == 0 {
		return nil
	}
	objID, err := parseID16(ct.Object)
	if err != nil {
		return tampered("object ID: %v", err)
	}
	layout, err := stream.NewLayout(m.Size, ct.Segment)
	if err != nil {
		return tampered("%v", err)
	}
	coder, err := erasure.New(ct.K, ct.N)
	if err != nil {
		return err
	}
	var key [32]byte
	copy(key[:], ct.Key)
	first, last := layout.SegmentsFor(off, n)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		data []byte
		err  error
	}
	var (
		wg        sync.WaitGroup
		piecePool bufPool
		ctPool    bufPool
		ptPool    bufPool
		src       = &segmentSource{c: c, object: ct.Object}
	)
	// At most SegmentsInFlight segments are held at once, fetching or
	// waiting to be written: a token is taken before a fetch starts and
	// given back once its plaintext is written.
	tokens := make(chan struct{}, c.opts.SegmentsInFlight)
	slots := make(chan chan result, c.opts.SegmentsInFlight)
	wg.Go(func() {
		defer close(slots)
		for s := first; s <= last; s++ {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			ch := make(chan result, 1)
			seg, err := src.get(ctx, s)
			if err == nil {
				// Plaintext range of this segment that the caller wants.
				segOff, segLen := layout.SegmentPlain(s)
				lo, hi := max(off, segOff), min(off+n, segOff+segLen)
				wg.Go(func() {
					data, err := c.fetchSegment(ctx, seg, s, layout, coder, key, objID, lo-segOff, hi-lo, &piecePool, &ctPool, &ptPool)
					ch <- result{data, err}
				})
			} else {
				ch <- result{nil, err}
			}
			slots <- ch // never blocks: len(slots) <= len(tokens)
			if err != nil {
				return
			}
		}
	})
	var werr error
	for ch := range slots {
		var r result
		select {
		case r = <-ch:
		case <-ctx.Done():
			r.err = ctx.Err()
		}
		if r.err == nil && werr == nil {
			if _, err := w.Write(r.data); err != nil {
				r.err = err
			} else if progress != nil {
				progress(int64(len(r.data)))
			}
			ptPool.put(r.data)
		}
		if r.err != nil && werr == nil {
			werr = r.err
			cancel()
		}
		<-tokens
	}
	wg.Wait()
	return werr
}

// segmentSource fetches segment descriptions (with fresh GET orders) from
// the coordinator in batches, as the download reaches them.
type segmentSource struct {
	c      *Client
	object string
	batch  []api.Segment
}

const segmentBatch = 16

func (s *segmentSource) get(ctx context.Context, index int) (api.Segment, error) {
	for _, seg := range s.batch {
		if seg.Index == index {
			return seg, nil
		}
	}
	var out api.Segments
	path := fmt.Sprintf("/objects/%s/segments?from=%d&count=%d", s.object, index, segmentBatch)
	if err := s.c.coord.call(ctx, http.MethodGet, path, nil, &out); err != nil {
		return api.Segment{}, err
	}
	s.batch = out.Segments
	for _, seg := range s.batch {
		if seg.Index == index {
			return seg, nil
		}
	}
	return api.Segment{}, tampered("coordinator did not return segment %d of object %s", index, s.object)
}

// fetchSegment downloads the first k pieces of segment s that verify,
// rebuilds its ciphertext and decrypts the wanted range [off, off+n)
// (relative to the segment's first plaintext byte).
func (c *Client) fetchSegment(ctx context.Context, seg api.Segment, s int, layout stream.Layout, coder *erasure.Coder,
	key [32]byte, objID [16]byte, off, n int64, piecePool, ctPool, ptPool *bufPool) ([]byte, error) {
	k := coder.K()
	if seg.Index != s || seg.Size != layout.SegmentCipherSize(s) || seg.K != k || seg.N != coder.N() || seg.PieceSize != coder.PieceSize(seg.Size) {
		return nil, tampered("segment %d has unexpected size or scheme", s)
	}
	seen := make(map[int]bool, len(seg.Pieces))
	for _, p := range seg.Pieces {
		if p.Index < 0 || p.Index >= seg.N || seen[p.Index] {
			return nil, tampered("segment %d lists piece %d twice or out of range", s, p.Index)
		}
		seen[p.Index] = true
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		index int
		data  []byte
		buf   []byte
		err   error
	}
	results := make(chan result, len(seg.Pieces))
	next := 0
	launch := func() {
		o := seg.Pieces[next]
		next++
		buf := piecePool.get(int(seg.PieceSize))
		go func() {
			data, err := c.nodes.get(pctx, o, seg.PieceSize, buf)
			results <- result{o.Index, data, buf, err}
		}()
	}
	for next < len(seg.Pieces) && next < k+c.opts.ExtraDownloads {
		launch()
	}
	pieces := make([][]byte, seg.N)
	var bufs [][]byte
	var errs []error
	got, running := 0, next
	for running > 0 {
		r := <-results
		running--
		bufs = append(bufs, r.buf)
		switch {
		case r.err == nil && got < k:
			pieces[r.index] = r.data
			got++
			if got == k {
				cancel() // the rest are not needed
			}
		case r.err != nil && got < k:
			errs = append(errs, r.err)
			c.opts.Logger.Warn("piece unavailable, trying another", "segment", s, "piece", r.index, "err", r.err)
			if next < len(seg.Pieces) {
				launch()
				running++
			}
		}
	}
	defer func() {
		for _, b := range bufs {
			piecePool.put(b)
		}
	}()
	if got < k {
		err := fmt.Errorf("%w: segment %d: %d of %d pieces readable, need %d: %w", ErrUnavailable, s, got, len(seg.Pieces), k, errors.Join(errs...))
		if errors.Is(err, errBadPiece) {
			return nil, withHint(err, "some nodes hold corrupted pieces; too few intact ones remain to rebuild this file")
		}
		return nil, withHint(err, "too many storage nodes are offline; retry when more are back")
	}
	ct, err := coder.Decode(pieces, seg.Size, ctPool.get(int(seg.Size))[:0])
	if err != nil {
		return nil, fmt.Errorf("segment %d: %w", s, err)
	}
	defer ctPool.put(ct)
	ciph, err := stream.NewCipher(key, objID, layout)
	if err != nil {
		return nil, err
	}
	_, segLen := layout.SegmentPlain(s)
	var pt []byte
	if off == 0 && n == segLen {
		pt, err = ciph.OpenSegment(ptPool.get(int(segLen))[:0], s, ct)
	} else {
		pt, err = ciph.OpenSegmentRange(ptPool.get(int(n))[:0], s, ct, off, n)
	}
	if err != nil {
		return nil, tampered("segment %d: %v", s, err)
	}
	return pt, nil
}
