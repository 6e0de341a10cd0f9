package metadbtest

import (
	"testing"

	"github.com/nuage-storage/nuage/internal/metadb"
)

var entryTests = []test{
	{"CreateAndGet", func(t *testing.T, f *fixture) {
		a, root := f.account()
		nodes := f.nodes(2)
		dir := f.folder(a.ID, root.ID)
		inline := f.file(a.ID, dir.ID, metadb.ID16{})
		u := f.committedObject(a.ID, nodes, "obj", 100)
		file := f.file(a.ID, dir.ID, u.obj.ID)
		for _, want := range []metadb.Entry{dir, inline, file} {
			got, err := f.db.Entry(f.ctx, a.ID, want.ID)
			wantErr(t, "Entry", err, nil)
			same(t, "Entry", got, want, normEntry)
		}
	}},
	{"Invalid", func(t *testing.T, f *fixture) {
		a, root := f.account()
		u := f.committedObject(a.ID, f.nodes(1), "obj", 10)
		tests := []struct {
			name   string
			change func(e *metadb.Entry)
		}{
			{"zero ID", func(e *metadb.Entry) { e.ID = metadb.ID16{} }},
			{"unknown kind", func(e *metadb.Entry) { e.Kind = "symlink" }},
			{"empty name tag", func(e *metadb.Entry) { e.NameTag = nil }},
			{"folder with an object", func(e *metadb.Entry) { e.Object = u.obj.ID }},
		}
		for _, tc := range tests {
			e := f.entry(a.ID, root.ID, metadb.KindFolder, metadb.ID16{})
			tc.change(&e)
			wantErr(t, "CreateEntry("+tc.name+")", f.db.CreateEntry(f.ctx, e), errAny)
		}
		children, err := f.db.Children(f.ctx, a.ID, root.ID)
		wantErr(t, "Children", err, nil)
		if len(children) != 0 {
			t.Errorf("invalid entries were stored: %+v", children)
		}
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
		wantErr(t, "DeleteEntry(other account)", f.db.DeleteEntry(f.ctx, b.ID, child.ID), metadb.ErrNotFound)
		_, err = f.db.Entry(f.ctx, a.ID, child.ID)
		wantErr(t, "Entry after a foreign delete", err, nil)
		// An entry of account b under a folder of account a: the parent
		// is not b's, so it does not exist for b.
		wantErr(t, "CreateEntry(under another account's folder)",
			f.db.CreateEntry(f.ctx, f.entry(b.ID, dir.ID, metadb.KindFolder, metadb.ID16{})), metadb.ErrNotFound)
		children, err := f.db.Children(f.ctx, b.ID, rootB.ID)
		wantErr(t, "Children(b root)", err, nil)
		if len(children) != 0 {
			t.Errorf("Children(b root) = %d entries, want 0", len(children))
		}
	}},
	{"ChildrenOrderedByID", func(t *testing.T, f *fixture) {
		a, root := f.account()
		dir := f.folder(a.ID, root.ID)
		other := f.folder(a.ID, root.ID)
		// Create in decreasing ID order, so insertion order is not ID order.
		want := make([]metadb.Entry, 5)
		for i := range want {
			kind := metadb.KindFolder
			if i%2 == 1 {
				kind = metadb.KindFile
			}
			want[i] = f.entry(a.ID, dir.ID, kind, metadb.ID16{})
		}
		for i := len(want) - 1; i >= 0; i-- {
			f.mustCreate(want[i])
		}
		f.folder(a.ID, other.ID)
		f.folder(a.ID, want[0].ID) // a grandchild is not a child
		got, err := f.db.Children(f.ctx, a.ID, dir.ID)
		wantErr(t, "Children", err, nil)
		sameList(t, "Children", got, want, normEntry)

		rootChildren, err := f.db.Children(f.ctx, a.ID, root.ID)
		wantErr(t, "Children(root)", err, nil)
		sameList(t, "Children(root)", rootChildren, []metadb.Entry{dir, other}, normEntry)

		file := f.file(a.ID, root.ID, metadb.ID16{})
		got, err = f.db.Children(f.ctx, a.ID, file.ID)
		wantErr(t, "Children(file)", err, nil)
		if len(got) != 0 {
			t.Errorf("Children(file) = %d entries, want 0", len(got))
		}
		_, err = f.db.Children(f.ctx, a.ID, f.id())
		wantErr(t, "Children(unknown)", err, metadb.ErrNotFound)
	}},
	{"UniqueNameTag", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		dir := f.folder(a.ID, root.ID)
		first := f.folder(a.ID, dir.ID)

		dup := f.entry(a.ID, dir.ID, metadb.KindFile, metadb.ID16{})
		dup.NameTag = first.NameTag
		wantErr(t, "CreateEntry(same name tag)", f.db.CreateEntry(f.ctx, dup), metadb.ErrExists)
		_, err := f.db.Entry(f.ctx, a.ID, dup.ID)
		wantErr(t, "Entry(rejected)", err, metadb.ErrNotFound)

		elsewhere := dup
		elsewhere.Parent = root.ID
		wantErr(t, "CreateEntry(same name tag, other folder)", f.db.CreateEntry(f.ctx, elsewhere), nil)
		otherAccount := f.entry(b.ID, rootB.ID, metadb.KindFile, metadb.ID16{})
		otherAccount.NameTag = first.NameTag
		wantErr(t, "CreateEntry(same name tag, other account)", f.db.CreateEntry(f.ctx, otherAccount), nil)

		// Once the first is deleted, its name is free again.
		wantErr(t, "DeleteEntry", f.db.DeleteEntry(f.ctx, a.ID, first.ID), nil)
		dup.ID = f.id()
		wantErr(t, "CreateEntry(name tag freed)", f.db.CreateEntry(f.ctx, dup), nil)
	}},
	{"DuplicateID", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		e := f.folder(a.ID, root.ID)
		again := f.entry(a.ID, root.ID, metadb.KindFolder, metadb.ID16{})
		again.ID = e.ID
		wantErr(t, "CreateEntry(same ID)", f.db.CreateEntry(f.ctx, again), metadb.ErrExists)
		foreign := f.entry(b.ID, rootB.ID, metadb.KindFolder, metadb.ID16{})
		foreign.ID = e.ID
		wantErr(t, "CreateEntry(same ID, other account)", f.db.CreateEntry(f.ctx, foreign), metadb.ErrExists)
		got, err := f.db.Entry(f.ctx, a.ID, e.ID)
		wantErr(t, "Entry", err, nil)
		same(t, "Entry after rejected duplicates", got, e, normEntry)
	}},
	{"ParentMissing", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		wantErr(t, "CreateEntry(unknown parent)",
			f.db.CreateEntry(f.ctx, f.entry(a.ID, f.id(), metadb.KindFolder, metadb.ID16{})), metadb.ErrNotFound)
		wantErr(t, "CreateEntry(zero parent)",
			f.db.CreateEntry(f.ctx, f.entry(a.ID, metadb.ID16{}, metadb.KindFolder, metadb.ID16{})), metadb.ErrNotFound)
		wantErr(t, "CreateEntry(unknown account)",
			f.db.CreateEntry(f.ctx, f.entry(f.id(), a.RootEntry, metadb.KindFolder, metadb.ID16{})), metadb.ErrNotFound)
	}},
	{"ParentIsFile", func(t *testing.T, f *fixture) {
		a, root := f.account()
		file := f.file(a.ID, root.ID, metadb.ID16{})
		wantErr(t, "CreateEntry(under a file)",
			f.db.CreateEntry(f.ctx, f.entry(a.ID, file.ID, metadb.KindFolder, metadb.ID16{})), metadb.ErrConflict)
	}},
	{"FileObject", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		nodes := f.nodes(3)
		pending := f.pendingObject(a.ID, at(0))
		foreign := f.committedObject(b.ID, nodes, "b", 50)
		mine := f.committedObject(a.ID, nodes, "a", 50)
		tests := []struct {
			name   string
			object metadb.ID16
			want   error
		}{
			{"pending object", pending.ID, metadb.ErrConflict},
			{"other account's object", foreign.obj.ID, metadb.ErrConflict},
			{"unknown object", f.id(), metadb.ErrConflict},
			{"committed object", mine.obj.ID, nil},
			{"object already referenced", mine.obj.ID, metadb.ErrConflict},
		}
		for _, tc := range tests {
			e := f.entry(a.ID, root.ID, metadb.KindFile, tc.object)
			wantErr(t, "CreateEntry("+tc.name+")", f.db.CreateEntry(f.ctx, e), tc.want)
		}
	}},
	{"DeleteFolder", func(t *testing.T, f *fixture) {
		a, root := f.account()
		dir := f.folder(a.ID, root.ID)
		child := f.file(a.ID, dir.ID, metadb.ID16{})
		wantErr(t, "DeleteEntry(non-empty folder)", f.db.DeleteEntry(f.ctx, a.ID, dir.ID), metadb.ErrConflict)
		_, err := f.db.Entry(f.ctx, a.ID, dir.ID)
		wantErr(t, "Entry(non-empty folder)", err, nil)
		wantErr(t, "DeleteEntry(child)", f.db.DeleteEntry(f.ctx, a.ID, child.ID), nil)
		wantErr(t, "DeleteEntry(empty folder)", f.db.DeleteEntry(f.ctx, a.ID, dir.ID), nil)
		_, err = f.db.Entry(f.ctx, a.ID, dir.ID)
		wantErr(t, "Entry(deleted)", err, metadb.ErrNotFound)
		wantErr(t, "DeleteEntry(deleted)", f.db.DeleteEntry(f.ctx, a.ID, dir.ID), metadb.ErrNotFound)
		wantErr(t, "DeleteEntry(root)", f.db.DeleteEntry(f.ctx, a.ID, root.ID), metadb.ErrConflict)
		_, err = f.db.Entry(f.ctx, a.ID, root.ID)
		wantErr(t, "Entry(root)", err, nil)
	}},
	{"DeleteFileFreesObject", func(t *testing.T, f *fixture) {
		a, root := f.account()
		nodes := f.nodes(3)
		u := f.committedObject(a.ID, nodes, "file", 1000, 999)
		keep := f.committedObject(a.ID, nodes, "keep", 10)
		file := f.file(a.ID, root.ID, u.obj.ID)
		keepFile := f.file(a.ID, root.ID, keep.obj.ID)
		inline := f.file(a.ID, root.ID, metadb.ID16{})

		wantErr(t, "DeleteEntry(inline file)", f.db.DeleteEntry(f.ctx, a.ID, inline.ID), nil)
		if q := f.queued(); len(q) != 0 {
			t.Errorf("deleting an inline file queued %d deletions", len(q))
		}
		wantErr(t, "DeleteEntry(file)", f.db.DeleteEntry(f.ctx, a.ID, file.ID), nil)
		_, err := f.db.Entry(f.ctx, a.ID, file.ID)
		wantErr(t, "Entry(deleted file)", err, metadb.ErrNotFound)
		_, err = f.db.Object(f.ctx, a.ID, u.obj.ID)
		wantErr(t, "Object(of deleted file)", err, metadb.ErrNotFound)
		_, err = f.db.Segments(f.ctx, a.ID, u.obj.ID, 0, 10)
		wantErr(t, "Segments(of deleted file)", err, metadb.ErrNotFound)
		_, err = f.db.Pieces(f.ctx, u.obj.ID, 0)
		wantErr(t, "Pieces(of deleted file)", err, metadb.ErrNotFound)
		// One deletion per stored piece, on its node.
		sameSet(t, "queued deletions", f.queued(), keys(u.all()))
		for _, n := range nodes {
			for _, d := range f.pending(n) {
				if d.Attempts != 0 {
					t.Errorf("new deletion has %d attempts", d.Attempts)
				}
			}
		}
		// The other file is untouched.
		_, err = f.db.Entry(f.ctx, a.ID, keepFile.ID)
		wantErr(t, "Entry(other file)", err, nil)
		ps, err := f.db.Pieces(f.ctx, keep.obj.ID, 0)
		wantErr(t, "Pieces(other file)", err, nil)
		sameList(t, "Pieces(other file)", ps, keep.pieces[0], identityNorm)
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

		wantErr(t, "DeleteEntry(one)", f.db.DeleteEntry(f.ctx, a.ID, fileOne.ID), nil)
		// Only segment 1 of "one" is gone from every object.
		sameSet(t, "queued after deleting one", f.queued(), keys(one.pieces[1]))
		wantErr(t, "DeleteEntry(shared)", f.db.DeleteEntry(f.ctx, b.ID, fileShared.ID), nil)
		sameSet(t, "queued after deleting the last reference", f.queued(), union(keys(one.pieces[1]), keys(sharedPieces)))
	}},
}
