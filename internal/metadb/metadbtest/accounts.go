package metadbtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
)

var accountTests = []test{
	{"CreateAndGet", func(t *testing.T, f *fixture) {
		a, root := f.account()
		got, err := f.db.AccountByEmail(f.ctx, a.Email)
		wantErr(t, "AccountByEmail", err, nil)
		same(t, "AccountByEmail", got, a, normAccount)
		got, err = f.db.AccountByID(f.ctx, a.ID)
		wantErr(t, "AccountByID", err, nil)
		same(t, "AccountByID", got, a, normAccount)

		e, err := f.db.Entry(f.ctx, a.ID, root.ID)
		wantErr(t, "Entry(root)", err, nil)
		same(t, "Entry(root)", e, root, normEntry)
		children, err := f.db.Children(f.ctx, a.ID, root.ID)
		wantErr(t, "Children(root)", err, nil)
		if len(children) != 0 {
			t.Errorf("Children(root) of a new account = %d entries, want 0", len(children))
		}
	}},
	{"DuplicateEmail", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b := a
		b.ID, b.RootEntry = f.id(), f.id()
		root := metadb.Entry{ID: b.RootEntry, Account: b.ID, Kind: metadb.KindFolder, NameTag: []byte("t"), Created: at(0), Updated: at(0)}
		wantErr(t, "CreateAccount(same e-mail)", f.db.CreateAccount(f.ctx, b, root), metadb.ErrExists)
		_, err := f.db.AccountByID(f.ctx, b.ID)
		wantErr(t, "AccountByID(rejected account)", err, metadb.ErrNotFound)
		_, err = f.db.Entry(f.ctx, b.ID, root.ID)
		wantErr(t, "Entry(root of rejected account)", err, metadb.ErrNotFound)
		got, err := f.db.AccountByEmail(f.ctx, a.Email)
		wantErr(t, "AccountByEmail", err, nil)
		same(t, "AccountByEmail after rejected duplicate", got, a, normAccount)
	}},
	{"DuplicateID", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b := a
		b.Email = "other@example.org"
		b.RootEntry = f.id()
		root := metadb.Entry{ID: b.RootEntry, Account: b.ID, Kind: metadb.KindFolder, NameTag: []byte("t"), Created: at(0), Updated: at(0)}
		wantErr(t, "CreateAccount(same ID)", f.db.CreateAccount(f.ctx, b, root), metadb.ErrExists)
		_, err := f.db.AccountByEmail(f.ctx, b.Email)
		wantErr(t, "AccountByEmail(rejected)", err, metadb.ErrNotFound)
	}},
	{"RootEntryIDTaken", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b := metadb.Account{ID: f.id(), Email: "b@example.org", RootEntry: root.ID, Created: at(0)}
		r := metadb.Entry{ID: root.ID, Account: b.ID, Kind: metadb.KindFolder, NameTag: []byte("t"), Created: at(0), Updated: at(0)}
		wantErr(t, "CreateAccount(root entry ID of another account)", f.db.CreateAccount(f.ctx, b, r), metadb.ErrExists)
		_, err := f.db.AccountByID(f.ctx, b.ID)
		wantErr(t, "AccountByID(rejected)", err, metadb.ErrNotFound)
		e, err := f.db.Entry(f.ctx, a.ID, root.ID)
		wantErr(t, "Entry(first root)", err, nil)
		same(t, "first root", e, root, normEntry)
	}},
	{"NotFound", func(t *testing.T, f *fixture) {
		f.account()
		_, err := f.db.AccountByEmail(f.ctx, "nobody@example.org")
		wantErr(t, "AccountByEmail(unknown)", err, metadb.ErrNotFound)
		_, err = f.db.AccountByID(f.ctx, f.id())
		wantErr(t, "AccountByID(unknown)", err, metadb.ErrNotFound)
	}},
	{"InvalidRoot", func(t *testing.T, f *fixture) {
		_, existing := f.account()
		tests := []struct {
			name   string
			change func(a *metadb.Account, root *metadb.Entry)
		}{
			{"root with a parent", func(a *metadb.Account, root *metadb.Entry) { root.Parent = existing.ID }},
			{"root is a file", func(a *metadb.Account, root *metadb.Entry) { root.Kind = metadb.KindFile }},
			{"root of another account", func(a *metadb.Account, root *metadb.Entry) { root.Account = existing.Account }},
			{"root is not RootEntry", func(a *metadb.Account, root *metadb.Entry) { root.ID = f.id() }},
		}
		for _, tc := range tests {
			a := metadb.Account{ID: f.id(), Email: "x" + tc.name + "@example.org", RootEntry: f.id(), Created: at(0)}
			root := metadb.Entry{ID: a.RootEntry, Account: a.ID, Kind: metadb.KindFolder, NameTag: []byte("t"), Created: at(0), Updated: at(0)}
			tc.change(&a, &root)
			wantErr(t, "CreateAccount("+tc.name+")", f.db.CreateAccount(f.ctx, a, root), errAny)
			_, err := f.db.AccountByID(f.ctx, a.ID)
			wantErr(t, "AccountByID(rejected: "+tc.name+")", err, metadb.ErrNotFound)
		}
	}},
}

var sessionTests = []test{
	{"Lifecycle", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		s := metadb.Session{TokenHash: sha256.Sum256([]byte("token")), Account: a.ID, Expires: time.Now().Add(time.Hour).Truncate(time.Microsecond)}
		wantErr(t, "CreateSession", f.db.CreateSession(f.ctx, s), nil)
		got, err := f.db.SessionByToken(f.ctx, s.TokenHash)
		wantErr(t, "SessionByToken", err, nil)
		same(t, "SessionByToken", got, s, normSession)
		_, err = f.db.SessionByToken(f.ctx, sha256.Sum256([]byte("other token")))
		wantErr(t, "SessionByToken(unknown)", err, metadb.ErrNotFound)
		wantErr(t, "DeleteSession", f.db.DeleteSession(f.ctx, s.TokenHash), nil)
		_, err = f.db.SessionByToken(f.ctx, s.TokenHash)
		wantErr(t, "SessionByToken(deleted)", err, metadb.ErrNotFound)
		wantErr(t, "DeleteSession(deleted)", f.db.DeleteSession(f.ctx, s.TokenHash), metadb.ErrNotFound)
	}},
	{"Expired", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		now := time.Now()
		expired := metadb.Session{TokenHash: sha256.Sum256([]byte("old")), Account: a.ID, Expires: now.Add(-time.Second)}
		live := metadb.Session{TokenHash: sha256.Sum256([]byte("new")), Account: a.ID, Expires: now.Add(time.Hour).Truncate(time.Microsecond)}
		// The expired session is created last, so that it is still stored
		// if an implementation purges expired sessions on creation.
		wantErr(t, "CreateSession(live)", f.db.CreateSession(f.ctx, live), nil)
		wantErr(t, "CreateSession(expired)", f.db.CreateSession(f.ctx, expired), nil)
		_, err := f.db.SessionByToken(f.ctx, expired.TokenHash)
		wantErr(t, "SessionByToken(expired)", err, metadb.ErrNotFound)
		got, err := f.db.SessionByToken(f.ctx, live.TokenHash)
		wantErr(t, "SessionByToken(live)", err, nil)
		same(t, "SessionByToken(live)", got, live, normSession)
	}},
	{"Duplicate", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		s := metadb.Session{TokenHash: sha256.Sum256([]byte("token")), Account: a.ID, Expires: time.Now().Add(time.Hour)}
		wantErr(t, "CreateSession", f.db.CreateSession(f.ctx, s), nil)
		wantErr(t, "CreateSession(again)", f.db.CreateSession(f.ctx, s), metadb.ErrExists)
	}},
	{"UnknownAccount", func(t *testing.T, f *fixture) {
		s := metadb.Session{TokenHash: sha256.Sum256([]byte("token")), Account: f.id(), Expires: time.Now().Add(time.Hour)}
		wantErr(t, "CreateSession(unknown account)", f.db.CreateSession(f.ctx, s), metadb.ErrNotFound)
		_, err := f.db.SessionByToken(f.ctx, s.TokenHash)
		wantErr(t, "SessionByToken", err, metadb.ErrNotFound)
	}},
}

var usageTests = []test{
	{"SumsCommittedObjectsOfTheAccount", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		nodes := f.nodes(4)
		usage := func(id metadb.ID16, want int64) {
			t.Helper()
			got, err := f.db.Usage(f.ctx, id)
			wantErr(t, "Usage", err, nil)
			if got != want {
				t.Errorf("Usage = %d, want %d", got, want)
			}
		}
		usage(a.ID, 0)
		u1 := f.committedObject(a.ID, nodes, "one", 1000, 10)
		u2 := f.committedObject(a.ID, nodes, "two", 300)
		f.committedObject(b.ID, nodes, "three", 7000)
		pending := f.pendingObject(a.ID, at(0))
		s := segment(pending.ID, 0, 2, 4, 5000, "pending")
		f.putSegment(a.ID, s)
		f.commitSegment(a.ID, s, piecesOf(s, nodes))
		usage(a.ID, 1310)
		usage(b.ID, 7000)

		file := f.file(a.ID, root.ID, u1.obj.ID)
		wantErr(t, "DeleteEntry", f.db.DeleteEntry(f.ctx, a.ID, file.ID), nil)
		usage(a.ID, 300)
		wantErr(t, "DeleteObject", f.db.DeleteObject(f.ctx, a.ID, u2.obj.ID), nil)
		usage(a.ID, 0)
		_, err := f.db.Usage(f.ctx, f.id())
		wantErr(t, "Usage(unknown account)", err, metadb.ErrNotFound)
	}},
}

var contextTests = []test{
	{"Canceled", func(t *testing.T, f *fixture) {
		a, root := f.account()
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		_, err := f.db.AccountByID(ctx, a.ID)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("AccountByID(canceled context) = %v, want context.Canceled", err)
		}
		_, err = f.db.Children(ctx, a.ID, root.ID)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Children(canceled context) = %v, want context.Canceled", err)
		}
		e := f.entry(a.ID, root.ID, metadb.KindFolder, metadb.ID16{})
		err = f.db.CreateEntry(ctx, e)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("CreateEntry(canceled context) = %v, want context.Canceled", err)
		}
		_, err = f.db.Entry(f.ctx, a.ID, e.ID)
		wantErr(t, "Entry(created with a canceled context)", err, metadb.ErrNotFound)
		o := metadb.Object{ID: f.id(), Account: a.ID, State: metadb.ObjectPending, Created: at(0)}
		if err := f.db.CreateObject(ctx, o); !errors.Is(err, context.Canceled) {
			t.Errorf("CreateObject(canceled context) = %v, want context.Canceled", err)
		}
		_, err = f.db.Object(f.ctx, a.ID, o.ID)
		wantErr(t, "Object(created with a canceled context)", err, metadb.ErrNotFound)
	}},
}
