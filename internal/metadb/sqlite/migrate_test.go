package sqlite

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
)

// v1Data is what v1Database stores, with the schema of version 1 only.
type v1Data struct {
	account     metadb.Account
	root, trash metadb.Entry
	folder      metadb.Entry
	file        metadb.Entry // references object
	object      metadb.ID16
	records     []metadb.JournalRecord
	session     metadb.Session
	token       metadb.Token
}

// stmt is an SQL statement with its arguments.
type stmt struct {
	q    string
	args []any
}

// v1Database creates, at path, a database as nuage wrote it at schema
// version 1 (only migration 0001 applied), holding an account with a
// folder, a file with a committed object, a session and a token, written
// with plain SQL against that schema.
func v1Database(tb testing.TB, path string) v1Data {
	tb.Helper()
	ctx := tb.Context()
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if err := migrateTo(ctx, w, 1); err != nil {
		tb.Fatalf("migrate to version 1: %v", err)
	}
	a, root, trash, first := testAccount(1)
	// Times read back in UTC.
	a.Created, first.Created = a.Created.UTC(), first.Created.UTC()
	root.Created, root.Updated, trash.Created, trash.Updated = a.Created, a.Created, a.Created, a.Created
	second := testRecord(a.ID, 2)
	second.Created = second.Created.UTC()
	a.RecoveryVerifier, a.RecoveryWrap = bytes.Repeat([]byte{7}, 32), []byte("recovery wrap")
	a.TOTPSecret, a.TOTPLastStep = []byte("totp secret"), 42
	d := v1Data{
		account: a,
		root:    root,
		trash:   trash,
		folder: metadb.Entry{ID: metadb.ID16{4, 1}, Account: a.ID, Parent: root.ID, Kind: metadb.KindFolder, NameTag: []byte("dir"),
			WrappedKey: []byte("dir key"), Meta: []byte("dir meta"), Created: a.Created, Updated: a.Created},
		object:  metadb.ID16{6, 1},
		records: []metadb.JournalRecord{first, second},
		session: metadb.Session{TokenHash: sha256.Sum256([]byte("v1 session")), Account: a.ID,
			Expires: time.Now().Add(time.Hour).Truncate(time.Microsecond).UTC()},
		token: metadb.Token{ID: metadb.ID16{7, 1}, Account: a.ID, Name: "laptop", Verifier: bytes.Repeat([]byte{8}, 32),
			WrappedMasterKey: []byte("token wrap"), Created: a.Created},
	}
	d.file = metadb.Entry{ID: metadb.ID16{5, 1}, Account: a.ID, Parent: d.folder.ID, Kind: metadb.KindFile, NameTag: []byte("file"),
		WrappedKey: []byte("file key"), Meta: []byte("file meta"), Objects: []metadb.ID16{d.object}, Created: a.Created, Updated: a.Created}
	stmts := []stmt{
		{`INSERT INTO accounts (id, email, kdf, verifier, wrapped_master_key, root_entry, trash_entry, public_key, wrapped_private_key,
	recovery_verifier, recovery_wrap, totp_secret, totp_last_step, created)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			[]any{a.ID[:], a.Email, a.KDF, a.Verifier, a.WrappedMasterKey, a.RootEntry[:], a.TrashEntry[:], a.PublicKey,
				a.WrappedPrivateKey, a.RecoveryVerifier, a.RecoveryWrap, a.TOTPSecret, a.TOTPLastStep, encTime(a.Created)}},
		{`INSERT INTO objects (id, account, state, size, segments, created) VALUES ($1, $2, 'committed', 10, 1, $3)`,
			[]any{d.object[:], a.ID[:], encTime(a.Created)}},
		{`INSERT INTO sessions (token_hash, account, expires) VALUES ($1, $2, $3)`,
			[]any{d.session.TokenHash[:], a.ID[:], encTime(d.session.Expires)}},
		{`INSERT INTO tokens (id, account, name, verifier, wrapped_master_key, created, last_used) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			[]any{d.token.ID[:], a.ID[:], d.token.Name, d.token.Verifier, d.token.WrappedMasterKey, encTime(d.token.Created), zeroTime}},
	}
	for _, e := range []*metadb.Entry{&d.root, &d.trash, &d.folder, &d.file} {
		stmts = append(stmts, stmt{`INSERT INTO entries (id, account, parent, kind, name_tag, wrapped_key, meta, created, updated)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, []any{e.ID[:], e.Account[:], nullID(e.Parent), string(e.Kind), blob(e.NameTag), blob(e.WrappedKey), blob(e.Meta),
			encTime(e.Created), encTime(e.Updated)}})
	}
	stmts = append(stmts, stmt{`INSERT INTO entry_objects (entry, idx, object) VALUES ($1, 0, $2)`, []any{d.file.ID[:], d.object[:]}})
	for _, r := range d.records {
		stmts = append(stmts, stmt{`INSERT INTO journal (account, seq, hash, data, created) VALUES ($1, $2, $3, $4, $5)`,
			[]any{a.ID[:], int64(r.Seq), r.Hash[:], r.Data, encTime(r.Created)}})
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.q, s.args...); err != nil {
			tb.Fatalf("v1 insert: %v\n%s", err, s.q)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	var version int
	if err := w.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil || version != 1 {
		tb.Fatalf("v1 database at version %d (%v)", version, err)
	}
	return d
}

func TestMigrateFromV1(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "v1.db")
	d := v1Database(t, path)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open(v1 database): %v", err)
	}
	defer db.Close()

	var versions []int
	rows, err := db.r.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	rows.Close()
	if len(versions) != SchemaVersion || versions[0] != 1 || versions[len(versions)-1] != SchemaVersion {
		t.Fatalf("schema_migrations = %v, want 1..%d", versions, SchemaVersion)
	}
	var integrity string
	if err := db.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("PRAGMA integrity_check after the migration = %q, %v", integrity, err)
	}
	if err := db.r.QueryRowContext(ctx, "PRAGMA foreign_key_check").Scan(); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("PRAGMA foreign_key_check after the migration: %v, want no rows", err)
	}

	// The data of version 1 reads back unchanged, with the new fields empty.
	got, err := db.AccountByID(ctx, d.account.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := fmtAny(got), fmtAny(d.account); g != w {
		t.Errorf("account after the migration:\n got %s\nwant %s", g, w)
	}
	for _, want := range []metadb.Entry{d.root, d.trash, d.folder, d.file} {
		e, err := db.Entry(ctx, d.account.ID, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := fmtAny(e), fmtAny(want); g != w {
			t.Errorf("entry after the migration:\n got %s\nwant %s", g, w)
		}
	}
	recs, err := db.Journal(ctx, d.account.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := fmtAny(recs), fmtAny(d.records); g != w {
		t.Errorf("journal after the migration:\n got %s\nwant %s", g, w)
	}
	s, err := db.SessionByToken(ctx, d.session.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := fmtAny(s), fmtAny(d.session); g != w {
		t.Errorf("session after the migration:\n got %s\nwant %s", g, w)
	}
	tok, err := db.Token(ctx, d.token.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := fmtAny(tok), fmtAny(d.token); g != w {
		t.Errorf("token after the migration:\n got %s\nwant %s", g, w)
	}
	if ids, err := db.EntriesWithObject(ctx, d.account.ID, d.object); err != nil || len(ids) != 1 || ids[0] != d.file.ID {
		t.Errorf("EntriesWithObject after the migration = %x, %v", ids, err)
	}
	if ids, err := db.Ancestors(ctx, d.account.ID, d.file.ID, 256); err != nil || len(ids) != 2 || ids[0] != d.folder.ID || ids[1] != d.root.ID {
		t.Errorf("Ancestors after the migration = %x, %v", ids, err)
	}

	// And the account takes up sharing.
	if err := db.SetSigningKey(ctx, d.account.ID, bytes.Repeat([]byte{9}, 32), []byte("wrapped seed")); err != nil {
		t.Fatalf("SetSigningKey after the migration: %v", err)
	}
	b, rootB, trashB, firstB := testAccount(2)
	if err := db.CreateAccount(ctx, b, rootB, trashB, firstB); err != nil {
		t.Fatal(err)
	}
	l := metadb.Link{ID: metadb.ID16{10}, Account: d.account.ID, Target: d.folder.ID, Created: time.Unix(1, 0), MaxDownloads: 1,
		Verifier: []byte("v"), WrappedLinkKey: []byte("l"), WrappedTargetKey: []byte("t"), OwnerLinkKey: []byte("o"), OwnerSecret: []byte("s")}
	if err := db.CreateLink(ctx, l); err != nil {
		t.Fatalf("CreateLink after the migration: %v", err)
	}
	ls := metadb.Session{TokenHash: sha256.Sum256([]byte("link session")), Account: d.account.ID, Expires: time.Now().Add(time.Hour),
		Root: d.folder.ID, Link: l.ID}
	if err := db.CreateSession(ctx, ls); err != nil {
		t.Fatalf("CreateSession(link) after the migration: %v", err)
	}
	if err := db.MarkDownloaded(ctx, ls.TokenHash); err != nil {
		t.Fatalf("MarkDownloaded after the migration: %v", err)
	}
	key := metadb.WriteKey{ID: metadb.ID16{11}, Root: d.folder.ID, Active: true}
	rec := testRecord(d.account.ID, 3)
	rec.Grants = []metadb.WriteKey{key}
	if err := db.Commit(ctx, d.account.ID, rec, d.records[1].Hash, nil, nil); err != nil {
		t.Fatalf("Commit(grant) after the migration: %v", err)
	}
	sh := metadb.Share{ID: metadb.ID16{12}, Owner: d.account.ID, Root: d.folder.ID, Recipient: b.ID, Write: true, KeyID: key.ID,
		Epoch: 1, Sealed: []byte("sealed")}
	if err := db.CreateShare(ctx, sh); err != nil {
		t.Fatalf("CreateShare after the migration: %v", err)
	}
	// The session of version 1 is an ordinary session of the account.
	if n, err := db.DeleteSessions(ctx, d.account.ID, [32]byte{}); err != nil || n != 2 {
		t.Errorf("DeleteSessions after the migration = %d, %v; want 2", n, err)
	}
}

// fmtAny prints v with its field names, for comparisons of values whose
// times are all in UTC.
func fmtAny(v any) string { return fmt.Sprintf("%+v", v) }

// TestQueryPlans checks that the lookups of schema version 2 use the
// indexes made for them: no full scan, no sort.
func TestQueryPlans(t *testing.T) {
	db := openTemp(t)
	for _, tc := range []struct {
		name, query, index string
		args               int
	}{
		{"DeleteSessions", deleteSessionsQuery, "sessions_account", 2},
		{"DeleteSessions (opened)", deleteOpenedQuery, "sessions_opener", 2},
		{"DeleteShareSessions", deleteShareSessionsQuery, "sessions_share", 1},
		{"DeleteLinkSessions", deleteLinkSessionsQuery, "sessions_link", 1},
		{"Links", linksQuery, "links_account_created", 1},
		{"SharesByOwner", sharesByOwnerQuery, "shares_owner_created", 1},
		{"SharesByRecipient", sharesByRecipientQuery, "shares_recipient_created", 1},
		{"EntriesWithObject", entriesWithObjectQuery, "sqlite_autoindex_entry_objects", 2},
	} {
		args := make([]any, tc.args)
		for i := range args {
			args[i] = make([]byte, 16)
		}
		rows, err := db.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var (
				id, parent, unused int
				detail             string
			)
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		all := strings.Join(plan, "; ")
		if !strings.Contains(all, "INDEX "+tc.index) || strings.Contains(all, "SCAN") || strings.Contains(all, "TEMP B-TREE") {
			t.Errorf("%s: query plan %q, want a search of index %s without a scan or a sort", tc.name, all, tc.index)
		}
	}
}
