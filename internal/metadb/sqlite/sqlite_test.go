package sqlite

import (
	"bytes"
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

func testAccount(n byte) (metadb.Account, metadb.Entry) {
	a := metadb.Account{
		ID:               metadb.ID16{1, n},
		Email:            fmt.Sprintf("user%d@example.org", n),
		KDF:              []byte(`{"t":3}`),
		Verifier:         bytes.Repeat([]byte{n}, 32),
		WrappedMasterKey: []byte("wrapped"),
		RootEntry:        metadb.ID16{2, n},
		Created:          time.Unix(1763800000, 0),
	}
	root := metadb.Entry{ID: a.RootEntry, Account: a.ID, Kind: metadb.KindFolder, NameTag: []byte("root"), Created: a.Created, Updated: a.Created}
	return a, root
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a, root := testAccount(1)
	if err := db.CreateAccount(ctx, a, root); err != nil {
		t.Fatal(err)
	}
	child := metadb.Entry{ID: metadb.ID16{3}, Account: a.ID, Parent: root.ID, Kind: metadb.KindFolder, NameTag: []byte("c"), Meta: []byte("meta")}
	if err := db.CreateEntry(ctx, child); err != nil {
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
	a, root := testAccount(1)
	if err := db.CreateAccount(t.Context(), a, root); err != nil {
		t.Fatal(err)
	}
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
	a, root := testAccount(1)
	if err := db.CreateAccount(t.Context(), a, root); err != nil {
		t.Fatal(err)
	}
	b, rootB := testAccount(2)
	b.Email = a.Email
	err := db.CreateAccount(t.Context(), b, rootB)
	if !errors.Is(err, metadb.ErrExists) || !strings.Contains(err.Error(), "create account") {
		t.Fatalf("CreateAccount(duplicate) = %v", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Fatal("a constraint violation reported as ErrInvalid")
	}
}

// benchFolder creates an account whose root folder holds n files.
func benchFolder(b *testing.B, db *DB, n int) (metadb.Account, metadb.Entry) {
	b.Helper()
	ctx := b.Context()
	a, root := testAccount(1)
	if err := db.CreateAccount(ctx, a, root); err != nil {
		b.Fatal(err)
	}
	// One transaction: 10,000 fsyncs would make the setup take longer
	// than the benchmark.
	err := db.write(ctx, "bench setup", func(tx *sql.Tx) error {
		for i := range n {
			e := benchEntry(a, root, uint64(i))
			if err := insertEntry(ctx, tx, &e); err != nil {
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

func BenchmarkCreateEntry(b *testing.B) {
	db := openTemp(b)
	a, root := benchFolder(b, db, 10_000)
	ctx := b.Context()
	b.ReportAllocs()
	i := uint64(10_000)
	for b.Loop() {
		if err := db.CreateEntry(ctx, benchEntry(a, root, i)); err != nil {
			b.Fatal(err)
		}
		i++
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
