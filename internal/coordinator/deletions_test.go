package coordinator

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/order"
	"github.com/nuage-storage/nuage/internal/piece"
)

// fakeNode is a TLS server with a node identity that records the DELETE
// orders it receives and checks each one as a real node would.
type fakeNode struct {
	*node
	srv   *httptest.Server
	fails atomic.Int32 // answer 503 to this many requests first
	gone  atomic.Bool  // answer 404 (piece absent)

	mu      sync.Mutex
	deleted []piece.ID
	bad     []string
}

// newFakeNode starts a fake node trusting coordinator. If certIdent is not
// nil the server presents its certificate instead of the node's own.
func newFakeNode(t testing.TB, coordinator identity.ID, certIdent *identity.Identity) *fakeNode {
	t.Helper()
	fn := &fakeNode{node: newNode(t, "")}
	fn.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fn.fails.Load() > 0 {
			fn.fails.Add(-1)
			http.Error(w, `{"error":"busy","code":"internal"}`, http.StatusServiceUnavailable)
			return
		}
		p, err := piece.Parse(strings.TrimPrefix(r.URL.Path, "/v1/pieces/"))
		if r.Method != http.MethodDelete || err != nil {
			fn.reject(w, fmt.Sprintf("%s %s", r.Method, r.URL.Path))
			return
		}
		raw, err := base64.RawURLEncoding.DecodeString(r.Header.Get(order.Header))
		if err != nil {
			fn.reject(w, "order header: "+err.Error())
			return
		}
		o, err := order.Parse(raw)
		if err == nil {
			err = o.Check(time.Now(), fn.id(), order.Delete, p, trustOnly(coordinator))
		}
		if err == nil && o.Size != 0 {
			err = fmt.Errorf("delete order with size %d", o.Size)
		}
		if err != nil {
			fn.reject(w, err.Error())
			return
		}
		fn.mu.Lock()
		fn.deleted = append(fn.deleted, p)
		fn.mu.Unlock()
		if fn.gone.Load() {
			http.Error(w, `{"error":"no such piece","code":"not_found"}`, http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	if certIdent == nil {
		certIdent = fn.ident
	}
	cfg, err := certIdent.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	fn.srv.TLS = cfg
	fn.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the impostor's failed handshakes
	fn.srv.StartTLS()
	t.Cleanup(fn.srv.Close)
	fn.addr = fn.srv.Listener.Addr().String()
	return fn
}

func (fn *fakeNode) reject(w http.ResponseWriter, why string) {
	fn.mu.Lock()
	fn.bad = append(fn.bad, why)
	fn.mu.Unlock()
	http.Error(w, `{"error":"bad order","code":"bad_order"}`, http.StatusForbidden)
}

func (fn *fakeNode) state() (deleted []piece.ID, bad []string) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return append([]piece.ID(nil), fn.deleted...), append([]string(nil), fn.bad...)
}

func (e *env) checkInNode(n *node) {
	e.t.Helper()
	e.call("POST", "/nodes/checkin", "", n.checkIn(e.clock.Now(), 1<<30, 0), http.StatusOK, nil)
}

func (e *env) queue(n identity.ID, count int) []piece.ID {
	e.t.Helper()
	ps := make([]piece.ID, count)
	ds := make([]metadb.Deletion, count)
	for i := range ps {
		ps[i] = piece.Sum(randBytes(32))
		ds[i] = metadb.Deletion{Node: n, Piece: ps[i], Queued: e.clock.Now()}
	}
	if err := e.db.QueueDeletions(context.Background(), ds); err != nil {
		e.t.Fatal(err)
	}
	return ps
}

func (e *env) pending(n identity.ID) []metadb.Deletion {
	e.t.Helper()
	ds, err := e.db.PendingDeletions(context.Background(), n, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

func samePieces(a, b []piece.ID) bool {
	if len(a) != len(b) {
		return false
	}
	set := map[piece.ID]int{}
	for _, p := range a {
		set[p]++
	}
	for _, p := range b {
		set[p]--
	}
	for _, v := range set {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestDeliverDeletions(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	coord := e.id.ID()
	up := newFakeNode(t, coord, nil)
	e.checkInNode(up.node)
	ps := e.queue(up.id(), 3)

	// The node is down for one request: one attempt fails, the rest wait.
	up.fails.Store(1)
	if err := e.c.DeliverDeletions(ctx); err != nil {
		t.Fatal(err)
	}
	ds := e.pending(up.id())
	attempts := 0
	for _, d := range ds {
		attempts += d.Attempts
	}
	if len(ds) != 3 || attempts != 1 {
		t.Fatalf("after a failure: %d pending, %d attempts; want 3 and 1", len(ds), attempts)
	}
	// It is back: everything is delivered.
	if err := e.c.DeliverDeletions(ctx); err != nil {
		t.Fatal(err)
	}
	if ds := e.pending(up.id()); len(ds) != 0 {
		t.Fatalf("%d deletions left", len(ds))
	}
	deleted, bad := up.state()
	if !samePieces(deleted, ps) || len(bad) != 0 {
		t.Fatalf("node deleted %v (bad %v), want %v", deleted, bad, ps)
	}

	// A node that is down, one that presents the wrong certificate, one
	// that no longer has the pieces, and one that is offline: only the
	// reachable ones are served, and nobody stalls.
	sleepy := newFakeNode(t, coord, nil)
	e.checkInNode(sleepy.node)
	e.clock.Advance(DefaultNodeOnline + time.Second)
	e.checkInNode(up.node)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := l.Addr().String()
	l.Close()
	down := newNode(t, downAddr)
	e.checkInNode(down)
	impostorKey, _ := identity.Generate()
	impostor := newFakeNode(t, coord, impostorKey)
	e.checkInNode(impostor.node)
	gone := newFakeNode(t, coord, nil)
	gone.gone.Store(true)
	e.checkInNode(gone.node)

	e.queue(down.id(), 2)
	e.queue(impostor.id(), 2)
	gonePieces := e.queue(gone.id(), 2)
	e.queue(sleepy.id(), 2)
	more := e.queue(up.id(), 150) // more than one batch
	if err := e.c.DeliverDeletions(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.pending(up.id())); n != 0 {
		t.Fatalf("%d deletions left on the healthy node", n)
	}
	if deleted, _ := up.state(); !samePieces(deleted, append(ps, more...)) {
		t.Fatalf("healthy node got %d deletions, want %d", len(deleted), len(ps)+len(more))
	}
	if n := len(e.pending(gone.id())); n != 0 {
		t.Fatalf("404 answers left %d deletions", n)
	}
	if deleted, _ := gone.state(); !samePieces(deleted, gonePieces) {
		t.Fatal("node without the pieces was not asked")
	}
	for name, id := range map[string]identity.ID{"down": down.id(), "impostor": impostor.id()} {
		ds := e.pending(id)
		if len(ds) != 2 || ds[0].Attempts+ds[1].Attempts != 1 {
			t.Fatalf("%s node: %+v", name, ds)
		}
	}
	if deleted, _ := impostor.state(); len(deleted) != 0 {
		t.Fatal("deletion sent to a node with the wrong certificate")
	}
	if ds := e.pending(sleepy.id()); len(ds) != 2 || ds[0].Attempts+ds[1].Attempts != 0 {
		t.Fatalf("offline node was tried: %+v", ds)
	}
	// The offline node checks in: its deletions go out on the next pass.
	e.checkInNode(sleepy.node)
	if err := e.c.DeliverDeletions(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.pending(sleepy.id())); n != 0 {
		t.Fatalf("%d deletions left on the node that came back", n)
	}

	// A cancelled context stops the pass.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.c.DeliverDeletions(cctx); err == nil {
		t.Fatal("DeliverDeletions with a cancelled context succeeded")
	}
}

// fakeNodes starts count fake TLS nodes and checks them in.
func (e *env) fakeNodes(count int) ([]*fakeNode, []*node) {
	fns := make([]*fakeNode, count)
	ns := make([]*node, count)
	for i := range fns {
		fns[i] = newFakeNode(e.t, e.id.ID(), nil)
		ns[i] = fns[i].node
		e.checkInNode(ns[i])
	}
	return fns, ns
}

func TestCollectPending(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	u := e.signup("gc@example.org")
	committed := e.upload(u, nodes, 500)
	var oc api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &oc)
	var so api.SegmentOrders
	e.call("POST", "/objects/"+oc.Object+"/segments", u.token(), segmentRequest(0, 400, 4, 6), http.StatusOK, &so)
	e.call("POST", "/objects/"+oc.Object+"/segments/0/commit", u.token(), api.SegmentCommit{Receipts: receipts(t, nodes, so.Orders)}, http.StatusNoContent, nil)

	n, err := e.c.CollectPending(t.Context())
	if err != nil || n != 0 {
		t.Fatalf("young upload collected: %d %v", n, err)
	}
	e.clock.Advance(DefaultPendingTTL + time.Second)
	n, err = e.c.CollectPending(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("CollectPending = %d, %v; want 1", n, err)
	}
	e.expectError("GET", "/objects/"+oc.Object+"/segments", u.token(), nil, 404, api.CodeNotFound, "")
	e.call("GET", "/objects/"+committed+"/segments", u.token(), nil, http.StatusOK, nil)
	ids, err := e.db.NodesWithDeletions(t.Context())
	if err != nil || len(ids) != 6 {
		t.Fatalf("%d nodes with deletions after GC, want 6 (%v)", len(ids), err)
	}
}

func TestRun(t *testing.T) {
	e := newEnv(t, nil)
	fns, nodes := e.fakeNodes(6)
	u := e.signup("run@example.org")

	// A stale pending upload, collected when Run starts.
	var oc api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &oc)
	var so api.SegmentOrders
	e.call("POST", "/objects/"+oc.Object+"/segments", u.token(), segmentRequest(0, 400, 4, 6), http.StatusOK, &so)
	e.call("POST", "/objects/"+oc.Object+"/segments/0/commit", u.token(), api.SegmentCommit{Receipts: receipts(t, nodes, so.Orders)}, http.StatusNoContent, nil)
	e.clock.Advance(DefaultPendingTTL + time.Second)
	for _, n := range nodes {
		e.checkInNode(n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.c.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()

	waitDeleted := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			total := 0
			for _, fn := range fns {
				d, bad := fn.state()
				if len(bad) != 0 {
					t.Fatalf("node rejected orders: %v", bad)
				}
				total += len(d)
			}
			if total == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d deletions delivered, want %d", total, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitDeleted(6)

	// Deleting a file (a journal commit) wakes the loop at once (the
	// interval is an hour).
	obj := e.upload(u, nodes, 800)
	f := newEntry(u.root(), "file")
	f.Objects = []string{obj}
	e.mustCommit(u, []api.Entry{f}, nil)
	e.mustCommit(u, nil, []string{f.ID})
	waitDeleted(12)
}
