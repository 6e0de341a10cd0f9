package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/nuage-storage/nuage/client"
)

// The client side of the latency and listing measurements runs in a child
// process (`nuage bench-client`, see ServeChild), never in the process
// that hosts the network, so that its CPU and memory are its own. The
// parent writes one ChildRequest as JSON on the child's standard input;
// the child answers one ChildResult as JSON on its standard output.

// Child operations, as in ChildRequest.Op.
const (
	// ChildFirstByte reads a range of a file and times the first
	// plaintext byte handed to the writer (and the last).
	ChildFirstByte = "first-byte"
	// ChildList lists a folder recursively.
	ChildList = "list"
)

// ChildRequest asks a child process for one measurement.
type ChildRequest struct {
	Op   string `json:"op"`
	Path string `json:"path"`
	// Offset and Length select the range of a ChildFirstByte read
	// (Length < 0: to the end of the file).
	Offset int64 `json:"offset,omitempty"`
	Length int64 `json:"length,omitempty"`
	// StopAtFirstByte ends a ChildFirstByte read as soon as the first
	// byte arrives, instead of reading the range to its end.
	StopAtFirstByte bool `json:"stop_at_first_byte,omitempty"`
}

// ChildResult is the child's answer.
type ChildResult struct {
	// FirstByteSeconds is the time from the read call to the first byte
	// written; Seconds the time the whole operation took in the child.
	FirstByteSeconds float64 `json:"first_byte_seconds,omitempty"`
	Seconds          float64 `json:"seconds"`
	// Bytes is how many bytes a read delivered.
	Bytes int64 `json:"bytes,omitempty"`
	// Files and Folders count what a listing found.
	Files   int `json:"files,omitempty"`
	Folders int `json:"folders,omitempty"`
}

// ErrBadRequest reports a malformed ChildRequest or ChildResult.
var ErrBadRequest = errors.New("bench: malformed child message")

// maxMessage bounds a request or result on the wire.
const maxMessage = 64 << 10

// maxListed bounds a recursive listing, so a hostile or broken server
// cannot keep a child busy forever.
const maxListed = 10_000_000

// DecodeChildRequest reads and validates one request.
func DecodeChildRequest(r io.Reader) (ChildRequest, error) {
	var req ChildRequest
	if err := decodeStrict(r, &req); err != nil {
		return ChildRequest{}, err
	}
	switch req.Op {
	case ChildFirstByte, ChildList:
	default:
		return ChildRequest{}, fmt.Errorf("%w: unknown op %q", ErrBadRequest, req.Op)
	}
	if !strings.HasPrefix(req.Path, "/") {
		return ChildRequest{}, fmt.Errorf("%w: path %q is not absolute", ErrBadRequest, req.Path)
	}
	if req.Offset < 0 {
		return ChildRequest{}, fmt.Errorf("%w: negative offset %d", ErrBadRequest, req.Offset)
	}
	return req, nil
}

// ParseChildResult parses and validates a child's answer.
func ParseChildResult(b []byte) (ChildResult, error) {
	var res ChildResult
	if err := decodeStrict(bytes.NewReader(b), &res); err != nil {
		return ChildResult{}, err
	}
	if res.Seconds < 0 || res.FirstByteSeconds < 0 || res.Bytes < 0 || res.Files < 0 || res.Folders < 0 ||
		res.FirstByteSeconds > res.Seconds {
		return ChildResult{}, fmt.Errorf("%w: impossible figures %+v", ErrBadRequest, res)
	}
	return res, nil
}

// decodeStrict decodes exactly one JSON value with no unknown fields and
// nothing after it.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, maxMessage))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data", ErrBadRequest)
	}
	return nil
}

// Client is what a child needs of a logged-in session; *client.Client
// implements it.
type Client interface {
	ReadRange(ctx context.Context, p string, off, n int64, w io.Writer, progress func(int64)) (client.Entry, error)
	List(ctx context.Context, p string) ([]client.Entry, error)
}

// ServeChild is the body of `nuage bench-client`: it reads one request
// from in, runs it with c, and writes the result to out.
func ServeChild(ctx context.Context, c Client, in io.Reader, out io.Writer) error {
	req, err := DecodeChildRequest(in)
	if err != nil {
		return err
	}
	var res ChildResult
	switch req.Op {
	case ChildFirstByte:
		res, err = firstByte(ctx, c, req)
	case ChildList:
		res, err = listTree(ctx, c, req.Path)
	}
	if err != nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = out.Write(append(b, '\n'))
	return err
}

// errFirstByte stops a read once its first byte has been timed.
var errFirstByte = errors.New("bench: stopped after the first byte")

// firstByteWriter records when the first byte arrives and counts the rest.
type firstByteWriter struct {
	start time.Time
	first time.Duration
	n     int64
	stop  bool
}

func (w *firstByteWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if w.n == 0 {
		w.first = time.Since(w.start)
	}
	w.n += int64(len(p))
	if w.stop {
		return len(p), errFirstByte
	}
	return len(p), nil
}

func firstByte(ctx context.Context, c Client, req ChildRequest) (ChildResult, error) {
	n := req.Length
	if n == 0 {
		n = -1
	}
	w := &firstByteWriter{start: time.Now(), stop: req.StopAtFirstByte}
	_, err := c.ReadRange(ctx, req.Path, req.Offset, n, w, nil)
	total := time.Since(w.start)
	if err != nil && !(w.stop && errors.Is(err, errFirstByte)) {
		return ChildResult{}, fmt.Errorf("read %s: %w", req.Path, err)
	}
	if w.n == 0 {
		return ChildResult{}, fmt.Errorf("read %s: no bytes", req.Path)
	}
	return ChildResult{FirstByteSeconds: w.first.Seconds(), Seconds: total.Seconds(), Bytes: w.n}, nil
}

// listTree lists root and every folder below it, breadth first, and
// counts what it finds.
func listTree(ctx context.Context, c Client, root string) (ChildResult, error) {
	start := time.Now()
	var res ChildResult
	queue := []string{root}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		es, err := c.List(ctx, dir)
		if err != nil {
			return ChildResult{}, fmt.Errorf("list %s: %w", dir, err)
		}
		for _, e := range es {
			if e.IsDir {
				res.Folders++
				queue = append(queue, path.Join(dir, e.Name))
			} else {
				res.Files++
			}
		}
		if res.Files+res.Folders > maxListed {
			return ChildResult{}, fmt.Errorf("list %s: more than %d entries", root, maxListed)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}
