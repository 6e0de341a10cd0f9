package sqlite

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
)

// TestSharingInvalid checks the calls this package refuses as ErrInvalid
// (the suite accepts any error for them).
func TestSharingInvalid(t *testing.T) {
	ctx := t.Context()
	db := openTemp(t)
	a, root := createAccount(t, db, 1)
	b, rootB := createAccount(t, db, 2)
	l := metadb.Link{ID: metadb.ID16{0x11}, Account: a.ID, Target: root.ID, Verifier: []byte("v"), WrappedLinkKey: []byte("l"),
		WrappedTargetKey: []byte("t"), OwnerLinkKey: []byte("o"), OwnerSecret: []byte("s")}
	if err := db.CreateLink(ctx, l); err != nil {
		t.Fatal(err)
	}
	sh := metadb.Share{ID: metadb.ID16{0x12}, Owner: a.ID, Root: root.ID, Recipient: b.ID, Sealed: []byte("sealed")}
	if err := db.CreateShare(ctx, sh); err != nil {
		t.Fatal(err)
	}
	login := metadb.Session{TokenHash: sha256.Sum256([]byte("login")), Account: a.ID, Expires: time.Now().Add(time.Hour)}
	if err := db.CreateSession(ctx, login); err != nil {
		t.Fatal(err)
	}
	session := func(s metadb.Session) func() error {
		return func() error {
			s.TokenHash = sha256.Sum256([]byte(t.Name()))
			s.Expires = time.Now().Add(time.Hour)
			return db.CreateSession(ctx, s)
		}
	}
	grant := func(k metadb.WriteKey) func() error {
		return func() error {
			seq, head, err := db.JournalHead(ctx, a.ID)
			if err != nil {
				return err
			}
			rec := testRecord(a.ID, seq+1)
			rec.Grants = []metadb.WriteKey{k}
			return db.Commit(ctx, a.ID, rec, head, nil, nil)
		}
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"link session of another account", session(metadb.Session{Account: b.ID, Root: rootB.ID, Link: l.ID})},
		{"share session of the recipient", session(metadb.Session{Account: b.ID, Root: root.ID, Share: sh.ID})},
		{"writable session without a share", session(metadb.Session{Account: a.ID, Root: root.ID, Write: true})},
		{"downloaded session without a link", session(metadb.Session{Account: a.ID, Downloaded: true})},
		{"MarkDownloaded of a login", func() error { return db.MarkDownloaded(ctx, login.TokenHash) }},
		{"grant of a zero key", grant(metadb.WriteKey{Root: root.ID})},
		{"grant for a zero folder", grant(metadb.WriteKey{ID: metadb.ID16{0x13}})},
		{"signing key without its wrap", func() error {
			c, rootC, trashC, first := testAccount(3)
			c.SigningKey = make([]byte, 32)
			return db.CreateAccount(ctx, c, rootC, trashC, first)
		}},
		{"Ancestors with a negative limit", func() error { _, err := db.Ancestors(ctx, a.ID, root.ID, -1); return err }},
		{"RevokeLink at the zero time", func() error { return db.RevokeLink(ctx, a.ID, l.ID, time.Time{}) }},
		{"UpdateShare to read-only with a key", func() error {
			s := sh
			s.KeyID = metadb.ID16{0x14}
			return db.UpdateShare(ctx, a.ID, s)
		}},
	} {
		if err := tc.call(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
}

// TestAncestorsBrokenChain checks that a parent missing from a damaged
// database is an error, not a shorter list.
func TestAncestorsBrokenChain(t *testing.T) {
	ctx := t.Context()
	db := openTemp(t)
	a, root := createAccount(t, db, 1)
	dir := metadb.Entry{ID: metadb.ID16{0x21}, Account: a.ID, Parent: root.ID, Kind: metadb.KindFolder, NameTag: []byte("d")}
	if err := commit(ctx, db, a.ID, []metadb.Entry{dir}); err != nil {
		t.Fatal(err)
	}
	// Damage the database as a faulty disk or a hand edit might: the
	// folder's parent names no entry. The writer pool is one connection,
	// so the pragma holds for the update.
	for _, q := range []string{`PRAGMA foreign_keys = OFF`, `UPDATE entries SET parent = $1 WHERE id = $2`, `PRAGMA foreign_keys = ON`} {
		var args []any
		if q[0] == 'U' {
			args = []any{[]byte{0x22, 15: 0}, dir.ID[:]}
		}
		if _, err := db.w.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := db.Ancestors(ctx, a.ID, dir.ID, 256)
	if err == nil || errors.Is(err, metadb.ErrNotFound) || errors.Is(err, metadb.ErrConflict) {
		t.Errorf("Ancestors(broken chain) = %x, %v; want an error that is neither ErrNotFound nor ErrConflict", ids, err)
	}
}

// BenchmarkAncestors measures the subtree check of a scoped request: the
// walk up from an entry 32 folders deep.
func BenchmarkAncestors(b *testing.B) {
	const depth = 32
	db := openTemp(b)
	ctx := b.Context()
	a, root := createAccount(b, db, 1)
	chain := make([]metadb.Entry, depth)
	parent := root.ID
	for i := range chain {
		chain[i] = metadb.Entry{ID: metadb.ID16{0x30, byte(i)}, Account: a.ID, Parent: parent, Kind: metadb.KindFolder, NameTag: []byte("d")}
		parent = chain[i].ID
	}
	if err := commit(ctx, db, a.ID, chain); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ids, err := db.Ancestors(ctx, a.ID, parent, 256)
		if err != nil || len(ids) != depth {
			b.Fatalf("Ancestors = %d, %v", len(ids), err)
		}
	}
}

// BenchmarkSessionByToken measures the lookup every authenticated request
// makes, for a scoped session.
func BenchmarkSessionByToken(b *testing.B) {
	db := openTemp(b)
	ctx := b.Context()
	a, root := createAccount(b, db, 1)
	l := metadb.Link{ID: metadb.ID16{0x11}, Account: a.ID, Target: root.ID, Verifier: []byte("v"), WrappedLinkKey: []byte("l"),
		WrappedTargetKey: []byte("t"), OwnerLinkKey: []byte("o"), OwnerSecret: []byte("s")}
	if err := db.CreateLink(ctx, l); err != nil {
		b.Fatal(err)
	}
	s := metadb.Session{TokenHash: sha256.Sum256([]byte("token")), Account: a.ID, Expires: time.Now().Add(time.Hour), Root: root.ID, Link: l.ID}
	if err := db.CreateSession(ctx, s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := db.SessionByToken(ctx, s.TokenHash)
		if err != nil || got.Link != l.ID {
			b.Fatalf("SessionByToken = %+v, %v", got, err)
		}
	}
}
