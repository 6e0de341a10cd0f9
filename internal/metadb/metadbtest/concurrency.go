package metadbtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
)

var concurrencyTests = []test{
	{"CommitSameSeq", func(t *testing.T, f *fixture) {
		// Several devices commit the same next seq at once: exactly one
		// wins, the others are stale and change nothing.
		const workers = 8
		a, root := f.account()
		seq, head, err := f.db.JournalHead(f.ctx, a.ID)
		wantErr(t, "JournalHead", err, nil)
		entries := make([]metadb.Entry, workers)
		recs := make([]metadb.JournalRecord, workers)
		for w := range workers {
			entries[w] = f.entry(a.ID, root.ID, metadb.KindFolder)
			recs[w] = f.record(a.ID, seq+1)
		}
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				errs[w] = f.db.Commit(f.ctx, a.ID, recs[w], head, []metadb.Entry{entries[w]}, nil)
			})
		}
		wg.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("workers %d and %d both committed seq %d", winner, w, seq+1)
			case err == nil:
				winner = w
			case !errors.Is(err, metadb.ErrConflict):
				t.Errorf("Commit(worker %d): %v, want nil or ErrConflict", w, err)
			}
		}
		if winner < 0 {
			t.Fatal("no commit won")
		}
		got, err := f.db.Journal(f.ctx, a.ID, seq, 10)
		wantErr(t, "Journal", err, nil)
		sameList(t, "Journal after the race", got, recs[winner:winner+1], normRecord)
		children(t, f, a.ID, root.ID, entries[winner])
	}},
	{"CommitRetries", func(t *testing.T, f *fixture) {
		const (
			workers = 6
			names   = 12
		)
		a, root := f.account()
		dir := f.folder(a.ID, root.ID)
		start, _, err := f.db.JournalHead(f.ctx, a.ID)
		wantErr(t, "JournalHead", err, nil)
		// Every worker tries every name, each in its own order, with an
		// entry ID of its own, retrying stale commits; exactly one wins
		// per name, the others find the name taken.
		type result struct {
			name int
			id   metadb.ID16
			err  error
		}
		results := make(chan result, workers*names)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range names {
					name := (i*5 + w) % names
					var id metadb.ID16
					id[0] = 0xc0
					binary.BigEndian.PutUint32(id[8:], uint32(w))
					binary.BigEndian.PutUint32(id[12:], uint32(name))
					e := metadb.Entry{
						ID: id, Account: a.ID, Parent: dir.ID, Kind: metadb.KindFile,
						NameTag: fmt.Appendf(nil, "name %d", name), WrappedKey: []byte("k"), Meta: []byte("m"),
						Created: at(0), Updated: at(0),
					}
					err := commitRetry(f, a.ID, fmt.Sprintf("worker %d name %d", w, name), []metadb.Entry{e})
					results <- result{name, id, err}
				}
			})
		}
		// Readers run alongside the writers.
		readErrs := make(chan error, 4)
		for range 2 {
			wg.Go(func() {
				for range names {
					if _, err := f.db.Children(f.ctx, a.ID, dir.ID); err != nil {
						readErrs <- err
						return
					}
					if _, err := f.db.Journal(f.ctx, a.ID, 0, 100); err != nil {
						readErrs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(results)
		close(readErrs)
		for err := range readErrs {
			t.Errorf("concurrent read: %v", err)
		}
		winners := make(map[int]metadb.ID16)
		for r := range results {
			switch {
			case r.err == nil:
				if _, dup := winners[r.name]; dup {
					t.Errorf("name %d created twice", r.name)
				}
				winners[r.name] = r.id
			case !errors.Is(r.err, metadb.ErrExists):
				t.Errorf("Commit(name %d): %v, want nil or ErrExists", r.name, r.err)
			}
		}
		if len(winners) != names {
			t.Errorf("%d names created, want %d", len(winners), names)
		}
		got, err := f.db.Children(f.ctx, a.ID, dir.ID)
		wantErr(t, "Children", err, nil)
		if len(got) != names {
			t.Errorf("Children = %d entries, want %d", len(got), names)
		}
		for _, c := range got {
			var name int
			if _, err := fmt.Sscanf(string(c.NameTag), "name %d", &name); err != nil || winners[name] != c.ID {
				t.Errorf("child %x (%q) is not the winner of its name", c.ID, c.NameTag)
			}
		}
		// One record per successful commit, chained without a gap.
		recs, err := f.db.Journal(f.ctx, a.ID, 0, 1000)
		wantErr(t, "Journal", err, nil)
		if uint64(len(recs)) != start+names {
			t.Errorf("journal has %d records, want %d", len(recs), start+names)
		}
		for i, r := range recs {
			if r.Seq != uint64(i+1) {
				t.Errorf("record %d has seq %d", i, r.Seq)
			}
		}
	}},
	{"Uploads", func(t *testing.T, f *fixture) {
		// Whole uploads from several goroutines, each a sequence of write
		// transactions, with deletions in between: none may fail.
		const workers = 6
		a, root := f.account()
		nodes := f.nodes(4)
		ids := make([][3]metadb.ID16, workers) // object, entry, spare
		for w := range ids {
			ids[w] = [3]metadb.ID16{f.id(), f.id(), f.id()}
		}
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				errs <- upload1(f, a.ID, root.ID, ids[w], fmt.Sprintf("worker %d", w), nodes)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		got, err := f.db.Children(f.ctx, a.ID, root.ID)
		wantErr(t, "Children", err, nil)
		if len(got) != workers {
			t.Errorf("Children = %d, want %d", len(got), workers)
		}
		usage, err := f.db.Usage(f.ctx, a.ID)
		wantErr(t, "Usage", err, nil)
		same(t, "Usage", usage, metadb.Usage{Bytes: workers * 300, Files: workers}, identityNorm)
	}},
}

// upload1 uploads a 3-segment object, files it, deletes an abandoned one.
func upload1(f *fixture, account, parent metadb.ID16, ids [3]metadb.ID16, seed string, nodes []identity.ID) error {
	ctx, db := f.ctx, f.db
	for _, obj := range []metadb.ID16{ids[0], ids[2]} {
		if err := db.CreateObject(ctx, metadb.Object{ID: obj, Account: account, State: metadb.ObjectPending, Created: at(0)}); err != nil {
			return fmt.Errorf("%s: CreateObject: %w", seed, err)
		}
	}
	for i := range 3 {
		s := segment(ids[0], i, 2, 4, 100, fmt.Sprintf("%s/%d", seed, i))
		if err := db.PutSegment(ctx, account, s); err != nil {
			return fmt.Errorf("%s: PutSegment: %w", seed, err)
		}
		if err := db.CommitSegment(ctx, account, ids[0], i, piecesOf(s, nodes)); err != nil {
			return fmt.Errorf("%s: CommitSegment: %w", seed, err)
		}
		if _, err := db.Segments(ctx, account, ids[0], 0, 10); err != nil {
			return fmt.Errorf("%s: Segments: %w", seed, err)
		}
		if _, err := db.CommittedSegments(ctx, account, ids[0]); err != nil {
			return fmt.Errorf("%s: CommittedSegments: %w", seed, err)
		}
	}
	if err := db.CommitObject(ctx, account, ids[0], 3, 300); err != nil {
		return fmt.Errorf("%s: CommitObject: %w", seed, err)
	}
	e := metadb.Entry{ID: ids[1], Account: account, Parent: parent, Kind: metadb.KindFile, NameTag: []byte(seed),
		WrappedKey: []byte("k"), Meta: []byte("m"), Objects: []metadb.ID16{ids[0]}, Created: at(0), Updated: at(0)}
	if err := commitRetry(f, account, seed, []metadb.Entry{e}); err != nil {
		return fmt.Errorf("%s: Commit: %w", seed, err)
	}
	if err := db.DeleteObject(ctx, account, ids[2]); err != nil {
		return fmt.Errorf("%s: DeleteObject: %w", seed, err)
	}
	return nil
}
