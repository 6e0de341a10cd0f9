package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/crypto/stream"
)

// ResumeState is what an upload needs to continue after an interruption:
// the pending object, its content key and parameters, and the segments
// already committed. Set PutOptions.Resume to a zero ResumeState (with
// Save) to make an upload resumable; if the upload is interrupted, pass the
// state saved last to a later Put of the same source and only the segments
// not yet stored are uploaded.
//
// The state holds the content key of the upload: whoever reads it can
// decrypt the file once it is stored. Keep it as private as the session
// (the CLI writes it with mode 0600 under its config directory).
type ResumeState struct {
	// Object is the pending object's ID ("" until the upload starts).
	Object string `json:"object"`
	// Key is the object's 32-byte content key.
	Key []byte `json:"key"`
	// SegmentSize and Scheme are the ones the coordinator chose for the object.
	SegmentSize int64      `json:"segment_size"`
	Scheme      api.Scheme `json:"scheme"`
	// Size is the plaintext size of the source.
	Size int64 `json:"size"`
	// Done lists the committed segments, ascending.
	Done []int `json:"done"`

	// Save, if set, is called with the state after the upload starts and
	// after each segment is committed, so that the caller can persist it.
	// It is called from one goroutine at a time. An error from Save stops
	// the upload.
	Save func(*ResumeState) error `json:"-"`
}

// Resumed reports whether the state names an upload already under way.
func (rs *ResumeState) Resumed() bool { return rs != nil && rs.Object != "" }

// reset forgets a previous upload, keeping Save.
func (rs *ResumeState) reset() {
	*rs = ResumeState{Save: rs.Save}
}

func (rs *ResumeState) save() error {
	if rs.Save == nil {
		return nil
	}
	if err := rs.Save(rs); err != nil {
		return fmt.Errorf("save upload state: %w", err)
	}
	return nil
}

// errResumeMismatch reports a saved upload state that does not fit the
// source (another size) or is malformed; the upload starts over.
var errResumeMismatch = errors.New("saved upload state does not match the source")

// check validates a saved state against a source of size bytes.
func (rs *ResumeState) check(size int64) error {
	if _, err := parseID16(rs.Object); err != nil {
		return fmt.Errorf("%w: object: %v", errResumeMismatch, err)
	}
	if len(rs.Key) != 32 {
		return fmt.Errorf("%w: content key has %d bytes", errResumeMismatch, len(rs.Key))
	}
	if rs.Size != size {
		return fmt.Errorf("%w: it is for %d bytes, the source has %d", errResumeMismatch, rs.Size, size)
	}
	if err := checkScheme(rs.Scheme, rs.SegmentSize); err != nil {
		return fmt.Errorf("%w: %v", errResumeMismatch, err)
	}
	return nil
}

// begin starts an upload or continues the one rs names. It returns the
// object's parameters and the set of segments already committed (nil when
// starting over). committed is true when the object was already sealed
// (an earlier run uploaded everything but did not record the file).
func (c *Client) begin(ctx context.Context, size int64, rs *ResumeState) (p uploadParams, done []bool, committed bool, err error) {
	if rs.Resumed() {
		p, done, committed, err = c.resume(ctx, size, rs)
		if err == nil {
			return p, done, committed, nil
		}
		if !errors.Is(err, errResumeMismatch) && !errors.Is(err, ErrNotFound) {
			return p, nil, false, err
		}
		c.opts.Logger.Info("starting the upload over", "object", rs.Object, "reason", err)
		rs.reset()
	}
	var oc api.ObjectCreated
	if err := c.coord.call(ctx, http.MethodPost, "/objects", struct{}{}, &oc); err != nil {
		return p, nil, false, err
	}
	if p.objID, err = parseID16(oc.Object); err != nil {
		return p, nil, false, fmt.Errorf("coordinator sent a bad object ID: %w", err)
	}
	p.object, p.scheme, p.segment = oc.Object, oc.Scheme, oc.SegmentSize
	if err := checkScheme(oc.Scheme, oc.SegmentSize); err != nil {
		c.abandon(oc.Object)
		return p, nil, false, err
	}
	if p.key, err = keys.NewKey(); err != nil {
		c.abandon(oc.Object)
		return p, nil, false, err
	}
	if rs != nil {
		*rs = ResumeState{Object: oc.Object, Key: append([]byte(nil), p.key[:]...), SegmentSize: oc.SegmentSize,
			Scheme: oc.Scheme, Size: size, Done: []int{}, Save: rs.Save}
		if err := rs.save(); err != nil {
			c.abandon(oc.Object)
			return p, nil, false, err
		}
	}
	return p, nil, false, nil
}

// resume asks the coordinator which segments of rs.Object are committed.
func (c *Client) resume(ctx context.Context, size int64, rs *ResumeState) (p uploadParams, done []bool, committed bool, err error) {
	if err := rs.check(size); err != nil {
		return p, nil, false, err
	}
	p = uploadParams{object: rs.Object, scheme: rs.Scheme, segment: rs.SegmentSize}
	p.objID, _ = parseID16(rs.Object) // checked above
	copy(p.key[:], rs.Key)
	layout, err := stream.NewLayout(size, rs.SegmentSize)
	if err != nil {
		return p, nil, false, fmt.Errorf("%w: %v", errResumeMismatch, err)
	}
	var st api.ObjectStatus
	if err := c.coord.call(ctx, http.MethodGet, "/objects/"+rs.Object, nil, &st); err != nil {
		return p, nil, false, fmt.Errorf("upload state of %s: %w", rs.Object, err)
	}
	done, list, committed, err := objectStatus(st, rs.Object, layout.Segments())
	if err != nil {
		return p, nil, false, err
	}
	rs.Done = list
	return p, done, committed, nil
}

// objectStatus checks the coordinator's answer about an upload of object
// in segments segments and returns its committed segments as a set and as
// an ascending list, or whether the object is already sealed.
func objectStatus(st api.ObjectStatus, object string, segments int) (done []bool, list []int, committed bool, err error) {
	if st.Object != object {
		return nil, nil, false, fmt.Errorf("coordinator answered with the state of another object (%q)", st.Object)
	}
	switch st.State {
	case "committed":
		return nil, nil, true, nil
	case "pending":
	default:
		return nil, nil, false, fmt.Errorf("coordinator reports unknown upload state %q", st.State)
	}
	done = make([]bool, segments)
	list = make([]int, 0, len(st.Committed))
	for _, s := range st.Committed {
		if s < 0 || s >= segments {
			return nil, nil, false, fmt.Errorf("coordinator reports committed segment %d of an upload of %d segments", s, segments)
		}
		if !done[s] {
			done[s] = true
			list = append(list, s)
		}
	}
	slices.Sort(list)
	return done, list, false, nil
}

// uploadParams are an object's identity and coding parameters.
type uploadParams struct {
	object  string
	objID   [16]byte
	key     keys.Key
	scheme  api.Scheme
	segment int64
}

// doneLog records committed segments in a ResumeState and saves it.
type doneLog struct {
	mu sync.Mutex
	rs *ResumeState
}

func (d *doneLog) add(s int) error {
	if d.rs == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	i, found := slices.BinarySearch(d.rs.Done, s)
	if !found {
		d.rs.Done = slices.Insert(d.rs.Done, i, s)
	}
	return d.rs.save()
}

// source reads the plaintext of segments, at their offsets when the
// source is an io.ReaderAt and sequentially (discarding skipped bytes)
// otherwise.
type source struct {
	r   io.Reader
	ra  io.ReaderAt
	pos int64
}

func newSource(r io.Reader) *source {
	s := &source{r: r}
	if ra, ok := r.(io.ReaderAt); ok {
		s.ra = ra
	}
	return s
}

// readAt fills b with the bytes at off. Offsets only grow.
func (s *source) readAt(b []byte, off int64) error {
	if s.ra != nil {
		n, err := s.ra.ReadAt(b, off)
		if n == len(b) {
			return nil
		}
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read: %w", shortRead(err))
	}
	if off > s.pos {
		n, err := io.CopyN(io.Discard, s.r, off-s.pos)
		s.pos += n
		if err != nil {
			return fmt.Errorf("read: %w", shortRead(err))
		}
	}
	if off != s.pos {
		return fmt.Errorf("read: offset %d is behind the source position %d", off, s.pos)
	}
	n, err := io.ReadFull(s.r, b)
	s.pos += int64(n)
	if err != nil {
		return fmt.Errorf("read: %w", shortRead(err))
	}
	return nil
}

// end checks that the source has no byte beyond size.
func (s *source) end(size int64) error {
	if s.ra != nil {
		var one [1]byte
		n, err := s.ra.ReadAt(one[:], size)
		switch {
		case n == 0 && errors.Is(err, io.EOF):
			return nil
		case n == 0 && err != nil:
			return fmt.Errorf("read: %w", err)
		}
		return withHint(errors.New("the source is longer than its announced size (did the file grow while it was read?)"), "retry once the file no longer changes")
	}
	if size > s.pos {
		n, err := io.CopyN(io.Discard, s.r, size-s.pos)
		s.pos += n
		if err != nil {
			return fmt.Errorf("read: %w", shortRead(err))
		}
	}
	return expectEOF(s.r)
}
