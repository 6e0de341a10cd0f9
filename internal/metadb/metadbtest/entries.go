package metadbtest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
)

var entryTests = []test{
	{"CreateAndGet", func(t *testing.T, f *fixture) {
		a, root := f.account()
		nodes := f.nodes(2)
		dir := f.folder(a.ID, root.ID)
		inline := f.file(a.ID, dir.ID)
		u := f.committedObject(a.ID, nodes, "obj", 100)
		file := f.file(a.ID, dir.ID, u.obj.ID)
		// Objects keep the order the entry gives them, not ID order.
		v := []upload{f.committedObject(a.ID, nodes, "v1", 10), f.committedObject(a.ID, nodes, "v2", 10), f.committedObject(a.ID, nodes, "v3", 10)}
		versions := f.file(a.ID, dir.ID, v[2].obj.ID, v[0].obj.ID, v[1].obj.ID)
		for _, want := range []metadb.Entry{dir, inline, file, versions} {
			got, err := f.db.Entry(f.ctx, a.ID, want.ID)
			wantErr(t, "Entry", err, nil)
			same(t, "Entry", got, want, normEntry)
		}
		got, err := f.db.Children(f.ctx, a.ID, dir.ID)
		wantErr(t, "Children", err, nil)
		sameList(t, "Children", got, []metadb.Entry{inline, file, versions}, normEntry)
	}},
	{"Invalid", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		u := f.committedObject(a.ID, f.nodes(1), "obj", 10)
		tests := []struct {
			name   string
			change func(e *metadb.Entry)
		}{
			{"zero ID", func(e *metadb.Entry) { e.ID = metadb.ID16{} }},
			{"unknown kind", func(e *metadb.Entry) { e.Kind = "symlink" }},
			{"empty name tag", func(e *metadb.Entry) { e.NameTag = nil }},
			{"folder with an object", func(e *metadb.Entry) { e.Objects = []metadb.ID16{u.obj.ID} }},
			{"zero object ID", func(e *metadb.Entry) { e.Kind, e.Objects = metadb.KindFile, []metadb.ID16{{}} }},
			{"entry of another account", func(e *metadb.Entry) { e.Account = b.ID }},
		}
		for _, tc := range tests {
			before := f.snapshot(a)
			e := f.entry(a.ID, root.ID, metadb.KindFolder)
			tc.change(&e)
			wantErr(t, "Commit(put "+tc.name+")", f.commit(a.ID, []metadb.Entry{e}), errAny)
			f.unchanged(t, "Commit(put "+tc.name+")", a, before)
		}
		before := f.snapshot(a)
		wantErr(t, "Commit(delete zero ID)", f.commit(a.ID, nil, metadb.ID16{}), errAny)
		wantErr(t, "Commit(nothing)", f.commit(a.ID, nil), errAny)
		f.unchanged(t, "invalid commits", a, before)
	}},
	{"ScopedToAccount", func(t *testing.T, f *fixture) {
		a, rootA := f.account()
		b, rootB := f.account()
		dir := f.folder(a.ID, rootA.ID)
		child := f.folder(a.ID, dir.ID)
		_, err := f.db.Entry(f.ctx, b.ID, dir.ID)
		wantErr(t, "Entry(other account)", err, metadb.ErrNotFound)
		_, err = f.db.Entry(f.ctx, b.ID, rootA.ID)
		wantErr(t, "Entry(other account's root)", err, metadb.ErrNotFound)
		_, err = f.db.Children(f.ctx, b.ID, dir.ID)
		wantErr(t, "Children(other account)", err, metadb.ErrNotFound)

		beforeA, beforeB := f.snapshot(a), f.snapshot(b)
		wantErr(t, "Commit(b deletes a's entry)", f.commit(b.ID, nil, child.ID), metadb.ErrNotFound)
		// An entry of account b under a folder of account a: the parent
		// is not b's, so it does not exist for b.
		wantErr(t, "Commit(b puts under a's folder)",
			f.commit(b.ID, []metadb.Entry{f.entry(b.ID, dir.ID, metadb.KindFolder)}), metadb.ErrNotFound)
		// An entry of b with the ID of one of a's: the ID is taken.
		steal := f.entry(b.ID, rootB.ID, metadb.KindFolder)
		steal.ID = child.ID
		wantErr(t, "Commit(b puts a's entry ID)", f.commit(b.ID, []metadb.Entry{steal}), metadb.ErrExists)
		// Nor may b move a's entry, or rename a's root.
		move := child
		move.Account, move.Parent = b.ID, rootB.ID
		wantErr(t, "Commit(b moves a's entry)", f.commit(b.ID, []metadb.Entry{move}), metadb.ErrExists)
		f.unchanged(t, "b's refused commits (a)", a, beforeA)
		f.unchanged(t, "b's refused commits (b)", b, beforeB)
	}},
	{"ChildrenOrderedByID", func(t *testing.T, f *fixture) {
		a, root := f.account()
		nodes := f.nodes(2)
		dir := f.folder(a.ID, root.ID)
		other := f.folder(a.ID, root.ID)
		// Entries with 0 to 3 objects, created in one commit in decreasing
		// ID order, so that neither insertion order nor object count
		// decide the listing.
		want := make([]metadb.Entry, 7)
		for i := range want {
			kind := metadb.KindFolder
			var objs []metadb.ID16
			if i%2 == 1 {
				kind = metadb.KindFile
				for j := range i % 4 {
					objs = append(objs, f.committedObject(a.ID, nodes, "child", int64(10+j)).obj.ID)
				}
			}
			want[i] = f.entry(a.ID, dir.ID, kind, objs...)
		}
		puts := make([]metadb.Entry, 0, len(want))
		for i := len(want) - 1; i >= 0; i-- {
			puts = append(puts, want[i])
		}
		f.mustCommit(a.ID, puts)
		f.folder(a.ID, other.ID)
		f.folder(a.ID, want[0].ID) // a grandchild is not a child
		got, err := f.db.Children(f.ctx, a.ID, dir.ID)
		wantErr(t, "Children", err, nil)
		sameList(t, "Children", got, want, normEntry)

		rootChildren, err := f.db.Children(f.ctx, a.ID, root.ID)
		wantErr(t, "Children(root)", err, nil)
		sameList(t, "Children(root)", rootChildren, []metadb.Entry{dir, other}, normEntry)

		file := f.file(a.ID, root.ID)
		got, err = f.db.Children(f.ctx, a.ID, file.ID)
		wantErr(t, "Children(file)", err, nil)
		if len(got) != 0 {
			t.Errorf("Children(file) = %d entries, want 0", len(got))
		}
		_, err = f.db.Children(f.ctx, a.ID, f.id())
		wantErr(t, "Children(unknown)", err, metadb.ErrNotFound)
	}},
	{"ChildrenAt", func(t *testing.T, f *fixture) {
		// The listing and the seq come from one snapshot: after each
		// commit, the seq is that commit's and the listing has its entry,
		// even with commits running concurrently.
		a, root := f.account()
		dir := f.folder(a.ID, root.ID)
		got, seq, err := f.db.ChildrenAt(f.ctx, a.ID, dir.ID)
		wantErr(t, "ChildrenAt", err, nil)
		head, _, err := f.db.JournalHead(f.ctx, a.ID)
		wantErr(t, "JournalHead", err, nil)
		if len(got) != 0 || seq != head {
			t.Fatalf("ChildrenAt(empty) = %d entries at seq %d, want 0 at %d", len(got), seq, head)
		}
		const n = 20
		var wg sync.WaitGroup
		wg.Go(func() {
			for range n {
				f.folder(a.ID, dir.ID)
			}
		})
		var bad []string
		for range 4 * n {
			es, seq, err := f.db.ChildrenAt(f.ctx, a.ID, dir.ID)
			if err != nil {
				bad = append(bad, err.Error())
				break
			}
			// Each child is one commit after head: seq head+k holds
			// exactly k children.
			if int(seq)-int(head) != len(es) {
				bad = append(bad, fmt.Sprintf("%d entries at seq %d", len(es), seq))
			}
		}
		wg.Wait()
		if len(bad) > 0 {
			t.Errorf("ChildrenAt is not one snapshot: %v", bad)
		}
		_, _, err = f.db.ChildrenAt(f.ctx, a.ID, f.id())
		wantErr(t, "ChildrenAt(unknown)", err, metadb.ErrNotFound)
	}},
	{"UniqueNameTag", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		dir := f.folder(a.ID, root.ID)
		first := f.folder(a.ID, dir.ID)

		before := f.snapshot(a)
		dup := f.entry(a.ID, dir.ID, metadb.KindFile)
		dup.NameTag = first.NameTag
		wantErr(t, "Commit(same name tag)", f.commit(a.ID, []metadb.Entry{dup}), metadb.ErrExists)
		twins := []metadb.Entry{f.entry(a.ID, root.ID, metadb.KindFile), f.entry(a.ID, root.ID, metadb.KindFile)}
		twins[1].NameTag = twins[0].NameTag
		wantErr(t, "Commit(two puts, same name tag)", f.commit(a.ID, twins), metadb.ErrExists)
		f.unchanged(t, "refused name clashes", a, before)

		elsewhere := dup
		elsewhere.Parent = root.ID
		f.mustCreate(elsewhere)
		otherAccount := f.entry(b.ID, rootB.ID, metadb.KindFile)
		otherAccount.NameTag = first.NameTag
		f.mustCreate(otherAccount)

		// Once the first is deleted, its name is free again.
		f.mustCommit(a.ID, nil, first.ID)
		dup.ID = f.id()
		f.mustCreate(dup)
	}},
	{"ParentMissing", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		before := f.snapshot(a)
		wantErr(t, "Commit(unknown parent)",
			f.commit(a.ID, []metadb.Entry{f.entry(a.ID, f.id(), metadb.KindFolder)}), metadb.ErrNotFound)
		f.unchanged(t, "Commit(unknown parent)", a, before)
		unknown := f.id()
		wantErr(t, "Commit(unknown account)",
			f.db.Commit(f.ctx, unknown, f.record(unknown, 2), [32]byte{}, []metadb.Entry{f.entry(unknown, a.RootEntry, metadb.KindFolder)}, nil),
			metadb.ErrNotFound)
	}},
	{"ParentIsFile", func(t *testing.T, f *fixture) {
		a, root := f.account()
		file := f.file(a.ID, root.ID)
		before := f.snapshot(a)
		wantErr(t, "Commit(under a file)",
			f.commit(a.ID, []metadb.Entry{f.entry(a.ID, file.ID, metadb.KindFolder)}), metadb.ErrConflict)
		f.unchanged(t, "Commit(under a file)", a, before)
	}},
	{"TopLevelFolders", func(t *testing.T, f *fixture) {
		a, root := f.account()
		trash := f.mustEntry(a.ID, a.TrashEntry)
		dir := f.folder(a.ID, root.ID)
		before := f.snapshot(a)
		newTop := f.entry(a.ID, metadb.ID16{}, metadb.KindFolder)
		wantErr(t, "Commit(new parentless folder)", f.commit(a.ID, []metadb.Entry{newTop}), metadb.ErrConflict)
		trashInRoot := trash
		trashInRoot.Parent = root.ID
		wantErr(t, "Commit(trash into root)", f.commit(a.ID, []metadb.Entry{trashInRoot}), metadb.ErrConflict)
		dirToTop := dir
		dirToTop.Parent = metadb.ID16{}
		wantErr(t, "Commit(folder to top level)", f.commit(a.ID, []metadb.Entry{dirToTop}), metadb.ErrConflict)
		wantErr(t, "Commit(delete root)", f.commit(a.ID, nil, root.ID), metadb.ErrConflict)
		wantErr(t, "Commit(delete trash)", f.commit(a.ID, nil, a.TrashEntry), metadb.ErrConflict)
		f.unchanged(t, "refused top-level changes", a, before)

		// Their blobs may be replaced, keeping them parentless.
		root.Meta = f.bytesFor("new root meta")
		root.Updated = at(time.Hour)
		f.mustCommit(a.ID, []metadb.Entry{root})
		same(t, "root after an update", f.mustEntry(a.ID, root.ID), root, normEntry)
	}},
	{"FileObjects", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		nodes := f.nodes(3)
		pending := f.pendingObject(a.ID, at(0))
		foreign := f.committedObject(b.ID, nodes, "b", 50)
		mine := f.committedObject(a.ID, nodes, "a", 50)
		other := f.committedObject(a.ID, nodes, "other", 50)
		tests := []struct {
			name    string
			objects []metadb.ID16
			want    error
		}{
			{"pending object", []metadb.ID16{pending.ID}, metadb.ErrConflict},
			{"other account's object", []metadb.ID16{foreign.obj.ID}, metadb.ErrConflict},
			{"unknown object", []metadb.ID16{f.id()}, metadb.ErrConflict},
			{"an object twice", []metadb.ID16{other.obj.ID, other.obj.ID}, metadb.ErrConflict},
			{"committed object", []metadb.ID16{mine.obj.ID}, nil},
			{"object already referenced", []metadb.ID16{other.obj.ID, mine.obj.ID}, metadb.ErrConflict},
		}
		for _, tc := range tests {
			before := f.snapshot(a)
			e := f.entry(a.ID, root.ID, metadb.KindFile, tc.objects...)
			wantErr(t, "Commit(file with "+tc.name+")", f.commit(a.ID, []metadb.Entry{e}), tc.want)
			if tc.want != nil {
				f.unchanged(t, "Commit(file with "+tc.name+")", a, before)
			}
		}
		// One object for two new files of one commit.
		before := f.snapshot(a)
		two := []metadb.Entry{f.entry(a.ID, root.ID, metadb.KindFile, other.obj.ID), f.entry(a.ID, root.ID, metadb.KindFile, other.obj.ID)}
		wantErr(t, "Commit(two files, one object)", f.commit(a.ID, two), metadb.ErrConflict)
		f.unchanged(t, "Commit(two files, one object)", a, before)
	}},
	{"DeleteFileFreesObject", func(t *testing.T, f *fixture) {
		a, root := f.account()
		nodes := f.nodes(3)
		u := f.committedObject(a.ID, nodes, "file", 1000, 999)
		old := f.committedObject(a.ID, nodes, "old version", 10)
		keep := f.committedObject(a.ID, nodes, "keep", 10)
		file := f.file(a.ID, root.ID, u.obj.ID, old.obj.ID)
		keepFile := f.file(a.ID, root.ID, keep.obj.ID)
		inline := f.file(a.ID, root.ID)

		f.mustCommit(a.ID, nil, inline.ID)
		if q := f.queued(); len(q) != 0 {
			t.Errorf("deleting an inline file queued %d deletions", len(q))
		}
		f.mustCommit(a.ID, nil, file.ID)
		_, err := f.db.Entry(f.ctx, a.ID, file.ID)
		wantErr(t, "Entry(deleted file)", err, metadb.ErrNotFound)
		for _, o := range []upload{u, old} {
			_, err = f.db.Object(f.ctx, a.ID, o.obj.ID)
			wantErr(t, "Object(of deleted file)", err, metadb.ErrNotFound)
			_, err = f.db.Segments(f.ctx, a.ID, o.obj.ID, 0, 10)
			wantErr(t, "Segments(of deleted file)", err, metadb.ErrNotFound)
			_, err = f.db.Pieces(f.ctx, o.obj.ID, 0)
			wantErr(t, "Pieces(of deleted file)", err, metadb.ErrNotFound)
		}
		// One deletion per stored piece, on its node.
		sameSet(t, "queued deletions", f.queued(), union(keys(u.all()), keys(old.all())))
		for _, n := range nodes {
			for _, d := range f.pending(n) {
				if d.Attempts != 0 {
					t.Errorf("new deletion has %d attempts", d.Attempts)
				}
			}
		}
		// The other file is untouched.
		same(t, "other file", f.mustEntry(a.ID, keepFile.ID), keepFile, normEntry)
		ps, err := f.db.Pieces(f.ctx, keep.obj.ID, 0)
		wantErr(t, "Pieces(other file)", err, nil)
		sameList(t, "Pieces(other file)", ps, keep.pieces[0], identityNorm)
		wantErr(t, "Commit(delete the deleted file)", f.commit(a.ID, nil, file.ID), metadb.ErrNotFound)
	}},
	{"DeleteFileKeepsSharedPieces", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		nodes := f.nodes(4)
		// Segment 0 of both objects has identical pieces on the same
		// nodes (same seed); segment 1 differs.
		one := f.committedObject(a.ID, nodes, "one", 100, 100)
		two := f.committedObject(b.ID, nodes, "two", 100, 100)
		twoShared := f.pendingObject(b.ID, at(0))
		shared := segment(twoShared.ID, 0, 2, 4, 100, "one/0")
		sharedPieces := piecesOf(shared, nodes)
		f.putSegment(b.ID, shared)
		f.commitSegment(b.ID, shared, sharedPieces)
		wantErr(t, "CommitObject", f.db.CommitObject(f.ctx, b.ID, twoShared.ID, 1, 100), nil)

		fileOne := f.file(a.ID, root.ID, one.obj.ID)
		fileShared := f.file(b.ID, rootB.ID, twoShared.ID)
		f.file(b.ID, rootB.ID, two.obj.ID)

		f.mustCommit(a.ID, nil, fileOne.ID)
		// Only segment 1 of "one" is gone from every object.
		sameSet(t, "queued after deleting one", f.queued(), keys(one.pieces[1]))
		f.mustCommit(b.ID, nil, fileShared.ID)
		sameSet(t, "queued after deleting the last reference", f.queued(), union(keys(one.pieces[1]), keys(sharedPieces)))
	}},
}
