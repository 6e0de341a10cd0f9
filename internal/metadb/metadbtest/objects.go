package metadbtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/piece"
)

var objectTests = []test{
	{"CreateAndGet", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		o := f.pendingObject(a.ID, at(time.Second))
		got, err := f.db.Object(f.ctx, a.ID, o.ID)
		wantErr(t, "Object", err, nil)
		same(t, "Object", got, o, normObject)
		_, err = f.db.Object(f.ctx, b.ID, o.ID)
		wantErr(t, "Object(other account)", err, metadb.ErrNotFound)
		_, err = f.db.Object(f.ctx, a.ID, f.id())
		wantErr(t, "Object(unknown)", err, metadb.ErrNotFound)
		wantErr(t, "CreateObject(same ID)", f.db.CreateObject(f.ctx, o), metadb.ErrExists)
		wantErr(t, "CreateObject(unknown account)",
			f.db.CreateObject(f.ctx, metadb.Object{ID: f.id(), Account: f.id(), State: metadb.ObjectPending, Created: at(0)}), metadb.ErrNotFound)
	}},
	{"PutSegment", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		nodes := f.nodes(4)
		o := f.pendingObject(a.ID, at(0))
		s := segment(o.ID, 0, 2, 4, 1000, "first")
		wantErr(t, "PutSegment(other account)", f.db.PutSegment(f.ctx, b.ID, s), metadb.ErrNotFound)
		wantErr(t, "PutSegment(unknown object)", f.db.PutSegment(f.ctx, a.ID, segment(f.id(), 0, 2, 4, 10, "x")), metadb.ErrNotFound)
		f.putSegment(a.ID, s)
		// Re-declaring an uncommitted segment replaces it.
		s = segment(o.ID, 0, 3, 5, 999, "second")
		f.putSegment(a.ID, s)
		got, err := f.db.Segments(f.ctx, a.ID, o.ID, 0, 10)
		wantErr(t, "Segments", err, nil)
		sameList(t, "Segments after re-declaring", got, []metadb.Segment{s}, identityNorm)

		f.commitSegment(a.ID, s, piecesOf(s, nodes))
		wantErr(t, "PutSegment(committed segment)", f.db.PutSegment(f.ctx, a.ID, segment(o.ID, 0, 2, 4, 1000, "third")), metadb.ErrConflict)
		s.Committed = true
		got, err = f.db.Segments(f.ctx, a.ID, o.ID, 0, 10)
		wantErr(t, "Segments", err, nil)
		sameList(t, "Segments after a refused re-declaration", got, []metadb.Segment{s}, identityNorm)

		wantErr(t, "CommitObject", f.db.CommitObject(f.ctx, a.ID, o.ID, 1, 999), nil)
		wantErr(t, "PutSegment(committed object)", f.db.PutSegment(f.ctx, a.ID, segment(o.ID, 1, 2, 4, 1000, "fourth")), metadb.ErrConflict)
	}},
	{"PutSegmentInvalid", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		o := f.pendingObject(a.ID, at(0))
		tests := []struct {
			name   string
			change func(s *metadb.Segment)
		}{
			{"negative index", func(s *metadb.Segment) { s.Index = -1 }},
			{"k > n", func(s *metadb.Segment) { s.K = s.N + 1 }},
			{"k = 0", func(s *metadb.Segment) { s.K = 0 }},
			{"hashes shorter than n", func(s *metadb.Segment) { s.Hashes = s.Hashes[:s.N-1] }},
			{"hashes longer than n", func(s *metadb.Segment) { s.Hashes = append(s.Hashes, piece.ID{}) }},
			{"zero size", func(s *metadb.Segment) { s.Size = 0 }},
			{"wrong piece size", func(s *metadb.Segment) { s.PieceSize++ }},
		}
		for _, tc := range tests {
			s := segment(o.ID, 0, 2, 4, 1000, tc.name)
			tc.change(&s)
			wantErr(t, "PutSegment("+tc.name+")", f.db.PutSegment(f.ctx, a.ID, s), errAny)
		}
		_, err := f.db.Pieces(f.ctx, o.ID, 0)
		wantErr(t, "Pieces(segment never declared)", err, metadb.ErrNotFound)
	}},
	{"CommitSegment", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		nodes := f.nodes(4)
		o := f.pendingObject(a.ID, at(0))
		s := segment(o.ID, 0, 2, 4, 1001, "seg")
		ps := piecesOf(s, nodes)
		wantErr(t, "CommitSegment(undeclared)", f.db.CommitSegment(f.ctx, a.ID, o.ID, 0, ps), metadb.ErrNotFound)
		f.putSegment(a.ID, s)
		_, err := f.db.Pieces(f.ctx, o.ID, 0)
		wantErr(t, "Pieces(declared, uncommitted)", err, nil)

		bad := func(name string, change func(ps []metadb.Piece) []metadb.Piece, want error) {
			t.Helper()
			c := append([]metadb.Piece(nil), ps...)
			wantErr(t, "CommitSegment("+name+")", f.db.CommitSegment(f.ctx, a.ID, o.ID, 0, change(c)), want)
		}
		bad("wrong piece ID", func(ps []metadb.Piece) []metadb.Piece { ps[1].ID = ps[2].ID; return ps }, metadb.ErrConflict)
		bad("wrong size", func(ps []metadb.Piece) []metadb.Piece { ps[3].Size--; return ps }, metadb.ErrConflict)
		bad("fewer than k", func(ps []metadb.Piece) []metadb.Piece { return ps[:1] }, metadb.ErrConflict)
		bad("index out of range", func(ps []metadb.Piece) []metadb.Piece { ps[0].Index = 4; return ps }, metadb.ErrConflict)
		bad("negative index", func(ps []metadb.Piece) []metadb.Piece { ps[0].Index = -1; return ps }, metadb.ErrConflict)
		bad("repeated index", func(ps []metadb.Piece) []metadb.Piece { return append(ps, ps[0]) }, metadb.ErrConflict)
		bad("unknown node", func(ps []metadb.Piece) []metadb.Piece { ps[2].Node = f.nodeID(); return ps }, metadb.ErrNotFound)
		wantErr(t, "CommitSegment(other account)", f.db.CommitSegment(f.ctx, b.ID, o.ID, 0, ps), metadb.ErrNotFound)
		wantErr(t, "CommitSegment(wrong index)", f.db.CommitSegment(f.ctx, a.ID, o.ID, 1, ps), metadb.ErrNotFound)
		segs, err := f.db.Segments(f.ctx, a.ID, o.ID, 0, 1)
		wantErr(t, "Segments", err, nil)
		if len(segs) != 1 || segs[0].Committed {
			t.Fatalf("a refused commit changed the segment: %+v", segs)
		}
		got, err := f.db.Pieces(f.ctx, o.ID, 0)
		wantErr(t, "Pieces", err, nil)
		if len(got) != 0 {
			t.Errorf("a refused commit stored %d pieces", len(got))
		}

		// Three of four pieces, given out of order: stored, ordered by index.
		f.commitSegment(a.ID, s, []metadb.Piece{ps[3], ps[0], ps[2]})
		got, err = f.db.Pieces(f.ctx, o.ID, 0)
		wantErr(t, "Pieces", err, nil)
		sameList(t, "Pieces", got, []metadb.Piece{ps[0], ps[2], ps[3]}, identityNorm)
		segs, err = f.db.Segments(f.ctx, a.ID, o.ID, 0, 1)
		wantErr(t, "Segments", err, nil)
		s.Committed = true
		sameList(t, "Segments after commit", segs, []metadb.Segment{s}, identityNorm)
	}},
	{"CommitSegmentReplacesPieces", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		nodes := f.nodes(6)
		o := f.pendingObject(a.ID, at(0))
		s := segment(o.ID, 0, 2, 4, 1000, "seg")
		first := piecesOf(s, nodes[:4])
		f.putSegment(a.ID, s)
		f.commitSegment(a.ID, s, first)
		// Pieces 2 and 3 move to other nodes; 0 and 1 stay.
		second := piecesOf(s, nodes[:4])
		second[2].Node, second[3].Node = nodes[4], nodes[5]
		second[3].Receipt = []byte("a newer receipt")
		f.commitSegment(a.ID, s, second)
		got, err := f.db.Pieces(f.ctx, o.ID, 0)
		wantErr(t, "Pieces", err, nil)
		sameList(t, "Pieces after re-commit", got, second, identityNorm)
		sameSet(t, "queued after re-commit", f.queued(), keys(first[2:]))

		// Committing an object whose segments were replaced still works.
		wantErr(t, "CommitObject", f.db.CommitObject(f.ctx, a.ID, o.ID, 1, 1000), nil)
		wantErr(t, "CommitSegment(committed object)", f.db.CommitSegment(f.ctx, a.ID, o.ID, 0, second), metadb.ErrConflict)
	}},
	{"CommitSegmentCancelsQueuedDeletion", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		nodes := f.nodes(4)
		old := f.committedObject(a.ID, nodes, "same", 500)
		wantErr(t, "DeleteObject", f.db.DeleteObject(f.ctx, a.ID, old.obj.ID), nil)
		sameSet(t, "queued", f.queued(), keys(old.all()))
		// The same content is uploaded again to the same nodes before the
		// deletions were delivered: they must not delete it.
		o := f.pendingObject(a.ID, at(0))
		s := segment(o.ID, 0, 2, 4, 500, "same/0")
		ps := piecesOf(s, nodes)
		f.putSegment(a.ID, s)
		f.commitSegment(a.ID, s, ps[:3])
		sameSet(t, "queued after re-upload", f.queued(), keys(ps[3:]))
	}},
	{"CommitObject", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		nodes := f.nodes(4)
		o := f.pendingObject(a.ID, at(0))
		segs := []metadb.Segment{
			segment(o.ID, 0, 2, 4, 1000, "s0"),
			segment(o.ID, 1, 2, 4, 1000, "s1"),
			segment(o.ID, 2, 2, 4, 17, "s2"),
		}
		const size = 2017
		f.putSegment(a.ID, segs[0])
		f.commitSegment(a.ID, segs[0], piecesOf(segs[0], nodes))
		f.putSegment(a.ID, segs[2])
		f.commitSegment(a.ID, segs[2], piecesOf(segs[2], nodes))
		wantErr(t, "CommitObject(segment 1 missing)", f.db.CommitObject(f.ctx, a.ID, o.ID, 3, size), metadb.ErrConflict)
		f.putSegment(a.ID, segs[1])
		wantErr(t, "CommitObject(segment 1 uncommitted)", f.db.CommitObject(f.ctx, a.ID, o.ID, 3, size), metadb.ErrConflict)
		f.commitSegment(a.ID, segs[1], piecesOf(segs[1], nodes))
		wantErr(t, "CommitObject(wrong size)", f.db.CommitObject(f.ctx, a.ID, o.ID, 3, size+1), metadb.ErrConflict)
		wantErr(t, "CommitObject(fewer segments than declared)", f.db.CommitObject(f.ctx, a.ID, o.ID, 2, 2000), metadb.ErrConflict)
		wantErr(t, "CommitObject(more segments than declared)", f.db.CommitObject(f.ctx, a.ID, o.ID, 4, size), metadb.ErrConflict)
		wantErr(t, "CommitObject(other account)", f.db.CommitObject(f.ctx, b.ID, o.ID, 3, size), metadb.ErrNotFound)
		wantErr(t, "CommitObject(unknown)", f.db.CommitObject(f.ctx, a.ID, f.id(), 3, size), metadb.ErrNotFound)
		got, err := f.db.Object(f.ctx, a.ID, o.ID)
		wantErr(t, "Object", err, nil)
		same(t, "Object after refused commits", got, o, normObject)

		wantErr(t, "CommitObject", f.db.CommitObject(f.ctx, a.ID, o.ID, 3, size), nil)
		got, err = f.db.Object(f.ctx, a.ID, o.ID)
		wantErr(t, "Object", err, nil)
		o.State, o.Size, o.Segments = metadb.ObjectCommitted, size, 3
		same(t, "Object after commit", got, o, normObject)
		wantErr(t, "CommitObject(again)", f.db.CommitObject(f.ctx, a.ID, o.ID, 3, size), metadb.ErrConflict)

		empty := f.pendingObject(a.ID, at(0))
		wantErr(t, "CommitObject(no segments)", f.db.CommitObject(f.ctx, a.ID, empty.ID, 1, 10), metadb.ErrConflict)
	}},
	{"SegmentsPaging", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		nodes := f.nodes(4)
		u := f.committedObject(a.ID, nodes, "paged", 100, 200, 300, 400, 5)
		for i := range u.segs {
			u.segs[i].Committed = true
		}
		tests := []struct {
			from, count int
			want        []metadb.Segment
		}{
			{0, 2, u.segs[0:2]},
			{2, 2, u.segs[2:4]},
			{4, 2, u.segs[4:5]},
			{5, 2, nil},
			{1, 100, u.segs[1:]},
			{0, 0, nil},
		}
		for _, tc := range tests {
			got, err := f.db.Segments(f.ctx, a.ID, u.obj.ID, tc.from, tc.count)
			wantErr(t, "Segments", err, nil)
			sameList(t, "Segments", got, tc.want, identityNorm)
		}
		_, err := f.db.Segments(f.ctx, b.ID, u.obj.ID, 0, 10)
		wantErr(t, "Segments(other account)", err, metadb.ErrNotFound)
		_, err = f.db.Segments(f.ctx, a.ID, f.id(), 0, 10)
		wantErr(t, "Segments(unknown object)", err, metadb.ErrNotFound)
		fresh := f.pendingObject(a.ID, at(0))
		got, err := f.db.Segments(f.ctx, a.ID, fresh.ID, 0, 10)
		wantErr(t, "Segments(no segments yet)", err, nil)
		if len(got) != 0 {
			t.Errorf("Segments of a new object = %d, want 0", len(got))
		}
		for i := range u.segs {
			ps, err := f.db.Pieces(f.ctx, u.obj.ID, i)
			wantErr(t, "Pieces", err, nil)
			sameList(t, "Pieces", ps, u.pieces[i], identityNorm)
		}
		_, err = f.db.Pieces(f.ctx, u.obj.ID, len(u.segs))
		wantErr(t, "Pieces(segment past the end)", err, metadb.ErrNotFound)
	}},
	{"CommittedSegments", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		nodes := f.nodes(4)
		o := f.pendingObject(a.ID, at(0))
		committed := func(want ...int) {
			t.Helper()
			got, err := f.db.CommittedSegments(f.ctx, a.ID, o.ID)
			wantErr(t, "CommittedSegments", err, nil)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("CommittedSegments = %v, want %v", got, want)
			}
		}
		committed()
		segs := make([]metadb.Segment, 4)
		for i := range segs {
			segs[i] = segment(o.ID, i, 2, 4, 100, fmt.Sprintf("resumable/%d", i))
			f.putSegment(a.ID, segs[i])
		}
		committed()
		// Committed out of order, as parallel uploads finish; 1 stays
		// declared only.
		for _, i := range []int{3, 0, 2} {
			f.commitSegment(a.ID, segs[i], piecesOf(segs[i], nodes))
		}
		committed(0, 2, 3)
		f.commitSegment(a.ID, segs[1], piecesOf(segs[1], nodes))
		wantErr(t, "CommitObject", f.db.CommitObject(f.ctx, a.ID, o.ID, 4, 400), nil)
		committed(0, 1, 2, 3)
		_, err := f.db.CommittedSegments(f.ctx, b.ID, o.ID)
		wantErr(t, "CommittedSegments(other account)", err, metadb.ErrNotFound)
		_, err = f.db.CommittedSegments(f.ctx, a.ID, f.id())
		wantErr(t, "CommittedSegments(unknown object)", err, metadb.ErrNotFound)
	}},
	{"DeleteObject", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		nodes := f.nodes(4)
		referenced := f.committedObject(a.ID, nodes, "ref", 100)
		f.file(a.ID, root.ID, referenced.obj.ID)
		wantErr(t, "DeleteObject(referenced)", f.db.DeleteObject(f.ctx, a.ID, referenced.obj.ID), metadb.ErrConflict)
		if q := f.queued(); len(q) != 0 {
			t.Errorf("a refused DeleteObject queued %d deletions", len(q))
		}

		// An abandoned upload: one committed segment, one declared.
		o := f.pendingObject(a.ID, at(0))
		s0 := segment(o.ID, 0, 2, 4, 100, "abandoned0")
		s1 := segment(o.ID, 1, 2, 4, 100, "abandoned1")
		ps := piecesOf(s0, nodes)
		f.putSegment(a.ID, s0)
		f.commitSegment(a.ID, s0, ps)
		f.putSegment(a.ID, s1)
		wantErr(t, "DeleteObject(other account)", f.db.DeleteObject(f.ctx, b.ID, o.ID), metadb.ErrNotFound)
		wantErr(t, "DeleteObject(unknown)", f.db.DeleteObject(f.ctx, a.ID, f.id()), metadb.ErrNotFound)
		wantErr(t, "DeleteObject(pending)", f.db.DeleteObject(f.ctx, a.ID, o.ID), nil)
		_, err := f.db.Object(f.ctx, a.ID, o.ID)
		wantErr(t, "Object(deleted)", err, metadb.ErrNotFound)
		_, err = f.db.Pieces(f.ctx, o.ID, 0)
		wantErr(t, "Pieces(deleted)", err, metadb.ErrNotFound)
		sameSet(t, "queued", f.queued(), keys(ps))
		wantErr(t, "DeleteObject(deleted)", f.db.DeleteObject(f.ctx, a.ID, o.ID), metadb.ErrNotFound)

		unreferenced := f.committedObject(a.ID, nodes, "unref", 100)
		wantErr(t, "DeleteObject(committed, unreferenced)", f.db.DeleteObject(f.ctx, a.ID, unreferenced.obj.ID), nil)
		sameSet(t, "queued", f.queued(), union(keys(ps), keys(unreferenced.all())))
	}},
	{"StalePendingObjects", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		nodes := f.nodes(4)
		f.committedObject(a.ID, nodes, "old but committed", 10) // created at(-1h)
		oldest := f.pendingObject(b.ID, at(-3*time.Hour))
		old := f.pendingObject(a.ID, at(-2*time.Hour))
		f.pendingObject(a.ID, at(-time.Hour))
		f.pendingObject(a.ID, at(time.Hour))
		got, err := f.db.StalePendingObjects(f.ctx, at(-90*time.Minute), 10)
		wantErr(t, "StalePendingObjects", err, nil)
		sameList(t, "StalePendingObjects", got, []metadb.Object{oldest, old}, normObject)
		got, err = f.db.StalePendingObjects(f.ctx, at(-90*time.Minute), 1)
		wantErr(t, "StalePendingObjects(limit 1)", err, nil)
		sameList(t, "StalePendingObjects(limit 1)", got, []metadb.Object{oldest}, normObject)
		got, err = f.db.StalePendingObjects(f.ctx, at(-3*time.Hour), 10)
		wantErr(t, "StalePendingObjects(cutoff = oldest)", err, nil)
		if len(got) != 0 {
			t.Errorf("StalePendingObjects(cutoff = oldest) = %d objects, want 0 (created before cutoff only)", len(got))
		}
		got, err = f.db.StalePendingObjects(f.ctx, at(2*time.Hour), 10)
		wantErr(t, "StalePendingObjects(all)", err, nil)
		if len(got) != 4 {
			t.Errorf("StalePendingObjects(all) = %d objects, want 4", len(got))
		}
	}},
}
