// Package client is nuage's public Go API: sign up, log in, and put, get,
// list and remove files. Everything secret stays here: the client encrypts
// and erasure-codes data before it leaves the machine, talks to the
// coordinator only with opaque blobs and IDs, and moves piece bytes directly
// to and from storage nodes over TLS pinned to each node's identity.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

// Sentinel errors callers decide on.
var (
	// ErrNotFound reports a remote path that does not exist.
	ErrNotFound = errors.New("no such file or folder")
	// ErrExists reports a name already taken in a folder.
	ErrExists = errors.New("already exists")
	// ErrNotFolder reports a path used as a folder that is a file.
	ErrNotFolder = errors.New("not a folder")
	// ErrIsFolder reports a folder where a file was expected.
	ErrIsFolder = errors.New("is a folder")
	// ErrNotEmpty reports removing a non-empty folder without recursion.
	ErrNotEmpty = errors.New("folder is not empty")
	// ErrUnauthorized reports a missing, expired or rejected session or password.
	ErrUnauthorized = errors.New("not authorized")
	// ErrTampered reports data that failed authentication: the coordinator
	// or a node returned something the user never wrote.
	ErrTampered = errors.New("data failed authentication (tampered or corrupted)")
	// ErrUnavailable reports that too few pieces of a segment could be read.
	ErrUnavailable = errors.New("not enough pieces available")
	// ErrBadPath reports a malformed remote path.
	ErrBadPath = errors.New("bad remote path")
)

// APIError is an error answered by the coordinator.
type APIError struct {
	Status     int
	Code       string
	Message    string
	HintText   string
	RetryAfter int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("coordinator: %s (%s)", e.Message, e.Code)
}

// Unwrap maps coordinator codes onto the package's sentinels.
func (e *APIError) Unwrap() error {
	switch e.Code {
	case api.CodeUnauthorized:
		return ErrUnauthorized
	case api.CodeNotFound:
		return ErrNotFound
	case api.CodeExists:
		return ErrExists
	case api.CodeNotEnoughNodes:
		return ErrUnavailable
	case api.CodeOutOfScope:
		return ErrOutOfScope
	case api.CodeLinkAuth:
		return ErrLinkPassword
	case api.CodeLinkRevoked:
		return ErrLinkRevoked
	case api.CodeLinkExpired:
		return ErrLinkExpired
	case api.CodeLinkExhausted:
		return ErrLinkExhausted
	case api.CodeLinkGone:
		return ErrLinkGone
	}
	return nil
}

// Hint returns what the user can do about the error.
func (e *APIError) Hint() string { return e.HintText }

// HintOf returns the hint carried by err (any error in its chain with a
// Hint() string method), if any.
func HintOf(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

type hintError struct {
	err  error
	hint string
}

func (h *hintError) Error() string { return h.err.Error() }
func (h *hintError) Unwrap() error { return h.err }
func (h *hintError) Hint() string  { return h.hint }

func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

// Options tune a Client.
type Options struct {
	// HTTPClient talks to the coordinator; nil means a client with sane timeouts.
	HTTPClient *http.Client
	// Logger receives debug and warning logs; nil discards.
	Logger *slog.Logger
	// SegmentsInFlight is how many segments upload or download at once (default 2).
	SegmentsInFlight int
	// ExtraDownloads is how many pieces beyond k a download asks for at
	// once (default 0). Whatever its value, a download asks for one more
	// piece when one fails or when the others are late (hedging), so a
	// slow or bad node does not stall it; a spare asked for up front costs
	// bytes on every segment.
	ExtraDownloads int
	// NodeTimeout bounds one piece transfer (default 2 minutes).
	NodeTimeout time.Duration
	// DialContext, if set, opens the TCP connections to storage nodes
	// (through a proxy, say). TLS still runs end to end, pinned to the node.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// StateDir is where the client keeps the verified state of each
	// account's journal (journal-<account ID>.bin, mode 0600), so that a
	// coordinator that rolls the account back is caught across runs. ""
	// keeps it in memory only: each new Client replays the journal.
	StateDir string
}

func (o *Options) withDefaults() Options {
	out := Options{}
	if o != nil {
		out = *o
	}
	if out.HTTPClient == nil {
		// A transport of its own, not http.DefaultTransport: Close closes
		// its idle connections, which would otherwise stay open (a
		// connection dialled for a request that an idle one served first
		// sits unused in the pool, and holds up the server's graceful
		// shutdown for 5 s).
		out.HTTPClient = &http.Client{Timeout: 2 * time.Minute, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.SegmentsInFlight <= 0 {
		out.SegmentsInFlight = 2
	}
	if out.ExtraDownloads < 0 {
		out.ExtraDownloads = 0
	}
	if out.NodeTimeout <= 0 {
		out.NodeTimeout = 2 * time.Minute
	}
	return out
}

// coord is a small JSON client of the coordinator API.
type coord struct {
	base  string
	http  *http.Client
	token string
}

func newCoord(server string, hc *http.Client) (*coord, error) {
	server = strings.TrimRight(strings.TrimSpace(server), "/")
	if !strings.HasPrefix(server, "http://") && !strings.HasPrefix(server, "https://") {
		return nil, withHint(fmt.Errorf("server %q is not an http:// or https:// URL", server),
			"pass --server http://HOST:PORT (nuage serve prints its address)")
	}
	return &coord{base: server, http: hc}, nil
}

// call sends in (if non-nil) as JSON and decodes the answer into out (if non-nil).
func (c *coord) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+api.Prefix+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return withHint(fmt.Errorf("cannot reach the coordinator at %s: %w", c.base, err),
			"check that the coordinator is running (nuage serve) and that --server is right")
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var ae api.Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &ae) != nil || ae.Error == "" {
			ae = api.Error{Error: strings.TrimSpace(string(b)), Code: api.CodeInternal}
			if ae.Error == "" {
				ae.Error = resp.Status
			}
		}
		return &APIError{Status: resp.StatusCode, Code: ae.Code, Message: ae.Error, HintText: ae.Hint, RetryAfter: ae.RetryAfter}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 64<<20))
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Info returns what the coordinator at server says about itself.
func Info(ctx context.Context, server string, opts *Options) (api.Info, error) {
	o := opts.withDefaults()
	c, err := newCoord(server, o.HTTPClient)
	if err != nil {
		return api.Info{}, err
	}
	var info api.Info
	err = c.call(ctx, http.MethodGet, "/info", nil, &info)
	return info, err
}
