package node

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/node/piecestore"
	"github.com/nuage-storage/nuage/internal/order"
	"github.com/nuage-storage/nuage/internal/pagecache"
	"github.com/nuage-storage/nuage/internal/piece"
)

// Health answers GET /v1/health (docs/spec.md §7).
type Health struct {
	Node string `json:"node"`
	Free int64  `json:"free"`
	Used int64  `json:"used"`
}

// orderEncoding decodes the Nuage-Order header: unpadded base64url, with no
// stray bits, so that one order has exactly one header form.
var orderEncoding = base64.RawURLEncoding.Strict()

// orderHeaderLen is the length of the Nuage-Order header of a valid order.
var orderHeaderLen = orderEncoding.EncodedLen(order.Size)

// EncodeOrder returns the Nuage-Order header value carrying a signed order.
func EncodeOrder(signed []byte) string { return orderEncoding.EncodeToString(signed) }

// DecodeOrder decodes a Nuage-Order header value and parses the order,
// verifying its signature under the coordinator key it names. Errors wrap
// order.ErrMalformed or order.ErrBadSignature.
func DecodeOrder(header string) (order.Order, error) {
	if header == "" {
		return order.Order{}, fmt.Errorf("%w: no %s header", order.ErrMalformed, order.Header)
	}
	if len(header) != orderHeaderLen {
		return order.Order{}, fmt.Errorf("%w: %s header has %d characters, want %d",
			order.ErrMalformed, order.Header, len(header), orderHeaderLen)
	}
	var raw [order.Size]byte
	n, err := orderEncoding.Decode(raw[:], []byte(header))
	if err != nil || n != order.Size {
		return order.Order{}, fmt.Errorf("%w: %s header is not unpadded base64url", order.ErrMalformed, order.Header)
	}
	return order.Parse(raw[:])
}

// transferTimeout is how long a transfer of size bytes may take.
func transferTimeout(size int64) time.Duration {
	return requestTimeout + time.Duration(size/minTransferRate)*time.Second
}

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/pieces/{id}", n.handlePiece)
	mux.HandleFunc("/v1/health", n.handleHealth)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n.fail(w, r, http.StatusNotFound, api.CodeNotFound, "no such endpoint", "", nil)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !n.enter() {
			w.Header().Set("Connection", "close")
			n.fail(w, r, http.StatusServiceUnavailable, api.CodeInternal, "node is shutting down", "retry on another node", nil)
			return
		}
		defer n.leave()
		mux.ServeHTTP(w, r)
	})
}

func (n *Node) handleHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		n.fail(w, r, http.StatusMethodNotAllowed, api.CodeBadRequest, r.Method+" not allowed", "", nil)
		return
	}
	writeJSON(w, http.StatusOK, Health{Node: n.id.String(), Free: n.store.Free(), Used: n.store.Used()})
}

func (n *Node) handlePiece(w http.ResponseWriter, r *http.Request) {
	var action order.Action
	switch r.Method {
	case http.MethodPut:
		action = order.Put
	case http.MethodGet, http.MethodHead:
		action = order.Get
	case http.MethodDelete:
		action = order.Delete
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		n.fail(w, r, http.StatusMethodNotAllowed, api.CodeBadRequest, r.Method+" not allowed", "", nil)
		return
	}
	id, err := piece.Parse(r.PathValue("id"))
	if err != nil {
		n.fail(w, r, http.StatusBadRequest, api.CodeBadRequest, err.Error(), "the path is /v1/pieces/<64 hex characters>", nil)
		return
	}
	o, ok := n.authorize(w, r, action, id)
	if !ok {
		return
	}
	switch action {
	case order.Put:
		n.put(w, r, id, &o)
	case order.Get:
		n.get(w, r, id, &o)
	case order.Delete:
		n.delete(w, r, id)
	}
}

// authorize decodes and checks the request's order. On failure it answers
// the request and reports false.
func (n *Node) authorize(w http.ResponseWriter, r *http.Request, action order.Action, id piece.ID) (order.Order, bool) {
	vals := r.Header.Values(order.Header)
	if len(vals) > 1 {
		n.fail(w, r, http.StatusBadRequest, api.CodeBadOrder, "more than one "+order.Header+" header", "", nil)
		return order.Order{}, false
	}
	var hdr string
	if len(vals) == 1 {
		hdr = vals[0]
	}
	o, err := DecodeOrder(hdr)
	if err == nil {
		err = o.Check(time.Now(), n.id, action, id, n.trust.trusted)
	}
	if err == nil && o.Size > math.MaxInt64 {
		err = fmt.Errorf("%w: size %d out of range", order.ErrMalformed, o.Size)
	}
	if err == nil {
		return o, true
	}
	status, hint := http.StatusForbidden, "ask the coordinator for a new order"
	switch {
	case errors.Is(err, order.ErrMalformed):
		status, hint = http.StatusBadRequest, "send the coordinator's order, unpadded base64url, in the "+order.Header+" header"
	case errors.Is(err, order.ErrUntrusted):
		hint = "this node accepts orders only from its own coordinator"
	case errors.Is(err, order.ErrWrongNode):
		hint = "the order is for another node: check the node address"
	}
	n.fail(w, r, status, api.CodeBadOrder, err.Error(), hint, nil)
	return order.Order{}, false
}

// bodyReader remembers the error of the request body, to tell a client's
// failure from the node's.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (n *Node) put(w http.ResponseWriter, r *http.Request, id piece.ID, o *order.Order) {
	size := int64(o.Size)
	switch {
	case r.ContentLength < 0:
		n.fail(w, r, http.StatusLengthRequired, api.CodeBadPiece,
			"Content-Length required", "send the piece with a Content-Length equal to the order's size", nil)
		return
	case r.ContentLength != size:
		n.fail(w, r, http.StatusBadRequest, api.CodeBadPiece,
			fmt.Sprintf("body has %d bytes, the order says %d", r.ContentLength, size), "", nil)
		return
	}
	start := time.Now()
	switch err := n.serials.reserve(o.Serial, o.Expires.Add(order.MaxClockSkew), start); {
	case errors.Is(err, errReplayed):
		n.fail(w, r, http.StatusForbidden, api.CodeBadOrder, "order already used", "ask the coordinator for a new order", nil)
		return
	case err != nil:
		w.Header().Set("Retry-After", "1")
		n.fail(w, r, http.StatusServiceUnavailable, api.CodeTooMany, err.Error(), "retry later or on another node", nil)
		return
	}
	stored := false
	defer func() {
		if !stored {
			n.serials.release(o.Serial)
		}
	}()

	deadline := start.Add(transferTimeout(size))
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(deadline) // not supported by test recorders: then the server's timeouts apply
	_ = rc.SetWriteDeadline(deadline)
	body := &bodyReader{r: http.MaxBytesReader(w, r.Body, size)}
	if err := n.store.Put(r.Context(), id, size, body); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, piecestore.ErrNoSpace):
			n.fail(w, r, http.StatusInsufficientStorage, api.CodeNoSpace, err.Error(), "store the piece on another node", nil)
		case errors.Is(err, piecestore.ErrSizeMismatch), errors.As(err, &tooBig):
			n.fail(w, r, http.StatusBadRequest, api.CodeBadPiece, "body length differs from the order's size: "+err.Error(), "", nil)
		case errors.Is(err, piecestore.ErrHashMismatch):
			n.fail(w, r, http.StatusBadRequest, api.CodeBadPiece, err.Error(), "", nil)
		case errors.Is(err, piecestore.ErrConflict):
			n.fail(w, r, http.StatusConflict, api.CodeConflict, err.Error(), "retry the upload", nil)
		case body.err != nil || r.Context().Err() != nil:
			n.fail(w, r, http.StatusBadRequest, api.CodeBadRequest, "reading the piece failed", "", err)
		default:
			n.fail(w, r, http.StatusInternalServerError, api.CodeInternal, "storing the piece failed", "store the piece on another node", err)
		}
		return
	}
	stored = true
	rec := order.Receipt{Piece: id, Size: o.Size, Serial: o.Serial, StoredAt: time.Now().Truncate(time.Second)}
	receipt := rec.Sign(n.ident)
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(receipt)))
	w.WriteHeader(http.StatusOK)
	w.Write(receipt)
	n.log.Debug("piece stored", "piece", id.String(), "size", size, "took", time.Since(start))
}

func (n *Node) get(w http.ResponseWriter, r *http.Request, id piece.ID, o *order.Order) {
	f, size, err := n.store.Open(id)
	if errors.Is(err, piecestore.ErrNotFound) {
		n.fail(w, r, http.StatusNotFound, api.CodeNotFound, "piece not found", "fetch another piece of the segment", nil)
		return
	}
	if err != nil {
		n.fail(w, r, http.StatusInternalServerError, api.CodeInternal, "opening the piece failed", "fetch another piece of the segment", err)
		return
	}
	defer f.Close()
	if uint64(size) != o.Size {
		n.fail(w, r, http.StatusConflict, api.CodeBadOrder,
			fmt.Sprintf("the order says %d bytes, the stored piece has %d", o.Size, size), "fetch another piece of the segment", nil)
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(transferTimeout(size)))
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+id.String()+`"`)
	http.ServeContent(w, r, "", time.Time{}, f)
	// Pieces are cold: keep them out of the machine's page cache.
	pagecache.Drop(f, 0, 0)
}

func (n *Node) delete(w http.ResponseWriter, r *http.Request, id piece.ID) {
	if err := n.store.Delete(id); err != nil {
		n.fail(w, r, http.StatusInternalServerError, api.CodeInternal, "deleting the piece failed", "retry later", err)
		return
	}
	n.log.Debug("piece deleted", "piece", id.String())
	w.WriteHeader(http.StatusNoContent)
}

// fail answers with a JSON api.Error and logs the failure: at debug level
// for a client's error, at warn level for the node's.
func (n *Node) fail(w http.ResponseWriter, r *http.Request, status int, code, msg, hint string, err error) {
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("remote", r.RemoteAddr), slog.Int("status", status), slog.String("code", code),
	}
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	n.log.LogAttrs(r.Context(), level, msg, attrs...)
	writeJSON(w, status, api.Error{Error: msg, Code: code, Hint: hint})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain structs are written here
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed","code":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
