package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/metadb/metadbtest"
)

// openTemp opens a fresh database in a temporary directory, closed when
// the test ends.
func openTemp(t testing.TB) *DB {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestSuite(t *testing.T) {
	metadbtest.Run(t, func(t *testing.T) metadb.DB { return openTemp(t) })
}

// testAccount returns (without creating it) account n with its root and
// trash folders and first journal record.
func testAccount(n byte) (metadb.Account, metadb.Entry, metadb.Entry, metadb.JournalRecord) {
	a := metadb.Account{
		ID:                metadb.ID16{1, n},
		Email:             fmt.Sprintf("user%d@example.org", n),
		KDF:               []byte(`{"t":3}`),
		Verifier:          bytes.Repeat([]byte{n}, 32),
		WrappedMasterKey:  []byte("wrapped"),
		RootEntry:         metadb.ID16{2, n},
		TrashEntry:        metadb.ID16{3, n},
		PublicKey:         bytes.Repeat([]byte{n}, 32),
		WrappedPrivateKey: []byte("wrapped private key"),
		Created:           time.Unix(1763800000, 0),
	}
	root := metadb.Entry{ID: a.RootEntry, Account: a.ID, Kind: metadb.KindFolder, NameTag: []byte("root"), Created: a.Created, Updated: a.Created}
	trash := metadb.Entry{ID: a.TrashEntry, Account: a.ID, Kind: metadb.KindFolder, NameTag: []byte("trash"), Created: a.Created, Updated: a.Created}
	return a, root, trash, testRecord(a.ID, 1)
}

// testRecord returns a journal record of the account.
func testRecord(account metadb.ID16, seq uint64) metadb.JournalRecord {
	data := fmt.Appendf(nil, "record %x/%d", account, seq)
	return metadb.JournalRecord{Seq: seq, Hash: sha256.Sum256(data), Data: data, Created: time.Unix(1763800000, 0)}
}

// createAccount creates account n and returns it with its root folder.
func createAccount(t testing.TB, db *DB, n byte) (metadb.Account, metadb.Entry) {
	t.Helper()
	a, root, trash, first := testAccount(n)
	if err := db.CreateAccount(t.Context(), a, root, trash, first); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	return a, root
}

// commit commits puts and deletes with the account's next record.
func commit(ctx context.Context, db *DB, account metadb.ID16, puts []metadb.Entry, deletes ...metadb.ID16) error {
	seq, head, err := db.JournalHead(ctx, account)
	if err != nil {
		return err
	}
	return db.Commit(ctx, account, testRecord(account, seq+1), head, puts, deletes)
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a, root := createAccount(t, db, 1)
	child := metadb.Entry{ID: metadb.ID16{3}, Account: a.ID, Parent: root.ID, Kind: metadb.KindFolder, NameTag: []byte("c"), Meta: []byte("meta")}
	if err := commit(ctx, db, a.ID, []metadb.Entry{child}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	got, err := db.AccountByEmail(ctx, a.Email)
	if err != nil || got.ID != a.ID || !got.Created.Equal(a.Created) {
		t.Fatalf("AccountByEmail after reopen = %+v, %v", got, err)
	}
	children, err := db.Children(ctx, a.ID, root.ID)
	if err != nil || len(children) != 1 || children[0].ID != child.ID || string(children[0].Meta) != "meta" {
		t.Fatalf("Children after reopen = %+v, %v", children, err)
	}
	if seq, _, err := db.JournalHead(ctx, a.ID); err != nil || seq != 2 {
		t.Fatalf("JournalHead after reopen = %d, %v; want 2", seq, err)
	}
	var versions int
	if err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&versions); err != nil || versions != SchemaVersion {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", versions, err, SchemaVersion)
	}
}

func TestOpenCreatesDirectoryAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "meta.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The schema was just written, so the WAL and its index exist too.
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(name), perm)
		}
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("created directory mode %v, want no group or other access", perm)
	}
	// The pragmas the package promises.
	for _, p := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "2"},
		{"busy_timeout", "10000"},
	} {
		for name, pool := range map[string]*sql.DB{"writer": db.w, "reader": db.r} {
			var v string
			if err := pool.QueryRowContext(t.Context(), "PRAGMA "+p.pragma).Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v != p.want {
				t.Errorf("%s PRAGMA %s = %s, want %s", name, p.pragma, v, p.want)
			}
		}
	}
	// The reader pool cannot write.
	if _, err := db.r.ExecContext(t.Context(), "DELETE FROM accounts"); err == nil {
		t.Error("the read-only pool accepted a write")
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "we?ird#na%20me.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	createAccount(t, db, 1)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

func TestOpenNotADatabase(t *testing.T) {
	header := []byte("SQLite format 3\x00")
	tests := []struct {
		name     string
		contents []byte
	}{
		{"text", []byte("this is not a database, just some notes\n")},
		{"random", func() []byte {
			b := make([]byte, 8192)
			for i := range b {
				b[i] = byte(i*131 + i/7)
			}
			return b
		}()},
		{"damaged header", append(append([]byte{}, header...), bytes.Repeat([]byte{0xff}, 4096)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "meta.db")
			if err := os.WriteFile(path, tc.contents, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(t.Context(), path)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded on a file that is not a database")
			}
			if !errors.Is(err, ErrNotDatabase) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open = %v, want ErrNotDatabase naming the file", err)
			}
			b, _ := os.ReadFile(path)
			if !bytes.Equal(b, tc.contents) {
				t.Error("Open modified a file that is not a database")
			}
		})
	}
}

func TestOpenForeignDatabase(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "other.db")
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.ExecContext(ctx, "CREATE TABLE notes (body TEXT)"); err != nil {
		t.Fatal(err)
	}
	other.Close()
	db, err := Open(ctx, path)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on another application's database")
	}
	if !errors.Is(err, ErrNotDatabase) {
		t.Errorf("Open = %v, want ErrNotDatabase", err)
	}
}

func TestOpenNewerSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied) VALUES ($1, 0)", SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, path)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a newer schema")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("Open = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenConcurrently(t *testing.T) {
	// Several processes (here: DBs) opening a new file at once apply the
	// schema exactly once.
	path := filepath.Join(t.TempDir(), "meta.db")
	const n = 4
	dbs := make(chan *DB, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			db, err := Open(t.Context(), path)
			if err != nil {
				errs <- err
				return
			}
			dbs <- db
		}()
	}
	for range n {
		select {
		case err := <-errs:
			t.Error(err)
		case db := <-dbs:
			defer db.Close()
		}
	}
}

func TestTimeEncoding(t *testing.T) {
	tests := []struct {
		in, want time.Time
	}{
		{time.Time{}, time.Time{}},
		{time.Unix(0, 0), time.Unix(0, 0)},
		{time.Unix(1763800000, 123456789), time.Unix(1763800000, 123456789)},
		{time.Unix(-1, 5), time.Unix(-1, 5)},
		{time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, math.MaxInt64)},
	}
	for _, tc := range tests {
		got := decTime(encTime(tc.in))
		if !got.Equal(tc.want) {
			t.Errorf("decTime(encTime(%v)) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestErrorsWrapDriverError(t *testing.T) {
	db := openTemp(t)
	a, _ := createAccount(t, db, 1)
	b, rootB, trashB, firstB := testAccount(2)
	b.Email = a.Email
	err := db.CreateAccount(t.Context(), b, rootB, trashB, firstB)
	if !errors.Is(err, metadb.ErrExists) || !strings.Contains(err.Error(), "create account") {
		t.Fatalf("CreateAccount(duplicate) = %v", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Fatal("a constraint violation reported as ErrInvalid")
	}
}

// benchFolder creates an account whose root folder holds n files, every
// other one with a committed object.
func benchFolder(b *testing.B, db *DB, n int) (metadb.Account, metadb.Entry) {
	b.Helper()
	ctx := b.Context()
	a, root := createAccount(b, db, 1)
	// One transaction: 10,000 fsyncs would make the setup take longer
	// than the benchmark.
	err := db.write(ctx, "bench setup", func(tx *sql.Tx) error {
		for i := range n {
			e := benchEntry(a, root, uint64(i))
			if _, err := tx.ExecContext(ctx, insertEntry, entryArgs(&e, encTime(e.Created))...); err != nil {
				return err
			}
			if i%2 == 1 {
				continue
			}
			o := e.ID
			o[0] = 0x0b
			if _, err := tx.ExecContext(ctx, `INSERT INTO objects (id, account, state, size, segments, created) VALUES ($1, $2, 'committed', 1000, 1, 0)`,
				o[:], a.ID[:]); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO entry_objects (entry, idx, object) VALUES ($1, 0, $2)`, e.ID[:], o[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return a, root
}

func benchEntry(a metadb.Account, parent metadb.Entry, i uint64) metadb.Entry {
	e := metadb.Entry{
		Account:    a.ID,
		Parent:     parent.ID,
		Kind:       metadb.KindFile,
		NameTag:    make([]byte, 16),
		WrappedKey: make([]byte, 61),
		Meta:       make([]byte, 200),
		Created:    a.Created,
		Updated:    a.Created,
	}
	e.ID[0] = 0xee
	binary.BigEndian.PutUint64(e.ID[8:], i)
	binary.BigEndian.PutUint64(e.NameTag, i)
	return e
}

// BenchmarkCommit measures a group commit of 100 new inline files into a
// folder of 10,000, the shape of a `put -r` of small files.
func BenchmarkCommit(b *testing.B) {
	const batch = 100
	db := openTemp(b)
	a, root := benchFolder(b, db, 10_000)
	ctx := b.Context()
	puts := make([]metadb.Entry, batch)
	b.ReportAllocs()
	b.SetBytes(batch * (16 + 61 + 200))
	i := uint64(10_000)
	for b.Loop() {
		for j := range puts {
			puts[j] = benchEntry(a, root, i)
			i++
		}
		if err := commit(ctx, db, a.ID, puts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChildren10k(b *testing.B) {
	db := openTemp(b)
	a, root := benchFolder(b, db, 10_000)
	ctx := b.Context()
	b.ReportAllocs()
	b.SetBytes(10_000 * (16 + 61 + 200))
	for b.Loop() {
		es, err := db.Children(ctx, a.ID, root.ID)
		if err != nil || len(es) != 10_000 {
			b.Fatalf("Children = %d, %v", len(es), err)
		}
	}
}

// BenchmarkJournal measures a fresh device's replay: 100 records of 500
// changes (65 bytes each).
func BenchmarkJournal(b *testing.B) {
	const (
		records = 100
		size    = 500 * 65
	)
	db := openTemp(b)
	ctx := b.Context()
	a, _ := createAccount(b, db, 1)
	err := db.write(ctx, "bench setup", func(tx *sql.Tx) error {
		for seq := uint64(2); seq <= records; seq++ {
			data := make([]byte, size)
			binary.BigEndian.PutUint64(data, seq)
			rec := metadb.JournalRecord{Seq: seq, Hash: sha256.Sum256(data), Data: data}
			if err := appendRecord(ctx, tx, a.ID, &rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes((records - 1) * size)
	for b.Loop() {
		recs, err := db.Journal(ctx, a.ID, 1, 1000)
		if err != nil || len(recs) != records-1 {
			b.Fatalf("Journal = %d, %v", len(recs), err)
		}
	}
}
