package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
)

// appendRecord inserts a journal record of the account.
func appendRecord(ctx context.Context, tx *sql.Tx, account metadb.ID16, rec *metadb.JournalRecord) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO journal (account, seq, hash, data, created) VALUES ($1, $2, $3, $4, $5)`,
		account[:], int64(rec.Seq), rec.Hash[:], rec.Data, encTime(rec.Created))
	return err
}

// head returns the latest seq of the account's journal and its hash (0
// and zero if it has none); ErrNotFound if the account does not exist.
func head(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, account metadb.ID16) (uint64, [32]byte, error) {
	var (
		seq  sql.NullInt64
		hash [32]byte
	)
	err := q.QueryRowContext(ctx, `SELECT j.seq, j.hash FROM accounts a
LEFT JOIN journal j ON j.account = a.id AND j.seq = (SELECT MAX(seq) FROM journal WHERE account = a.id)
WHERE a.id = $1`, account[:]).Scan(&seq, id32{&hash})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, hash, fmt.Errorf("%w: account", metadb.ErrNotFound)
	}
	if err != nil {
		return 0, hash, err
	}
	if !seq.Valid || seq.Int64 < 1 {
		return 0, [32]byte{}, nil
	}
	return uint64(seq.Int64), hash, nil
}

// JournalHead returns the latest seq of the account's journal and its hash
// (0 and zero if it has none); ErrNotFound if the account does not exist.
func (db *DB) JournalHead(ctx context.Context, account metadb.ID16) (uint64, [32]byte, error) {
	seq, hash, err := head(ctx, db.r, account)
	return seq, hash, wrap("journal head", err)
}

// Journal returns up to limit records of the account's journal with seq
// after after, in order; ErrNotFound if the account does not exist.
func (db *DB) Journal(ctx context.Context, account metadb.ID16, after uint64, limit int) ([]metadb.JournalRecord, error) {
	const op = "journal"
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: %s: %w: limit %d", op, ErrInvalid, limit)
	}
	after = min(after, maxSeq) // no seq is larger
	rows, err := db.r.QueryContext(ctx, `SELECT seq, hash, data, created FROM journal
WHERE account = $1 AND seq > $2 ORDER BY seq LIMIT $3`, account[:], int64(after), limit)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var (
		recs []metadb.JournalRecord
		a    = new(blobArena)
	)
	for rows.Next() {
		var (
			r       metadb.JournalRecord
			seq     int64
			data    rawBlob
			created int64
		)
		if err := rows.Scan(&seq, id32{&r.Hash}, &data, &created); err != nil {
			return nil, wrap(op, err)
		}
		if seq < 1 {
			return nil, wrap(op, fmt.Errorf("stored journal record has seq %d", seq))
		}
		r.Seq, r.Data, r.Created = uint64(seq), a.copy(data), decTime(created)
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	if len(recs) == 0 {
		var one int
		if err := db.r.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = $1`, account[:]).Scan(&one); err != nil {
			return nil, wrap(op, err)
		}
	}
	return recs, nil
}

// errStale is the ErrConflict of a commit whose record does not follow
// the latest one.
var errStale = fmt.Errorf("%w: stale journal record", metadb.ErrConflict)

// Commit appends rec to the account's journal and applies its changes in
// one write transaction (BEGIN IMMEDIATE): nothing is changed unless all
// of it is.
//
// rec must be the next record: rec.Seq the latest seq + 1 and prev the
// latest record's hash; otherwise the error wraps ErrConflict and says
// "stale journal record". rec.Hash must be the SHA-256 of rec.Data
// (ErrInvalid).
//
// The changes are checked against the tree they produce, so their order
// matters only where the contract says it does:
//
//   - puts create or replace entries. Each must be an entry of the account
//     (a zero Account is taken as the account), with a name tag unless it
//     is a top-level folder (ErrInvalid). Replacing keeps the entry's kind
//     (ErrConflict otherwise) and its Created time; an ID of another
//     account's entry is ErrExists. Only the two top-level folders
//     have no parent: a put without parent must replace one of them, and a
//     put of one of them must keep no parent (ErrConflict). A parent must
//     be a folder of the account (ErrNotFound if there is none, ErrConflict
//     if it is a file or deleted by the same commit) that is not the entry
//     itself or one of its descendants (ErrConflict). (Parent, NameTag) is
//     unique among the entries the commit leaves (ErrExists): a name freed
//     by a put or a delete of the same commit may be taken by another put.
//   - a put's Objects are committed objects of the account that no entry
//     the commit leaves references (ErrConflict): an object may pass from
//     one entry to another in one commit. A folder has none (ErrInvalid).
//   - deletes name entries of the account (ErrNotFound), never a
//     top-level folder (ErrConflict). They remove entries in the order
//     given: a folder deleted must be empty at that point once the puts
//     are applied (ErrConflict), so a folder and its contents go in one
//     commit contents first.
//   - an entry is changed at most once per commit (ErrConflict).
//
// The objects that puts stop referencing, and those of deleted files, are
// deleted unless a put took them over, and their stored pieces no other
// object references are queued for deletion.
//
// rec.Grants and rec.Revokes change the account's write keys in the same
// transaction: a grant (non-zero key and root IDs, else ErrInvalid) stores
// an active key, ErrExists if the account granted that key ID before, even
// if it is revoked since; a revoke deactivates a key, ErrNotFound unless it
// is an active key of the account. A key ID appears at most once in a
// record (ErrConflict). A record may change write keys only, with no puts
// or deletes; the folder a grant names is not checked here (the caller
// checks the record against the tree).
func (db *DB) Commit(ctx context.Context, account metadb.ID16, rec metadb.JournalRecord, prev [32]byte, puts []metadb.Entry, deletes []metadb.ID16) error {
	const op = "commit"
	if err := validCommit(account, &rec, puts, deletes); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		seq, hash, err := head(ctx, tx, account)
		if err != nil {
			return err
		}
		if rec.Seq != seq+1 || prev != hash {
			return fmt.Errorf("%w: seq %d after latest %d, or prev is not the latest record's hash", errStale, rec.Seq, seq)
		}
		if err := appendRecord(ctx, tx, account, &rec); err != nil {
			return err
		}
		c, err := newCommitter(ctx, tx, account, db.ws)
		if err != nil {
			return err
		}
		if err := c.apply(puts, deletes); err != nil {
			return err
		}
		return applyKeys(ctx, tx, account, &rec)
	})
}

// applyKeys stores the write keys rec grants and deactivates those it
// revokes.
func applyKeys(ctx context.Context, tx *sql.Tx, account metadb.ID16, rec *metadb.JournalRecord) error {
	for _, k := range rec.Grants {
		if _, err := tx.ExecContext(ctx, `INSERT INTO write_keys (account, id, root, active) VALUES ($1, $2, $3, TRUE)`,
			account[:], k.ID[:], k.Root[:]); err != nil {
			if isUnique(err) {
				return fmt.Errorf("%w: write key %x was granted before", metadb.ErrExists, k.ID)
			}
			return err
		}
	}
	for _, id := range rec.Revokes {
		res, err := tx.ExecContext(ctx, `UPDATE write_keys SET active = FALSE WHERE account = $1 AND id = $2 AND active`,
			account[:], id[:])
		if err != nil {
			return err
		}
		if err := mustAffect(res); err != nil {
			return fmt.Errorf("%w: write key %x is not an active key of the account", metadb.ErrNotFound, id)
		}
	}
	return nil
}

// validCommit checks the arguments of Commit that do not depend on the
// database.
func validCommit(account metadb.ID16, rec *metadb.JournalRecord, puts []metadb.Entry, deletes []metadb.ID16) error {
	if err := validRecord(rec); err != nil {
		return err
	}
	if len(puts)+len(deletes)+len(rec.Grants)+len(rec.Revokes) == 0 {
		return fmt.Errorf("%w: a journal record changes at least one entry or write key", ErrInvalid)
	}
	var keys map[metadb.ID16]bool // nil (no allocation) for a record without key changes
	if n := len(rec.Grants) + len(rec.Revokes); n > 0 {
		keys = make(map[metadb.ID16]bool, n)
	}
	for _, k := range rec.Grants {
		if k.ID == (metadb.ID16{}) || k.Root == (metadb.ID16{}) {
			return fmt.Errorf("%w: grant of a zero write key or folder ID", ErrInvalid)
		}
		if keys[k.ID] {
			return fmt.Errorf("%w: write key %x changed twice in one commit", metadb.ErrConflict, k.ID)
		}
		keys[k.ID] = true
	}
	for _, id := range rec.Revokes {
		if id == (metadb.ID16{}) {
			return fmt.Errorf("%w: revoke of a zero write key ID", ErrInvalid)
		}
		if keys[id] {
			return fmt.Errorf("%w: write key %x changed twice in one commit", metadb.ErrConflict, id)
		}
		keys[id] = true
	}
	for i := range puts {
		e := &puts[i]
		switch {
		case e.ID == (metadb.ID16{}):
			return fmt.Errorf("%w: zero entry ID", ErrInvalid)
		case e.Account != account && e.Account != (metadb.ID16{}):
			return fmt.Errorf("%w: entry %x belongs to another account", ErrInvalid, e.ID)
		case e.Kind != metadb.KindFolder && e.Kind != metadb.KindFile:
			return fmt.Errorf("%w: entry %x has kind %q", ErrInvalid, e.ID, e.Kind)
		case len(e.NameTag) == 0 && e.Parent != (metadb.ID16{}):
			return fmt.Errorf("%w: entry %x has an empty name tag", ErrInvalid, e.ID)
		case e.Kind == metadb.KindFolder && len(e.Objects) != 0:
			return fmt.Errorf("%w: folder %x has objects", ErrInvalid, e.ID)
		}
		for _, o := range e.Objects {
			if o == (metadb.ID16{}) {
				return fmt.Errorf("%w: entry %x references a zero object ID", ErrInvalid, e.ID)
			}
		}
	}
	for _, id := range deletes {
		if id == (metadb.ID16{}) {
			return fmt.Errorf("%w: delete of a zero entry ID", ErrInvalid)
		}
	}
	return nil
}

// committer applies the changes of one commit in its transaction, with
// statements prepared once, when the database opened.
type committer struct {
	ctx     context.Context
	tx      *sql.Tx
	account metadb.ID16

	lookup       *sql.Stmt // $1 entry → account, parent, kind, created
	entryObjects *sql.Stmt // $1 entry → object, by position
	dropObjects  *sql.Stmt // $1 entry
	dropEntry    *sql.Stmt // $1 entry
	insert       *sql.Stmt // insertEntry
	object       *sql.Stmt // $1 object, $2 account → state, referenced
	link         *sql.Stmt // $1 entry, $2 position, $3 object
	folder       *sql.Stmt // $1 entry, $2 account → kind
	hasChild     *sql.Stmt // $1 folder → exists
	ancestor     *sql.Stmt // $1 entry: is it its own ancestor?
	referenced   *sql.Stmt // $1 object → exists
}

// The statements of a commit (committer), prepared when the database opens.
const (
	lookupEntryQuery  = `SELECT account, parent, kind, created FROM entries WHERE id = $1`
	entryObjectsQuery = `SELECT object FROM entry_objects WHERE entry = $1 ORDER BY idx`
	dropObjectsQuery  = `DELETE FROM entry_objects WHERE entry = $1`
	dropEntryQuery    = `DELETE FROM entries WHERE id = $1`
	objectStateQuery  = `SELECT state, EXISTS (SELECT 1 FROM entry_objects WHERE object = $1) FROM objects WHERE id = $1 AND account = $2`
	linkObjectQuery   = `INSERT INTO entry_objects (entry, idx, object) VALUES ($1, $2, $3)`
	folderKindQuery   = `SELECT kind FROM entries WHERE id = $1 AND account = $2`
	hasChildQuery     = `SELECT EXISTS (SELECT 1 FROM entries WHERE parent = $1)`
	objectInUseQuery  = `SELECT EXISTS (SELECT 1 FROM entry_objects WHERE object = $1)`
	// The ancestors of an entry; UNION (not UNION ALL) ends the recursion
	// even on a cycle that does not pass through $1.
	ancestorQuery = `WITH RECURSIVE up (id) AS (
	SELECT parent FROM entries WHERE id = $1
	UNION
	SELECT e.parent FROM entries e JOIN up ON e.id = up.id
)
SELECT EXISTS (SELECT 1 FROM up WHERE id = $1)`
)

// newCommitter binds the statements of a commit to its transaction.
func newCommitter(ctx context.Context, tx *sql.Tx, account metadb.ID16, set stmtSet) (*committer, error) {
	c := &committer{ctx: ctx, tx: tx, account: account}
	err := set.bindAll(ctx, tx,
		stmtRef{&c.lookup, lookupEntryQuery},
		stmtRef{&c.entryObjects, entryObjectsQuery},
		stmtRef{&c.dropObjects, dropObjectsQuery},
		stmtRef{&c.dropEntry, dropEntryQuery},
		stmtRef{&c.insert, insertEntry},
		stmtRef{&c.object, objectStateQuery},
		stmtRef{&c.link, linkObjectQuery},
		stmtRef{&c.folder, folderKindQuery},
		stmtRef{&c.hasChild, hasChildQuery},
		stmtRef{&c.ancestor, ancestorQuery},
		stmtRef{&c.referenced, objectInUseQuery},
	)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// stored is what a commit needs to know of an entry before it changes it.
type stored struct {
	parent  metadb.ID16
	kind    metadb.Kind
	created int64
	objects []metadb.ID16
}

// load returns the stored entry id, or ok false if there is none. An
// entry of another account is ErrExists when exists is set (an ID clash
// of a put), ErrNotFound otherwise.
func (c *committer) load(id metadb.ID16, clashExists bool) (s stored, ok bool, err error) {
	var (
		owner metadb.ID16
		kind  string
	)
	err = c.lookup.QueryRowContext(c.ctx, id[:]).Scan(scanID(&owner), scanID(&s.parent), &kind, &s.created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return s, false, nil
	case err != nil:
		return s, false, err
	case owner != c.account && clashExists:
		return s, false, fmt.Errorf("%w: entry ID %x is taken", metadb.ErrExists, id)
	case owner != c.account:
		return s, false, nil
	}
	s.kind = metadb.Kind(kind)
	rows, err := c.entryObjects.QueryContext(c.ctx, id[:])
	if err != nil {
		return s, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var o metadb.ID16
		if err := rows.Scan(scanID(&o)); err != nil {
			return s, false, err
		}
		s.objects = append(s.objects, o)
	}
	return s, true, rows.Err()
}

// remove deletes an entry's row and its object references.
func (c *committer) remove(id metadb.ID16) error {
	if _, err := c.dropObjects.ExecContext(c.ctx, id[:]); err != nil {
		return err
	}
	_, err := c.dropEntry.ExecContext(c.ctx, id[:])
	return err
}

// apply applies the puts and deletes of a validated commit.
//
// It works on the tree the commit leaves: first it removes the rows of
// every entry put or deleted (the deferred foreign key on parent allows
// children to wait for theirs), then inserts the puts, then checks parents,
// names (by the unique index), objects, emptiness and cycles against the
// result. The order of deletes is checked on the list itself: a folder
// may not precede an entry it holds.
func (c *committer) apply(puts []metadb.Entry, deletes []metadb.ID16) error {
	changed := make(map[metadb.ID16]bool, len(puts)+len(deletes))
	for i := range puts {
		if changed[puts[i].ID] {
			return fmt.Errorf("%w: entry %x changed twice in one commit", metadb.ErrConflict, puts[i].ID)
		}
		changed[puts[i].ID] = true
	}
	deleted := make(map[metadb.ID16]int, len(deletes)) // position in deletes
	for i, id := range deletes {
		if changed[id] {
			return fmt.Errorf("%w: entry %x changed twice in one commit", metadb.ErrConflict, id)
		}
		changed[id] = true
		deleted[id] = i
	}

	// The objects that may become unreferenced.
	var freed []metadb.ID16

	var folders []metadb.ID16 // deleted folders
	for i, id := range deletes {
		s, ok, err := c.load(id, false)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: deleted entry %x", metadb.ErrNotFound, id)
		}
		if s.parent == (metadb.ID16{}) {
			return fmt.Errorf("%w: top-level folder %x cannot be deleted", metadb.ErrConflict, id)
		}
		// A folder holding an entry deleted after it is not empty when
		// its turn comes.
		if j, ok := deleted[s.parent]; ok && j < i {
			return fmt.Errorf("%w: folder %x is deleted before its entry %x", metadb.ErrConflict, s.parent, id)
		}
		if s.kind == metadb.KindFolder {
			folders = append(folders, id)
		}
		freed = append(freed, s.objects...)
		if err := c.remove(id); err != nil {
			return err
		}
	}

	// moved lists the put folders whose parent is new: only they can close
	// a cycle (the tree was acyclic, and only folders are parents).
	var moved []metadb.ID16
	created := make([]int64, len(puts))
	for i := range puts {
		e := &puts[i]
		s, ok, err := c.load(e.ID, true)
		if err != nil {
			return err
		}
		created[i] = encTime(e.Created)
		switch {
		case !ok && e.Parent == (metadb.ID16{}):
			return fmt.Errorf("%w: entry %x has no parent (only the top-level folders have none)", metadb.ErrConflict, e.ID)
		case !ok:
		case s.kind != e.Kind:
			return fmt.Errorf("%w: entry %x is a %s, not a %s", metadb.ErrConflict, e.ID, s.kind, e.Kind)
		case (s.parent == metadb.ID16{}) != (e.Parent == metadb.ID16{}):
			return fmt.Errorf("%w: entry %x cannot become or stop being a top-level folder", metadb.ErrConflict, e.ID)
		default:
			created[i] = s.created
			freed = append(freed, s.objects...)
			if err := c.remove(e.ID); err != nil {
				return err
			}
		}
		if e.Kind == metadb.KindFolder && e.Parent != (metadb.ID16{}) && (!ok || s.parent != e.Parent) {
			moved = append(moved, e.ID)
		}
	}

	for i := range puts {
		e := &puts[i]
		if _, err := c.insert.ExecContext(c.ctx, entryArgs(&metadb.Entry{
			ID: e.ID, Account: c.account, Parent: e.Parent, Kind: e.Kind, NameTag: e.NameTag, WrappedKey: e.WrappedKey, Meta: e.Meta,
			Updated: e.Updated,
		}, created[i])...); err != nil {
			if isUnique(err) {
				return fmt.Errorf("%w: entry %x: (parent, name tag) is taken", metadb.ErrExists, e.ID)
			}
			return err
		}
	}
	for i := range puts {
		if err := c.linkObjects(&puts[i]); err != nil {
			return err
		}
	}

	// Parents, once every put is in place.
	checked := make(map[metadb.ID16]bool)
	for i := range puts {
		p := puts[i].Parent
		if p == (metadb.ID16{}) || checked[p] {
			continue
		}
		if _, ok := deleted[p]; ok {
			return fmt.Errorf("%w: folder %x is deleted while entry %x is put in it", metadb.ErrConflict, p, puts[i].ID)
		}
		var kind string
		err := c.folder.QueryRowContext(c.ctx, p[:], c.account[:]).Scan(&kind)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: parent %x of entry %x", metadb.ErrNotFound, p, puts[i].ID)
		case err != nil:
			return err
		case metadb.Kind(kind) != metadb.KindFolder:
			return fmt.Errorf("%w: parent %x of entry %x is a %s", metadb.ErrConflict, p, puts[i].ID, kind)
		}
		checked[p] = true
	}
	// Deleted folders: empty once the puts are applied and the other
	// deletes done (those after it were refused above).
	for _, id := range folders {
		var child bool
		if err := c.hasChild.QueryRowContext(c.ctx, id[:]).Scan(&child); err != nil {
			return err
		}
		if child {
			return fmt.Errorf("%w: folder %x is not empty", metadb.ErrConflict, id)
		}
	}
	for _, id := range moved {
		var cycle bool
		if err := c.ancestor.QueryRowContext(c.ctx, id[:]).Scan(&cycle); err != nil {
			return err
		}
		if cycle {
			return fmt.Errorf("%w: folder %x would be inside itself", metadb.ErrConflict, id)
		}
	}

	// Objects nothing references any more.
	now := time.Now()
	for _, o := range freed {
		var ref bool
		if err := c.referenced.QueryRowContext(c.ctx, o[:]).Scan(&ref); err != nil {
			return err
		}
		if ref {
			continue
		}
		if err := deleteObject(c.ctx, c.tx, o, now); err != nil {
			return err
		}
	}
	return nil
}

// linkObjects records the objects of a put entry, each a committed object
// of the account that no other entry references.
func (c *committer) linkObjects(e *metadb.Entry) error {
	for i, o := range e.Objects {
		var (
			state string
			ref   bool
		)
		err := c.object.QueryRowContext(c.ctx, o[:], c.account[:]).Scan(&state, &ref)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: entry %x: object %x is not an object of the account", metadb.ErrConflict, e.ID, o)
		case err != nil:
			return err
		case metadb.ObjectState(state) != metadb.ObjectCommitted:
			return fmt.Errorf("%w: entry %x: object %x is %s, not committed", metadb.ErrConflict, e.ID, o, state)
		case ref:
			return fmt.Errorf("%w: entry %x: object %x is referenced by another entry", metadb.ErrConflict, e.ID, o)
		}
		if _, err := c.link.ExecContext(c.ctx, e.ID[:], i, o[:]); err != nil {
			return err
		}
	}
	return nil
}
