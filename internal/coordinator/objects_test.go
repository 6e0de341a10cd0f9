package coordinator

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/order"
	"github.com/nuage-storage/nuage/internal/piece"
)

func trustOnly(id identity.ID) func(identity.ID) bool {
	return func(x identity.ID) bool { return x == id }
}

func mustID16(t testing.TB, s string) metadb.ID16 {
	t.Helper()
	id, herr := parseID16(s, "id")
	if herr != nil {
		t.Fatal(herr)
	}
	return id
}

func TestObjectFlow(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	u := e.signup("flow@example.org")
	tok := u.token()

	var oc api.ObjectCreated
	e.call("POST", "/objects", tok, nil, http.StatusOK, &oc)
	if len(oc.Object) != 32 || oc.Scheme != DefaultScheme || oc.SegmentSize != 4*BlockSize {
		t.Fatalf("object created = %+v", oc)
	}
	maxSeg := e.c.maxSegmentCiphertext()
	sizes := []int64{maxSeg, 12345}
	var declared []api.SegmentRequest
	for i, size := range sizes {
		req := segmentRequest(i, size, 4, 6)
		declared = append(declared, req)
		var so api.SegmentOrders
		e.call("POST", "/objects/"+oc.Object+"/segments", tok, req, http.StatusOK, &so)
		if len(so.Orders) != 6 {
			t.Fatalf("%d orders, want 6", len(so.Orders))
		}
		seen := map[identity.ID]bool{}
		for j, po := range so.Orders {
			o, err := order.Parse(po.Order)
			if err != nil {
				t.Fatalf("order %d: %v", j, err)
			}
			if err := o.Check(e.clock.Now(), po.Node, order.Put, req.Pieces[j], trustOnly(e.id.ID())); err != nil {
				t.Fatalf("order %d: %v", j, err)
			}
			nd := nodeByID(nodes, po.Node)
			if po.Index != j || po.Piece != req.Pieces[j] || o.Size != uint64(req.PieceSize) || nd == nil || po.Address != nd.addr || seen[po.Node] {
				t.Fatalf("order %d = %+v (size %d)", j, po, o.Size)
			}
			if want := e.clock.Now().Add(DefaultOrderTTL); !o.Expires.Equal(want) {
				t.Fatalf("order expires %s, want %s", o.Expires, want)
			}
			seen[po.Node] = true
		}
		// Re-declaring an uncommitted segment is allowed (a retry).
		e.call("POST", "/objects/"+oc.Object+"/segments", tok, req, http.StatusOK, &so)
		rs := receipts(t, nodes, so.Orders)
		// Segment 1 commits K+1 receipts only: enough.
		e.call("POST", "/objects/"+oc.Object+"/segments/"+strconv.Itoa(i)+"/commit", tok,
			api.SegmentCommit{Receipts: rs[i:]}, http.StatusNoContent, nil)
		// Committed segments cannot be re-declared.
		e.expectError("POST", "/objects/"+oc.Object+"/segments", tok, req, http.StatusConflict, api.CodeConflict, "already committed")
	}
	// Wrong total size, too few and too many segments.
	e.expectError("POST", "/objects/"+oc.Object+"/commit", tok, api.ObjectCommit{Segments: 2, Size: 5}, 409, api.CodeConflict, "differs from the segments' total")
	e.expectError("POST", "/objects/"+oc.Object+"/commit", tok, api.ObjectCommit{Segments: 3, Size: maxSeg + 12345}, 409, api.CodeConflict, "segment 2 is not declared")
	e.expectError("POST", "/objects/"+oc.Object+"/commit", tok, api.ObjectCommit{Segments: 1, Size: maxSeg}, 409, api.CodeConflict, "segment 1 is declared")
	e.expectError("POST", "/objects/"+oc.Object+"/commit", tok, api.ObjectCommit{Segments: 0, Size: 1}, 400, api.CodeBadRequest, "segments")
	e.expectError("POST", "/objects/"+oc.Object+"/commit", tok, api.ObjectCommit{Segments: 1, Size: 0}, 400, api.CodeBadRequest, "size")
	e.call("POST", "/objects/"+oc.Object+"/commit", tok, api.ObjectCommit{Segments: 2, Size: maxSeg + 12345}, http.StatusNoContent, nil)
	e.expectError("POST", "/objects/"+oc.Object+"/commit", tok, api.ObjectCommit{Segments: 2, Size: maxSeg + 12345}, 409, api.CodeConflict, "already committed")
	e.expectError("POST", "/objects/"+oc.Object+"/segments", tok, segmentRequest(2, 10, 4, 6), 409, api.CodeConflict, "already committed")

	var usage api.Usage
	e.call("GET", "/usage", tok, nil, http.StatusOK, &usage)
	if usage.Used != maxSeg+12345 {
		t.Fatalf("usage %d", usage.Used)
	}

	// Read the segments back: one page of one, then the rest.
	var segs api.Segments
	e.call("GET", "/objects/"+oc.Object+"/segments?count=1", tok, nil, http.StatusOK, &segs)
	if len(segs.Segments) != 1 || segs.Segments[0].Index != 0 {
		t.Fatalf("first page = %+v", segs)
	}
	e.call("GET", "/objects/"+oc.Object+"/segments?from=0", tok, nil, http.StatusOK, &segs)
	if len(segs.Segments) != 2 {
		t.Fatalf("%d segments", len(segs.Segments))
	}
	for i, sg := range segs.Segments {
		req := declared[i]
		if sg.Index != i || sg.Size != req.Size || sg.PieceSize != req.PieceSize || sg.K != 4 || sg.N != 6 || len(sg.Pieces) != 6-i {
			t.Fatalf("segment %d = %+v", i, sg)
		}
		for _, po := range sg.Pieces {
			o, err := order.Parse(po.Order)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Check(e.clock.Now(), po.Node, order.Get, req.Pieces[po.Index], trustOnly(e.id.ID())); err != nil {
				t.Fatalf("GET order: %v", err)
			}
			if (i == 1 && po.Index == 0) || po.Piece != req.Pieces[po.Index] || o.Size != uint64(req.PieceSize) || nodeByID(nodes, po.Node).addr != po.Address {
				t.Fatalf("piece order %+v", po)
			}
		}
	}
	e.call("GET", "/objects/"+oc.Object+"/segments?from=2", tok, nil, http.StatusOK, &segs)
	if len(segs.Segments) != 0 {
		t.Fatalf("segments past the end: %+v", segs)
	}
	for _, q := range []string{"from=-1", "from=x", "count=0", "count=65", "count=y"} {
		e.expectError("GET", "/objects/"+oc.Object+"/segments?"+q, tok, nil, 400, api.CodeBadRequest, "")
	}
	e.expectError("GET", "/objects/"+randHex16()+"/segments", tok, nil, 404, api.CodeNotFound, "")

	// Online nodes come first: let every node but one go quiet.
	e.call("GET", "/objects/"+oc.Object+"/segments", tok, nil, http.StatusOK, &segs)
	last := segs.Segments[0].Pieces[len(segs.Segments[0].Pieces)-1]
	e.clock.Advance(DefaultNodeOnline + time.Second)
	e.call("POST", "/nodes/checkin", "", nodeByID(nodes, last.Node).checkIn(e.clock.Now(), 1<<30, 0), http.StatusOK, nil)
	e.call("GET", "/objects/"+oc.Object+"/segments", tok, nil, http.StatusOK, &segs)
	if got := segs.Segments[0].Pieces[0]; got.Node != last.Node {
		t.Fatalf("first piece is on %s, want the online node %s", got.Node.Short(), last.Node.Short())
	}
	if got := segs.Segments[0].Pieces; got[1].Index > got[2].Index {
		t.Fatalf("offline pieces are not in index order: %+v", got)
	}

	// Reference it from a file, then delete the file: its pieces are queued.
	f := newEntry(u.root(), "file")
	f.Objects = []string{oc.Object}
	e.mustCommit(u, []api.Entry{f}, nil)
	e.expectError("DELETE", "/objects/"+oc.Object, tok, nil, 409, api.CodeConflict, "used by an entry")
	e.mustCommit(u, nil, []string{f.ID})
	ids, err := e.db.NodesWithDeletions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 6 {
		t.Fatalf("%d nodes with deletions, want 6", len(ids))
	}
	e.call("GET", "/usage", tok, nil, http.StatusOK, &usage)
	if usage.Used != 0 {
		t.Fatalf("usage after delete %d", usage.Used)
	}
}

func TestDeclareSegmentValidation(t *testing.T) {
	e := newEnv(t, nil)
	e.startNodes(6)
	u := e.signup("seg@example.org")
	var oc api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &oc)
	maxSeg := e.c.maxSegmentCiphertext()
	if maxSeg != 4*BlockSize+4*16 {
		t.Fatalf("max segment %d", maxSeg)
	}
	dup := segmentRequest(0, 100, 4, 6)
	dup.Pieces[3] = dup.Pieces[1]
	zero := segmentRequest(0, 100, 4, 6)
	zero.Pieces[2] = piece.ID{}
	tests := []struct {
		name   string
		req    api.SegmentRequest
		substr string
	}{
		{"negative index", segmentRequest(-1, 100, 4, 6), "index"},
		{"huge index", segmentRequest(1<<40, 100, 4, 6), "index"},
		{"zero size", api.SegmentRequest{Size: 0, PieceSize: 0, Pieces: segmentRequest(0, 1, 4, 6).Pieces}, "size must be positive"},
		{"too big", segmentRequest(0, maxSeg+1, 4, 6), "larger than a segment"},
		{"piece size", func() api.SegmentRequest { r := segmentRequest(0, 100, 4, 6); r.PieceSize++; return r }(), "piece_size must be ceil(size/k) = 25"},
		{"too few pieces", segmentRequest(0, 100, 4, 5), "6 piece IDs"},
		{"too many pieces", segmentRequest(0, 100, 4, 7), "6 piece IDs"},
		{"repeated piece", dup, "pieces[3] repeats pieces[1]"},
		{"zero piece", zero, "pieces[2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			e.expectError("POST", "/objects/"+oc.Object+"/segments", u.token(), tt.req, 400, api.CodeBadRequest, tt.substr)
		})
	}
	e.t = t
	e.expectError("POST", "/objects/"+randHex16()+"/segments", u.token(), segmentRequest(0, 100, 4, 6), 404, api.CodeNotFound, "object not found")
	e.expectError("POST", "/objects/nothex/segments", u.token(), segmentRequest(0, 100, 4, 6), 400, api.CodeBadRequest, "object ID")
	e.call("POST", "/objects/"+oc.Object+"/segments", u.token(), segmentRequest(0, maxSeg, 4, 6), 200, nil)
	e.call("POST", "/objects/"+oc.Object+"/segments", u.token(), segmentRequest(7, 1, 4, 6), 200, nil)
	e.expectError("POST", "/objects/"+oc.Object+"/segments/x/commit", u.token(), api.SegmentCommit{}, 400, api.CodeBadRequest, "segment index")
	e.expectError("POST", "/objects/"+oc.Object+"/segments/01/commit", u.token(), api.SegmentCommit{}, 400, api.CodeBadRequest, "segment index")
	e.expectError("POST", "/objects/"+oc.Object+"/segments/3/commit", u.token(), api.SegmentCommit{}, 404, api.CodeNotFound, "segment 3 was not declared")

	// Abandoning the upload.
	e.call("DELETE", "/objects/"+oc.Object, u.token(), nil, http.StatusNoContent, nil)
	e.expectError("POST", "/objects/"+oc.Object+"/segments", u.token(), segmentRequest(0, 100, 4, 6), 404, api.CodeNotFound, "")
	e.expectError("DELETE", "/objects/"+oc.Object, u.token(), nil, 404, api.CodeNotFound, "")
}

func TestCommitReceipts(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	u := e.signup("rc@example.org")
	var oc api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &oc)
	req := segmentRequest(0, 4000, 4, 6)
	var so api.SegmentOrders
	e.call("POST", "/objects/"+oc.Object+"/segments", u.token(), req, http.StatusOK, &so)
	good := receipts(t, nodes, so.Orders)

	stranger := newNode(t, "127.0.0.1:9")
	sign := func(n *node, p piece.ID, size uint64) []byte {
		rc := order.Receipt{Piece: p, Size: size, StoredAt: time.Now()}
		return rc.Sign(n.ident)
	}
	// Forged: a stranger signs, then claims to be node 0.
	forged := sign(stranger, req.Pieces[0], uint64(req.PieceSize))
	victim := so.Orders[0].Node
	copy(forged[1:33], victim[:])
	// Node 5 acknowledges the piece it holds but also one it does not.
	n5 := nodeByID(nodes, so.Orders[5].Node)
	n4 := nodeByID(nodes, so.Orders[4].Node)

	with := func(last []byte) [][]byte {
		rs := append([][]byte{}, good[:3]...)
		return append(rs, last)
	}
	tests := []struct {
		name     string
		receipts [][]byte
		status   int
		substr   string
	}{
		{"forged", with(forged), 400, "receipt 3: order: bad signature"},
		{"malformed", with([]byte("short")), 400, "receipt 3: order: malformed"},
		{"unregistered node", with(sign(stranger, req.Pieces[5], uint64(req.PieceSize))), 400, "is not registered"},
		{"undeclared hash", with(sign(n5, piece.Sum([]byte("other")), uint64(req.PieceSize))), 400, "is not a piece of segment 0"},
		{"wrong size", with(sign(n5, req.Pieces[5], uint64(req.PieceSize)+1)), 400, "size 1001"},
		{"duplicate", with(good[0]), 400, "already has piece"},
		{"same piece on two nodes", with(sign(n4, req.Pieces[0], uint64(req.PieceSize))), 400, "repeats piece 0"},
		{"fewer than k", good[:3], 409, "only 3 valid receipts, need at least 4"},
		{"none", nil, 409, "only 0 valid receipts"},
		{"more than n", append(append([][]byte{}, good...), good[0]), 400, "7 receipts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			code := api.CodeBadRequest
			if tt.status == 409 {
				code = api.CodeConflict
			}
			e.expectError("POST", "/objects/"+oc.Object+"/segments/0/commit", u.token(), api.SegmentCommit{Receipts: tt.receipts}, tt.status, code, tt.substr)
		})
	}
	e.t = t
	segs, err := e.db.Segments(t.Context(), mustID16(t, u.sess.Account), mustID16(t, oc.Object), 0, 1)
	if err != nil || len(segs) != 1 || segs[0].Committed {
		t.Fatalf("segment committed after refusals: %+v %v", segs, err)
	}
	// The receipts, stored by node 0..3 in any order, are accepted; a
	// receipt need not come from the node the coordinator chose.
	rs := [][]byte{good[3], good[1], sign(n5, req.Pieces[0], uint64(req.PieceSize)), good[2]}
	e.call("POST", "/objects/"+oc.Object+"/segments/0/commit", u.token(), api.SegmentCommit{Receipts: rs}, http.StatusNoContent, nil)
	ps, err := e.db.Pieces(t.Context(), mustID16(t, oc.Object), 0)
	if err != nil || len(ps) != 4 {
		t.Fatalf("pieces %+v %v", ps, err)
	}
	for i, p := range ps {
		if want := []int{0, 1, 2, 3}[i]; p.Index != want || p.ID != req.Pieces[want] || p.Size != req.PieceSize {
			t.Fatalf("piece %d = %+v", i, p)
		}
		if p.Index == 0 && (p.Node != n5.id() || !bytes.Equal(p.Receipt, rs[2])) {
			t.Fatalf("piece 0 recorded on %s", p.Node.Short())
		}
	}
}

func TestPlacement(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("p@example.org")
	var oc api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &oc)
	path := "/objects/" + oc.Object + "/segments"

	ae := e.expectError("POST", path, u.token(), segmentRequest(0, 100, 4, 6), http.StatusServiceUnavailable, api.CodeNotEnoughNodes,
		"only 0 storage nodes are online, need at least 4")
	if ae.Hint == "" {
		t.Fatal("no hint")
	}
	nodes := e.startNodes(3)
	e.expectError("POST", path, u.token(), segmentRequest(0, 100, 4, 6), http.StatusServiceUnavailable, api.CodeNotEnoughNodes,
		"only 3 storage nodes are online, need at least 4")

	// Two more nodes: five pieces placed on five distinct nodes.
	nodes = append(nodes, e.startNodes(2)...)
	req := segmentRequest(0, 100, 4, 6)
	var so api.SegmentOrders
	e.call("POST", path, u.token(), req, http.StatusOK, &so)
	if len(so.Orders) != 5 {
		t.Fatalf("%d orders, want 5", len(so.Orders))
	}
	seen := map[identity.ID]bool{}
	for j, po := range so.Orders {
		if po.Index != j || seen[po.Node] {
			t.Fatalf("orders %+v", so.Orders)
		}
		seen[po.Node] = true
	}

	// A node without room for the piece is skipped.
	full := nodes[0]
	e.call("POST", "/nodes/checkin", "", full.checkIn(e.clock.Now(), 1000, 990), http.StatusOK, nil)
	for range 10 {
		e.call("POST", path, u.token(), req, http.StatusOK, &so)
		if len(so.Orders) != 4 {
			t.Fatalf("%d orders, want 4", len(so.Orders))
		}
		for _, po := range so.Orders {
			if po.Node == full.id() {
				t.Fatal("piece placed on a full node")
			}
		}
	}
	e.call("POST", "/nodes/checkin", "", nodes[1].checkIn(e.clock.Now(), 1000, 1000), http.StatusOK, nil)
	e.expectError("POST", path, u.token(), req, http.StatusServiceUnavailable, api.CodeNotEnoughNodes, "only 3 of the 5 online storage nodes have 25 bytes free")

	// Nodes that stopped checking in are offline.
	e.clock.Advance(DefaultNodeOnline + time.Second)
	e.expectError("POST", path, u.token(), req, http.StatusServiceUnavailable, api.CodeNotEnoughNodes, "only 0 storage nodes")

	// Placement is random: over many declarations every node gets piece 0.
	e.startNodes(6)
	first := map[identity.ID]bool{}
	for i := 0; i < 200 && len(first) < 6; i++ {
		e.call("POST", path, u.token(), req, http.StatusOK, &so)
		first[so.Orders[0].Node] = true
	}
	if len(first) != 6 {
		t.Fatalf("piece 0 went to only %d of 6 nodes in 200 placements", len(first))
	}
}

func TestCheckIn(t *testing.T) {
	e := newEnv(t, nil)
	n := newNode(t, "127.0.0.1:7777")
	now := e.clock.Now()
	var resp api.CheckInResponse
	e.call("POST", "/nodes/checkin", "", n.checkIn(now, 1<<30, 1<<20), http.StatusOK, &resp)
	if resp.Coordinator != e.id.ID() {
		t.Fatal("wrong coordinator ID")
	}
	got, err := e.db.NodeByID(t.Context(), n.id())
	if err != nil {
		t.Fatal(err)
	}
	if got.Address != n.addr || got.Capacity != 1<<30 || got.Used != 1<<20 || !got.LastSeen.Equal(now) {
		t.Fatalf("stored node %+v", got)
	}
	// Moving to a new address is a check-in like any other.
	n.addr = "[::1]:8000"
	e.call("POST", "/nodes/checkin", "", n.checkIn(now.Add(4*time.Minute), 1<<30, 0), http.StatusOK, nil)

	other := newNode(t, "127.0.0.1:7778")
	forged := n.checkIn(now, 1<<40, 0)
	forged.Capacity = 1 << 50 // changed after signing
	stolen := other.checkIn(now, 1, 0)
	stolen.Node = n.id() // another node's signature
	tests := []struct {
		name   string
		ci     api.CheckIn
		status int
		substr string
	}{
		{"tampered", forged, 401, "signature"},
		{"wrong key", stolen, 401, "signature"},
		{"no signature", api.CheckIn{Node: n.id(), Address: n.addr, Time: now.Unix()}, 401, "signature"},
		{"no node", api.CheckIn{Address: n.addr, Time: now.Unix()}, 400, "node is required"},
		{"stale", n.checkIn(now.Add(-5*time.Minute-time.Second), 1, 0), 400, "away from the coordinator's clock"},
		{"future", n.checkIn(now.Add(6*time.Minute), 1, 0), 400, "away from the coordinator's clock"},
		{"negative", n.checkIn(now, -1, 0), 400, "negative"},
	}
	for _, addr := range []string{"", "nohost", ":80", "host:", "host:0", "host:65536", "host:http", "a b:80", "h/x:80", "host:080"} {
		m := newNode(t, addr)
		tests = append(tests, struct {
			name   string
			ci     api.CheckIn
			status int
			substr string
		}{"address " + addr, m.checkIn(now, 1, 0), 400, "address"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			ae := e.expectError("POST", "/nodes/checkin", "", tt.ci, tt.status, map[int]string{400: api.CodeBadRequest, 401: api.CodeUnauthorized}[tt.status], tt.substr)
			if tt.name == "stale" && ae.Hint == "" {
				t.Fatal("no hint for clock skew")
			}
		})
	}
	e.t = t
	got, err = e.db.NodeByID(t.Context(), n.id())
	if err != nil || got.Address != "[::1]:8000" || got.Capacity != 1<<30 {
		t.Fatalf("rejected check-ins changed the node: %+v %v", got, err)
	}
}

func TestObjectStatus(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	u := e.signup("status@example.org")
	var oc api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &oc)
	var st api.ObjectStatus
	e.call("GET", "/objects/"+oc.Object, u.token(), nil, http.StatusOK, &st)
	if st.Object != oc.Object || st.State != "pending" || st.Committed == nil || len(st.Committed) != 0 {
		t.Fatalf("new object = %+v", st)
	}
	// Segments 0..2 declared, 2 and 0 committed (in that order).
	orders := make([]api.SegmentOrders, 3)
	for i := range orders {
		e.call("POST", "/objects/"+oc.Object+"/segments", u.token(), segmentRequest(i, 1000, 4, 6), http.StatusOK, &orders[i])
	}
	for _, i := range []int{2, 0} {
		e.call("POST", "/objects/"+oc.Object+"/segments/"+strconv.Itoa(i)+"/commit", u.token(),
			api.SegmentCommit{Receipts: receipts(t, nodes, orders[i].Orders)}, http.StatusNoContent, nil)
	}
	e.call("GET", "/objects/"+oc.Object, u.token(), nil, http.StatusOK, &st)
	if st.State != "pending" || !slices.Equal(st.Committed, []int{0, 2}) {
		t.Fatalf("half-uploaded object = %+v", st)
	}
	e.call("POST", "/objects/"+oc.Object+"/segments/1/commit", u.token(),
		api.SegmentCommit{Receipts: receipts(t, nodes, orders[1].Orders)}, http.StatusNoContent, nil)
	e.call("POST", "/objects/"+oc.Object+"/commit", u.token(), api.ObjectCommit{Segments: 3, Size: 3000}, http.StatusNoContent, nil)
	e.call("GET", "/objects/"+oc.Object, u.token(), nil, http.StatusOK, &st)
	if st.State != "committed" || !slices.Equal(st.Committed, []int{0, 1, 2}) {
		t.Fatalf("committed object = %+v", st)
	}
	other := e.signup("other@example.org")
	e.expectError("GET", "/objects/"+oc.Object, other.token(), nil, 404, api.CodeNotFound, "object not found")
	e.expectError("GET", "/objects/"+randHex16(), u.token(), nil, 404, api.CodeNotFound, "object not found")
	e.expectError("GET", "/objects/xyz", u.token(), nil, 400, api.CodeBadRequest, "object ID")
	e.expectError("GET", "/objects/"+oc.Object, "", nil, 401, api.CodeUnauthorized, "")
}

// pendingDB is a database that also sums the account's pending uploads
// (see pendingCounter), here with a figure the test sets.
type pendingDB struct {
	metadb.DB
	mu      sync.Mutex
	pending int64
}

func (p *pendingDB) PendingBytes(context.Context, metadb.ID16) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending, nil
}

func TestQuota(t *testing.T) {
	const quota = 10_000
	e := newEnv(t, func(c *Config) { c.Quota = quota })
	nodes := e.startNodes(6)
	u := e.signup("quota@example.org")
	var usage api.Usage
	e.call("GET", "/usage", u.token(), nil, http.StatusOK, &usage)
	if usage != (api.Usage{Quota: quota}) {
		t.Fatalf("usage = %+v", usage)
	}
	stored := e.upload(u, nodes, 4000)

	var oc api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &oc)
	path := "/objects/" + oc.Object + "/segments"
	e.call("POST", path, u.token(), segmentRequest(0, 3000, 4, 6), http.StatusOK, nil)
	// 4000 stored + 3000 declared + 3001 > 10000.
	ae := e.expectError("POST", path, u.token(), segmentRequest(1, 3001, 4, 6), http.StatusInsufficientStorage, api.CodeQuotaExceeded,
		"quota of 10000 bytes would be exceeded (4000 stored, 3000 being uploaded, 3001 more asked)")
	if ae.Hint != "free space with `nuage trash empty` or ask the operator for more" {
		t.Fatalf("hint %q", ae.Hint)
	}
	e.call("POST", path, u.token(), segmentRequest(1, 3000, 4, 6), http.StatusOK, nil)
	// Declaring segment 0 again replaces it: it is not counted twice.
	var so api.SegmentOrders
	e.call("POST", path, u.token(), segmentRequest(0, 3000, 4, 6), http.StatusOK, &so)
	e.expectError("POST", path, u.token(), segmentRequest(0, 3001, 4, 6), http.StatusInsufficientStorage, api.CodeQuotaExceeded, "")
	e.call("POST", path+"/0/commit", u.token(), api.SegmentCommit{Receipts: receipts(t, nodes, so.Orders)}, http.StatusNoContent, nil)
	e.expectError("POST", path, u.token(), segmentRequest(2, 1, 4, 6), http.StatusInsufficientStorage, api.CodeQuotaExceeded, "")

	// Freeing space: abandon the upload, delete the stored file.
	e.call("DELETE", "/objects/"+oc.Object, u.token(), nil, http.StatusNoContent, nil)
	f := newEntry(u.root(), "file")
	f.Objects = []string{stored}
	e.mustCommit(u, []api.Entry{f}, nil)
	e.call("GET", "/usage", u.token(), nil, http.StatusOK, &usage)
	if usage != (api.Usage{Used: 4000, Quota: quota, Files: 1}) {
		t.Fatalf("usage = %+v", usage)
	}
	e.mustCommit(u, nil, []string{f.ID})
	e.upload(u, nodes, 5000, 5000)
	e.call("GET", "/usage", u.token(), nil, http.StatusOK, &usage)
	if usage.Used != quota {
		t.Fatalf("usage = %+v", usage)
	}
	// Another account has its own quota.
	v := e.signup("v@example.org")
	e.upload(v, nodes, quota)
}

// TestQuotaPendingBytes checks that a database that sums all pending
// uploads is asked, and that a segment declared again is not counted twice.
func TestQuotaPendingBytes(t *testing.T) {
	pdb := &pendingDB{}
	e := newEnv(t, func(c *Config) {
		pdb.DB = c.DB
		c.DB = pdb
		c.Quota = 10_000
	})
	e.startNodes(6)
	u := e.signup("pending@example.org")
	var oc api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &oc)
	path := "/objects/" + oc.Object + "/segments"
	e.call("POST", path, u.token(), segmentRequest(0, 2000, 4, 6), http.StatusOK, nil)
	pdb.mu.Lock()
	pdb.pending = 9000 // this segment and 7000 bytes of other uploads
	pdb.mu.Unlock()
	e.expectError("POST", path, u.token(), segmentRequest(1, 1001, 4, 6), http.StatusInsufficientStorage, api.CodeQuotaExceeded, "9000 being uploaded")
	e.call("POST", path, u.token(), segmentRequest(1, 1000, 4, 6), http.StatusOK, nil)
	e.call("POST", path, u.token(), segmentRequest(0, 3000, 4, 6), http.StatusOK, nil)
	// Segment 0 now has 3000 bytes of the 9000.
	e.expectError("POST", path, u.token(), segmentRequest(0, 4001, 4, 6), http.StatusInsufficientStorage, api.CodeQuotaExceeded, "6000 being uploaded")
	e.call("POST", path, u.token(), segmentRequest(0, 4000, 4, 6), http.StatusOK, nil)
}
