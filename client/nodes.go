package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/bulktls"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/order"
	"github.com/nuage-storage/nuage/internal/piece"
)

// errBadPiece reports a piece whose bytes do not hash to its ID.
var errBadPiece = errors.New("piece failed its hash check")

// nodePool holds one HTTP client per storage node, each pinned to the
// node's identity, so connections are reused across pieces, and the
// Client's pool of piece and segment buffers, so transfers reuse them.
type nodePool struct {
	opts    Options
	bufs    *bufPool
	mu      sync.Mutex
	clients map[identity.ID]*http.Client
}

func newNodePool(o Options) *nodePool {
	return &nodePool{opts: o, bufs: newBufPool(defaultPoolBytes), clients: make(map[identity.ID]*http.Client)}
}

func (p *nodePool) client(id identity.ID) *http.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[id]; ok {
		return c
	}
	dial := p.opts.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	conf := identity.PinnedClientTLSConfig(id)
	tr := &http.Transport{
		// bulktls: the same TLS 1.3 on the wire as crypto/tls, in a
		// fraction of the system calls.
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // the TLS handshake timeout
			defer cancel()
			return bulktls.Dial(ctx, dial, network, addr, conf)
		},
		ResponseHeaderTimeout: p.opts.NodeTimeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
		DisableCompression:    true,
	}
	c := &http.Client{Transport: tr}
	p.clients[id] = c
	return c
}

func (p *nodePool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, c := range p.clients {
		c.CloseIdleConnections()
		delete(p.clients, id)
	}
}

func pieceURL(o api.PieceOrder) string {
	return "https://" + o.Address + "/v1/pieces/" + o.Piece.String()
}

func nodeError(o api.PieceOrder, resp *http.Response) error {
	var ae api.Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if json.Unmarshal(b, &ae) != nil || ae.Error == "" {
		ae.Error = resp.Status
	}
	return fmt.Errorf("node %s (%s): %s", o.Node.Short(), o.Address, ae.Error)
}

// pieceBody is a request body that net/http hands to the connection
// as it is (a bare *bytes.Reader would be wrapped in io.NopCloser), so that
// bulktls.Conn writes the piece from memory without copying it.
type pieceBody struct{ *bytes.Reader }

func (pieceBody) Close() error { return nil }

// put uploads one piece and returns the node's verified receipt.
func (p *nodePool) put(ctx context.Context, o api.PieceOrder, data []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.NodeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, pieceURL(o), pieceBody{bytes.NewReader(data)})
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(data))
	req.GetBody = func() (io.ReadCloser, error) { return pieceBody{bytes.NewReader(data)}, nil }
	req.Header.Set(order.Header, base64.RawURLEncoding.EncodeToString(o.Order))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := p.client(o.Node).Do(req)
	if err != nil {
		return nil, fmt.Errorf("node %s (%s): %w", o.Node.Short(), o.Address, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nodeError(o, resp)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, order.ReceiptSize+1))
	if err != nil {
		return nil, fmt.Errorf("node %s: read receipt: %w", o.Node.Short(), err)
	}
	r, err := order.ParseReceipt(raw)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", o.Node.Short(), err)
	}
	if r.Node != o.Node || r.Piece != o.Piece || r.Size != uint64(len(data)) {
		return nil, fmt.Errorf("node %s: receipt does not match the piece sent", o.Node.Short())
	}
	return raw, nil
}

// get downloads one piece of size bytes into dst[:0] and, if verify is
// set, checks it against its piece ID. Unverified bytes must be
// authenticated by the caller (the stream's AEAD) before any use.
func (p *nodePool) get(ctx context.Context, o api.PieceOrder, size int64, dst []byte, verify bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.NodeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pieceURL(o), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(order.Header, base64.RawURLEncoding.EncodeToString(o.Order))
	resp, err := p.client(o.Node).Do(req)
	if err != nil {
		return nil, fmt.Errorf("node %s (%s): %w", o.Node.Short(), o.Address, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nodeError(o, resp)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != size {
		return nil, fmt.Errorf("node %s: piece has %d bytes, want %d", o.Node.Short(), resp.ContentLength, size)
	}
	if int64(cap(dst)) < size {
		dst = make([]byte, size)
	}
	dst = dst[:size]
	if _, err := io.ReadFull(resp.Body, dst); err != nil {
		return nil, fmt.Errorf("node %s: read piece: %w", o.Node.Short(), err)
	}
	if verify && piece.Sum(dst) != o.Piece {
		return nil, fmt.Errorf("node %s: piece %s: %w", o.Node.Short(), o.Piece, errBadPiece)
	}
	return dst, nil
}

// getRange downloads bytes [off, off+len(dst)) of piece o, whose size is
// size bytes, into dst with an HTTP Range request. The bytes are not
// verified against the piece ID: the caller must authenticate them (see
// readRanged) before using them. A node that has not answered within
// headerWait is given up on, so that the caller can fall back at once
// instead of waiting for NodeTimeout.
func (p *nodePool) getRange(ctx context.Context, o api.PieceOrder, size, off int64, dst []byte, headerWait time.Duration) error {
	n := int64(len(dst))
	if off < 0 || n <= 0 || off > size || n > size-off {
		return fmt.Errorf("node %s: range [%d, %d+%d) outside piece of %d bytes", o.Node.Short(), off, off, n, size)
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.NodeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pieceURL(o), nil)
	if err != nil {
		return err
	}
	req.Header.Set(order.Header, base64.RawURLEncoding.EncodeToString(o.Order))
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	late := time.AfterFunc(headerWait, cancel)
	resp, err := p.client(o.Node).Do(req)
	if !late.Stop() {
		if err == nil {
			resp.Body.Close()
		}
		return fmt.Errorf("node %s (%s): no answer within %v", o.Node.Short(), o.Address, headerWait)
	}
	if err != nil {
		return fmt.Errorf("node %s (%s): %w", o.Node.Short(), o.Address, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		want := fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size)
		if got := resp.Header.Get("Content-Range"); got != want {
			return fmt.Errorf("node %s: Content-Range %q, want %q", o.Node.Short(), got, want)
		}
	case resp.StatusCode == http.StatusOK && off == 0 && n == size:
		// The whole piece, as asked.
	case resp.StatusCode == http.StatusOK:
		return fmt.Errorf("node %s: the node ignored the Range header", o.Node.Short())
	default:
		return nodeError(o, resp)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != n {
		return fmt.Errorf("node %s: range has %d bytes, want %d", o.Node.Short(), resp.ContentLength, n)
	}
	if _, err := io.ReadFull(resp.Body, dst); err != nil {
		return fmt.Errorf("node %s: read piece range: %w", o.Node.Short(), err)
	}
	return nil
}
