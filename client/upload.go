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
	"github.com/nuage-storage/nuage/internal/piece"
)

func shortRead(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return withHint(errors.New("the source ended before its announced size (did the file shrink while it was read?)"), "retry once the file no longer changes")
	}
	return err
}

func expectEOF(r io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if n == 0 && errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil && n == 0 {
		return fmt.Errorf("read: %w", err)
	}
	return withHint(errors.New("the source is longer than its announced size (did the file grow while it was read?)"), "retry once the file no longer changes")
}

// abandon tells the coordinator to drop a pending or orphaned upload.
func (c *Client) abandon(object string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.coord.call(ctx, http.MethodDelete, "/objects/"+object, nil, nil); err != nil {
		c.opts.Logger.Warn("could not abandon upload; the coordinator will collect it later", "object", object, "err", err)
	}
}

// segJob is one encrypted, erasure-coded segment ready to send.
type segJob struct {
	index     int
	plain     int64
	size      int64
	pieceSize int64
	buf       []byte
	pieces    [][]byte
	ids       []piece.ID
}

func checkScheme(s api.Scheme, segment int64) error {
	if s.K < 1 || s.N <= s.K || s.N > 256 || s.Success < 0 || s.Success > s.N {
		return fmt.Errorf("coordinator proposes an invalid erasure scheme k=%d n=%d", s.K, s.N)
	}
	if segment <= 0 || segment%stream.BlockSize != 0 || segment > 1<<30 {
		return fmt.Errorf("coordinator proposes an invalid segment size %d", segment)
	}
	return nil
}

// upload encrypts, erasure-codes and stores size bytes of r as a new object.
// Segment i+1 is encrypted and encoded while segment i is being sent.
//
// With rs non-nil the upload is resumable: a state naming an object
// continues that upload (skipping the segments the coordinator reports
// committed, reading the source at the offsets of the others), and rs is
// kept up to date (rs.Save is called after each committed segment). A
// resumable upload that fails leaves its object pending so that a later run
// can continue it; the coordinator collects it if none does. A state that
// does not fit the source, or names an object the coordinator no longer
// has, is discarded and the upload starts over.
func (c *Client) upload(ctx context.Context, r io.Reader, size int64, progress func(int64), rs *ResumeState) (_ *content, err error) {
	p, done, committed, err := c.begin(ctx, size, rs)
	if err != nil {
		return nil, err
	}
	ct := &content{Object: p.object, Key: append([]byte(nil), p.key[:]...), Block: stream.BlockSize,
		Segment: p.segment, K: p.scheme.K, N: p.scheme.N}
	if committed {
		// An earlier run stored and sealed everything.
		if progress != nil {
			progress(size)
		}
		return ct, nil
	}
	if rs == nil {
		defer func() {
			if err != nil {
				c.abandon(p.object)
			}
		}()
	}
	layout, err := stream.NewLayout(size, p.segment)
	if err != nil {
		return nil, err
	}
	ciph, err := stream.NewCipher(p.key, p.objID, layout)
	if err != nil {
		return nil, err
	}
	coder, err := erasure.New(p.scheme.K, p.scheme.N)
	if err != nil {
		return nil, err
	}
	log := &doneLog{rs: rs}
	src := newSource(r)
	chunk := make([]byte, sealChunk)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		pool     = c.nodes.bufs
		mu       sync.Mutex
		firstErr error
	)
	fail := func(e error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = e
		}
		mu.Unlock()
		cancel()
	}
	jobs := make(chan *segJob)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(jobs)
		for s := 0; s < layout.Segments(); s++ {
			_, n := layout.SegmentPlain(s)
			if done != nil && done[s] {
				if progress != nil {
					progress(n)
				}
				continue
			}
			// The segment is sealed straight into the piece buffer, where
			// its ciphertext is the first k pieces: EncodeInto then only
			// pads and computes the parity, without copying it.
			ps := coder.PieceSize(layout.SegmentCipherSize(s))
			buf := pool.get(int(ps) * coder.N())
			ct, err := sealFrom(src, ciph, s, chunk, buf[:0])
			if err != nil {
				pool.put(buf)
				fail(err)
				return
			}
			pieces, err := coder.EncodeInto(ct, buf)
			if err != nil {
				pool.put(buf)
				fail(err)
				return
			}
			job := &segJob{index: s, plain: n, size: int64(len(ct)), pieceSize: ps, buf: buf, pieces: pieces, ids: make([]piece.ID, len(pieces))}
			for i, p := range pieces {
				job.ids[i] = piece.Sum(p)
			}
			select {
			case jobs <- job:
			case <-ctx.Done():
				pool.put(buf)
				return
			}
		}
		if err := src.end(size); err != nil {
			fail(err)
		}
	})
	for range c.opts.SegmentsInFlight {
		wg.Go(func() {
			for job := range jobs {
				if ctx.Err() == nil {
					err := c.storeSegment(ctx, p.object, p.scheme, job)
					if err != nil && rs != nil && c.committedMeanwhile(ctx, p.object, job.index, layout.Segments(), err) {
						// An interrupted earlier run committed this segment
						// after it reported what was stored; with the same
						// key and source its ciphertext is the same.
						err = nil
					}
					if err != nil {
						fail(fmt.Errorf("segment %d: %w", job.index, err))
					} else if err := log.add(job.index); err != nil {
						fail(err)
					} else if progress != nil {
						progress(job.plain)
					}
				}
				pool.put(job.buf)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	commit := api.ObjectCommit{Segments: layout.Segments(), Size: layout.CiphertextSize()}
	if err := c.coord.call(ctx, http.MethodPost, "/objects/"+p.object+"/commit", commit, nil); err != nil {
		return nil, fmt.Errorf("commit upload: %w", err)
	}
	return ct, nil
}

// sealChunk is how much plaintext sealFrom reads at a time: small enough
// to stay in the CPU's cache between the read and the seal, a whole number
// of blocks, and large enough that the system calls do not count.
const sealChunk = 16 * stream.BlockSize

// sealFrom reads segment s from src, len(chunk) bytes at a time (a whole
// number of blocks), and appends its ciphertext to dst, block by block.
// Reading the whole segment first would hold one more segment-sized
// buffer per upload, 16 MiB of a put's memory (docs/benchmarks.md, change
// 14).
func sealFrom(src *source, ciph *stream.Cipher, s int, chunk, dst []byte) ([]byte, error) {
	l := ciph.Layout()
	off, n := l.SegmentPlain(s)
	for done := int64(0); done < n; {
		m := min(int64(len(chunk)), n-done)
		if err := src.readAt(chunk[:m], off+done); err != nil {
			return nil, err
		}
		var err error
		if dst, err = ciph.SealBlocks(dst, (off+done)/int64(l.BlockSize), chunk[:m]); err != nil {
			return nil, err
		}
		done += m
	}
	return dst, nil
}

// storeSegment declares a segment, sends its pieces to the nodes the
// coordinator chose, in parallel, cancels the slowest once enough are
// stored, and commits the receipts.
func (c *Client) storeSegment(ctx context.Context, object string, scheme api.Scheme, j *segJob) error {
	req := api.SegmentRequest{Index: j.index, Size: j.size, PieceSize: j.pieceSize, Pieces: j.ids}
	var so api.SegmentOrders
	if err := c.coord.call(ctx, http.MethodPost, "/objects/"+object+"/segments", req, &so); err != nil {
		return err
	}
	seen := make(map[int]bool)
	for _, o := range so.Orders {
		if o.Index < 0 || o.Index >= len(j.pieces) || seen[o.Index] || o.Piece != j.ids[o.Index] {
			return fmt.Errorf("coordinator sent an order for the wrong piece (index %d)", o.Index)
		}
		seen[o.Index] = true
	}
	if len(so.Orders) < scheme.K {
		return fmt.Errorf("%w: coordinator placed only %d pieces, need %d", ErrUnavailable, len(so.Orders), scheme.K)
	}
	want := scheme.Success
	if want == 0 {
		want = scheme.N
	}
	want = min(want, len(so.Orders))

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		receipt []byte
		err     error
	}
	results := make(chan result, len(so.Orders))
	for _, o := range so.Orders {
		go func() {
			rc, err := c.nodes.put(sctx, o, j.pieces[o.Index])
			results <- result{rc, err}
		}()
	}
	var receipts [][]byte
	var errs []error
	// Collect every result, even after the cut: the piece buffers are
	// reused once this returns, so no upload may still be reading them.
	for range so.Orders {
		r := <-results
		switch {
		case r.err == nil:
			receipts = append(receipts, r.receipt)
			if len(receipts) == want {
				cancel() // long-tail cut
			}
		case len(receipts) < want:
			errs = append(errs, r.err)
		}
	}
	if len(receipts) < scheme.K {
		return fmt.Errorf("%w: stored %d of %d pieces, need %d: %w", ErrUnavailable, len(receipts), len(so.Orders), scheme.K, errors.Join(errs...))
	}
	if len(receipts) < want {
		c.opts.Logger.Warn("segment stored with reduced redundancy", "segment", j.index, "stored", len(receipts), "wanted", want, "err", errors.Join(errs...))
	}
	return c.coord.call(ctx, http.MethodPost, fmt.Sprintf("/objects/%s/segments/%d/commit", object, j.index), api.SegmentCommit{Receipts: receipts}, nil)
}

// committedMeanwhile reports whether a segment declaration that failed with
// err failed because the segment is already committed: an interrupted run's
// last commit can land at the coordinator after the resumed run asked which
// segments were stored.
func (c *Client) committedMeanwhile(ctx context.Context, object string, index, segments int, err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != api.CodeConflict {
		return false
	}
	var st api.ObjectStatus
	if c.coord.call(ctx, http.MethodGet, "/objects/"+object, nil, &st) != nil {
		return false
	}
	done, _, _, serr := objectStatus(st, object, segments)
	return serr == nil && done != nil && done[index]
}
