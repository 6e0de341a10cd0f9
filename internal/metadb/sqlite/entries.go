package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
)

const entryCols = `id, account, parent, kind, name_tag, wrapped_key, meta, object, created, updated`

// insertEntry inserts e as it is; the caller has checked its references.
func insertEntry(ctx context.Context, tx *sql.Tx, e *metadb.Entry) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO entries (`+entryCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.ID[:], e.Account[:], nullID(e.Parent), string(e.Kind), blob(e.NameTag), blob(e.WrappedKey), blob(e.Meta),
		nullID(e.Object), encTime(e.Created), encTime(e.Updated))
	return err
}

// CreateEntry creates a folder or file entry under a folder of the same
// account.
//
// Errors: ErrExists when the ID or (Parent, NameTag) is taken; ErrNotFound
// when the parent is not an entry of the account; ErrConflict when the
// parent is a file, or Object is not a committed object of the account or
// is already referenced by an entry; ErrInvalid for a zero ID, an unknown
// kind, an empty name tag, or a folder with an object.
func (db *DB) CreateEntry(ctx context.Context, e metadb.Entry) error {
	const op = "create entry"
	switch {
	case e.ID == (metadb.ID16{}):
		return fmt.Errorf("sqlite: %s: %w: zero entry ID", op, ErrInvalid)
	case e.Kind != metadb.KindFolder && e.Kind != metadb.KindFile:
		return fmt.Errorf("sqlite: %s: %w: kind %q", op, ErrInvalid, e.Kind)
	case len(e.NameTag) == 0:
		return fmt.Errorf("sqlite: %s: %w: empty name tag", op, ErrInvalid)
	case e.Kind == metadb.KindFolder && e.Object != (metadb.ID16{}):
		return fmt.Errorf("sqlite: %s: %w: a folder has no object", op, ErrInvalid)
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		var parentKind string
		err := tx.QueryRowContext(ctx, `SELECT kind FROM entries WHERE id = $1 AND account = $2`, e.Parent[:], e.Account[:]).Scan(&parentKind)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: parent entry", metadb.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if metadb.Kind(parentKind) != metadb.KindFolder {
			return fmt.Errorf("%w: parent entry is a %s", metadb.ErrConflict, parentKind)
		}
		if e.Object != (metadb.ID16{}) {
			var (
				state      string
				referenced bool
			)
			err := tx.QueryRowContext(ctx, `SELECT state, EXISTS (SELECT 1 FROM entries WHERE object = $1)
FROM objects WHERE id = $1 AND account = $2`, e.Object[:], e.Account[:]).Scan(&state, &referenced)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("%w: no such object in the account", metadb.ErrConflict)
			case err != nil:
				return err
			case metadb.ObjectState(state) != metadb.ObjectCommitted:
				return fmt.Errorf("%w: object is %s, not committed", metadb.ErrConflict, state)
			case referenced:
				return fmt.Errorf("%w: object is referenced by another entry", metadb.ErrConflict)
			}
		}
		return insertEntry(ctx, tx, &e)
	})
}

// Entry returns an entry of the account, or ErrNotFound.
func (db *DB) Entry(ctx context.Context, account, id metadb.ID16) (metadb.Entry, error) {
	var e metadb.Entry
	err := newEntryScanner(nil).scan(db.r.QueryRowContext(ctx, `SELECT `+entryCols+` FROM entries WHERE id = $1 AND account = $2`, id[:], account[:]), &e)
	if err != nil {
		return metadb.Entry{}, wrap("entry", err)
	}
	return e, nil
}

// Children returns the entries under a folder of the account, ordered by
// ID; ErrNotFound if parent is not an entry of the account. A file has no
// children.
func (db *DB) Children(ctx context.Context, account, parent metadb.ID16) ([]metadb.Entry, error) {
	const op = "children"
	rows, err := db.r.QueryContext(ctx, `SELECT `+childCols+` FROM entries WHERE account = $1 AND parent = $2 ORDER BY id`, account[:], parent[:])
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var (
		es []metadb.Entry
		sc = newChildScanner(new(blobArena), account, parent)
	)
	for rows.Next() {
		es = append(es, metadb.Entry{})
		if err := sc.scan(rows, &es[len(es)-1]); err != nil {
			return nil, wrap(op, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	if len(es) == 0 {
		// An empty folder, or no folder at all? Outside a transaction the
		// answer is still consistent: entry IDs are never reused.
		var one int
		err := db.r.QueryRowContext(ctx, `SELECT 1 FROM entries WHERE id = $1 AND account = $2`, parent[:], account[:]).Scan(&one)
		if err != nil {
			return nil, wrap(op, err)
		}
	}
	return es, nil
}

// entryScanner scans entry rows. Its Scan destinations are built once
// and point into the scanner, so scanning a row allocates only what the
// driver does, plus the BLOBs' share of an arena chunk.
type entryScanner struct {
	e                metadb.Entry
	kind             string
	created, updated int64
	blobs            [3]blobInto
	dest             []any
}

// newEntryScanner returns a scanner copying BLOBs through a (nil for one
// row: no arena).
func newEntryScanner(a *blobArena) *entryScanner {
	s := &entryScanner{}
	s.blobs = [3]blobInto{{a, &s.e.NameTag}, {a, &s.e.WrappedKey}, {a, &s.e.Meta}}
	s.dest = []any{scanID(&s.e.ID), scanID(&s.e.Account), scanID(&s.e.Parent), &s.kind,
		&s.blobs[0], &s.blobs[1], &s.blobs[2], scanID(&s.e.Object), &s.created, &s.updated}
	return s
}

// childCols are the columns a childScanner reads: those of entryCols that
// differ between the children of a folder.
const childCols = `id, kind, name_tag, wrapped_key, meta, object, created, updated`

// newChildScanner returns a scanner of childCols rows, for the children of
// parent in account.
func newChildScanner(a *blobArena, account, parent metadb.ID16) *entryScanner {
	s := newEntryScanner(a)
	s.e.Account, s.e.Parent = account, parent
	s.dest = append(s.dest[:1], s.dest[3:]...)
	return s
}

// scan scans one row (columns entryCols) into *e.
func (s *entryScanner) scan(row scanner, e *metadb.Entry) error {
	if err := row.Scan(s.dest...); err != nil {
		return err
	}
	*e = s.e
	switch metadb.Kind(s.kind) {
	case metadb.KindFolder:
		e.Kind = metadb.KindFolder
	case metadb.KindFile:
		e.Kind = metadb.KindFile
	default:
		return fmt.Errorf("stored entry has kind %q", s.kind)
	}
	e.Created = decTime(s.created)
	e.Updated = decTime(s.updated)
	return nil
}

// DeleteEntry deletes an entry of the account (ErrNotFound otherwise). A
// folder must be empty and must not be the account's root (ErrConflict).
// A file's object is deleted with it, and its pieces are queued for
// deletion, in the same transaction.
func (db *DB) DeleteEntry(ctx context.Context, account, id metadb.ID16) error {
	return db.write(ctx, "delete entry", func(tx *sql.Tx) error {
		var (
			kind           string
			parent, object metadb.ID16
		)
		err := tx.QueryRowContext(ctx, `SELECT kind, parent, object FROM entries WHERE id = $1 AND account = $2`,
			id[:], account[:]).Scan(&kind, scanID(&parent), scanID(&object))
		if err != nil {
			return err
		}
		if parent == (metadb.ID16{}) {
			return fmt.Errorf("%w: the root folder of an account cannot be deleted", metadb.ErrConflict)
		}
		if metadb.Kind(kind) == metadb.KindFolder {
			var children bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM entries WHERE parent = $1)`, id[:]).Scan(&children); err != nil {
				return err
			}
			if children {
				return fmt.Errorf("%w: folder is not empty", metadb.ErrConflict)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE id = $1`, id[:]); err != nil {
			return err
		}
		if object == (metadb.ID16{}) {
			return nil
		}
		return deleteObject(ctx, tx, object, time.Now())
	})
}
