// Package sqlite implements metadb.DB on an embedded SQLite database
// (modernc.org/sqlite, pure Go), the coordinator's default storage.
//
// # Connections
//
// SQLite allows one writer at a time. A DB therefore keeps two pools on the
// same file: a writer pool of exactly one connection, whose transactions all
// start with BEGIN IMMEDIATE (the DSN's _txlock=immediate), and a pool of
// read-only connections. In WAL mode readers never block the writer nor the
// writer the readers, and since the only writer takes its lock up front a
// transaction never has to upgrade a read lock to a write lock, the classic
// source of SQLITE_BUSY deadlocks. Concurrent writers in this process queue
// for the writer connection (honouring their contexts) instead of spinning
// on the file lock; busy_timeout covers the remaining cases (another
// process on the same file, checkpoints).
//
// # Encoding
//
// IDs are stored as BLOBs, times as Unix nanoseconds in a BIGINT (UTC on
// the way out). The zero time.Time round-trips; outside what int64
// nanoseconds cover (1678 to 2262), an earlier time reads back as the zero
// time and a later one as the latest time that fits. The expected piece IDs of a segment
// are one BLOB, the IDs concatenated in piece order. The objects of an
// entry are rows of entry_objects, with their position in the entry. A
// journal record is stored as given, with its seq (at most the largest
// BIGINT) and hash. The schema is in migrations/: 0001_v1.sql, then
// 0002_sharing.sql (signing keys, links, shares, write keys, scoped
// sessions); its version is recorded in the schema_migrations table, and
// Open migrates an older database in one transaction.
//
// # Commits
//
// Commit applies a journal record's puts and deletes in one write
// transaction, checked against the tree it leaves rather than step by
// step; see its documentation. The foreign key from an entry to its parent
// is deferred to the end of the transaction for that reason, and Commit
// checks every parent itself before it ends.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/piece"
)

var (
	// ErrNotDatabase reports a file that is not a nuage coordinator
	// database: not SQLite at all, corrupted, or the SQLite database of
	// another application.
	ErrNotDatabase = errors.New("sqlite: not a nuage metadata database")
	// ErrSchemaTooNew reports a database written by a newer version of
	// nuage, whose schema this version does not know.
	ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this version of nuage supports")
	// ErrInvalid reports an argument that breaks the metadb contract (a
	// zero ID where one is required, a segment whose k exceeds n, …): a
	// bug in the caller, not a state of the database.
	ErrInvalid = errors.New("sqlite: invalid argument")
)

// busyTimeout is how long a statement waits for a lock held by another
// connection before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// readConns is the size of the read-only pool. Reads are short; a few
// connections keep a 2-core machine busy without holding much page cache.
const readConns = 4

// DB is a metadb.DB stored in one SQLite file. It is safe for concurrent
// use; see the package documentation for how it schedules writers.
type DB struct {
	w    *sql.DB // one connection, write transactions (BEGIN IMMEDIATE)
	r    *sql.DB // read-only connections
	ws   stmtSet // writeQueries, prepared on w
	rs   stmtSet // readQueries, prepared on r
	path string
}

// writeQueries and readQueries are the statements prepared when the
// database opens (stmtSet): those of the calls every segment of an upload
// or a download and every commit make.
var (
	writeQueries = []string{
		lookupEntryQuery, entryObjectsQuery, dropObjectsQuery, dropEntryQuery, insertEntry, objectStateQuery,
		linkObjectQuery, folderKindQuery, hasChildQuery, ancestorQuery, objectInUseQuery,
		objectOfAccountQuery, putSegmentQuery, segmentShapeQuery, segmentPiecesQuery, dropPiecesQuery,
		insertPieceQuery, cancelDeletionQuery, commitSegmentQuery,
	}
	readQueries = []string{
		sessionByTokenQuery, objectQuery, objectExistsQuery, segmentsQuery, segmentExistsQuery,
		piecesQuery, nodesSeenQuery, nodeByIDQuery,
	}
)

var _ metadb.DB = (*DB)(nil)

// Open opens the database at path, creating the file (mode 0600) and its
// parent directory (mode 0700) when missing, and brings its schema up to
// the current version. A file that is not a nuage database yields an error
// wrapping ErrNotDatabase; one from a newer nuage, ErrSchemaTooNew.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite: open: %w: empty path", ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Create the file ourselves so that it gets mode 0600; SQLite gives its
	// -wal and -shm files the mode of the database file.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	db := &DB{path: abs}
	db.w, err = sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, db.openErr(err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	db.w.SetConnMaxIdleTime(0)
	if err := db.w.PingContext(ctx); err != nil {
		db.w.Close()
		return nil, db.openErr(err)
	}
	if err := migrate(ctx, db.w); err != nil {
		db.w.Close()
		return nil, db.openErr(err)
	}

	db.r, err = sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		db.w.Close()
		return nil, db.openErr(err)
	}
	db.r.SetMaxOpenConns(readConns)
	db.r.SetMaxIdleConns(readConns)
	db.r.SetConnMaxLifetime(0)
	db.r.SetConnMaxIdleTime(0)
	if err := db.r.PingContext(ctx); err != nil {
		db.r.Close()
		db.w.Close()
		return nil, db.openErr(err)
	}
	if db.ws, err = prepareSet(ctx, db.w, writeQueries); err != nil {
		db.r.Close()
		db.w.Close()
		return nil, db.openErr(err)
	}
	if db.rs, err = prepareSet(ctx, db.r, readQueries); err != nil {
		db.ws.close()
		db.r.Close()
		db.w.Close()
		return nil, db.openErr(err)
	}
	return db, nil
}

// dsn returns the modernc.org/sqlite data source name for the file at the
// absolute path abs.
//
// synchronous=FULL: in WAL mode, NORMAL syncs the WAL only at checkpoints,
// so a power loss can roll back transactions that were already
// acknowledged. An acknowledged commit here is a promise to a client that
// its file is stored (and to nodes that their pieces are wanted); losing it
// loses the user's file while its pieces linger as orphans. FULL costs one
// fsync of the WAL per write transaction; the two per uploaded segment,
// which metadb.DB lets a crash lose until a later write is durable, run
// with NORMAL instead (writeLazy).
func dsn(abs string, readOnly bool) string {
	var b strings.Builder
	b.WriteString("file:")
	b.WriteString(escapeURIPath(filepath.ToSlash(abs)))
	fmt.Fprintf(&b, "?_busy_timeout=%d&_foreign_keys=1&_synchronous=FULL", busyTimeout.Milliseconds())
	if readOnly {
		b.WriteString("&_query_only=1")
	} else {
		b.WriteString("&_journal_mode=WAL&_txlock=immediate")
	}
	return b.String()
}

// escapeURIPath escapes the characters that have a meaning in an SQLite URI
// filename.
func escapeURIPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// openErr wraps an error met while opening the database.
func (db *DB) openErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("sqlite: open %s: %w: %w", db.path, ErrNotDatabase, err)
		}
	}
	return fmt.Errorf("sqlite: open %s: %w", db.path, err)
}

// Close closes the database. In-flight calls finish first.
func (db *DB) Close() error {
	rerr := db.r.Close()
	// Let SQLite refresh the statistics its query planner uses; cheap, and
	// a no-op when nothing changed.
	ctx, cancel := context.WithTimeout(context.Background(), busyTimeout)
	defer cancel()
	_, oerr := db.w.ExecContext(ctx, "PRAGMA optimize")
	werr := db.w.Close()
	// After the pools, so that a call in flight can still bind them; the
	// pools' connections finalized what the statements compiled.
	serr := errors.Join(db.rs.close(), db.ws.close())
	if err := errors.Join(rerr, oerr, werr, serr); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", db.path, err)
	}
	return nil
}

// write runs fn in a write transaction (BEGIN IMMEDIATE) and commits it.
// Errors are mapped to the metadb sentinels and prefixed with op.
func (db *DB) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	return runTx(op, tx, err, fn)
}

// runTx runs fn in tx, which BeginTx returned with err, and commits it, or
// rolls it back if fn fails.
func runTx(op string, tx *sql.Tx, err error, fn func(tx *sql.Tx) error) error {
	if err != nil {
		return wrap(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// writeLazy is write for the transactions metadb.DB lets a crash lose
// until a later write is durable (a segment's declaration and commit): it
// commits with synchronous=NORMAL, which in WAL mode appends the
// transaction to the WAL without syncing it. The next commit with FULL
// syncs the WAL, and this transaction's frames with it; a checkpoint syncs
// the WAL before copying it. An upload of 1 GiB in 16 MiB segments makes
// 128 such writes between its object's creation and commit.
func (db *DB) writeLazy(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer conn.Close()
	var mode int // 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
	if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil {
		return wrap(op, err)
	}
	if mode > syncNormal {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA synchronous = %d", syncNormal)); err != nil {
			return wrap(op, err)
		}
		defer func() {
			// Back to the connection's own mode before it serves another
			// write; one that cannot be is discarded, never left lax.
			if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA synchronous = %d", mode)); rerr != nil {
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}()
	}
	tx, err := conn.BeginTx(ctx, nil)
	return runTx(op, tx, err, fn)
}

// syncNormal is PRAGMA synchronous's value for NORMAL.
const syncNormal = 1

// syncWAL makes every committed transaction durable, lazy ones included:
// it fsyncs the WAL file, which holds each transaction until a checkpoint
// has copied it into the database file and synced that. Without a WAL
// file there is nothing to sync.
func (db *DB) syncWAL() error {
	f, err := os.OpenFile(db.path+"-wal", os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	serr := syncFile(f)
	if err := f.Close(); serr == nil {
		serr = err
	}
	return serr
}

// syncFile is (*os.File).Sync; tests count its calls.
var syncFile = (*os.File).Sync

// wrap prefixes err with the operation and maps SQLite errors to the
// metadb sentinels: a unique or primary-key violation is ErrExists, a
// foreign-key violation (a referenced row is missing) is ErrNotFound, no
// row is ErrNotFound.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w: %w", op, metadb.ErrExists, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("sqlite: %s: %w: a referenced row does not exist: %w", op, metadb.ErrNotFound, err)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, metadb.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// isUnique reports whether err is a unique or primary-key violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return false
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// id16 scans a 16-byte BLOB into *p; NULL zeroes it. Being a single
// pointer, it is passed to Scan as an interface value without allocating.
type id16 struct{ p *[16]byte }

// Scan implements sql.Scanner.
func (s id16) Scan(src any) error { return scanFixed(s.p[:], src) }

// id32 scans a 32-byte BLOB (node ID, piece ID) into *p; NULL zeroes it.
type id32 struct{ p *[32]byte }

// Scan implements sql.Scanner.
func (s id32) Scan(src any) error { return scanFixed(s.p[:], src) }

func scanFixed(dst []byte, src any) error {
	switch v := src.(type) {
	case nil:
		clear(dst)
		return nil
	case []byte:
		if len(v) != len(dst) {
			return fmt.Errorf("stored ID has %d bytes, want %d", len(v), len(dst))
		}
		copy(dst, v)
		return nil
	}
	return fmt.Errorf("stored ID has type %T, want BLOB", src)
}

// scanID, scanNode and scanPiece return the scanner of an ID.
func scanID(id *metadb.ID16) id16     { return id16{(*[16]byte)(id)} }
func scanNodeID(id *identity.ID) id32 { return id32{(*[32]byte)(id)} }
func scanPieceID(id *piece.ID) id32   { return id32{(*[32]byte)(id)} }

// arenaChunk is the size of the chunks a blobArena carves BLOBs from.
const arenaChunk = 32 << 10

// blobArena copies the BLOBs of a listing into shared chunks: one
// allocation per few dozen rows instead of one per BLOB. A nil *blobArena
// copies each BLOB on its own.
type blobArena struct{ chunk []byte }

// copy returns a copy of v whose capacity is its length, so that a caller
// appending to it never writes into a neighbour.
func (a *blobArena) copy(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	if a == nil || len(v) > arenaChunk/8 {
		return bytes.Clone(v)
	}
	if len(v) > cap(a.chunk)-len(a.chunk) {
		a.chunk = make([]byte, 0, arenaChunk)
	}
	n := len(a.chunk)
	a.chunk = append(a.chunk, v...)
	return a.chunk[n:len(a.chunk):len(a.chunk)]
}

// nullID returns the ID as a BLOB argument, or NULL when it is zero.
func nullID(id metadb.ID16) any {
	if id == (metadb.ID16{}) {
		return nil
	}
	return id[:]
}

// blob returns b as a non-NULL BLOB argument (the driver binds a nil slice
// as NULL).
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nullBlob returns b as a BLOB argument, NULL when it is empty.
func nullBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// maxSeq is the largest journal sequence number a BIGINT holds.
const maxSeq = math.MaxInt64

// zeroTime is how the zero time.Time is stored.
const zeroTime = math.MinInt64

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// encTime returns t as Unix nanoseconds, clamped to what fits in an int64.
func encTime(t time.Time) int64 {
	switch {
	case t.IsZero() || t.Before(minTime):
		return zeroTime
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// decTime is the inverse of encTime.
func decTime(ns int64) time.Time {
	if ns == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
