package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
)

const accountCols = `id, email, kdf, verifier, wrapped_master_key, root_entry, created`

// CreateAccount creates an account and its root folder in one transaction.
// root must be a folder of the account, with no parent and no object, whose
// ID is a.RootEntry (ErrInvalid otherwise). A duplicate e-mail or account
// ID, or a root entry ID already in use, is ErrExists.
func (db *DB) CreateAccount(ctx context.Context, a metadb.Account, root metadb.Entry) error {
	const op = "create account"
	switch {
	case a.ID == (metadb.ID16{}):
		return fmt.Errorf("sqlite: %s: %w: zero account ID", op, ErrInvalid)
	case a.Email == "":
		return fmt.Errorf("sqlite: %s: %w: empty e-mail", op, ErrInvalid)
	case root.ID == (metadb.ID16{}) || root.ID != a.RootEntry:
		return fmt.Errorf("sqlite: %s: %w: root entry ID must be the account's RootEntry and not zero", op, ErrInvalid)
	case root.Account != a.ID:
		return fmt.Errorf("sqlite: %s: %w: root entry belongs to another account", op, ErrInvalid)
	case root.Parent != (metadb.ID16{}) || root.Kind != metadb.KindFolder || root.Object != (metadb.ID16{}):
		return fmt.Errorf("sqlite: %s: %w: root entry must be a folder with no parent and no object", op, ErrInvalid)
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (`+accountCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			a.ID[:], a.Email, blob(a.KDF), blob(a.Verifier), blob(a.WrappedMasterKey), a.RootEntry[:], encTime(a.Created)); err != nil {
			return err
		}
		return insertEntry(ctx, tx, &root)
	})
}

// AccountByEmail returns the account with the (normalised) e-mail, or
// ErrNotFound.
func (db *DB) AccountByEmail(ctx context.Context, email string) (metadb.Account, error) {
	a, err := scanAccount(db.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE email = $1`, email))
	return a, wrap("account by e-mail", err)
}

// AccountByID returns the account, or ErrNotFound.
func (db *DB) AccountByID(ctx context.Context, id metadb.ID16) (metadb.Account, error) {
	a, err := scanAccount(db.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, id[:]))
	return a, wrap("account by ID", err)
}

func scanAccount(row scanner) (metadb.Account, error) {
	var (
		a       metadb.Account
		created int64
	)
	if err := row.Scan(scanID(&a.ID), &a.Email, &a.KDF, &a.Verifier, &a.WrappedMasterKey, scanID(&a.RootEntry), &created); err != nil {
		return metadb.Account{}, err
	}
	a.Created = decTime(created)
	return a, nil
}

// CreateSession stores a session (ErrExists if the token hash is taken,
// ErrNotFound if the account does not exist). Sessions that have expired
// are purged in the same transaction.
func (db *DB) CreateSession(ctx context.Context, s metadb.Session) error {
	return db.write(ctx, "create session", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires <= $1`, encTime(time.Now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, account, expires) VALUES ($1, $2, $3)`,
			s.TokenHash[:], s.Account[:], encTime(s.Expires))
		return err
	})
}

// SessionByToken returns the session with the token hash, or ErrNotFound
// if there is none or it has expired. The hash is an index key: finding it
// reveals nothing an attacker could not learn from the token itself.
func (db *DB) SessionByToken(ctx context.Context, tokenHash [32]byte) (metadb.Session, error) {
	var (
		s       = metadb.Session{TokenHash: tokenHash}
		expires int64
	)
	err := db.r.QueryRowContext(ctx, `SELECT account, expires FROM sessions WHERE token_hash = $1 AND expires > $2`,
		tokenHash[:], encTime(time.Now())).Scan(scanID(&s.Account), &expires)
	if err != nil {
		return metadb.Session{}, wrap("session by token", err)
	}
	s.Expires = decTime(expires)
	return s, nil
}

// DeleteSession deletes a session; ErrNotFound if there is none (expired
// sessions not yet purged count as present).
func (db *DB) DeleteSession(ctx context.Context, tokenHash [32]byte) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash[:])
	if err != nil {
		return wrap("delete session", err)
	}
	return wrap("delete session", mustAffect(res))
}

// mustAffect returns sql.ErrNoRows when res reports no affected row.
func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return sql.ErrNoRows
	}
	return nil
}

// Usage reports the ciphertext bytes of the account's committed objects;
// ErrNotFound if the account does not exist.
func (db *DB) Usage(ctx context.Context, account metadb.ID16) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT (SELECT COALESCE(SUM(size), 0) FROM objects WHERE account = $1 AND state = 'committed')
FROM accounts WHERE id = $1`, account[:]).Scan(&n)
	if err != nil {
		return 0, wrap("usage", err)
	}
	return n, nil
}
