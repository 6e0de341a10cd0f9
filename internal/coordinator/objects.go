package coordinator

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/order"
	"github.com/nuage-storage/nuage/internal/piece"
)

// Limits of GET /objects/{id}/segments.
const (
	DefaultSegmentsCount = 16
	MaxSegmentsCount     = 64
)

// maxSegmentIndex bounds segment indexes (2^31 segments of 16 MiB is 32 PiB).
const maxSegmentIndex = math.MaxInt32

// commitPageSize is how many segments diagnoseCommit reads per query.
const commitPageSize = 256

// signOrder signs an order for action on piece p at node, valid for OrderTTL
// from the coordinator's clock, and returns its encoding.
func (c *Coordinator) signOrder(action order.Action, node identity.ID, p piece.ID, size int64) []byte {
	o := order.New(action, node, p, uint64(size), c.orderTTL)
	o.Expires = c.now().Add(c.orderTTL).Truncate(time.Second)
	return o.Sign(c.id)
}

func (c *Coordinator) objectID(r *http.Request) (metadb.ID16, *httpError) {
	return parseID16(r.PathValue("id"), "object ID")
}

func (c *Coordinator) handleCreateObject(w http.ResponseWriter, r *http.Request, s session) {
	var req struct{}
	if herr := decode(w, r, &req, true); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	var id metadb.ID16
	if _, err := rand.Read(id[:]); err != nil {
		c.fail(w, r, fmt.Errorf("object ID: %w", err), "object")
		return
	}
	o := metadb.Object{ID: id, Account: s.account, State: metadb.ObjectPending, Created: c.now()}
	if err := c.db.CreateObject(r.Context(), o); err != nil {
		c.fail(w, r, err, "object")
		return
	}
	writeJSON(w, api.ObjectCreated{Object: hexID(id), Scheme: c.scheme, SegmentSize: c.segmentSize})
}

// pendingObject loads an object of the account and checks it is pending.
func (c *Coordinator) pendingObject(r *http.Request, s session, id metadb.ID16) (metadb.Object, error) {
	o, err := c.db.Object(r.Context(), s.account, id)
	if errors.Is(err, metadb.ErrNotFound) {
		return o, notFound("object not found")
	}
	if err != nil {
		return o, err
	}
	if o.State != metadb.ObjectPending {
		return o, conflict("the object is already committed", "start a new upload")
	}
	return o, nil
}

// checkSegment validates a segment declaration against the scheme.
func (c *Coordinator) checkSegment(req api.SegmentRequest) *httpError {
	k, n := int64(c.scheme.K), c.scheme.N
	maxSize := c.maxSegmentCiphertext()
	switch {
	case req.Index < 0 || req.Index > maxSegmentIndex:
		return badRequest("index %d is out of range", req.Index)
	case req.Size <= 0:
		return badRequest("size must be positive")
	case req.Size > maxSize:
		return badRequest("size %d is larger than a segment's ciphertext (at most %d bytes)", req.Size, maxSize)
	case req.PieceSize != (req.Size+k-1)/k:
		return badRequest("piece_size must be ceil(size/k) = %d, got %d", (req.Size+k-1)/k, req.PieceSize)
	case len(req.Pieces) != n:
		return badRequest("pieces must list %d piece IDs (n), got %d", n, len(req.Pieces))
	}
	for j, p := range req.Pieces {
		if p.IsZero() {
			return badRequest("pieces[%d] is all zeros", j)
		}
		if i := slices.Index(req.Pieces[:j], p); i >= 0 {
			return badRequest("pieces[%d] repeats pieces[%d]", j, i)
		}
	}
	return nil
}

// place chooses up to N distinct online nodes with at least size bytes free,
// in random order.
func (c *Coordinator) place(r *http.Request, size int64) ([]metadb.Node, int, error) {
	nodes, err := c.db.Nodes(r.Context(), c.now().Add(-c.nodeOnline))
	if err != nil {
		return nil, 0, err
	}
	online := len(nodes)
	usable := nodes[:0]
	for _, nd := range nodes {
		if nd.Capacity-nd.Used >= size && nd.Address != "" {
			usable = append(usable, nd)
		}
	}
	shuffle(usable)
	return usable[:min(len(usable), c.scheme.N)], online, nil
}

// shuffle permutes nodes uniformly with a ChaCha8 generator seeded from
// crypto/rand, so placement cannot be predicted or steered.
func shuffle(nodes []metadb.Node) {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails (Go 1.24+)
	rng := mrand.New(mrand.NewChaCha8(seed))
	rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
}

func (c *Coordinator) handleDeclareSegment(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := c.objectID(r)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	var req api.SegmentRequest
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if herr := c.checkSegment(req); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if _, err := c.pendingObject(r, s, id); err != nil {
		c.fail(w, r, err, "object")
		return
	}
	if err := c.checkQuota(r, s, id, req); err != nil {
		c.fail(w, r, err, "object")
		return
	}
	chosen, online, err := c.place(r, req.PieceSize)
	if err != nil {
		c.fail(w, r, err, "nodes")
		return
	}
	if len(chosen) < c.scheme.K {
		msg := fmt.Sprintf("only %d storage nodes are online, need at least %d", online, c.scheme.K)
		if online >= c.scheme.K {
			msg = fmt.Sprintf("only %d of the %d online storage nodes have %d bytes free, need at least %d",
				len(chosen), online, req.PieceSize, c.scheme.K)
		}
		writeError(w, http.StatusServiceUnavailable, api.Error{
			Error: msg, Code: api.CodeNotEnoughNodes,
			Hint: "try again later, or ask the coordinator's operator to add storage nodes (`nuage node`)",
		})
		return
	}
	seg := metadb.Segment{
		Object: id, Index: req.Index, Size: req.Size, PieceSize: req.PieceSize,
		K: c.scheme.K, N: c.scheme.N, Hashes: req.Pieces,
	}
	if err := c.db.PutSegment(r.Context(), s.account, seg); err != nil {
		if errors.Is(err, metadb.ErrConflict) {
			c.fail(w, r, conflict(fmt.Sprintf("segment %d is already committed, or the object is not pending", req.Index), ""), "")
			return
		}
		c.fail(w, r, err, "object")
		return
	}
	out := api.SegmentOrders{Orders: make([]api.PieceOrder, len(chosen))}
	for j, nd := range chosen {
		out.Orders[j] = api.PieceOrder{
			Index: j, Piece: req.Pieces[j], Node: nd.ID, Address: nd.Address,
			Order: c.signOrder(order.Put, nd.ID, req.Pieces[j], req.PieceSize),
		}
	}
	writeJSON(w, out)
}

// pendingCounter is implemented by databases that can sum, in one query,
// the ciphertext bytes of the declared segments of an account's pending
// uploads. Without it, checkQuota counts the pending bytes of the upload
// being declared only.
type pendingCounter interface {
	PendingBytes(ctx context.Context, account metadb.ID16) (int64, error)
}

// checkQuota refuses a segment declaration that would bring the account's
// committed bytes, plus the declared segments of its pending uploads, plus
// this segment over the quota. A segment declared again replaces its
// earlier declaration, so that one is not counted.
func (c *Coordinator) checkQuota(r *http.Request, s session, object metadb.ID16, req api.SegmentRequest) error {
	if c.quota == 0 {
		return nil
	}
	ctx := r.Context()
	u, err := c.db.Usage(ctx, s.account)
	if err != nil {
		return err
	}
	var pending int64
	if pc, ok := c.db.(pendingCounter); ok {
		if pending, err = pc.PendingBytes(ctx, s.account); err != nil {
			return err
		}
		segs, err := c.db.Segments(ctx, s.account, object, req.Index, 1)
		if err != nil {
			return err
		}
		if len(segs) == 1 && segs[0].Index == req.Index {
			pending -= segs[0].Size
		}
	} else {
		for from := 0; ; {
			segs, err := c.db.Segments(ctx, s.account, object, from, commitPageSize)
			if err != nil {
				return err
			}
			for _, sg := range segs {
				if sg.Index < from {
					return fmt.Errorf("coordinator: segments of %x out of order", object)
				}
				if sg.Index != req.Index {
					pending += sg.Size
				}
				from = sg.Index + 1
			}
			if len(segs) < commitPageSize {
				break
			}
		}
	}
	if u.Bytes+pending+req.Size > c.quota {
		return &httpError{http.StatusInsufficientStorage, api.Error{
			Error: fmt.Sprintf("the account's quota of %d bytes would be exceeded (%d stored, %d being uploaded, %d more asked)",
				c.quota, u.Bytes, pending, req.Size),
			Code: api.CodeQuotaExceeded,
			Hint: "free space with `nuage trash empty` or ask the operator for more",
		}}
	}
	return nil
}

// handleObjectStatus answers GET /objects/{id}: the object's state and its
// committed segments, so that an interrupted upload can resume.
func (c *Coordinator) handleObjectStatus(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := c.objectID(r)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	o, err := c.db.Object(r.Context(), s.account, id)
	if err != nil {
		c.fail(w, r, err, "object")
		return
	}
	committed, err := c.db.CommittedSegments(r.Context(), s.account, id)
	if err != nil {
		c.fail(w, r, err, "object")
		return
	}
	if committed == nil {
		committed = []int{}
	}
	writeJSON(w, api.ObjectStatus{Object: hexID(o.ID), State: string(o.State), Committed: committed})
}

// segmentIndex parses the {index} path value.
func segmentIndex(r *http.Request) (int, *httpError) {
	s := r.PathValue("index")
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i > maxSegmentIndex || strconv.Itoa(i) != s {
		return 0, badRequest("segment index %q is not a non-negative integer", s)
	}
	return i, nil
}

func (c *Coordinator) handleCommitSegment(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := c.objectID(r)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	index, herr := segmentIndex(r)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	var req api.SegmentCommit
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if len(req.Receipts) > c.scheme.N {
		c.fail(w, r, badRequest("%d receipts for a segment of %d pieces", len(req.Receipts), c.scheme.N), "")
		return
	}
	if _, err := c.pendingObject(r, s, id); err != nil {
		c.fail(w, r, err, "object")
		return
	}
	segs, err := c.db.Segments(r.Context(), s.account, id, index, 1)
	if err != nil {
		c.fail(w, r, err, "object")
		return
	}
	if len(segs) == 0 || segs[0].Index != index {
		c.fail(w, r, notFound(fmt.Sprintf("segment %d was not declared", index)), "")
		return
	}
	pieces, err := c.checkReceipts(r, segs[0], req.Receipts)
	if err != nil {
		c.fail(w, r, err, "node")
		return
	}
	if len(pieces) < segs[0].K {
		c.fail(w, r, conflict(fmt.Sprintf("only %d valid receipts, need at least %d", len(pieces), segs[0].K),
			"upload more pieces of the segment, then commit again"), "")
		return
	}
	if err := c.db.CommitSegment(r.Context(), s.account, id, index, pieces); err != nil {
		c.fail(w, r, err, "segment")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// checkReceipts verifies each receipt against the declared segment: a
// signature by a registered node, a declared piece ID, the declared piece
// size, and each node and piece at most once.
func (c *Coordinator) checkReceipts(r *http.Request, seg metadb.Segment, receipts [][]byte) ([]metadb.Piece, error) {
	pieces := make([]metadb.Piece, 0, len(receipts))
	seenNode := make(map[identity.ID]int, len(receipts))
	seenIndex := make(map[int]int, len(receipts))
	for i, b := range receipts {
		rc, err := order.ParseReceipt(b)
		if err != nil {
			return nil, badRequest("receipt %d: %v", i, err)
		}
		j := slices.Index(seg.Hashes, rc.Piece)
		if j < 0 {
			return nil, badRequest("receipt %d: piece %s is not a piece of segment %d", i, rc.Piece, seg.Index)
		}
		if rc.Size != uint64(seg.PieceSize) {
			return nil, badRequest("receipt %d: size %d, the segment's pieces have %d bytes", i, rc.Size, seg.PieceSize)
		}
		if prev, dup := seenNode[rc.Node]; dup {
			return nil, badRequest("receipt %d: node %s already has piece of receipt %d; each node stores one piece of a segment", i, rc.Node.Short(), prev)
		}
		if prev, dup := seenIndex[j]; dup {
			return nil, badRequest("receipt %d: repeats piece %d of receipt %d", i, j, prev)
		}
		if _, err := c.db.NodeByID(r.Context(), rc.Node); err != nil {
			if errors.Is(err, metadb.ErrNotFound) {
				return nil, badRequest("receipt %d: node %s is not registered", i, rc.Node.Short())
			}
			return nil, err
		}
		seenNode[rc.Node], seenIndex[j] = i, i
		pieces = append(pieces, metadb.Piece{
			Object: seg.Object, Segment: seg.Index, Index: j, Node: rc.Node,
			ID: rc.Piece, Size: seg.PieceSize, Receipt: b,
		})
	}
	slices.SortFunc(pieces, func(a, b metadb.Piece) int { return a.Index - b.Index })
	return pieces, nil
}

func (c *Coordinator) handleCommitObject(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := c.objectID(r)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	var req api.ObjectCommit
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if req.Segments < 1 || req.Segments > maxSegmentIndex {
		c.fail(w, r, badRequest("segments must be between 1 and %d", maxSegmentIndex), "")
		return
	}
	if req.Size <= 0 {
		c.fail(w, r, badRequest("size must be positive"), "")
		return
	}
	err := c.db.CommitObject(r.Context(), s.account, id, req.Segments, req.Size)
	if errors.Is(err, metadb.ErrConflict) {
		err = c.diagnoseCommit(r, s, id, req)
	}
	if err != nil {
		c.fail(w, r, err, "object")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// diagnoseCommit explains why the database refused to commit an object:
// the object is not pending, a segment of 0..n-1 is missing or
// uncommitted, another is declared beyond them, or the sizes do not add
// up. It runs only after a refusal, so commits cost one query.
func (c *Coordinator) diagnoseCommit(r *http.Request, s session, id metadb.ID16, req api.ObjectCommit) error {
	if _, err := c.pendingObject(r, s, id); err != nil {
		return err
	}
	const hint = "declare and commit segments 0..n-1, then commit the object"
	var total int64
	next := 0
	for range req.Segments/commitPageSize + 2 {
		segs, err := c.db.Segments(r.Context(), s.account, id, next, commitPageSize)
		if err != nil {
			return err
		}
		for _, sg := range segs {
			switch {
			case sg.Index >= req.Segments:
				return conflict(fmt.Sprintf("segment %d is declared, but the object has %d segments", sg.Index, req.Segments), hint)
			case sg.Index != next:
				return conflict(fmt.Sprintf("segment %d is not declared", next), hint)
			case !sg.Committed:
				return conflict(fmt.Sprintf("segment %d is not committed", next), hint)
			}
			total += sg.Size
			next++
		}
		if len(segs) < commitPageSize {
			break
		}
	}
	if next < req.Segments {
		return conflict(fmt.Sprintf("segment %d is not declared", next), hint)
	}
	if total != req.Size {
		return conflict(fmt.Sprintf("size %d differs from the segments' total of %d bytes", req.Size, total),
			"send the sum of the segments' ciphertext sizes")
	}
	return conflict("the object cannot be committed in its current state", "")
}

// handleSegments answers GET /objects/{id}/segments: committed segments
// with GET orders for their pieces. A scoped session gets them only for an
// object an entry of its subtree references.
func (c *Coordinator) handleSegments(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := c.objectID(r)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	q := r.URL.Query()
	from, count := 0, DefaultSegmentsCount
	if v := q.Get("from"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxSegmentIndex {
			c.fail(w, r, badRequest("from must be a non-negative integer"), "")
			return
		}
		from = n
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxSegmentsCount {
			c.fail(w, r, badRequest("count must be between 1 and %d", MaxSegmentsCount), "")
			return
		}
		count = n
	}
	if _, err := c.db.Object(r.Context(), s.account, id); err != nil {
		c.fail(w, r, err, "object")
		return
	}
	if err := c.objectInScope(r.Context(), s, id); err != nil {
		c.fail(w, r, err, "object")
		return
	}
	// A link session is counted as a download when it first asks for
	// GET orders (spec §10), before it gets any.
	if err := c.countDownload(r.Context(), s); err != nil {
		c.fail(w, r, err, "link")
		return
	}
	segs, err := c.db.Segments(r.Context(), s.account, id, from, count)
	if err != nil {
		c.fail(w, r, err, "object")
		return
	}
	onlineSince := c.now().Add(-c.nodeOnline)
	nodes := make(map[identity.ID]*metadb.Node)
	out := api.Segments{Segments: make([]api.Segment, 0, len(segs))}
	for _, sg := range segs {
		if !sg.Committed {
			continue
		}
		pieces, err := c.db.Pieces(r.Context(), id, sg.Index)
		if err != nil {
			c.fail(w, r, err, "segment")
			return
		}
		type located struct {
			order  api.PieceOrder
			online bool
		}
		ls := make([]located, 0, len(pieces))
		for _, p := range pieces {
			nd, ok := nodes[p.Node]
			if !ok {
				n, err := c.db.NodeByID(r.Context(), p.Node)
				switch {
				case err == nil:
					nd = &n
				case errors.Is(err, metadb.ErrNotFound):
				default:
					c.fail(w, r, err, "node")
					return
				}
				nodes[p.Node] = nd
			}
			if nd == nil {
				continue // the node is gone; the piece with it
			}
			ls = append(ls, located{
				order: api.PieceOrder{
					Index: p.Index, Piece: p.ID, Node: p.Node, Address: nd.Address,
					Order: c.signOrder(order.Get, p.Node, p.ID, sg.PieceSize),
				},
				online: !nd.LastSeen.Before(onlineSince),
			})
		}
		slices.SortStableFunc(ls, func(a, b located) int {
			switch {
			case a.online == b.online:
				return 0
			case a.online:
				return -1
			}
			return 1
		})
		seg := api.Segment{Index: sg.Index, Size: sg.Size, PieceSize: sg.PieceSize, K: sg.K, N: sg.N,
			Pieces: make([]api.PieceOrder, len(ls))}
		for i, l := range ls {
			seg.Pieces[i] = l.order
		}
		out.Segments = append(out.Segments, seg)
	}
	writeJSON(w, out)
}

func (c *Coordinator) handleDeleteObject(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := c.objectID(r)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	switch err := c.db.DeleteObject(r.Context(), s.account, id); {
	case err == nil:
	case errors.Is(err, metadb.ErrConflict):
		c.fail(w, r, conflict("the object is used by an entry", "delete the entry (a journal commit) instead"), "")
		return
	default:
		c.fail(w, r, err, "object")
		return
	}
	c.wakeDeletions()
	w.WriteHeader(http.StatusNoContent)
}
