package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/crypto/stream"
	"github.com/nuage-storage/nuage/internal/erasure"
	"github.com/nuage-storage/nuage/internal/piece"
)

// PutOptions describe a file being stored.
type PutOptions struct {
	ModTime time.Time
	Mode    fs.FileMode
	// Progress, if set, is called with the number of plaintext bytes
	// stored since the last call. It is called from several goroutines.
	Progress func(n int64)
}

// Put stores size bytes read from r as the file at remote path p. The
// parent folder must exist and the name must be free (ErrExists).
func (c *Client) Put(ctx context.Context, p string, r io.Reader, size int64, po *PutOptions) (Entry, error) {
	if po == nil {
		po = &PutOptions{}
	}
	if size < 0 {
		return Entry{}, fmt.Errorf("put %s: negative size %d", p, size)
	}
	clean, err := CleanPath(p)
	if err != nil {
		return Entry{}, err
	}
	parent, name, err := c.resolveParent(ctx, clean)
	if err != nil {
		return Entry{}, err
	}
	kids, err := c.children(ctx, parent)
	if err != nil {
		return Entry{}, err
	}
	for _, k := range kids {
		if k.meta.Name == name {
			if k.isDir() {
				return Entry{}, fmt.Errorf("%s: %w", clean, ErrIsFolder)
			}
			return Entry{}, withHint(fmt.Errorf("%s: %w", clean, ErrExists), "remove it first or choose another name")
		}
	}
	info, err := c.serverInfo(ctx)
	if err != nil {
		return Entry{}, err
	}
	mtime := po.ModTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	m := &meta{Name: name, Size: size, ModTime: mtime.UTC(), Mode: uint32(po.Mode.Perm())}
	if m.Mode == 0 {
		m.Mode = 0o644
	}
	object := ""
	if size <= info.InlineMax {
		data := make([]byte, size)
		if _, err := io.ReadFull(r, data); err != nil {
			return Entry{}, fmt.Errorf("put %s: read: %w", clean, shortRead(err))
		}
		if err := expectEOF(r); err != nil {
			return Entry{}, fmt.Errorf("put %s: %w", clean, err)
		}
		m.Inline = data
		if po.Progress != nil {
			po.Progress(size)
		}
	} else {
		ct, err := c.upload(ctx, r, size, po.Progress)
		if err != nil {
			return Entry{}, fmt.Errorf("put %s: %w", clean, err)
		}
		m.Content = ct
		object = ct.Object
	}
	n, err := c.createEntry(ctx, parent, "file", m, object)
	if err != nil {
		if object != "" {
			c.abandon(object)
		}
		return Entry{}, fmt.Errorf("put %s: %w", clean, err)
	}
	return n.entry(clean), nil
}

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
func (c *Client) upload(ctx context.Context, r io.Reader, size int64, progress func(int64)) (_ *content, err error) {
	var oc api.ObjectCreated
	if err := c.coord.call(ctx, http.MethodPost, "/objects", struct{}{}, &oc); err != nil {
		return nil, err
	}
	objID, err := parseID16(oc.Object)
	if err != nil {
		return nil, fmt.Errorf("coordinator sent a bad object ID: %w", err)
	}
	defer func() {
		if err != nil {
			c.abandon(oc.Object)
		}
	}()
	if err := checkScheme(oc.Scheme, oc.SegmentSize); err != nil {
		return nil, err
	}
	layout, err := stream.NewLayout(size, oc.SegmentSize)
	if err != nil {
		return nil, err
	}
	key, err := keys.NewKey()
	if err != nil {
		return nil, err
	}
	ciph, err := stream.NewCipher(key, objID, layout)
	if err != nil {
		return nil, err
	}
	coder, err := erasure.New(oc.Scheme.K, oc.Scheme.N)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		plainPool, ctPool, piecePool bufPool
		mu                           sync.Mutex
		firstErr                     error
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
			plain := plainPool.get(int(n))
			if _, err := io.ReadFull(r, plain); err != nil {
				fail(fmt.Errorf("read: %w", shortRead(err)))
				return
			}
			ct, err := ciph.SealSegment(ctPool.get(int(layout.SegmentCipherSize(s)))[:0], s, plain)
			plainPool.put(plain)
			if err != nil {
				fail(err)
				return
			}
			ps := coder.PieceSize(int64(len(ct)))
			buf := piecePool.get(int(ps) * coder.N())
			pieces, err := coder.EncodeInto(ct, buf)
			ctPool.put(ct)
			if err != nil {
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
				return
			}
		}
		if err := expectEOF(r); err != nil {
			fail(err)
		}
	})
	for range c.opts.SegmentsInFlight {
		wg.Go(func() {
			for job := range jobs {
				if ctx.Err() == nil {
					if err := c.storeSegment(ctx, oc.Object, oc.Scheme, job); err != nil {
						fail(fmt.Errorf("segment %d: %w", job.index, err))
					} else if progress != nil {
						progress(job.plain)
					}
				}
				piecePool.put(job.buf)
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
	if err := c.coord.call(ctx, http.MethodPost, "/objects/"+oc.Object+"/commit", commit, nil); err != nil {
		return nil, fmt.Errorf("commit upload: %w", err)
	}
	return &content{Object: oc.Object, Key: key[:], Block: stream.BlockSize, Segment: oc.SegmentSize, K: oc.Scheme.K, N: oc.Scheme.N}, nil
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
