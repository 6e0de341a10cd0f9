package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

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
	ciph, err := stream.NewCipher(key, objID, layout)
	if err != nil {
		return tampered("%v", err)
	}
	first, last := layout.SegmentsFor(off, n)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		pool = c.nodes.bufs
		src  = &segmentSource{c: c, object: ct.Object}
	)
	// At most SegmentsInFlight segments are held at once, fetching or
	// waiting to be written: a token is taken before a fetch starts and
	// given back once its plaintext is written. Each segment's slot
	// carries one or two runs of plaintext (see readSegment) and is closed
	// after the last.
	tokens := make(chan struct{}, c.opts.SegmentsInFlight)
	slots := make(chan chan segResult, c.opts.SegmentsInFlight)
	// The first segment is fetched and decrypted alone, so that it does
	// not share the links and cores with the next one: that is the time
	// to the first byte. The pipeline fills from the second segment on.
	firstDone := make(chan struct{})
	wg.Go(func() {
		defer close(slots)
		for s := first; s <= last; s++ {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			if s == first+1 {
				select {
				case <-firstDone:
				case <-ctx.Done():
					return
				}
			}
			ch := make(chan segResult, 2)
			seg, err := src.get(ctx, s)
			if err == nil {
				// Plaintext range of this segment that the caller wants.
				segOff, segLen := layout.SegmentPlain(s)
				lo, hi := max(off, segOff), min(off+n, segOff+segLen)
				wg.Go(func() {
					defer close(ch)
					c.readSegment(ctx, seg, s, ciph, coder, lo-segOff, hi-lo, s == first, ch)
					if s == first {
						close(firstDone)
					}
				})
			} else {
				ch <- segResult{nil, err}
				close(ch)
			}
			slots <- ch // never blocks: len(slots) <= len(tokens)
			if err != nil {
				return
			}
		}
	})
	var werr error
	for ch := range slots {
		for werr == nil {
			r, ok := segResult{}, false
			select {
			case r, ok = <-ch:
			case <-ctx.Done():
				r, ok = segResult{nil, ctx.Err()}, true
			}
			if !ok {
				break
			}
			if r.err == nil {
				if _, err := w.Write(r.data); err != nil {
					r.err = err
				} else if progress != nil {
					progress(int64(len(r.data)))
				}
				pool.put(r.data)
			}
			if r.err != nil {
				werr = r.err
				cancel()
			}
		}
		<-tokens
	}
	wg.Wait()
	return werr
}

// Hedged downloads (see fetchSegment): how long to wait for the first piece
// of a segment before asking for a spare, and the least delay after which
// the remaining pieces are considered late.
const (
	hedgeFirst = 500 * time.Millisecond
	hedgeMin   = 20 * time.Millisecond
)

// hedgeAfter returns when, counted from the start of a segment's
// downloads, the pieces still missing are late (see fetchSegment), now that
// got of the k asked for have arrived, the last took after the start; ok
// is false when this arrival does not move that moment.
func hedgeAfter(got, k int, took time.Duration) (late time.Duration, ok bool) {
	var factor time.Duration
	switch {
	case got >= k:
		return 0, false
	case got == k-1:
		factor = 2
	case got == 1:
		factor = 4
	default:
		return 0, false
	}
	return max(factor*took, hedgeMin), true
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
// (relative to the segment's first plaintext byte). firstOfRead marks the
// first segment of a read, which asks for a spare piece up front. It is
// the whole-piece path that ranged reads fall back to.
//
// With verify unset, the pieces' hashes are not checked: a bad piece then
// makes the decoded ciphertext fail authentication, and fetchSegment
// returns an error matching errUnauthenticated without releasing anything;
// the caller fetches again with verify set.
func (c *Client) fetchSegment(ctx context.Context, seg api.Segment, s int, ciph *stream.Cipher, coder *erasure.Coder,
	off, n int64, firstOfRead, verify bool) ([]byte, error) {
	k := coder.K()
	layout := ciph.Layout()
	pool := c.nodes.bufs
	if err := checkSegment(seg, s, layout, coder); err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		index int
		data  []byte
		buf   []byte // from the pool, to give back (nil: part of ctBuf)
		err   error
	}
	results := make(chan result, len(seg.Pieces))
	// The data pieces are fetched straight into their places in the
	// segment's ciphertext (Decode then copies nothing); parity pieces
	// into buffers of their own.
	z := int(seg.PieceSize)
	ctBuf := pool.get(k * z)
	next := 0
	launch := func() {
		o := seg.Pieces[next]
		next++
		var buf, own []byte
		if o.Index < k {
			buf = ctBuf[o.Index*z : o.Index*z : (o.Index+1)*z]
		} else {
			buf = pool.get(z)
			own = buf
		}
		go func() {
			data, err := c.nodes.get(pctx, o, seg.PieceSize, buf, verify)
			results <- result{o.Index, data, own, err}
		}()
	}
	start := time.Now()
	extra := c.opts.ExtraDownloads
	if firstOfRead {
		// The first segment of a read: its pieces come over fresh
		// connections, whose set-up times vary much more than transfers
		// do, and the caller is waiting for its first byte. A spare up
		// front is cheaper than a hedge that starts late.
		extra++
	}
	for next < len(seg.Pieces) && next < k+extra {
		launch()
	}
	// Hedge: one more piece is started when one fails, and when the k
	// asked for are late, then again after each doubling of the delay.
	// Late means: hedgeFirst after the start while none has arrived;
	// four times the time the first piece took once it has; twice the
	// time the (k-1)th took once it has (at least hedgeMin each). The
	// pieces of a segment share the client's link and cores, so they
	// arrive spread out even when no node is slow: on the benchmark
	// machine the k-th came at twice the first's time in the median and
	// up to seven times it, but within 1.2 times the (k-1)th's in the
	// median and 3.2 at most (docs/benchmarks.md). A spare started for
	// nothing costs a node a disk read and both ends a transfer.
	delay := hedgeFirst
	hedge := time.NewTimer(delay)
	defer hedge.Stop()
	pieces := make([][]byte, seg.N)
	var bufs [][]byte
	var errs []error
	got, running := 0, next
	for running > 0 {
		var r result
		select {
		case r = <-results:
		case <-hedge.C:
			if got < k && next < len(seg.Pieces) {
				c.opts.Logger.Debug("pieces late, asking for one more", "segment", s, "after", time.Since(start))
				launch()
				running++
			}
			delay *= 2
			hedge.Reset(delay)
			continue
		}
		running--
		if r.buf != nil {
			bufs = append(bufs, r.buf)
		}
		switch {
		case r.err == nil && got < k:
			pieces[r.index] = r.data
			got++
			took := time.Since(start)
			if got == k {
				cancel() // the rest are not needed
				hedge.Stop()
			} else if late, ok := hedgeAfter(got, k, took); ok {
				delay = max(took, hedgeMin)
				hedge.Reset(late - took)
			}
		case r.err != nil && got < k && ctx.Err() != nil:
			errs = append(errs, r.err) // the read is over: no retry, no warning
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
			pool.put(b)
		}
	}()
	if got < k {
		pool.put(ctBuf)
		err := fmt.Errorf("%w: segment %d: %d of %d pieces readable, need %d: %w", ErrUnavailable, s, got, len(seg.Pieces), k, errors.Join(errs...))
		if errors.Is(err, errBadPiece) {
			return nil, withHint(err, "some nodes hold corrupted pieces; too few intact ones remain to rebuild this file")
		}
		return nil, withHint(err, "too many storage nodes are offline; retry when more are back")
	}
	inPlace := false // the plaintext returned is in ctBuf
	defer func() {
		if !inPlace {
			pool.put(ctBuf)
		}
	}()
	ct, err := coder.Decode(pieces, seg.Size, ctBuf[:0])
	if err != nil && !verify {
		return nil, fmt.Errorf("%w: segment %d: %v", errUnauthenticated, s, err)
	}
	if err != nil {
		return nil, fmt.Errorf("segment %d: %w", s, err)
	}
	// The plaintext is decrypted over its ciphertext: no second
	// segment-sized buffer per segment in flight, and each block is
	// written where it was just read (docs/benchmarks.md, change 20). The
	// caller gives the plaintext back to the pool, and ctBuf with it.
	pt, err := ciph.OpenSegmentRangeInPlace(s, ct, off, n)
	inPlace = err == nil
	if err != nil && !verify {
		return nil, fmt.Errorf("%w: segment %d: %v", errUnauthenticated, s, err)
	}
	if err != nil {
		return nil, tampered("segment %d: %v", s, err)
	}
	return pt, nil
}

// errUnauthenticated reports a segment fetched without hash checks whose
// ciphertext did not authenticate: fetch it again with them.
var errUnauthenticated = errors.New("segment did not authenticate")
