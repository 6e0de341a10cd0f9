package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/nuage-storage/nuage/internal/metadb"
)

const shareCols = `id, owner, root, recipient, writable, key_id, epoch, sealed, created, updated`

// Listings the schema has an index for (TestQueryPlans checks them).
const (
	sharesByOwnerQuery     = `SELECT ` + shareCols + ` FROM shares WHERE owner = $1 ORDER BY created, id`
	sharesByRecipientQuery = `SELECT ` + shareCols + ` FROM shares WHERE recipient = $1 ORDER BY created, id`
)

// validShareLevel checks what UpdateShare replaces: a write key ID exactly
// for a read-write share, and a sealed payload.
func validShareLevel(s *metadb.Share) error {
	switch {
	case s.Write != (s.KeyID != metadb.ID16{}):
		return fmt.Errorf("%w: a read-write share needs a write key ID, a read-only share has none", ErrInvalid)
	case len(s.Sealed) == 0:
		return fmt.Errorf("%w: empty sealed share", ErrInvalid)
	}
	return nil
}

// CreateShare stores a share. Its ID and root must not be zero, a
// read-write share has a write key ID and a read-only one none, and the
// sealed payload is not empty (ErrInvalid). ErrExists if the ID is taken
// or the owner already shares the root with the recipient; ErrNotFound if
// the owner or the recipient does not exist. The root and the write key
// are not checked: the caller checks them against the owner's journal.
func (db *DB) CreateShare(ctx context.Context, s metadb.Share) error {
	const op = "create share"
	if s.ID == (metadb.ID16{}) || s.Root == (metadb.ID16{}) {
		return fmt.Errorf("sqlite: %s: %w: zero share or root ID", op, ErrInvalid)
	}
	if err := validShareLevel(&s); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO shares (`+shareCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		s.ID[:], s.Owner[:], s.Root[:], s.Recipient[:], s.Write, nullID(s.KeyID), int64(s.Epoch), s.Sealed,
		encTime(s.Created), encTime(s.Updated))
	return wrap(op, err)
}

// Share returns a share of any account, or ErrNotFound.
func (db *DB) Share(ctx context.Context, id metadb.ID16) (metadb.Share, error) {
	s, err := scanShare(db.r.QueryRowContext(ctx, `SELECT `+shareCols+` FROM shares WHERE id = $1`, id[:]))
	return s, wrap("share", err)
}

// SharesByOwner returns the shares the account made, ordered by creation
// time, then ID (none for an unknown account).
func (db *DB) SharesByOwner(ctx context.Context, owner metadb.ID16) ([]metadb.Share, error) {
	return db.shares(ctx, "shares by owner", sharesByOwnerQuery, owner)
}

// SharesByRecipient returns the shares made to the account, ordered by
// creation time, then ID (none for an unknown account).
func (db *DB) SharesByRecipient(ctx context.Context, recipient metadb.ID16) ([]metadb.Share, error) {
	return db.shares(ctx, "shares by recipient", sharesByRecipientQuery, recipient)
}

// shares lists the shares query selects for account.
func (db *DB) shares(ctx context.Context, op, query string, account metadb.ID16) ([]metadb.Share, error) {
	rows, err := db.r.QueryContext(ctx, query, account[:])
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var ss []metadb.Share
	for rows.Next() {
		s, err := scanShare(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		ss = append(ss, s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return ss, nil
}

func scanShare(row scanner) (metadb.Share, error) {
	var (
		s                       metadb.Share
		epoch, created, updated int64
	)
	if err := row.Scan(scanID(&s.ID), scanID(&s.Owner), scanID(&s.Root), scanID(&s.Recipient), &s.Write, scanID(&s.KeyID),
		&epoch, &s.Sealed, &created, &updated); err != nil {
		return metadb.Share{}, err
	}
	if epoch < 0 || epoch > math.MaxUint32 {
		return metadb.Share{}, fmt.Errorf("stored share has epoch %d", epoch)
	}
	s.Epoch, s.Created, s.Updated = uint32(epoch), decTime(created), decTime(updated)
	return s, nil
}

// UpdateShare replaces the level (Write and KeyID), epoch, sealed payload
// and update time of a share of owner, checked as by CreateShare; the
// other fields of s but its ID are ignored. ErrNotFound if owner has no
// such share.
func (db *DB) UpdateShare(ctx context.Context, owner metadb.ID16, s metadb.Share) error {
	const op = "update share"
	if err := validShareLevel(&s); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE shares SET writable = $3, key_id = $4, epoch = $5, sealed = $6, updated = $7
WHERE id = $1 AND owner = $2`, s.ID[:], owner[:], s.Write, nullID(s.KeyID), int64(s.Epoch), s.Sealed, encTime(s.Updated))
	if err != nil {
		return wrap(op, err)
	}
	return wrap(op, mustAffect(res))
}

// DeleteShare removes a share of owner and ends its sessions, in one
// transaction. ErrNotFound if owner has no such share.
func (db *DB) DeleteShare(ctx context.Context, owner, id metadb.ID16) error {
	return db.write(ctx, "delete share", func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM shares WHERE id = $1 AND owner = $2`, id[:], owner[:]).Scan(&one); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, deleteShareSessionsQuery, id[:]); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM shares WHERE id = $1`, id[:])
		return err
	})
}

// DeleteShareSessions ends every session opened for the share (none is
// not an error).
func (db *DB) DeleteShareSessions(ctx context.Context, share metadb.ID16) error {
	_, err := db.w.ExecContext(ctx, deleteShareSessionsQuery, share[:])
	return wrap("delete share sessions", err)
}

// WriteKey returns a write key granted in the account's journal, active
// or revoked; ErrNotFound if the account never granted it.
func (db *DB) WriteKey(ctx context.Context, account, id metadb.ID16) (metadb.WriteKey, error) {
	k := metadb.WriteKey{ID: id}
	err := db.r.QueryRowContext(ctx, `SELECT root, active FROM write_keys WHERE account = $1 AND id = $2`, account[:], id[:]).
		Scan(scanID(&k.Root), &k.Active)
	if err != nil {
		return metadb.WriteKey{}, wrap("write key", err)
	}
	return k, nil
}
