package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds the schema, one file per version, named
// NNNN_description.sql. Version n is applied to a database at version n-1.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// applicationID marks the file as a nuage coordinator database
// (PRAGMA application_id; "nuag" in ASCII).
const applicationID = 0x6e756167

// migration is one schema version.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations ordered by version, checking
// that versions run 1, 2, … without gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]migration, 0, len(names))
	for _, name := range names { // fs.Glob returns sorted names
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a version number and '_'", base)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d", base, v, len(ms)+1)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	return ms, nil
}

// SchemaVersion is the schema version this package writes.
const SchemaVersion = 2

// migrate brings the schema up to SchemaVersion in one write transaction,
// so that several processes opening the same file at once apply each
// migration exactly once.
func migrate(ctx context.Context, w *sql.DB) error {
	return migrateTo(ctx, w, SchemaVersion)
}

// migrateTo brings the schema up to version target (at most
// SchemaVersion); the tests use it to build databases of older versions.
func migrateTo(ctx context.Context, w *sql.DB, target int) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if len(ms) != SchemaVersion {
		return fmt.Errorf("schema: %d migrations embedded, want %d", len(ms), SchemaVersion)
	}
	if target < 1 || target > SchemaVersion {
		return fmt.Errorf("schema: %w: target version %d", ErrInvalid, target)
	}
	ms = ms[:target]
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit

	var app int64
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if app != applicationID {
		// A fresh file has application ID 0 and no schema; anything else
		// belongs to another application and must not be touched.
		var objects int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&objects); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
		if app != 0 || objects != 0 {
			return fmt.Errorf("%w: it is an SQLite database of another application (application_id %#x, %d schema objects)", ErrNotDatabase, app, objects)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT NOT NULL PRIMARY KEY,
	applied BIGINT NOT NULL
)`); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if current > SchemaVersion {
		return fmt.Errorf("%w: database is at version %d, this version of nuage knows up to %d", ErrSchemaTooNew, current, SchemaVersion)
	}
	for _, m := range ms[min(current, target):] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("schema: migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)",
			m.version, encTime(time.Now())); err != nil {
			return fmt.Errorf("schema: migration %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	switch {
	case current == 0:
		slog.DebugContext(ctx, "metadb schema created", "version", target)
	case current < target:
		slog.InfoContext(ctx, "metadb schema migrated", "from", current, "to", target)
	}
	return nil
}
