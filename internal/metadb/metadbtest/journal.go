package metadbtest

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
)

var commitTests = []test{
	{"ReplaceKeepsCreated", func(t *testing.T, f *fixture) {
		a, root := f.account()
		dir := f.folder(a.ID, root.ID)
		file := f.file(a.ID, dir.ID)
		want := file
		want.NameTag = f.bytesFor("new name")
		want.WrappedKey = f.bytesFor("new key")
		want.Meta = f.bytesFor("new meta")
		want.Created = at(time.Hour) // ignored: the entry keeps its creation time
		want.Updated = at(2 * time.Hour)
		f.mustCommit(a.ID, []metadb.Entry{want})
		want.Created = file.Created
		same(t, "Entry after a replace", f.mustEntry(a.ID, file.ID), want, normEntry)
		got, err := f.db.Children(f.ctx, a.ID, dir.ID)
		wantErr(t, "Children", err, nil)
		sameList(t, "Children after a replace", got, []metadb.Entry{want}, normEntry)
	}},
	{"KindIsKept", func(t *testing.T, f *fixture) {
		a, root := f.account()
		dir := f.folder(a.ID, root.ID)
		file := f.file(a.ID, root.ID)
		before := f.snapshot(a)
		dir.Kind = metadb.KindFile
		wantErr(t, "Commit(folder becomes a file)", f.commit(a.ID, []metadb.Entry{dir}), metadb.ErrConflict)
		file.Kind = metadb.KindFolder
		wantErr(t, "Commit(file becomes a folder)", f.commit(a.ID, []metadb.Entry{file}), metadb.ErrConflict)
		f.unchanged(t, "kind changes", a, before)
	}},
	{"Move", func(t *testing.T, f *fixture) {
		a, root := f.account()
		nodes := f.nodes(2)
		src := f.folder(a.ID, root.ID)
		dst := f.folder(a.ID, root.ID)
		sub := f.folder(a.ID, src.ID)
		u := f.committedObject(a.ID, nodes, "moved", 100)
		file := f.file(a.ID, sub.ID, u.obj.ID)

		// A file moved and renamed: its object stays.
		file.Parent, file.NameTag = dst.ID, f.bytesFor("renamed")
		f.mustCommit(a.ID, []metadb.Entry{file})
		children(t, f, a.ID, dst.ID, file)
		children(t, f, a.ID, sub.ID)
		if q := f.queued(); len(q) != 0 {
			t.Errorf("moving a file queued %d deletions", len(q))
		}
		_, err := f.db.Object(f.ctx, a.ID, u.obj.ID)
		wantErr(t, "Object(of moved file)", err, nil)

		// A folder moves with its contents.
		back := f.file(a.ID, sub.ID)
		sub.Parent = dst.ID
		f.mustCommit(a.ID, []metadb.Entry{sub})
		children(t, f, a.ID, dst.ID, sub, file)
		children(t, f, a.ID, sub.ID, back)
		children(t, f, a.ID, src.ID)

		// Into a folder created by the same commit, listed after it.
		fresh := f.entry(a.ID, src.ID, metadb.KindFolder)
		sub.Parent = fresh.ID
		f.mustCommit(a.ID, []metadb.Entry{sub, fresh})
		children(t, f, a.ID, fresh.ID, sub)
		children(t, f, a.ID, sub.ID, back)

		before := f.snapshot(a)
		for _, tc := range []struct {
			name   string
			parent metadb.ID16
			want   error
		}{
			{"into itself", src.ID, metadb.ErrConflict},
			{"into its child", fresh.ID, metadb.ErrConflict},
			{"into its grandchild", sub.ID, metadb.ErrConflict},
			{"into a file", back.ID, metadb.ErrConflict},
			{"into an unknown folder", f.id(), metadb.ErrNotFound},
		} {
			moved := src
			moved.Parent = tc.parent
			wantErr(t, "Commit(move a folder "+tc.name+")", f.commit(a.ID, []metadb.Entry{moved}), tc.want)
		}
		// Two new folders, each inside the other.
		x, y := f.entry(a.ID, root.ID, metadb.KindFolder), f.entry(a.ID, root.ID, metadb.KindFolder)
		x.Parent, y.Parent = y.ID, x.ID
		wantErr(t, "Commit(two new folders in each other)", f.commit(a.ID, []metadb.Entry{x, y}), metadb.ErrConflict)
		f.unchanged(t, "refused moves", a, before)
	}},
	{"NamesFreedInOneCommit", func(t *testing.T, f *fixture) {
		a, root := f.account()
		x := f.file(a.ID, root.ID)
		y := f.file(a.ID, root.ID)
		// Swap the names of two files.
		x.NameTag, y.NameTag = y.NameTag, x.NameTag
		f.mustCommit(a.ID, []metadb.Entry{x, y})
		children(t, f, a.ID, root.ID, x, y)

		// Delete x and give its name to a new file.
		z := f.entry(a.ID, root.ID, metadb.KindFile)
		z.NameTag = x.NameTag
		f.mustCommit(a.ID, []metadb.Entry{z}, x.ID)
		children(t, f, a.ID, root.ID, y, z)

		// Move y to the trash (its trash name is new) and take its name.
		w := f.entry(a.ID, root.ID, metadb.KindFile)
		w.NameTag = y.NameTag
		y.Parent, y.NameTag = a.TrashEntry, f.bytesFor("trash name")
		f.mustCommit(a.ID, []metadb.Entry{w, y})
		children(t, f, a.ID, root.ID, z, w)
		children(t, f, a.ID, a.TrashEntry, y)
	}},
	{"ReplaceObjects", func(t *testing.T, f *fixture) {
		a, root := f.account()
		nodes := f.nodes(4)
		v1 := f.committedObject(a.ID, nodes, "v1", 100, 100)
		v2 := f.committedObject(a.ID, nodes, "v2", 100)
		v3 := f.committedObject(a.ID, nodes, "v3", 100)
		// twin's segment 0 has the pieces of v1's segment 0.
		twin := f.pendingObject(a.ID, at(0))
		ts := segment(twin.ID, 0, 2, 4, 100, "v1/0")
		f.putSegment(a.ID, ts)
		f.commitSegment(a.ID, ts, piecesOf(ts, nodes))
		wantErr(t, "CommitObject(twin)", f.db.CommitObject(f.ctx, a.ID, twin.ID, 1, 100), nil)
		f.file(a.ID, root.ID, twin.ID)

		file := f.file(a.ID, root.ID, v1.obj.ID)
		// A new version keeps the old one.
		file.Objects = []metadb.ID16{v2.obj.ID, v1.obj.ID}
		f.mustCommit(a.ID, []metadb.Entry{file})
		same(t, "file with two versions", f.mustEntry(a.ID, file.ID), file, normEntry)
		if q := f.queued(); len(q) != 0 {
			t.Errorf("adding a version queued %d deletions", len(q))
		}
		// The oldest version dropped: its object goes, and its pieces but
		// those twin holds too.
		file.Objects = []metadb.ID16{v3.obj.ID, v2.obj.ID}
		f.mustCommit(a.ID, []metadb.Entry{file})
		same(t, "file after dropping a version", f.mustEntry(a.ID, file.ID), file, normEntry)
		_, err := f.db.Object(f.ctx, a.ID, v1.obj.ID)
		wantErr(t, "Object(dropped version)", err, metadb.ErrNotFound)
		sameSet(t, "queued after dropping a version", f.queued(), keys(v1.pieces[1]))
		for _, o := range []upload{v2, v3} {
			_, err := f.db.Object(f.ctx, a.ID, o.obj.ID)
			wantErr(t, "Object(kept version)", err, nil)
		}
		// Inline now: both objects go.
		file.Objects = nil
		f.mustCommit(a.ID, []metadb.Entry{file})
		sameSet(t, "queued after going inline", f.queued(), union(keys(v1.pieces[1]), keys(v2.all()), keys(v3.all())))
	}},
	{"ObjectPassesBetweenEntries", func(t *testing.T, f *fixture) {
		a, root := f.account()
		nodes := f.nodes(4)
		u := f.committedObject(a.ID, nodes, "content", 100)
		x := f.file(a.ID, root.ID, u.obj.ID)
		// A new file takes x's object as x is deleted, the put listed first.
		y := f.entry(a.ID, root.ID, metadb.KindFile, u.obj.ID)
		f.mustCommit(a.ID, []metadb.Entry{y}, x.ID)
		same(t, "file that took the object", f.mustEntry(a.ID, y.ID), y, normEntry)
		// And another as y drops it.
		z := f.entry(a.ID, root.ID, metadb.KindFile, u.obj.ID)
		y.Objects = nil
		f.mustCommit(a.ID, []metadb.Entry{z, y})
		same(t, "file that took the object", f.mustEntry(a.ID, z.ID), z, normEntry)
		same(t, "file that dropped the object", f.mustEntry(a.ID, y.ID), y, normEntry)
		_, err := f.db.Object(f.ctx, a.ID, u.obj.ID)
		wantErr(t, "Object(passed on)", err, nil)
		if q := f.queued(); len(q) != 0 {
			t.Errorf("passing an object on queued %d deletions", len(q))
		}
	}},
	{"DeleteFolderWithContents", func(t *testing.T, f *fixture) {
		a, root := f.account()
		nodes := f.nodes(4)
		dir := f.folder(a.ID, root.ID)
		sub := f.folder(a.ID, dir.ID)
		u1 := f.committedObject(a.ID, nodes, "one", 100)
		u2 := f.committedObject(a.ID, nodes, "two", 100)
		file := f.file(a.ID, dir.ID, u1.obj.ID)
		deep := f.file(a.ID, sub.ID, u2.obj.ID)

		before := f.snapshot(a)
		for _, tc := range []struct {
			name    string
			deletes []metadb.ID16
		}{
			{"non-empty folder", []metadb.ID16{dir.ID}},
			{"folder first", []metadb.ID16{dir.ID, file.ID, deep.ID, sub.ID}},
			{"subfolder before its file", []metadb.ID16{sub.ID, deep.ID, file.ID, dir.ID}},
			{"folder before its subfolder", []metadb.ID16{deep.ID, file.ID, dir.ID, sub.ID}},
			{"a child left", []metadb.ID16{deep.ID, sub.ID, dir.ID}},
		} {
			wantErr(t, "Commit(delete "+tc.name+")", f.commit(a.ID, nil, tc.deletes...), metadb.ErrConflict)
			f.unchanged(t, "Commit(delete "+tc.name+")", a, before)
		}
		f.mustCommit(a.ID, nil, deep.ID, file.ID, sub.ID, dir.ID)
		children(t, f, a.ID, root.ID)
		for _, id := range []metadb.ID16{dir.ID, sub.ID, file.ID, deep.ID} {
			_, err := f.db.Entry(f.ctx, a.ID, id)
			wantErr(t, "Entry(deleted)", err, metadb.ErrNotFound)
		}
		sameSet(t, "queued", f.queued(), union(keys(u1.all()), keys(u2.all())))
		wantErr(t, "Commit(delete deleted folder)", f.commit(a.ID, nil, dir.ID), metadb.ErrNotFound)
	}},
	{"MoveOutThenDelete", func(t *testing.T, f *fixture) {
		a, root := f.account()
		dir := f.folder(a.ID, root.ID)
		file := f.file(a.ID, dir.ID)
		file.Parent = root.ID
		f.mustCommit(a.ID, []metadb.Entry{file}, dir.ID)
		children(t, f, a.ID, root.ID, file)
	}},
	{"PutIntoDeletedFolder", func(t *testing.T, f *fixture) {
		a, root := f.account()
		dir := f.folder(a.ID, root.ID)
		other := f.file(a.ID, root.ID)
		before := f.snapshot(a)
		wantErr(t, "Commit(new entry in a deleted folder)",
			f.commit(a.ID, []metadb.Entry{f.entry(a.ID, dir.ID, metadb.KindFile)}, dir.ID), metadb.ErrConflict)
		other.Parent = dir.ID
		wantErr(t, "Commit(move into a deleted folder)", f.commit(a.ID, []metadb.Entry{other}, dir.ID), metadb.ErrConflict)
		f.unchanged(t, "puts into deleted folders", a, before)
	}},
	{"ChangedTwice", func(t *testing.T, f *fixture) {
		a, root := f.account()
		file := f.file(a.ID, root.ID)
		other := f.file(a.ID, root.ID)
		before := f.snapshot(a)
		renamed := file
		renamed.NameTag = f.bytesFor("renamed")
		wantErr(t, "Commit(put twice)", f.commit(a.ID, []metadb.Entry{file, renamed}), metadb.ErrConflict)
		fresh := f.entry(a.ID, root.ID, metadb.KindFile)
		wantErr(t, "Commit(new entry put twice)", f.commit(a.ID, []metadb.Entry{fresh, fresh}), metadb.ErrConflict)
		wantErr(t, "Commit(put and delete)", f.commit(a.ID, []metadb.Entry{renamed}, file.ID), metadb.ErrConflict)
		wantErr(t, "Commit(delete twice)", f.commit(a.ID, nil, other.ID, other.ID), metadb.ErrConflict)
		f.unchanged(t, "entries changed twice", a, before)
	}},
	{"FailsHalfway", func(t *testing.T, f *fixture) {
		a, root := f.account()
		nodes := f.nodes(4)
		old := f.committedObject(a.ID, nodes, "old", 100)
		next := f.committedObject(a.ID, nodes, "next", 100)
		dir := f.folder(a.ID, root.ID)
		file := f.file(a.ID, dir.ID, old.obj.ID)
		taken := f.file(a.ID, root.ID)
		before := f.snapshot(a)

		// The first put replaces the file's object, the second creates a
		// folder, the third clashes.
		replaced := file
		replaced.Objects = []metadb.ID16{next.obj.ID}
		clash := f.entry(a.ID, root.ID, metadb.KindFile)
		clash.NameTag = taken.NameTag
		puts := []metadb.Entry{replaced, f.entry(a.ID, root.ID, metadb.KindFolder), clash}
		wantErr(t, "Commit(third put clashes)", f.commit(a.ID, puts), metadb.ErrExists)
		f.unchanged(t, "Commit(third put clashes)", a, before)

		// The puts are fine; the second delete is not.
		wantErr(t, "Commit(second delete unknown)", f.commit(a.ID, puts[:2], taken.ID, f.id()), metadb.ErrNotFound)
		f.unchanged(t, "Commit(second delete unknown)", a, before)

		// The deletes are fine; a put references a missing object.
		bad := f.entry(a.ID, root.ID, metadb.KindFile, f.id())
		wantErr(t, "Commit(unknown object)", f.commit(a.ID, []metadb.Entry{replaced, bad}, taken.ID), metadb.ErrConflict)
		f.unchanged(t, "Commit(unknown object)", a, before)
	}},
	{"Stale", func(t *testing.T, f *fixture) {
		a, root := f.account()
		f.folder(a.ID, root.ID)
		seq, head, err := f.db.JournalHead(f.ctx, a.ID)
		wantErr(t, "JournalHead", err, nil)
		if seq != 2 {
			t.Fatalf("JournalHead = %d, want 2", seq)
		}
		recs, err := f.db.Journal(f.ctx, a.ID, 0, 10)
		wantErr(t, "Journal", err, nil)
		before := f.snapshot(a)
		e := f.entry(a.ID, root.ID, metadb.KindFolder)
		for _, tc := range []struct {
			name string
			seq  uint64
			prev [32]byte
		}{
			{"seq of the latest", seq, head},
			{"seq skipping one", seq + 2, head},
			{"prev of an older record", seq + 1, recs[0].Hash},
			{"zero prev", seq + 1, [32]byte{}},
			{"prev of another chain", seq + 1, newRecord(a.ID, seq, "fork").Hash},
			{"largest seq", math.MaxInt64, head},
		} {
			err := f.db.Commit(f.ctx, a.ID, f.record(a.ID, tc.seq), tc.prev, []metadb.Entry{e}, nil)
			wantErr(t, "Commit(stale: "+tc.name+")", err, metadb.ErrConflict)
			f.unchanged(t, "Commit(stale: "+tc.name+")", a, before)
		}
		wantErr(t, "Commit(next)", f.db.Commit(f.ctx, a.ID, f.record(a.ID, seq+1), head, []metadb.Entry{e}, nil), nil)
	}},
	{"InvalidRecord", func(t *testing.T, f *fixture) {
		a, root := f.account()
		before := f.snapshot(a)
		e := f.entry(a.ID, root.ID, metadb.KindFolder)
		for _, tc := range []struct {
			name   string
			change func(r *metadb.JournalRecord)
		}{
			{"hash is not the data's", func(r *metadb.JournalRecord) { r.Hash[31] ^= 0x80 }},
			{"data changed", func(r *metadb.JournalRecord) { r.Data = append(r.Data, 0) }},
			{"no data", func(r *metadb.JournalRecord) { r.Data = nil }},
			{"seq 0", func(r *metadb.JournalRecord) { *r = newRecord(a.ID, 0, "zero") }},
			{"seq beyond int64", func(r *metadb.JournalRecord) { *r = newRecord(a.ID, math.MaxUint64, "huge") }},
		} {
			rec, prev := f.next(a.ID)
			tc.change(&rec)
			wantErr(t, "Commit("+tc.name+")", f.db.Commit(f.ctx, a.ID, rec, prev, []metadb.Entry{e}, nil), errAny)
			f.unchanged(t, "Commit("+tc.name+")", a, before)
		}
	}},
}

var journalTests = []test{
	{"Records", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		all, err := f.db.Journal(f.ctx, a.ID, 0, 10)
		wantErr(t, "Journal", err, nil)
		for range 4 {
			rec, prev := f.next(a.ID)
			if prev != all[len(all)-1].Hash {
				t.Fatalf("JournalHead hash %x, want the latest record's %x", prev, all[len(all)-1].Hash)
			}
			wantErr(t, "Commit", f.db.Commit(f.ctx, a.ID, rec, prev, []metadb.Entry{f.entry(a.ID, root.ID, metadb.KindFolder)}, nil), nil)
			all = append(all, rec)
		}
		// Another account's journal is its own, with its own seqs.
		f.folder(b.ID, rootB.ID)

		seq, head, err := f.db.JournalHead(f.ctx, a.ID)
		wantErr(t, "JournalHead", err, nil)
		if seq != 5 || head != all[4].Hash {
			t.Errorf("JournalHead = %d, %x; want 5, %x", seq, head, all[4].Hash)
		}
		for _, tc := range []struct {
			after uint64
			limit int
			want  []metadb.JournalRecord
		}{
			{0, 10, all},
			{0, 2, all[:2]},
			{1, 2, all[1:3]},
			{3, 100, all[3:]},
			{4, 1, all[4:]},
			{5, 10, nil},
			{6, 10, nil},
			{math.MaxInt64, 10, nil},
			{math.MaxUint64, 10, nil},
		} {
			got, err := f.db.Journal(f.ctx, a.ID, tc.after, tc.limit)
			wantErr(t, fmt.Sprintf("Journal(after %d, limit %d)", tc.after, tc.limit), err, nil)
			sameList(t, fmt.Sprintf("Journal(after %d, limit %d)", tc.after, tc.limit), got, tc.want, normRecord)
		}
		got, err := f.db.Journal(f.ctx, b.ID, 0, 10)
		wantErr(t, "Journal(b)", err, nil)
		if len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 {
			t.Errorf("Journal(b) = %d records, want seqs 1 and 2", len(got))
		}
		_, err = f.db.Journal(f.ctx, a.ID, 0, 0)
		wantErr(t, "Journal(limit 0)", err, errAny)
		_, err = f.db.Journal(f.ctx, f.id(), 0, 10)
		wantErr(t, "Journal(unknown account)", err, metadb.ErrNotFound)
		_, _, err = f.db.JournalHead(f.ctx, f.id())
		wantErr(t, "JournalHead(unknown account)", err, metadb.ErrNotFound)
	}},
	{"LargeRecord", func(t *testing.T, f *fixture) {
		a, root := f.account()
		// A record of 10,000 changes is about 650 KB.
		rec, prev := f.next(a.ID)
		big := newRecord(a.ID, rec.Seq, string(make([]byte, 650_000)))
		wantErr(t, "Commit", f.db.Commit(f.ctx, a.ID, big, prev, []metadb.Entry{f.entry(a.ID, root.ID, metadb.KindFile)}, nil), nil)
		got, err := f.db.Journal(f.ctx, a.ID, 1, 1)
		wantErr(t, "Journal", err, nil)
		sameList(t, "Journal", got, []metadb.JournalRecord{big}, normRecord)
	}},
}

// children fails the test unless the children of parent are want, in ID
// order (want may be in any order).
func children(t *testing.T, f *fixture, account, parent metadb.ID16, want ...metadb.Entry) {
	t.Helper()
	got, err := f.db.Children(f.ctx, account, parent)
	wantErr(t, "Children", err, nil)
	sorted := append([]metadb.Entry(nil), want...)
	for i := 1; i < len(sorted); i++ { // insertion sort by ID: a handful of entries
		for j := i; j > 0 && string(sorted[j].ID[:]) < string(sorted[j-1].ID[:]); j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	sameList(t, fmt.Sprintf("Children(%x)", parent), got, sorted, normEntry)
}

// commitRetry commits puts and deletes with the account's next record,
// syncing and retrying while other commits get in first, as a coordinator's
// client does. Safe for concurrent use.
func commitRetry(f *fixture, account metadb.ID16, label string, puts []metadb.Entry, deletes ...metadb.ID16) error {
	for attempt := range 1000 {
		seq, head, err := f.db.JournalHead(f.ctx, account)
		if err != nil {
			return err
		}
		rec := newRecord(account, seq+1, fmt.Sprintf("%s attempt %d", label, attempt))
		err = f.db.Commit(f.ctx, account, rec, head, puts, deletes)
		if !errors.Is(err, metadb.ErrConflict) {
			return err
		}
		// Stale, unless the head has not moved: then the conflict is real.
		now, _, herr := f.db.JournalHead(f.ctx, account)
		if herr != nil {
			return herr
		}
		if now == seq {
			return err
		}
	}
	return fmt.Errorf("%s: still stale after 1000 attempts", label)
}
