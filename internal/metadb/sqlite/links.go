package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
)

const linkCols = `id, account, target, created, expires, max_downloads, downloads, revoked, verifier, kdf,
	wrapped_link_key, wrapped_target_key, owner_link_key, owner_secret`

// Statements the schema has an index for (TestQueryPlans checks them).
const (
	linksQuery               = `SELECT ` + linkCols + ` FROM links WHERE account = $1 ORDER BY created, id`
	deleteLinkSessionsQuery  = `DELETE FROM sessions WHERE link = $1`
	deleteShareSessionsQuery = `DELETE FROM sessions WHERE share = $1`
)

// CreateLink stores a link. Its ID and target must not be zero, its
// download counts not negative nor Downloads above a non-zero MaxDownloads,
// and its verifier and four wraps not empty (ErrInvalid). ErrExists if the
// ID is taken, ErrNotFound if the account does not exist. The target is
// not checked: the caller checks it is an entry of the account.
func (db *DB) CreateLink(ctx context.Context, l metadb.Link) error {
	const op = "create link"
	switch {
	case l.ID == (metadb.ID16{}) || l.Target == (metadb.ID16{}):
		return fmt.Errorf("sqlite: %s: %w: zero link or target ID", op, ErrInvalid)
	case l.MaxDownloads < 0 || l.Downloads < 0 || (l.MaxDownloads > 0 && l.Downloads > l.MaxDownloads):
		return fmt.Errorf("sqlite: %s: %w: %d downloads of at most %d", op, ErrInvalid, l.Downloads, l.MaxDownloads)
	case len(l.Verifier) == 0 || len(l.WrappedLinkKey) == 0 || len(l.WrappedTargetKey) == 0 ||
		len(l.OwnerLinkKey) == 0 || len(l.OwnerSecret) == 0:
		return fmt.Errorf("sqlite: %s: %w: empty verifier or wrap", op, ErrInvalid)
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO links (`+linkCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		l.ID[:], l.Account[:], l.Target[:], encTime(l.Created), encTime(l.Expires), l.MaxDownloads, l.Downloads,
		encTime(l.Revoked), l.Verifier, nullBlob(l.KDF), l.WrappedLinkKey, l.WrappedTargetKey, l.OwnerLinkKey, l.OwnerSecret)
	return wrap(op, err)
}

// Link returns a link of any account, revoked or not, or ErrNotFound.
func (db *DB) Link(ctx context.Context, id metadb.ID16) (metadb.Link, error) {
	l, err := scanLink(db.r.QueryRowContext(ctx, `SELECT `+linkCols+` FROM links WHERE id = $1`, id[:]))
	return l, wrap("link", err)
}

// Links returns the account's links, revoked ones included, ordered by
// creation time, then ID. An account without links, or an unknown
// account, has none.
func (db *DB) Links(ctx context.Context, account metadb.ID16) ([]metadb.Link, error) {
	const op = "links"
	rows, err := db.r.QueryContext(ctx, linksQuery, account[:])
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var ls []metadb.Link
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		ls = append(ls, l)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return ls, nil
}

func scanLink(row scanner) (metadb.Link, error) {
	var (
		l                         metadb.Link
		created, expires, revoked int64
	)
	if err := row.Scan(scanID(&l.ID), scanID(&l.Account), scanID(&l.Target), &created, &expires, &l.MaxDownloads, &l.Downloads,
		&revoked, &l.Verifier, &l.KDF, &l.WrappedLinkKey, &l.WrappedTargetKey, &l.OwnerLinkKey, &l.OwnerSecret); err != nil {
		return metadb.Link{}, err
	}
	l.Created, l.Expires, l.Revoked = decTime(created), decTime(expires), decTime(revoked)
	return l, nil
}

// RevokeLink marks a link of the account revoked at at (a link revoked
// before keeps its first revocation time) and ends its sessions, in one
// transaction. at must not be the zero time (ErrInvalid); ErrNotFound if
// the account has no such link.
func (db *DB) RevokeLink(ctx context.Context, account, id metadb.ID16, at time.Time) error {
	const op = "revoke link"
	if encTime(at) == zeroTime {
		return fmt.Errorf("sqlite: %s: %w: zero revocation time", op, ErrInvalid)
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		var revoked int64
		err := tx.QueryRowContext(ctx, `SELECT revoked FROM links WHERE id = $1 AND account = $2`, id[:], account[:]).Scan(&revoked)
		if err != nil {
			return err
		}
		if revoked == zeroTime {
			if _, err := tx.ExecContext(ctx, `UPDATE links SET revoked = $2 WHERE id = $1`, id[:], encTime(at)); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, deleteLinkSessionsQuery, id[:])
		return err
	})
}

// SetLinkTargetKey replaces the target-key wrap of a link of the account
// (revoked or not); the wrap must not be empty (ErrInvalid). ErrNotFound
// if the account has no such link.
func (db *DB) SetLinkTargetKey(ctx context.Context, account, id metadb.ID16, wrapped []byte) error {
	const op = "set link target key"
	if len(wrapped) == 0 {
		return fmt.Errorf("sqlite: %s: %w: empty wrap", op, ErrInvalid)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE links SET wrapped_target_key = $3 WHERE id = $1 AND account = $2`,
		id[:], account[:], wrapped)
	if err != nil {
		return wrap(op, err)
	}
	return wrap(op, mustAffect(res))
}

// DeleteLinkSessions ends every session opened for the link (none is not
// an error).
func (db *DB) DeleteLinkSessions(ctx context.Context, link metadb.ID16) error {
	_, err := db.w.ExecContext(ctx, deleteLinkSessionsQuery, link[:])
	return wrap("delete link sessions", err)
}

// MarkDownloaded counts the link session with the token hash as one
// download of its link, once, in one write transaction: a session already
// counted changes nothing; a link whose MaxDownloads is reached is
// ErrConflict and counts nothing. ErrNotFound if there is no such session
// (or it has expired); a session not opened for a link is ErrInvalid.
// Concurrent calls for sessions of one link are serialised by the writer
// connection, so at most MaxDownloads of them succeed.
func (db *DB) MarkDownloaded(ctx context.Context, tokenHash [32]byte) error {
	return db.write(ctx, "mark downloaded", func(tx *sql.Tx) error {
		var (
			link       metadb.ID16
			isLink     bool
			downloaded bool
		)
		err := tx.QueryRowContext(ctx, `SELECT link, downloaded FROM sessions WHERE token_hash = $1 AND expires > $2`,
			tokenHash[:], encTime(time.Now())).Scan(nullID16{&link, &isLink}, &downloaded)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: session", metadb.ErrNotFound)
		case err != nil:
			return err
		case !isLink:
			return fmt.Errorf("%w: the session was not opened for a link", ErrInvalid)
		case downloaded:
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE links SET downloads = downloads + 1
WHERE id = $1 AND (max_downloads = 0 OR downloads < max_downloads)`, link[:])
		if err != nil {
			return err
		}
		if err := mustAffect(res); err != nil {
			var downloads, limit int64
			err := tx.QueryRowContext(ctx, `SELECT downloads, max_downloads FROM links WHERE id = $1`, link[:]).Scan(&downloads, &limit)
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: the link was downloaded %d times of at most %d", metadb.ErrConflict, downloads, limit)
		}
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET downloaded = TRUE WHERE token_hash = $1`, tokenHash[:])
		return err
	})
}
