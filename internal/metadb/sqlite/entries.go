package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/nuage-storage/nuage/internal/metadb"
)

// insertEntry inserts an entry row; its arguments are entryArgs.
const insertEntry = `INSERT INTO entries (id, account, parent, kind, name_tag, wrapped_key, meta, created, updated)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

// entryArgs returns the arguments of insertEntry for e, created at created.
func entryArgs(e *metadb.Entry, created int64) []any {
	return []any{e.ID[:], e.Account[:], nullID(e.Parent), string(e.Kind), blob(e.NameTag), blob(e.WrappedKey), blob(e.Meta),
		created, encTime(e.Updated)}
}

// Entry returns an entry of the account with its objects, or ErrNotFound.
func (db *DB) Entry(ctx context.Context, account, id metadb.ID16) (metadb.Entry, error) {
	const op = "entry"
	rows, err := db.r.QueryContext(ctx, `SELECT e.id, e.parent, e.kind, e.name_tag, e.wrapped_key, e.meta, e.created, e.updated, eo.object
FROM entries e LEFT JOIN entry_objects eo ON eo.entry = e.id
WHERE e.id = $1 AND e.account = $2 ORDER BY eo.idx`, id[:], account[:])
	if err != nil {
		return metadb.Entry{}, wrap(op, err)
	}
	defer rows.Close()
	es, err := scanEntries(rows, nil, account, nil)
	if err != nil {
		return metadb.Entry{}, wrap(op, err)
	}
	if len(es) != 1 {
		return metadb.Entry{}, wrap(op, sql.ErrNoRows)
	}
	return es[0], nil
}

// Children returns the entries under a folder of the account with their
// objects, ordered by ID; ErrNotFound if parent is not an entry of the
// account. A file has no children.
func (db *DB) Children(ctx context.Context, account, parent metadb.ID16) ([]metadb.Entry, error) {
	return children(ctx, db.r, account, parent)
}

// ChildrenAt returns the children of a folder and the seq of the latest
// journal record, read in one transaction (one WAL snapshot).
func (db *DB) ChildrenAt(ctx context.Context, account, parent metadb.ID16) ([]metadb.Entry, uint64, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, wrap("children", err)
	}
	defer tx.Rollback()
	es, err := children(ctx, tx, account, parent)
	if err != nil {
		return nil, 0, err
	}
	seq, _, err := head(ctx, tx, account)
	if err != nil {
		return nil, 0, wrap("children", err)
	}
	return es, seq, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func children(ctx context.Context, q querier, account, parent metadb.ID16) ([]metadb.Entry, error) {
	const op = "children"
	// One statement: the children and their objects come from one
	// snapshot. An entry with several objects takes several rows.
	rows, err := q.QueryContext(ctx, `SELECT e.id, e.kind, e.name_tag, e.wrapped_key, e.meta, e.created, e.updated, eo.object
FROM entries e LEFT JOIN entry_objects eo ON eo.entry = e.id
WHERE e.account = $1 AND e.parent = $2 ORDER BY e.id, eo.idx`, account[:], parent[:])
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	es, err := scanEntries(rows, new(blobArena), account, &parent)
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(es) == 0 {
		// An empty folder, or no folder at all? Outside a transaction the
		// answer is still consistent: entry IDs are never reused.
		var one int
		err := q.QueryRowContext(ctx, `SELECT 1 FROM entries WHERE id = $1 AND account = $2`, parent[:], account[:]).Scan(&one)
		if err != nil {
			return nil, wrap(op, err)
		}
	}
	return es, nil
}

// scanEntries reads entry rows joined with their objects, ordered by
// entry and then by object position, and returns one Entry per entry.
// The columns are id, parent (unless parent is given: the rows are its
// children), kind, name_tag, wrapped_key, meta, created, updated, object.
//
// The Scan destinations are built once and the BLOBs are copied through
// the arena a (nil for one entry) only for the first row of an entry, so
// scanning allocates little beyond what the driver does.
func scanEntries(rows *sql.Rows, a *blobArena, account metadb.ID16, parent *metadb.ID16) ([]metadb.Entry, error) {
	var (
		id, par, object  metadb.ID16
		kind             string
		created, updated int64
		tag, key, meta   rawBlob
		hasObject        bool
		objs             idArena
		es               []metadb.Entry
	)
	dest := []any{scanID(&id), scanID(&par), &kind, &tag, &key, &meta, &created, &updated, nullID16{&object, &hasObject}}
	if parent != nil {
		par = *parent
		dest = append(dest[:1], dest[2:]...)
	}
	first := 0 // index in objs of the current entry's first object
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if len(es) == 0 || es[len(es)-1].ID != id {
			if len(es) > 0 {
				es[len(es)-1].Objects = objs.seal(first)
			}
			first = len(objs.cur)
			e := metadb.Entry{ID: id, Account: account, Parent: par, NameTag: a.copy(tag), WrappedKey: a.copy(key), Meta: a.copy(meta),
				Created: decTime(created), Updated: decTime(updated)}
			switch metadb.Kind(kind) {
			case metadb.KindFolder:
				e.Kind = metadb.KindFolder
			case metadb.KindFile:
				e.Kind = metadb.KindFile
			default:
				return nil, fmt.Errorf("stored entry has kind %q", kind)
			}
			es = append(es, e)
		}
		if hasObject {
			first = objs.add(first, object)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(es) > 0 {
		es[len(es)-1].Objects = objs.seal(first)
	}
	return es, nil
}

// rawBlob scans a BLOB without copying it: the slice is the driver's and
// valid only until the next Scan. NULL is nil.
type rawBlob []byte

// Scan implements sql.Scanner.
func (b *rawBlob) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*b = nil
		return nil
	case []byte:
		*b = v
		return nil
	}
	return fmt.Errorf("stored value has type %T, want BLOB", src)
}

// nullID16 scans a nullable 16-byte BLOB, recording whether it was NULL.
type nullID16 struct {
	p     *metadb.ID16
	valid *bool
}

// Scan implements sql.Scanner.
func (s nullID16) Scan(src any) error {
	*s.valid = src != nil
	return scanFixed(s.p[:], src)
}

// idArena gathers the object IDs of a listing in shared chunks, so that
// the entries' Objects slices cost one allocation per many entries.
type idArena struct{ cur []metadb.ID16 }

// idChunk is the number of IDs per chunk.
const idChunk = 256

// add appends id to the IDs of the entry being read, which start at
// cur[first], and returns where they start now (a new chunk when the
// current one is full).
func (a *idArena) add(first int, id metadb.ID16) int {
	if len(a.cur) == cap(a.cur) {
		n := len(a.cur) - first
		next := make([]metadb.ID16, n, max(idChunk, 2*n))
		copy(next, a.cur[first:])
		a.cur, first = next, 0
	}
	a.cur = append(a.cur, id)
	return first
}

// seal returns the IDs of the entry read, from cur[first], with a capacity
// of their length (nil for none).
func (a *idArena) seal(first int) []metadb.ID16 {
	if first == len(a.cur) {
		return nil
	}
	return a.cur[first:len(a.cur):len(a.cur)]
}

// Ancestors returns the folders above entry id of the account, its parent
// first and its top-level folder last (none for a top-level folder). It
// reads at most limit of them, in one statement (one snapshot): an entry
// with more than limit ancestors is ErrConflict. ErrNotFound if id is not
// an entry of the account; a negative limit is ErrInvalid.
func (db *DB) Ancestors(ctx context.Context, account, id metadb.ID16, limit int) ([]metadb.ID16, error) {
	const op = "ancestors"
	if limit < 0 {
		return nil, fmt.Errorf("sqlite: %s: %w: max %d", op, ErrInvalid, limit)
	}
	// Row d (d = 0 the entry itself) is the entry's d-th ancestor; the
	// walk stops at depth limit, so a parent left at that depth means more.
	rows, err := db.r.QueryContext(ctx, `WITH RECURSIVE up (id, parent, depth) AS (
	SELECT id, parent, 0 FROM entries WHERE id = $1 AND account = $2
	UNION ALL
	SELECT e.id, e.parent, up.depth + 1 FROM entries e JOIN up ON e.id = up.parent
	WHERE e.account = $2 AND up.depth < $3
)
SELECT id, parent, depth FROM up ORDER BY depth`, id[:], account[:], limit)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var (
		ids       []metadb.ID16
		n         int
		up, above metadb.ID16
		hasParent bool
		depth     int
	)
	for rows.Next() {
		if err := rows.Scan(scanID(&up), nullID16{&above, &hasParent}, &depth); err != nil {
			return nil, wrap(op, err)
		}
		if depth != n {
			return nil, wrap(op, fmt.Errorf("ancestor walk returned depth %d, want %d", depth, n))
		}
		if n > 0 {
			ids = append(ids, up)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	switch {
	case n == 0:
		return nil, wrap(op, sql.ErrNoRows)
	case hasParent && n == limit+1:
		return nil, fmt.Errorf("sqlite: %s: %w: entry %x has more than %d ancestors", op, metadb.ErrConflict, id, limit)
	case hasParent:
		return nil, wrap(op, fmt.Errorf("stored entry %x has a parent that is not an entry of the account", up))
	}
	return ids, nil
}

// entriesWithObjectQuery lists the entries of account $2 that reference
// object $1. entry_objects.object is unique: an index lookup, then the
// entry's row by its primary key (TestQueryPlans checks it).
const entriesWithObjectQuery = `SELECT eo.entry FROM entry_objects eo JOIN entries e ON e.id = eo.entry
WHERE eo.object = $1 AND e.account = $2 ORDER BY eo.entry`

// EntriesWithObject returns the entries of the account that reference the
// object, as content or as an older version, ordered by ID: one at most,
// since an object is referenced by one entry. An object nothing of the
// account references, or an unknown object, has none.
func (db *DB) EntriesWithObject(ctx context.Context, account, object metadb.ID16) ([]metadb.ID16, error) {
	const op = "entries with object"
	rows, err := db.r.QueryContext(ctx, entriesWithObjectQuery, object[:], account[:])
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var ids []metadb.ID16
	for rows.Next() {
		var id metadb.ID16
		if err := rows.Scan(scanID(&id)); err != nil {
			return nil, wrap(op, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return ids, nil
}
