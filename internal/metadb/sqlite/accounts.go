package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
)

const accountCols = `id, email, kdf, verifier, wrapped_master_key, root_entry, trash_entry, public_key, wrapped_private_key,
	recovery_verifier, recovery_wrap, totp_secret, totp_last_step, created, signing_key, wrapped_signing_key`

// validTopFolder checks that e is a top-level folder of account with the
// given ID: no parent, no objects. Its name tag may be empty: it is in no
// folder.
func validTopFolder(what string, e *metadb.Entry, account, id metadb.ID16) error {
	switch {
	case id == (metadb.ID16{}) || e.ID != id:
		return fmt.Errorf("%w: %s entry ID must be the account's and not zero", ErrInvalid, what)
	case e.Account != account:
		return fmt.Errorf("%w: %s entry belongs to another account", ErrInvalid, what)
	case e.Parent != (metadb.ID16{}) || e.Kind != metadb.KindFolder || len(e.Objects) != 0:
		return fmt.Errorf("%w: %s entry must be a folder with no parent and no objects", ErrInvalid, what)
	}
	return nil
}

// validRecord checks the shape of a journal record: a sequence number
// that fits a BIGINT, and the hash of its data.
func validRecord(rec *metadb.JournalRecord) error {
	switch {
	case rec.Seq < 1 || rec.Seq > maxSeq:
		return fmt.Errorf("%w: journal seq %d", ErrInvalid, rec.Seq)
	case len(rec.Data) == 0:
		return fmt.Errorf("%w: empty journal record", ErrInvalid)
	case sha256.Sum256(rec.Data) != rec.Hash:
		return fmt.Errorf("%w: journal record hash is not the SHA-256 of its data", ErrInvalid)
	}
	return nil
}

// CreateAccount creates an account, its root and trash folders and record
// 1 of its journal in one transaction. root and trash must be folders of
// the account with no parent and no objects, whose IDs are a.RootEntry and
// a.TrashEntry (distinct); first must have Seq 1 and Hash = SHA-256(Data);
// the signing key and its wrap are both set or both empty (ErrInvalid
// otherwise). A duplicate e-mail or account ID, or a folder ID already in
// use, is ErrExists.
func (db *DB) CreateAccount(ctx context.Context, a metadb.Account, root, trash metadb.Entry, first metadb.JournalRecord) error {
	const op = "create account"
	if err := func() error {
		switch {
		case a.ID == (metadb.ID16{}):
			return fmt.Errorf("%w: zero account ID", ErrInvalid)
		case a.Email == "":
			return fmt.Errorf("%w: empty e-mail", ErrInvalid)
		case a.RootEntry == a.TrashEntry:
			return fmt.Errorf("%w: the root and trash folders are the same entry", ErrInvalid)
		case first.Seq != 1:
			return fmt.Errorf("%w: the first journal record has seq %d", ErrInvalid, first.Seq)
		case (len(a.SigningKey) == 0) != (len(a.WrappedSigningKey) == 0):
			return fmt.Errorf("%w: a signing key without its wrap, or a wrap without its key", ErrInvalid)
		}
		if err := validTopFolder("root", &root, a.ID, a.RootEntry); err != nil {
			return err
		}
		if err := validTopFolder("trash", &trash, a.ID, a.TrashEntry); err != nil {
			return err
		}
		return validRecord(&first)
	}(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (`+accountCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $14, $15)`,
			a.ID[:], a.Email, blob(a.KDF), blob(a.Verifier), blob(a.WrappedMasterKey), a.RootEntry[:], a.TrashEntry[:],
			blob(a.PublicKey), blob(a.WrappedPrivateKey), nullBlob(a.RecoveryVerifier), nullBlob(a.RecoveryWrap),
			nullBlob(a.TOTPSecret), encTime(a.Created), nullBlob(a.SigningKey), nullBlob(a.WrappedSigningKey)); err != nil {
			return err
		}
		for _, e := range []*metadb.Entry{&root, &trash} {
			if _, err := tx.ExecContext(ctx, insertEntry, entryArgs(e, encTime(e.Created))...); err != nil {
				return err
			}
		}
		return appendRecord(ctx, tx, a.ID, &first)
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
	if err := row.Scan(scanID(&a.ID), &a.Email, &a.KDF, &a.Verifier, &a.WrappedMasterKey, scanID(&a.RootEntry), scanID(&a.TrashEntry),
		&a.PublicKey, &a.WrappedPrivateKey, &a.RecoveryVerifier, &a.RecoveryWrap, &a.TOTPSecret, &a.TOTPLastStep, &created,
		&a.SigningKey, &a.WrappedSigningKey); err != nil {
		return metadb.Account{}, err
	}
	a.Created = decTime(created)
	return a, nil
}

// updateAccount runs an UPDATE of one account row (its ID is $1) in a
// write transaction: ErrNotFound if the account does not exist.
func (db *DB) updateAccount(ctx context.Context, op, query string, account metadb.ID16, args ...any) error {
	return db.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, append([]any{account[:]}, args...)...)
		if err != nil {
			return err
		}
		return mustAffect(res)
	})
}

// SetPassword replaces the account's KDF parameters, verifier and wrapped
// master key; ErrNotFound if the account does not exist.
func (db *DB) SetPassword(ctx context.Context, account metadb.ID16, kdf, verifier, wrappedMasterKey []byte) error {
	const op = "set password"
	if len(kdf) == 0 || len(verifier) == 0 || len(wrappedMasterKey) == 0 {
		return fmt.Errorf("sqlite: %s: %w: empty KDF parameters, verifier or wrapped key", op, ErrInvalid)
	}
	return db.updateAccount(ctx, op, `UPDATE accounts SET kdf = $2, verifier = $3, wrapped_master_key = $4 WHERE id = $1`,
		account, kdf, verifier, wrappedMasterKey)
}

// SetRecovery stores or replaces the account's recovery verifier and wrap;
// ErrNotFound if the account does not exist.
func (db *DB) SetRecovery(ctx context.Context, account metadb.ID16, verifier, wrap []byte) error {
	const op = "set recovery"
	if len(verifier) == 0 || len(wrap) == 0 {
		return fmt.Errorf("sqlite: %s: %w: empty verifier or wrap", op, ErrInvalid)
	}
	return db.updateAccount(ctx, op, `UPDATE accounts SET recovery_verifier = $2, recovery_wrap = $3 WHERE id = $1`,
		account, verifier, wrap)
}

// SetTOTP sets the account's TOTP secret (nil or empty turns two-factor
// login off) and resets the last step used to 0; ErrNotFound if the
// account does not exist.
func (db *DB) SetTOTP(ctx context.Context, account metadb.ID16, secret []byte) error {
	return db.updateAccount(ctx, "set TOTP", `UPDATE accounts SET totp_secret = $2, totp_last_step = 0 WHERE id = $1`,
		account, nullBlob(secret))
}

// UseTOTPStep records that the time step was used. It is one conditional
// UPDATE, so of concurrent calls with the same step exactly one succeeds:
// the others, and any call with a step not after the last one used, get
// ErrConflict. ErrNotFound if the account does not exist.
func (db *DB) UseTOTPStep(ctx context.Context, account metadb.ID16, step int64) error {
	return db.write(ctx, "use TOTP step", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`,
			account[:], step)
		if err != nil {
			return err
		}
		if mustAffect(res) == nil {
			return nil
		}
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT totp_last_step FROM accounts WHERE id = $1`, account[:]).Scan(&last); err != nil {
			return err
		}
		return fmt.Errorf("%w: TOTP step %d is not after the last one used (%d)", metadb.ErrConflict, step, last)
	})
}

// SetSigningKey sets the account's Ed25519 public key and wrapped seed,
// which must not be empty (ErrInvalid). It is one conditional UPDATE: an
// account that already has a signing key keeps it (ErrExists), so of
// concurrent calls exactly one succeeds. ErrNotFound if the account does
// not exist.
func (db *DB) SetSigningKey(ctx context.Context, account metadb.ID16, pub, wrapped []byte) error {
	const op = "set signing key"
	if len(pub) == 0 || len(wrapped) == 0 {
		return fmt.Errorf("sqlite: %s: %w: empty public key or wrapped seed", op, ErrInvalid)
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET signing_key = $2, wrapped_signing_key = $3
WHERE id = $1 AND signing_key IS NULL`, account[:], pub, wrapped)
		if err != nil {
			return err
		}
		if mustAffect(res) == nil {
			return nil
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = $1`, account[:]).Scan(&one); err != nil {
			return err
		}
		return fmt.Errorf("%w: the account has a signing key", metadb.ErrExists)
	})
}

const tokenCols = `id, account, name, verifier, wrapped_master_key, created, last_used`

// CreateToken stores an API token. ErrExists if its ID is taken or the
// account has a token of the same name; ErrNotFound if the account does
// not exist.
func (db *DB) CreateToken(ctx context.Context, t metadb.Token) error {
	const op = "create token"
	switch {
	case t.ID == (metadb.ID16{}):
		return fmt.Errorf("sqlite: %s: %w: zero token ID", op, ErrInvalid)
	case t.Name == "":
		return fmt.Errorf("sqlite: %s: %w: empty name", op, ErrInvalid)
	case len(t.Verifier) == 0 || len(t.WrappedMasterKey) == 0:
		return fmt.Errorf("sqlite: %s: %w: empty verifier or wrapped key", op, ErrInvalid)
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ID[:], t.Account[:], t.Name, t.Verifier, t.WrappedMasterKey, encTime(t.Created), encTime(t.LastUsed))
	return wrap(op, err)
}

// Token returns a token of any account, or ErrNotFound.
func (db *DB) Token(ctx context.Context, id metadb.ID16) (metadb.Token, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = $1`, id[:]))
	return t, wrap("token", err)
}

// Tokens returns the account's tokens ordered by creation time, then ID.
// An account without tokens, or an unknown account, has none.
func (db *DB) Tokens(ctx context.Context, account metadb.ID16) ([]metadb.Token, error) {
	const op = "tokens"
	rows, err := db.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE account = $1 ORDER BY created, id`, account[:])
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var ts []metadb.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return ts, nil
}

func scanToken(row scanner) (metadb.Token, error) {
	var (
		t                 metadb.Token
		created, lastUsed int64
	)
	if err := row.Scan(scanID(&t.ID), scanID(&t.Account), &t.Name, &t.Verifier, &t.WrappedMasterKey, &created, &lastUsed); err != nil {
		return metadb.Token{}, err
	}
	t.Created = decTime(created)
	t.LastUsed = decTime(lastUsed)
	return t, nil
}

// DeleteToken deletes a token of the account; ErrNotFound if there is
// none with that ID in the account.
func (db *DB) DeleteToken(ctx context.Context, account, id metadb.ID16) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM tokens WHERE id = $1 AND account = $2`, id[:], account[:])
	if err != nil {
		return wrap("delete token", err)
	}
	return wrap("delete token", mustAffect(res))
}

// TouchToken records that the token was used at used; ErrNotFound if it
// does not exist. LastUsed never moves back: requests that finish out of
// order leave the latest time.
func (db *DB) TouchToken(ctx context.Context, id metadb.ID16, used time.Time) error {
	const op = "touch token"
	return db.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used = $2 WHERE id = $1 AND last_used < $2`, id[:], encTime(used))
		if err != nil {
			return err
		}
		if mustAffect(res) == nil {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE id = $1`, id[:]).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: token", metadb.ErrNotFound)
		}
		return err
	})
}

// sessionCols are the columns of a session but its token hash.
const sessionCols = `account, expires, root, writable, share, link, downloaded, opener`

// validSession checks the scope of a session: a session opened for a share
// or a link (never both) is scoped to a root entry; only a share session
// may write, only a link session be counted as a download.
func validSession(s *metadb.Session) error {
	var zero metadb.ID16
	switch {
	case s.Share != zero && s.Link != zero:
		return fmt.Errorf("%w: a session opened for both a share and a link", ErrInvalid)
	case (s.Share != zero || s.Link != zero) && s.Root == zero:
		return fmt.Errorf("%w: a share or link session without a root", ErrInvalid)
	case s.Write && s.Share == zero:
		return fmt.Errorf("%w: a writable session not opened for a share", ErrInvalid)
	case s.Downloaded && s.Link == zero:
		return fmt.Errorf("%w: a session counted as a download not opened for a link", ErrInvalid)
	case s.Opener != zero && s.Share == zero:
		return fmt.Errorf("%w: an opener for a session not opened for a share", ErrInvalid)
	case s.Opener != zero && s.Opener == s.Account:
		return fmt.Errorf("%w: a share session opened by the share's owner", ErrInvalid)
	}
	return nil
}

// CreateSession stores a session (ErrExists if the token hash is taken,
// ErrNotFound if the account, or the share or link it is opened for, does
// not exist). A share or link session must have the share's or link's
// owner as its account (ErrInvalid), so that ending the owner's sessions
// ends it too. The share or link is read in the same transaction, so that
// a session cannot outlive a revocation that raced with its opening: a
// session of a revoked link, or a writable session of a share that is no
// longer read-write, is ErrConflict. Sessions that have expired are purged
// in the same transaction.
func (db *DB) CreateSession(ctx context.Context, s metadb.Session) error {
	const op = "create session"
	if err := validSession(&s); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		if err := sessionScope(ctx, tx, &s); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires <= $1`, encTime(time.Now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, `+sessionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			s.TokenHash[:], s.Account[:], encTime(s.Expires), nullID(s.Root), s.Write, nullID(s.Share), nullID(s.Link), s.Downloaded, nullID(s.Opener))
		return err
	})
}

// sessionScope checks, in tx, the share or link a session is opened for.
func sessionScope(ctx context.Context, tx *sql.Tx, s *metadb.Session) error {
	var (
		what  string
		owner metadb.ID16
		err   error
		open  bool // the share allows the session's level, the link is not revoked
	)
	switch {
	case s.Share != (metadb.ID16{}):
		what = "share"
		var writable bool
		err = tx.QueryRowContext(ctx, `SELECT owner, writable FROM shares WHERE id = $1`, s.Share[:]).Scan(scanID(&owner), &writable)
		open = writable || !s.Write
	case s.Link != (metadb.ID16{}):
		what = "link"
		var revoked int64
		err = tx.QueryRowContext(ctx, `SELECT account, revoked FROM links WHERE id = $1`, s.Link[:]).Scan(scanID(&owner), &revoked)
		open = revoked == zeroTime
	default:
		return nil
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %s", metadb.ErrNotFound, what)
	case err != nil:
		return err
	case owner != s.Account:
		return fmt.Errorf("%w: a %s session whose account is not the %s's owner", ErrInvalid, what, what)
	case !open && what == "link":
		return fmt.Errorf("%w: the link is revoked", metadb.ErrConflict)
	case !open:
		return fmt.Errorf("%w: a writable session of a read-only share", metadb.ErrConflict)
	}
	return nil
}

// SessionByToken returns the session with the token hash, or ErrNotFound
// if there is none or it has expired. The hash is an index key: finding it
// reveals nothing an attacker could not learn from the token itself.
func (db *DB) SessionByToken(ctx context.Context, tokenHash [32]byte) (metadb.Session, error) {
	var (
		s       = metadb.Session{TokenHash: tokenHash}
		expires int64
	)
	err := db.rs.queryRow(ctx, sessionByTokenQuery, tokenHash[:], encTime(time.Now())).Scan(scanID(&s.Account), &expires, scanID(&s.Root), &s.Write, scanID(&s.Share),
		scanID(&s.Link), &s.Downloaded, scanID(&s.Opener))
	if err != nil {
		return metadb.Session{}, wrap("session by token", err)
	}
	s.Expires = decTime(expires)
	return s, nil
}

// sessionByTokenQuery finds a live session; every request makes it.
const sessionByTokenQuery = `SELECT ` + sessionCols + ` FROM sessions WHERE token_hash = $1 AND expires > $2`

// DeleteSession deletes a session; ErrNotFound if there is none (expired
// sessions not yet purged count as present).
func (db *DB) DeleteSession(ctx context.Context, tokenHash [32]byte) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash[:])
	if err != nil {
		return wrap("delete session", err)
	}
	return wrap("delete session", mustAffect(res))
}

// deleteSessionsQuery deletes the sessions of account $1 but $2 and but
// the share sessions others opened, and deleteOpenedQuery the share
// sessions account $1 opened, each found by an index (TestQueryPlans).
const (
	deleteSessionsQuery = `DELETE FROM sessions WHERE account = $1 AND opener IS NULL AND token_hash <> $2`
	deleteOpenedQuery   = `DELETE FROM sessions WHERE opener = $1 AND token_hash <> $2`
)

// DeleteSessions deletes every session of the account but keep: its
// logins and token sessions, and the scoped sessions opened for its links
// and shares (stored with the account as theirs).
func (db *DB) DeleteSessions(ctx context.Context, account metadb.ID16, keep [32]byte) (int, error) {
	var n int64
	err := db.write(ctx, "delete sessions", func(tx *sql.Tx) error {
		for _, q := range []string{deleteSessionsQuery, deleteOpenedQuery} {
			res, err := tx.ExecContext(ctx, q, account[:], keep[:])
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	return int(n), err
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

// Usage reports what the account stores: the ciphertext bytes of its
// committed objects (referenced or not: they occupy nodes either way), its
// files, and its folders but for the two top-level ones. ErrNotFound if
// the account does not exist. One statement, so one snapshot.
func (db *DB) Usage(ctx context.Context, account metadb.ID16) (metadb.Usage, error) {
	var u metadb.Usage
	err := db.r.QueryRowContext(ctx, `SELECT
	(SELECT COALESCE(SUM(size), 0) FROM objects WHERE account = $1 AND state = 'committed'),
	(SELECT COUNT(*) FROM entries WHERE account = $1 AND kind = 'file'),
	(SELECT COUNT(*) FROM entries WHERE account = $1 AND kind = 'folder' AND parent IS NOT NULL)
FROM accounts WHERE id = $1`, account[:]).Scan(&u.Bytes, &u.Files, &u.Folders)
	if err != nil {
		return metadb.Usage{}, wrap("usage", err)
	}
	return u, nil
}
