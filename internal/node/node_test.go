package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/order"
	"github.com/nuage-storage/nuage/internal/piece"
)

func TestPutGetRoundTrip(t *testing.T) {
	env := newEnv(t, 1<<30)
	data, id := randomPiece(1, 1<<20+123)
	before := time.Now().Truncate(time.Second)
	resp, body, o := env.put(id, data)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("receipt Content-Type %q", ct)
	}
	rec, err := order.ParseReceipt(body)
	if err != nil {
		t.Fatalf("receipt: %v", err)
	}
	if rec.Node != env.node.ID() || !rec.Matches(&o) {
		t.Fatalf("receipt %+v does not match order %+v", rec, o)
	}
	if rec.StoredAt.Before(before) || rec.StoredAt.After(time.Now()) {
		t.Fatalf("receipt stored at %v, not now", rec.StoredAt)
	}
	if got := env.node.Store().Used(); got != int64(len(data)) {
		t.Fatalf("Used = %d, want %d", got, len(data))
	}

	get, _ := env.order(nil, order.Get, env.node.ID(), id, len(data), time.Minute)
	path := "/v1/pieces/" + id.String()
	resp, body = env.do(http.MethodGet, path, get, nil, 0, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("GET: %d, %d bytes, want 200 and the %d bytes stored", resp.StatusCode, len(body), len(data))
	}

	ranges := []struct {
		hdr        string
		start, end int // inclusive
	}{
		{"bytes=0-0", 0, 0},
		{"bytes=1000-200000", 1000, 200000},
		{"bytes=-10", len(data) - 10, len(data) - 1},
		{fmt.Sprintf("bytes=%d-", len(data)-5), len(data) - 5, len(data) - 1},
	}
	for _, r := range ranges {
		resp, body = env.do(http.MethodGet, path, get, nil, 0, http.Header{"Range": {r.hdr}})
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[r.start:r.end+1]) {
			t.Fatalf("GET %s: %d, %d bytes, want 206 and bytes %d-%d", r.hdr, resp.StatusCode, len(body), r.start, r.end)
		}
		want := fmt.Sprintf("bytes %d-%d/%d", r.start, r.end, len(data))
		if got := resp.Header.Get("Content-Range"); got != want {
			t.Fatalf("Content-Range %q, want %q", got, want)
		}
	}
	resp, _ = env.do(http.MethodGet, path, get, nil, 0, http.Header{"Range": {fmt.Sprintf("bytes=%d-", len(data))}})
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("unsatisfiable range: %d", resp.StatusCode)
	}
	resp, body = env.do(http.MethodHead, path, get, nil, 0, nil)
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(data)) || len(body) != 0 {
		t.Fatalf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}

	resp, body = env.do(http.MethodGet, "/v1/health", "", nil, 0, nil)
	var h Health
	if err := json.Unmarshal(body, &h); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("health: %d %s %v", resp.StatusCode, body, err)
	}
	if want := (Health{Node: env.node.ID().String(), Free: 1<<30 - int64(len(data)), Used: int64(len(data))}); h != want {
		t.Fatalf("health %+v, want %+v", h, want)
	}
}

func TestPinnedClientRefusesOtherNode(t *testing.T) {
	env := newEnv(t, 1<<20)
	other, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: identity.PinnedClientTLSConfig(other.ID())}
	defer tr.CloseIdleConnections()
	_, err = (&http.Client{Transport: tr}).Get(env.base + "/v1/health")
	if !errors.Is(err, identity.ErrPinMismatch) {
		t.Fatalf("GET with a pin on another ID: %v, want ErrPinMismatch", err)
	}
}

func TestOrderRejected(t *testing.T) {
	env := newEnv(t, 1<<20)
	data, id := randomPiece(2, 4096)
	_, other := randomPiece(3, 4096)
	stranger, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	self := env.node.ID()
	flipped := func() string {
		o := order.New(order.Put, self, id, uint64(len(data)), time.Minute)
		b := o.Sign(env.coord)
		b[100] ^= 1
		return EncodeOrder(b)
	}
	hdr := func(signer *identity.Identity, a order.Action, node identity.ID, p piece.ID, size int, ttl time.Duration) string {
		h, _ := env.order(signer, a, node, p, size, ttl)
		return h
	}
	valid := hdr(nil, order.Put, self, id, len(data), time.Minute)
	tests := []struct {
		name   string
		method string
		order  string
		status int
	}{
		{"missing", http.MethodPut, "", http.StatusBadRequest},
		{"not base64", http.MethodPut, strings.Repeat("*", len(valid)), http.StatusBadRequest},
		{"padded", http.MethodPut, valid[:len(valid)-1] + "=", http.StatusBadRequest},
		{"truncated", http.MethodPut, valid[:len(valid)-4], http.StatusBadRequest},
		{"too long", http.MethodPut, valid + "AAAA", http.StatusBadRequest},
		{"bad signature", http.MethodPut, flipped(), http.StatusForbidden},
		{"forged", http.MethodPut, hdr(stranger, order.Put, self, id, len(data), time.Minute), http.StatusForbidden},
		{"expired", http.MethodPut, hdr(nil, order.Put, self, id, len(data), -order.MaxClockSkew-2*time.Second), http.StatusForbidden},
		{"other node", http.MethodPut, hdr(nil, order.Put, stranger.ID(), id, len(data), time.Minute), http.StatusForbidden},
		{"other piece", http.MethodPut, hdr(nil, order.Put, self, other, len(data), time.Minute), http.StatusForbidden},
		{"GET order for PUT", http.MethodPut, hdr(nil, order.Get, self, id, len(data), time.Minute), http.StatusForbidden},
		{"PUT order for GET", http.MethodGet, hdr(nil, order.Put, self, id, len(data), time.Minute), http.StatusForbidden},
		{"PUT order for DELETE", http.MethodDelete, hdr(nil, order.Put, self, id, 0, time.Minute), http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.method == http.MethodPut {
				body = bytes.NewReader(data)
			}
			resp, b := env.do(tt.method, "/v1/pieces/"+id.String(), tt.order, body, int64(len(data)), nil)
			wantError(t, resp, b, tt.status, api.CodeBadOrder)
		})
	}
	if env.node.Store().Has(id) || env.node.Store().Used() != 0 {
		t.Fatal("a rejected order stored a piece")
	}
	// Expired, but within the allowed clock skew.
	resp, b := env.do(http.MethodPut, "/v1/pieces/"+id.String(), hdr(nil, order.Put, self, id, len(data), -30*time.Second),
		bytes.NewReader(data), int64(len(data)), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("order expired 30 s ago: %d %s", resp.StatusCode, b)
	}
}

func TestMultipleOrderHeaders(t *testing.T) {
	env := newEnv(t, 1<<20)
	_, id := randomPiece(4, 100)
	h, _ := env.order(nil, order.Get, env.node.ID(), id, 100, time.Minute)
	resp, b := env.do(http.MethodGet, "/v1/pieces/"+id.String(), "", nil, 0, http.Header{order.Header: {h, h}})
	wantError(t, resp, b, http.StatusBadRequest, api.CodeBadOrder)
}

func TestPutBadBody(t *testing.T) {
	env := newEnv(t, 1<<20)
	data, id := randomPiece(5, 50000)
	wrong, _ := randomPiece(6, 50000)
	path := "/v1/pieces/" + id.String()
	tests := []struct {
		name   string
		body   io.Reader
		length int64 // Content-Length; -1: chunked
		status int
		code   string
	}{
		{"shorter than the order", bytes.NewReader(data[:1000]), 1000, http.StatusBadRequest, api.CodeBadPiece},
		{"longer than the order", bytes.NewReader(append(append([]byte{}, data...), 1)), int64(len(data)) + 1, http.StatusBadRequest, api.CodeBadPiece},
		{"chunked", io.MultiReader(bytes.NewReader(data)), -1, http.StatusLengthRequired, api.CodeBadPiece},
		{"hash differs", bytes.NewReader(wrong), int64(len(wrong)), http.StatusBadRequest, api.CodeBadPiece},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr, _ := env.order(nil, order.Put, env.node.ID(), id, len(data), time.Minute)
			resp, b := env.do(http.MethodPut, path, hdr, tt.body, tt.length, nil)
			wantError(t, resp, b, tt.status, tt.code)
			pieces, temps := diskState(t, env.dir)
			s := env.node.Store()
			if len(pieces) != 0 || len(temps) != 0 || s.Used() != 0 || s.Free() != 1<<20 {
				t.Fatalf("after a rejected PUT: pieces %v, temps %v, Used %d, Free %d", pieces, temps, s.Used(), s.Free())
			}
		})
	}
}

// TestPutTruncatedBody sends fewer bytes than its Content-Length, then
// closes its side of the connection, as a client dying mid-upload would.
func TestPutTruncatedBody(t *testing.T) {
	env := newEnv(t, 1<<20)
	data, id := randomPiece(7, 300000)
	hdr, _ := env.order(nil, order.Put, env.node.ID(), id, len(data), time.Minute)
	conn, err := tls.Dial("tcp", env.node.Addr(), identity.PinnedClientTLSConfig(env.node.ID()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/pieces/%s HTTP/1.1\r\nHost: node\r\n%s: %s\r\nContent-Length: %d\r\n\r\n", id, order.Header, hdr, len(data))
	if _, err := conn.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, resp, b, http.StatusBadRequest, api.CodeBadPiece)
	pieces, temps := diskState(t, env.dir)
	if s := env.node.Store(); len(pieces) != 0 || len(temps) != 0 || s.Used() != 0 || s.Free() != 1<<20 {
		t.Fatalf("pieces %v, temps %v, Used %d, Free %d", pieces, temps, s.Used(), s.Free())
	}
}

func TestReplayedPut(t *testing.T) {
	env := newEnv(t, 1<<20)
	data, id := randomPiece(8, 10000)
	wrong, _ := randomPiece(9, 10000)
	path := "/v1/pieces/" + id.String()
	hdr, o := env.order(nil, order.Put, env.node.ID(), id, len(data), time.Minute)

	// A failed upload does not use up its order.
	resp, b := env.do(http.MethodPut, path, hdr, bytes.NewReader(wrong), int64(len(wrong)), nil)
	wantError(t, resp, b, http.StatusBadRequest, api.CodeBadPiece)
	resp, b = env.do(http.MethodPut, path, hdr, bytes.NewReader(data), int64(len(data)), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT after a failed attempt: %d %s", resp.StatusCode, b)
	}
	if rec, err := order.ParseReceipt(b); err != nil || !rec.Matches(&o) {
		t.Fatalf("receipt: %v", err)
	}
	// A successful one does.
	resp, b = env.do(http.MethodPut, path, hdr, bytes.NewReader(data), int64(len(data)), nil)
	wantError(t, resp, b, http.StatusForbidden, api.CodeBadOrder)
	// A retry with a fresh order is fine, and stores nothing more.
	resp, b, o2 := env.put(id, data)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT with a fresh order: %d %s", resp.StatusCode, b)
	}
	if rec, err := order.ParseReceipt(b); err != nil || !rec.Matches(&o2) {
		t.Fatalf("receipt of the retry: %v", err)
	}
	if got := env.node.Store().Used(); got != int64(len(data)) {
		t.Fatalf("Used = %d, want %d", got, len(data))
	}
}

func TestSerialSet(t *testing.T) {
	var s serialSet
	s.max = 3
	now := time.Unix(1_000_000, 0)
	serial := func(b byte) (x [order.SerialSize]byte) { x[0] = b; return }
	if err := s.reserve(serial(1), now.Add(10*time.Second), now); err != nil {
		t.Fatal(err)
	}
	if err := s.reserve(serial(1), now.Add(10*time.Second), now); !errors.Is(err, errReplayed) {
		t.Fatalf("replay: %v", err)
	}
	s.release(serial(1))
	if err := s.reserve(serial(1), now.Add(10*time.Second), now); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if err := s.reserve(serial(2), now.Add(20*time.Second), now); err != nil {
		t.Fatal(err)
	}
	if err := s.reserve(serial(3), now.Add(30*time.Second), now); !errors.Is(err, errTooManyPuts) {
		t.Fatalf("over the bound: %v", err) // the released entry still counts until it expires
	}
	later := now.Add(11 * time.Second)
	if err := s.reserve(serial(3), now.Add(30*time.Second), later); err != nil {
		t.Fatalf("after expiry pruning: %v", err)
	}
	if err := s.reserve(serial(1), now.Add(40*time.Second), later); err != nil {
		t.Fatalf("expired serial still remembered: %v", err)
	}
	if err := s.reserve(serial(2), now.Add(20*time.Second), later); !errors.Is(err, errReplayed) {
		t.Fatalf("unexpired serial forgotten: %v", err)
	}
	if len(s.m) != 3 || len(s.exp) != 3 {
		t.Fatalf("%d serials, %d expiries, want 3 and 3", len(s.m), len(s.exp))
	}
}

func TestNoSpace(t *testing.T) {
	env := newEnv(t, 3000)
	data, id := randomPiece(10, 4000)
	resp, b, _ := env.put(id, data)
	wantError(t, resp, b, http.StatusInsufficientStorage, api.CodeNoSpace)
	small, sid := randomPiece(11, 3000)
	if resp, b, _ := env.put(sid, small); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT of a piece that fits: %d %s", resp.StatusCode, b)
	}
	small2, sid2 := randomPiece(12, 1)
	resp, b, _ = env.put(sid2, small2)
	wantError(t, resp, b, http.StatusInsufficientStorage, api.CodeNoSpace)
}

func TestDeleteFreesSpace(t *testing.T) {
	env := newEnv(t, 10000)
	data, id := randomPiece(13, 8000)
	if resp, b, _ := env.put(id, data); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	path := "/v1/pieces/" + id.String()
	for i := range 2 { // the second time the piece is absent: still 204
		del, _ := env.order(nil, order.Delete, env.node.ID(), id, 0, time.Minute)
		if resp, b := env.do(http.MethodDelete, path, del, nil, 0, nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE #%d: %d %s", i+1, resp.StatusCode, b)
		}
	}
	if s := env.node.Store(); s.Used() != 0 || s.Free() != 10000 || s.Has(id) {
		t.Fatalf("after DELETE: Used %d Free %d Has %v", s.Used(), s.Free(), s.Has(id))
	}
	get, _ := env.order(nil, order.Get, env.node.ID(), id, len(data), time.Minute)
	resp, b := env.do(http.MethodGet, path, get, nil, 0, nil)
	wantError(t, resp, b, http.StatusNotFound, api.CodeNotFound)
	// The space is usable again.
	data2, id2 := randomPiece(14, 9000)
	if resp, b, _ := env.put(id2, data2); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT after DELETE: %d %s", resp.StatusCode, b)
	}
}

func TestGetSizeMismatch(t *testing.T) {
	env := newEnv(t, 1<<20)
	data, id := randomPiece(15, 1000)
	if resp, b, _ := env.put(id, data); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	get, _ := env.order(nil, order.Get, env.node.ID(), id, 999, time.Minute)
	resp, b := env.do(http.MethodGet, "/v1/pieces/"+id.String(), get, nil, 0, nil)
	wantError(t, resp, b, http.StatusConflict, api.CodeBadOrder)
}

func TestRoutingErrors(t *testing.T) {
	env := newEnv(t, 1<<20)
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, api.CodeNotFound},
		{http.MethodGet, "/v1/pieces/xyz", http.StatusBadRequest, api.CodeBadRequest},
		{http.MethodPost, "/v1/pieces/" + strings.Repeat("ab", 32), http.StatusMethodNotAllowed, api.CodeBadRequest},
		{http.MethodPost, "/v1/health", http.StatusMethodNotAllowed, api.CodeBadRequest},
	}
	for _, tt := range tests {
		resp, b := env.do(tt.method, tt.path, "", nil, 0, nil)
		wantError(t, resp, b, tt.status, tt.code)
	}
}

func TestRestart(t *testing.T) {
	coord, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0", Capacity: 1 << 20, TrustedCoordinators: []identity.ID{coord.ID()}, Logger: discardLogger()}
	n1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n1.Run(ctx) }()
	env := &testEnv{t: t, coord: coord, node: n1, base: "https://" + n1.Addr(), dir: dir,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: identity.PinnedClientTLSConfig(n1.ID())}}}
	var total int
	var ids []piece.ID
	for i := range 3 {
		data, id := randomPiece(uint64(20+i), 10000*(i+1))
		if resp, b, _ := env.put(id, data); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT: %d %s", resp.StatusCode, b)
		}
		ids = append(ids, id)
		total += len(data)
	}
	env.client.CloseIdleConnections()
	if err := n1.Close(); err != nil { // a crash, as clients see it
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	cancel()
	leftover := filepath.Join(dir, "pieces", "7f", ".tmp-crashed")
	if err := os.MkdirAll(filepath.Dir(leftover), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leftover, make([]byte, 5000), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg.Logger = nil
	env2 := startNode(t, cfg)
	env2.coord = coord
	if env2.node.ID() != n1.ID() {
		t.Fatalf("node ID changed across restarts: %s, then %s", n1.ID(), env2.node.ID())
	}
	if got := env2.node.Store().Used(); got != int64(total) {
		t.Fatalf("Used after restart = %d, want %d", got, total)
	}
	if fileExists(leftover) {
		t.Fatal("leftover temporary file not removed")
	}
	for i, id := range ids {
		size := 10000 * (i + 1)
		get, _ := env2.order(nil, order.Get, env2.node.ID(), id, size, time.Minute)
		resp, b := env2.do(http.MethodGet, "/v1/pieces/"+id.String(), get, nil, 0, nil)
		if resp.StatusCode != http.StatusOK || piece.Sum(b) != id {
			t.Fatalf("GET after restart: %d, %d bytes", resp.StatusCode, len(b))
		}
	}
}

// TestPutCancelledMidBody cancels an upload half-way: the node must keep no
// piece, no temporary file and no reservation.
func TestPutCancelledMidBody(t *testing.T) {
	env := newEnv(t, 1<<30)
	data, id := randomPiece(30, 4<<20)
	hdr, _ := env.order(nil, order.Put, env.node.ID(), id, len(data), time.Minute)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, env.base+"/v1/pieces/"+id.String(), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(data))
	req.Header.Set(order.Header, hdr)
	errc := make(chan error, 1)
	go func() {
		resp, err := env.client.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("PUT answered %d", resp.StatusCode)
		}
		errc <- err
	}()
	if _, err := pw.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	// The node is now writing the piece and holds its reservation.
	waitFor(t, "the upload to reserve space", func() bool { return env.node.Store().Free() < 1<<30 })
	cancel()
	pw.CloseWithError(context.Canceled)
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v, want context.Canceled", err)
	}
	waitFor(t, "the node to release the upload", func() bool {
		pieces, temps := diskState(t, env.dir)
		return len(pieces) == 0 && len(temps) == 0 && env.node.Store().Free() == 1<<30
	})
	if env.node.Store().Has(id) || env.node.Store().Used() != 0 {
		t.Fatal("a cancelled PUT stored the piece")
	}
}

func TestConcurrentPuts(t *testing.T) {
	env := newEnv(t, 1<<30)
	const distinct, copies = 6, 3
	var want int64
	type item struct {
		data []byte
		id   piece.ID
	}
	items := make([]item, distinct)
	for i := range items {
		items[i].data, items[i].id = randomPiece(uint64(40+i), 200<<10+i)
		want += int64(len(items[i].data))
	}
	var wg sync.WaitGroup
	for i := range distinct * copies {
		it := items[i%distinct]
		wg.Go(func() {
			hdr, o := env.order(nil, order.Put, env.node.ID(), it.id, len(it.data), time.Minute)
			req, err := http.NewRequest(http.MethodPut, env.base+"/v1/pieces/"+it.id.String(), bytes.NewReader(it.data))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set(order.Header, hdr)
			resp, err := env.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if rec, err := order.ParseReceipt(b); resp.StatusCode != http.StatusOK || err != nil || !rec.Matches(&o) {
				t.Errorf("PUT: %d %s %v", resp.StatusCode, b, err)
			}
		})
	}
	wg.Wait()
	pieces, temps := diskState(t, env.dir)
	s := env.node.Store()
	var onDisk int64
	for _, v := range pieces {
		onDisk += v
	}
	if len(pieces) != distinct || len(temps) != 0 || s.Used() != want || onDisk != want || s.Free() != 1<<30-want {
		t.Fatalf("%d pieces (%d bytes), temps %v, Used %d, Free %d; want %d pieces of %d bytes",
			len(pieces), onDisk, temps, s.Used(), s.Free(), distinct, want)
	}
}

func TestRunStopsCleanly(t *testing.T) {
	base := runtime.NumGoroutine()
	for _, viaClose := range []bool{false, true} {
		coord, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		n, err := New(Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Capacity: 1 << 20,
			TrustedCoordinators: []identity.ID{coord.ID()}, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		tr := &http.Transport{TLSClientConfig: identity.PinnedClientTLSConfig(n.ID())}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + n.Addr() + "/v1/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if viaClose {
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			cancel()
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
		}
		cancel()
		tr.CloseIdleConnections()
		if err := n.Run(context.Background()); err == nil {
			t.Fatal("second Run succeeded")
		}
		if _, err := tr.RoundTrip(mustRequest(t, "https://"+n.Addr()+"/v1/health")); err == nil {
			t.Fatal("node still answers after stopping")
		}
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
}

func mustRequest(t *testing.T, url string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []Config{
		{},
		{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Capacity: -1},
		{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Coordinator: "ftp://x"},
		{DataDir: t.TempDir(), Listen: "not an address"},
	}
	for i, cfg := range tests {
		cfg.Logger = discardLogger()
		if n, err := New(cfg); err == nil {
			n.Close()
			t.Errorf("config #%d accepted", i)
		}
	}
}
