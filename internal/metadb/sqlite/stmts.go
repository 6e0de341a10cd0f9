package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// stmtSet holds statements prepared once, when the database opens, for
// the calls every upload and every commit makes: SQLite compiles a
// statement in about the time it takes to run a simple one, and modernc's
// driver compiles the SQL of every ad-hoc query anew (docs/benchmarks.md,
// change 18). A statement is prepared on its *sql.DB, which prepares it
// again on any other connection it is used on and keeps it there.
//
// The statements of the write DB must be prepared before any transaction
// holds its one connection, hence at open: preparing on the DB inside a
// transaction would wait for that connection forever.
type stmtSet map[string]*sql.Stmt

// prepareSet prepares queries on db.
func prepareSet(ctx context.Context, db *sql.DB, queries []string) (stmtSet, error) {
	s := make(stmtSet, len(queries))
	for _, q := range queries {
		if _, ok := s[q]; ok {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prepare %.60q: %w", q, err), s.close())
		}
		s[q] = st
	}
	return s, nil
}

// errUnprepared reports a query missing from its statement set: a
// programming error, which the package's tests meet first.
var errUnprepared = errors.New("sqlite: statement not prepared at open")

// get returns q's statement.
func (s stmtSet) get(q string) (*sql.Stmt, error) {
	st, ok := s[q]
	if !ok {
		return nil, fmt.Errorf("%w: %.60q", errUnprepared, q)
	}
	return st, nil
}

// query runs q's statement with args.
func (s stmtSet) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.get(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// queryRow runs q's statement with args for one row; a query missing from
// the set is the Scan's error, as a failed query's is.
func (s stmtSet) queryRow(ctx context.Context, q string, args ...any) scanner {
	st, err := s.get(q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// errRow is a row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// in returns q's statement bound to tx, which reuses what the statement
// compiled on tx's connection.
func (s stmtSet) in(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	st, err := s.get(q)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}

// close closes the statements.
func (s stmtSet) close() error {
	var errs []error
	for _, st := range s {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// stmtRef names a query and where bindAll puts its statement.
type stmtRef struct {
	p **sql.Stmt
	q string
}

// bindAll binds the statement of each ref's query to tx (see in).
func (s stmtSet) bindAll(ctx context.Context, tx *sql.Tx, refs ...stmtRef) error {
	for _, r := range refs {
		st, err := s.in(ctx, tx, r.q)
		if err != nil {
			return err
		}
		*r.p = st
	}
	return nil
}
