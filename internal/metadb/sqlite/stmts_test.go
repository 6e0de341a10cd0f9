package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"modernc.org/sqlite"
)

// stmtMemory returns the heap SQLite holds for the prepared statements of
// the write connection.
func stmtMemory(t *testing.T, db *DB) int {
	t.Helper()
	conn, err := db.w.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var cur int
	err = conn.Raw(func(dc any) error {
		s, ok := dc.(interface {
			Status(sqlite.DBStatusOp, bool) (int, int, error)
		})
		if !ok {
			return errors.New("the driver's connection has no Status method")
		}
		cur, _, err = s.Status(sqlite.DBStatusStmtUsed, false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return cur
}

// TestStatementsPreparedAtOpen checks that the statements of the hot paths
// are compiled once, when the database opens, and that a query missing
// from a set is an error rather than a silent ad-hoc statement.
func TestStatementsPreparedAtOpen(t *testing.T) {
	db := openTemp(t)
	for _, set := range []struct {
		name    string
		s       stmtSet
		queries []string
	}{{"write", db.ws, writeQueries}, {"read", db.rs, readQueries}} {
		for _, q := range set.queries {
			if st, err := set.s.get(q); err != nil || st == nil {
				t.Errorf("%s set: %.40q: %v", set.name, q, err)
			}
		}
	}
	if got := stmtMemory(t, db); got == 0 {
		t.Error("no statement is prepared on the write connection after open")
	}
	if _, err := db.ws.get(`SELECT 1`); !errors.Is(err, errUnprepared) {
		t.Errorf("get of a query outside the set: %v, want errUnprepared", err)
	}
	err := db.write(t.Context(), "test", func(tx *sql.Tx) error {
		_, err := db.ws.in(context.Background(), tx, `SELECT 1`)
		return err
	})
	if !errors.Is(err, errUnprepared) {
		t.Errorf("in with a query outside the set: %v, want errUnprepared", err)
	}
}
