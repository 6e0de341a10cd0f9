package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/piece"
)

// maxShards is the most pieces a segment can have: Reed–Solomon over
// GF(2^8) (docs/spec.md §4).
const maxShards = 256

const objectCols = `id, account, state, size, segments, created`

// CreateObject creates a pending object with no segments. o.State must be
// empty or pending, Size and Segments are ignored (CommitObject sets them).
// ErrExists if the ID is taken, ErrNotFound if the account does not exist.
func (db *DB) CreateObject(ctx context.Context, o metadb.Object) error {
	const op = "create object"
	switch {
	case o.ID == (metadb.ID16{}):
		return fmt.Errorf("sqlite: %s: %w: zero object ID", op, ErrInvalid)
	case o.State != "" && o.State != metadb.ObjectPending:
		return fmt.Errorf("sqlite: %s: %w: a new object is pending, not %q", op, ErrInvalid, o.State)
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO objects (`+objectCols+`) VALUES ($1, $2, 'pending', 0, 0, $3)`,
		o.ID[:], o.Account[:], encTime(o.Created))
	return wrap(op, err)
}

// objectQuery reads an object of an account; every segment's
// declaration and commit make it.
const objectQuery = `SELECT ` + objectCols + ` FROM objects WHERE id = $1 AND account = $2`

// Object returns an object of the account, or ErrNotFound.
func (db *DB) Object(ctx context.Context, account, id metadb.ID16) (metadb.Object, error) {
	o, err := scanObject(db.rs.queryRow(ctx, objectQuery, id[:], account[:]))
	return o, wrap("object", err)
}

func scanObject(row scanner) (metadb.Object, error) {
	var (
		o       metadb.Object
		state   string
		created int64
	)
	if err := row.Scan(scanID(&o.ID), scanID(&o.Account), &state, &o.Size, &o.Segments, &created); err != nil {
		return metadb.Object{}, err
	}
	o.State = metadb.ObjectState(state)
	o.Created = decTime(created)
	return o, nil
}

// The statements of a segment's declaration and commit, two per segment
// of every upload, prepared when the database opens.
const (
	objectOfAccountQuery = `SELECT state FROM objects WHERE id = $1 AND account = $2`
	// The upsert's WHERE leaves a committed segment untouched.
	putSegmentQuery = `INSERT INTO segments (object, idx, size, piece_size, k, n, hashes, committed)
VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE)
ON CONFLICT (object, idx) DO UPDATE SET size = excluded.size, piece_size = excluded.piece_size,
	k = excluded.k, n = excluded.n, hashes = excluded.hashes
WHERE NOT segments.committed`
	segmentShapeQuery   = `SELECT k, n, piece_size, hashes FROM segments WHERE object = $1 AND idx = $2`
	segmentPiecesQuery  = `SELECT node, piece_id FROM pieces WHERE object = $1 AND segment = $2`
	dropPiecesQuery     = `DELETE FROM pieces WHERE object = $1 AND segment = $2`
	insertPieceQuery    = `INSERT INTO pieces (object, segment, idx, node, piece_id, size, receipt) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	cancelDeletionQuery = `DELETE FROM deletions WHERE node = $1 AND piece_id = $2`
	commitSegmentQuery  = `UPDATE segments SET committed = TRUE WHERE object = $1 AND idx = $2`
)

// pendingObject checks, in tx, that object is an object of the account
// (ErrNotFound) and still pending (ErrConflict).
func (db *DB) pendingObject(ctx context.Context, tx *sql.Tx, account, object metadb.ID16) error {
	st, err := db.ws.in(ctx, tx, objectOfAccountQuery)
	if err != nil {
		return err
	}
	var state string
	err = st.QueryRowContext(ctx, object[:], account[:]).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: object", metadb.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if metadb.ObjectState(state) != metadb.ObjectPending {
		return fmt.Errorf("%w: object is %s", metadb.ErrConflict, state)
	}
	return nil
}

// validSegment checks the shape of a segment declaration: k of n pieces,
// one expected hash per piece, and the piece size docs/spec.md §4 gives
// for the segment size (ceil(size / k)).
func validSegment(s *metadb.Segment) error {
	switch {
	case s.Index < 0:
		return fmt.Errorf("%w: segment index %d", ErrInvalid, s.Index)
	case s.K < 1 || s.K > s.N || s.N > maxShards:
		return fmt.Errorf("%w: erasure scheme %d of %d", ErrInvalid, s.K, s.N)
	case len(s.Hashes) != s.N:
		return fmt.Errorf("%w: %d piece hashes for %d pieces", ErrInvalid, len(s.Hashes), s.N)
	case s.Size <= 0 || s.PieceSize <= 0:
		return fmt.Errorf("%w: segment size %d, piece size %d", ErrInvalid, s.Size, s.PieceSize)
	case s.PieceSize != (s.Size+int64(s.K)-1)/int64(s.K):
		return fmt.Errorf("%w: piece size %d, want ceil(%d / %d)", ErrInvalid, s.PieceSize, s.Size, s.K)
	}
	return nil
}

// PutSegment declares, or re-declares while it is not committed, a segment
// of a pending object of the account. ErrNotFound if the object is not the
// account's; ErrConflict if the object or the segment is committed;
// ErrInvalid for a malformed declaration.
func (db *DB) PutSegment(ctx context.Context, account metadb.ID16, s metadb.Segment) error {
	const op = "put segment"
	if err := validSegment(&s); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	hashes := make([]byte, 0, len(s.Hashes)*piece.IDSize)
	for i := range s.Hashes {
		hashes = append(hashes, s.Hashes[i][:]...)
	}
	return db.writeLazy(ctx, op, func(tx *sql.Tx) error {
		if err := db.pendingObject(ctx, tx, account, s.Object); err != nil {
			return err
		}
		upsert, err := db.ws.in(ctx, tx, putSegmentQuery)
		if err != nil {
			return err
		}
		res, err := upsert.ExecContext(ctx, s.Object[:], s.Index, s.Size, s.PieceSize, s.K, s.N, hashes)
		if err != nil {
			return err
		}
		if mustAffect(res) != nil {
			return fmt.Errorf("%w: segment %d is committed", metadb.ErrConflict, s.Index)
		}
		return nil
	})
}

// nodePiece is a stored piece as a node knows it.
type nodePiece struct {
	node identity.ID
	id   piece.ID
}

// CommitSegment records the stored pieces of a declared segment of a
// pending object of the account and marks the segment committed. It
// replaces the pieces recorded before; those no longer referenced by any
// object are queued for deletion, and queued deletions of the new pieces
// are cancelled. The pieces' Object and Segment fields are ignored.
//
// Errors: ErrNotFound if the object is not the account's, the segment is
// not declared, or a node is unknown; ErrConflict if the object is
// committed, or the pieces do not match the declaration (fewer than k,
// an index out of range or repeated, a size or piece ID other than
// declared).
func (db *DB) CommitSegment(ctx context.Context, account, object metadb.ID16, index int, pieces []metadb.Piece) error {
	return db.writeLazy(ctx, "commit segment", func(tx *sql.Tx) error {
		if err := db.pendingObject(ctx, tx, account, object); err != nil {
			return err
		}
		var shape, listPieces, drop, ins, cancel, done *sql.Stmt
		if err := db.ws.bindAll(ctx, tx, stmtRef{&shape, segmentShapeQuery}, stmtRef{&listPieces, segmentPiecesQuery},
			stmtRef{&drop, dropPiecesQuery}, stmtRef{&ins, insertPieceQuery}, stmtRef{&cancel, cancelDeletionQuery},
			stmtRef{&done, commitSegmentQuery}); err != nil {
			return err
		}
		var (
			k, n      int
			pieceSize int64
			hashes    []byte
		)
		err := shape.QueryRowContext(ctx, object[:], index).Scan(&k, &n, &pieceSize, &hashes)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: segment %d is not declared", metadb.ErrNotFound, index)
		}
		if err != nil {
			return err
		}
		if len(hashes) != n*piece.IDSize {
			return fmt.Errorf("stored hashes of segment %d have %d bytes, want %d", index, len(hashes), n*piece.IDSize)
		}
		if len(pieces) < k {
			return fmt.Errorf("%w: %d pieces, the segment needs at least %d", metadb.ErrConflict, len(pieces), k)
		}
		seen := make([]bool, n)
		for i := range pieces {
			p := &pieces[i]
			switch {
			case p.Index < 0 || p.Index >= n:
				return fmt.Errorf("%w: piece index %d out of range [0, %d)", metadb.ErrConflict, p.Index, n)
			case seen[p.Index]:
				return fmt.Errorf("%w: piece index %d repeated", metadb.ErrConflict, p.Index)
			case p.Size != pieceSize:
				return fmt.Errorf("%w: piece %d has size %d, declared %d", metadb.ErrConflict, p.Index, p.Size, pieceSize)
			case string(p.ID[:]) != string(hashes[p.Index*piece.IDSize:(p.Index+1)*piece.IDSize]):
				return fmt.Errorf("%w: piece %d has ID %s, declared another", metadb.ErrConflict, p.Index, p.ID)
			}
			seen[p.Index] = true
		}

		old, err := segmentPieces(ctx, listPieces, object, index)
		if err != nil {
			return err
		}
		if _, err := drop.ExecContext(ctx, object[:], index); err != nil {
			return err
		}
		for i := range pieces {
			p := &pieces[i]
			if _, err := ins.ExecContext(ctx, object[:], index, p.Index, p.Node[:], p.ID[:], p.Size, blob(p.Receipt)); err != nil {
				return err
			}
			// The node holds this piece again: a deletion queued when an
			// identical piece was freed must not remove it.
			if _, err := cancel.ExecContext(ctx, p.Node[:], p.ID[:]); err != nil {
				return err
			}
		}
		if err := queueUnreferenced(ctx, tx, old, time.Now()); err != nil {
			return err
		}
		_, err = done.ExecContext(ctx, object[:], index)
		return err
	})
}

// segmentPieces returns the (node, piece ID) pairs recorded for a segment,
// with q, segmentPiecesQuery's statement.
func segmentPieces(ctx context.Context, q *sql.Stmt, object metadb.ID16, index int) ([]nodePiece, error) {
	rows, err := q.QueryContext(ctx, object[:], index)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []nodePiece
	for rows.Next() {
		var p nodePiece
		if err := rows.Scan(scanNodeID(&p.node), scanPieceID(&p.id)); err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// queueDeletion inserts a deletion unless a piece row still references
// the (node, piece ID) or it is queued already. It takes $1 node, $2 piece
// ID, $3 queued, $4 attempts.
const queueDeletion = `INSERT INTO deletions (node, piece_id, queued, attempts)
SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM pieces WHERE node = $1 AND piece_id = $2)
ON CONFLICT (node, piece_id) DO NOTHING`

// queueUnreferenced queues the deletion of each of ps no longer
// referenced by a piece row.
func queueUnreferenced(ctx context.Context, tx *sql.Tx, ps []nodePiece, queued time.Time) error {
	if len(ps) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, queueDeletion)
	if err != nil {
		return err
	}
	defer stmt.Close()
	at := encTime(queued)
	for i := range ps {
		if _, err := stmt.ExecContext(ctx, ps[i].node[:], ps[i].id[:], at, 0); err != nil {
			return err
		}
	}
	return nil
}

// deleteObject deletes an object with its segments and pieces, queueing
// for deletion every stored piece that no other object references. The
// caller has checked that no entry references the object.
func deleteObject(ctx context.Context, tx *sql.Tx, object metadb.ID16, queued time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO deletions (node, piece_id, queued, attempts)
SELECT DISTINCT p.node, p.piece_id, $2, 0 FROM pieces p
WHERE p.object = $1 AND NOT EXISTS (
	SELECT 1 FROM pieces q WHERE q.node = p.node AND q.piece_id = p.piece_id AND q.object <> $1)
ON CONFLICT (node, piece_id) DO NOTHING`, object[:], encTime(queued)); err != nil {
		return err
	}
	for _, q := range [...]string{
		`DELETE FROM pieces WHERE object = $1`,
		`DELETE FROM segments WHERE object = $1`,
		`DELETE FROM objects WHERE id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, object[:]); err != nil {
			return err
		}
	}
	return nil
}

// CommitObject seals a pending object of the account. Its declared
// segments must be exactly 0..segments-1, all committed, with sizes that
// add up to size (ErrConflict otherwise). ErrNotFound if the object is not
// the account's; ErrConflict if it is committed already.
func (db *DB) CommitObject(ctx context.Context, account, object metadb.ID16, segments int, size int64) error {
	const op = "commit object"
	if segments < 1 || size < 1 {
		return fmt.Errorf("sqlite: %s: %w: %d segments, size %d (an object is never empty)", op, ErrInvalid, segments, size)
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		if err := db.pendingObject(ctx, tx, account, object); err != nil {
			return err
		}
		var (
			declared, committed, maxIndex int
			total                         int64
		)
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN committed THEN 1 ELSE 0 END), 0),
	COALESCE(MAX(idx), -1), COALESCE(SUM(size), 0)
FROM segments WHERE object = $1`, object[:]).Scan(&declared, &committed, &maxIndex, &total); err != nil {
			return err
		}
		switch {
		case declared != segments || maxIndex != segments-1:
			// Indexes are unique and non-negative, so count = n and
			// max = n-1 means exactly 0..n-1.
			return fmt.Errorf("%w: %d segments declared up to index %d, want 0..%d", metadb.ErrConflict, declared, maxIndex, segments-1)
		case committed != segments:
			return fmt.Errorf("%w: %d of %d segments committed", metadb.ErrConflict, committed, segments)
		case total != size:
			return fmt.Errorf("%w: segments hold %d bytes, not %d", metadb.ErrConflict, total, size)
		}
		_, err := tx.ExecContext(ctx, `UPDATE objects SET state = 'committed', size = $2, segments = $3 WHERE id = $1`,
			object[:], size, segments)
		return err
	})
}

const segmentCols = `s.object, s.idx, s.size, s.piece_size, s.k, s.n, s.hashes, s.committed`

// Segments returns up to count declared segments of an object of the
// account with index from or above, ordered by index. ErrNotFound if the
// object is not the account's.
func (db *DB) Segments(ctx context.Context, account, object metadb.ID16, from, count int) ([]metadb.Segment, error) {
	const op = "segments"
	if from < 0 || count < 0 {
		return nil, fmt.Errorf("sqlite: %s: %w: from %d, count %d", op, ErrInvalid, from, count)
	}
	rows, err := db.rs.query(ctx, segmentsQuery, object[:], account[:], from, count)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var ss []metadb.Segment
	for rows.Next() {
		s, err := scanSegment(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		ss = append(ss, s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	if len(ss) == 0 {
		if err := db.exists(ctx, objectExistsQuery, object[:], account[:]); err != nil {
			return nil, wrap(op, err)
		}
	}
	return ss, nil
}

// Queries of the segments and pieces every segment's commit and every
// download's orders make.
const (
	segmentsQuery = `SELECT ` + segmentCols + ` FROM segments s JOIN objects o ON o.id = s.object
WHERE o.id = $1 AND o.account = $2 AND s.idx >= $3 ORDER BY s.idx LIMIT $4`
	objectExistsQuery  = `SELECT 1 FROM objects WHERE id = $1 AND account = $2`
	piecesQuery        = `SELECT idx, node, piece_id, size, receipt FROM pieces WHERE object = $1 AND segment = $2 ORDER BY idx`
	segmentExistsQuery = `SELECT 1 FROM segments WHERE object = $1 AND idx = $2`
)

// exists runs a prepared query of the read set that selects 1 for a row
// that exists: sql.ErrNoRows (ErrNotFound once wrapped) if there is none.
func (db *DB) exists(ctx context.Context, q string, args ...any) error {
	var one int
	return db.rs.queryRow(ctx, q, args...).Scan(&one)
}

func scanSegment(row scanner) (metadb.Segment, error) {
	var (
		s      metadb.Segment
		hashes []byte
	)
	if err := row.Scan(scanID(&s.Object), &s.Index, &s.Size, &s.PieceSize, &s.K, &s.N, &hashes, &s.Committed); err != nil {
		return metadb.Segment{}, err
	}
	if s.N < 0 || len(hashes) != s.N*piece.IDSize {
		return metadb.Segment{}, fmt.Errorf("stored hashes of segment %d have %d bytes for %d pieces", s.Index, len(hashes), s.N)
	}
	s.Hashes = make([]piece.ID, s.N)
	for i := range s.Hashes {
		copy(s.Hashes[i][:], hashes[i*piece.IDSize:])
	}
	return s, nil
}

// Pieces returns the pieces recorded for a segment, ordered by index;
// ErrNotFound if the segment is not declared. It is not scoped to an
// account: the caller has authorised the object (Segments).
func (db *DB) Pieces(ctx context.Context, object metadb.ID16, segment int) ([]metadb.Piece, error) {
	const op = "pieces"
	rows, err := db.rs.query(ctx, piecesQuery, object[:], segment)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var ps []metadb.Piece
	for rows.Next() {
		p := metadb.Piece{Object: object, Segment: segment}
		if err := rows.Scan(&p.Index, scanNodeID(&p.Node), scanPieceID(&p.ID), &p.Size, &p.Receipt); err != nil {
			return nil, wrap(op, err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	if len(ps) == 0 {
		if err := db.exists(ctx, segmentExistsQuery, object[:], segment); err != nil {
			return nil, wrap(op, err)
		}
	}
	return ps, nil
}

// CommittedSegments returns the indexes of the committed segments of an
// object of the account, ascending; ErrNotFound if the object is not the
// account's. A resumed upload skips them.
func (db *DB) CommittedSegments(ctx context.Context, account, object metadb.ID16) ([]int, error) {
	const op = "committed segments"
	rows, err := db.r.QueryContext(ctx, `SELECT s.idx FROM segments s JOIN objects o ON o.id = s.object
WHERE o.id = $1 AND o.account = $2 AND s.committed ORDER BY s.idx`, object[:], account[:])
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var idx []int
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			return nil, wrap(op, err)
		}
		idx = append(idx, i)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	if len(idx) == 0 {
		if err := db.exists(ctx, objectExistsQuery, object[:], account[:]); err != nil {
			return nil, wrap(op, err)
		}
	}
	return idx, nil
}

// DeleteObject deletes an object of the account that no entry references
// (ErrConflict otherwise; ErrNotFound if it is not the account's), pending
// or committed, and queues its pieces for deletion.
func (db *DB) DeleteObject(ctx context.Context, account, object metadb.ID16) error {
	return db.write(ctx, "delete object", func(tx *sql.Tx) error {
		var referenced bool
		err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM entry_objects WHERE object = $1) FROM objects WHERE id = $1 AND account = $2`,
			object[:], account[:]).Scan(&referenced)
		if err != nil {
			return err
		}
		if referenced {
			return fmt.Errorf("%w: object is referenced by an entry", metadb.ErrConflict)
		}
		return deleteObject(ctx, tx, object, time.Now())
	})
}

// StalePendingObjects returns up to limit pending objects created before
// cutoff, oldest first.
func (db *DB) StalePendingObjects(ctx context.Context, cutoff time.Time, limit int) ([]metadb.Object, error) {
	const op = "stale pending objects"
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: %s: %w: limit %d", op, ErrInvalid, limit)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+objectCols+` FROM objects WHERE state = 'pending' AND created < $1
ORDER BY created, id LIMIT $2`, encTime(cutoff), limit)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var objs []metadb.Object
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		objs = append(objs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return objs, nil
}
