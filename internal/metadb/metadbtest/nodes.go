package metadbtest

import (
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/piece"
)

var nodeTests = []test{
	{"Upsert", func(t *testing.T, f *fixture) {
		n := metadb.Node{ID: f.nodeID(), Address: "127.0.0.1:7001", Capacity: 1000, Used: 10, LastSeen: at(0), Created: at(0)}
		wantErr(t, "UpsertNode(new)", f.db.UpsertNode(f.ctx, n), nil)
		got, err := f.db.NodeByID(f.ctx, n.ID)
		wantErr(t, "NodeByID", err, nil)
		same(t, "NodeByID", got, n, normNode)

		update := metadb.Node{ID: n.ID, Address: "127.0.0.1:7002", Capacity: 2000, Used: 20, LastSeen: at(time.Minute), Created: at(time.Minute)}
		wantErr(t, "UpsertNode(update)", f.db.UpsertNode(f.ctx, update), nil)
		got, err = f.db.NodeByID(f.ctx, n.ID)
		wantErr(t, "NodeByID", err, nil)
		want := update
		want.Created = n.Created
		same(t, "NodeByID after update", got, want, normNode)

		_, err = f.db.NodeByID(f.ctx, f.nodeID())
		wantErr(t, "NodeByID(unknown)", err, metadb.ErrNotFound)
		wantErr(t, "UpsertNode(zero ID)", f.db.UpsertNode(f.ctx, metadb.Node{Address: "x"}), errAny)
	}},
	{"SeenSince", func(t *testing.T, f *fixture) {
		ids := []identity.ID{f.nodeID(), f.nodeID(), f.nodeID(), f.nodeID()}
		seen := []time.Duration{3 * time.Minute, -time.Hour, 0, time.Minute}
		nodes := make([]metadb.Node, len(ids))
		// Register in reverse ID order.
		for i := len(ids) - 1; i >= 0; i-- {
			nodes[i] = metadb.Node{ID: ids[i], Address: "127.0.0.1:1", Capacity: 1, LastSeen: at(seen[i]), Created: at(-2 * time.Hour)}
			wantErr(t, "UpsertNode", f.db.UpsertNode(f.ctx, nodes[i]), nil)
		}
		tests := []struct {
			since time.Time
			want  []metadb.Node
		}{
			{time.Time{}, nodes},
			{at(-time.Hour), nodes},
			{at(0), []metadb.Node{nodes[0], nodes[2], nodes[3]}},
			{at(time.Second), []metadb.Node{nodes[0], nodes[3]}},
			{at(3 * time.Minute), []metadb.Node{nodes[0]}},
			{at(time.Hour), nil},
		}
		for _, tc := range tests {
			got, err := f.db.Nodes(f.ctx, tc.since)
			wantErr(t, "Nodes", err, nil)
			sameList(t, "Nodes(since "+tc.since.String()+")", got, tc.want, normNode)
		}
	}},
}

var deletionTests = []test{
	{"Queue", func(t *testing.T, f *fixture) {
		nodes := f.nodes(3)
		a, b := nodes[0], nodes[2]
		p := func(s string) piece.ID { return piece.Sum([]byte(s)) }
		ds := []metadb.Deletion{
			{Node: a, Piece: p("a3"), Queued: at(3 * time.Second)},
			{Node: a, Piece: p("a1"), Queued: at(1 * time.Second)},
			{Node: b, Piece: p("b1"), Queued: at(1 * time.Second)},
			{Node: a, Piece: p("a2"), Queued: at(2 * time.Second), Attempts: 1},
		}
		wantErr(t, "QueueDeletions", f.db.QueueDeletions(f.ctx, ds), nil)
		wantErr(t, "QueueDeletions(none)", f.db.QueueDeletions(f.ctx, nil), nil)

		withDeletions := func(want ...identity.ID) {
			t.Helper()
			got, err := f.db.NodesWithDeletions(f.ctx)
			wantErr(t, "NodesWithDeletions", err, nil)
			sameList(t, "NodesWithDeletions", got, want, identityNorm)
		}
		pendingA := func(limit int, want ...metadb.Deletion) {
			t.Helper()
			got, err := f.db.PendingDeletions(f.ctx, a, limit)
			wantErr(t, "PendingDeletions", err, nil)
			sameList(t, "PendingDeletions", got, want, normDeletion)
		}
		withDeletions(a, b)
		pendingA(10, ds[1], ds[3], ds[0])
		pendingA(2, ds[1], ds[3])
		got, err := f.db.PendingDeletions(f.ctx, nodes[1], 10)
		wantErr(t, "PendingDeletions(node without deletions)", err, nil)
		if len(got) != 0 {
			t.Errorf("PendingDeletions(node without deletions) = %d", len(got))
		}

		// Failures count attempts; unknown pieces are ignored.
		wantErr(t, "FailedDeletions", f.db.FailedDeletions(f.ctx, a, []piece.ID{ds[1].Piece, ds[3].Piece, p("unknown")}), nil)
		wantErr(t, "FailedDeletions", f.db.FailedDeletions(f.ctx, a, []piece.ID{ds[3].Piece}), nil)
		ds[1].Attempts, ds[3].Attempts = 1, 3
		pendingA(10, ds[1], ds[3], ds[0])
		// Queuing again keeps the queued deletion as it is.
		again := ds[1]
		again.Queued, again.Attempts = at(time.Hour), 0
		wantErr(t, "QueueDeletions(again)", f.db.QueueDeletions(f.ctx, []metadb.Deletion{again}), nil)
		pendingA(10, ds[1], ds[3], ds[0])

		// Done removes; a node's other deletions and other nodes stay.
		wantErr(t, "DoneDeletions", f.db.DoneDeletions(f.ctx, a, []piece.ID{ds[1].Piece, ds[0].Piece, p("unknown")}), nil)
		wantErr(t, "DoneDeletions(other node's piece)", f.db.DoneDeletions(f.ctx, a, []piece.ID{ds[2].Piece}), nil)
		pendingA(10, ds[3])
		withDeletions(a, b)
		wantErr(t, "DoneDeletions", f.db.DoneDeletions(f.ctx, a, []piece.ID{ds[3].Piece}), nil)
		withDeletions(b)
		wantErr(t, "DoneDeletions", f.db.DoneDeletions(f.ctx, b, []piece.ID{ds[2].Piece}), nil)
		withDeletions()
	}},
	{"UnknownNode", func(t *testing.T, f *fixture) {
		nodes := f.nodes(1)
		ds := []metadb.Deletion{
			{Node: nodes[0], Piece: piece.Sum([]byte("x")), Queued: at(0)},
			{Node: f.nodeID(), Piece: piece.Sum([]byte("y")), Queued: at(0)},
		}
		wantErr(t, "QueueDeletions(unknown node)", f.db.QueueDeletions(f.ctx, ds), metadb.ErrNotFound)
		if q := f.queued(); len(q) != 0 {
			t.Errorf("a refused QueueDeletions queued %d deletions", len(q))
		}
	}},
	{"ReferencedPieceNotQueued", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		nodes := f.nodes(4)
		u := f.committedObject(a.ID, nodes, "live", 100)
		var ds []metadb.Deletion
		for _, p := range u.all() {
			ds = append(ds, metadb.Deletion{Node: p.Node, Piece: p.ID, Queued: at(0)})
		}
		// The same piece on another node is not referenced there.
		other := metadb.Deletion{Node: nodes[1], Piece: u.pieces[0][0].ID, Queued: at(0)}
		wantErr(t, "QueueDeletions", f.db.QueueDeletions(f.ctx, append(ds, other)), nil)
		sameSet(t, "queued", f.queued(), map[string]bool{key(other.Node, other.Piece): true})
	}},
	{"Invalid", func(t *testing.T, f *fixture) {
		nodes := f.nodes(1)
		_, err := f.db.PendingDeletions(f.ctx, nodes[0], -1)
		wantErr(t, "PendingDeletions(negative limit)", err, errAny)
		_, err = f.db.StalePendingObjects(f.ctx, at(0), -1)
		wantErr(t, "StalePendingObjects(negative limit)", err, errAny)
		a, _ := f.account()
		_, err = f.db.Segments(f.ctx, a.ID, f.pendingObject(a.ID, at(0)).ID, -1, 10)
		wantErr(t, "Segments(negative from)", err, errAny)
	}},
}
