package client_test

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/testnet"
)

// openMetaDB opens the coordinator's database behind its back: what an
// attacker who took the coordinator's machine can edit.
func openMetaDB(t *testing.T, net *testnet.Network) *sql.DB {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(net.Dir, "*", "meta.db"))
	if err != nil || len(paths) != 1 {
		t.Fatalf("coordinator database: %v %v", paths, err)
	}
	db, err := sql.Open("sqlite", "file:"+paths[0]+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s: no row changed", q)
	}
}

func idBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("ID %q", s)
	}
	return b
}

func stat(t *testing.T, c *client.Client, p string) client.Entry {
	t.Helper()
	e, err := c.Stat(ctxT(t), p)
	if err != nil {
		t.Fatalf("stat %s: %v", p, err)
	}
	return e
}

// TestTamperedDatabase edits the coordinator's stored rows directly; a new
// device of the account must refuse what it reads, never show it.
func TestTamperedDatabase(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	db := openMetaDB(t, net)

	t.Run("another account's entry moved into the root", func(t *testing.T) {
		a, b := net.Signup(t), net.Signup(t)
		put(t, a, "/mine", []byte("mine"))
		put(t, b, "/theirs", []byte("theirs"))
		exec(t, db, `UPDATE entries SET account = ?, parent = ? WHERE id = ?`,
			idBytes(t, a.State().Account), idBytes(t, stat(t, a, "/").ID), idBytes(t, stat(t, b, "/theirs").ID))
		r := net.Login(t, a.Email())
		_, err := r.List(ctxT(t), "/")
		wantTampered(t, "ls with a foreign entry", err, nil)
	})

	t.Run("metadata bit flipped", func(t *testing.T) {
		a := net.Signup(t)
		put(t, a, "/f", []byte("some content"))
		id := idBytes(t, stat(t, a, "/f").ID)
		var m []byte
		if err := db.QueryRow(`SELECT meta FROM entries WHERE id = ?`, id).Scan(&m); err != nil {
			t.Fatal(err)
		}
		m[20] ^= 0x01
		exec(t, db, `UPDATE entries SET meta = ? WHERE id = ?`, m, id)
		r := net.Login(t, a.Email())
		var buf bytes.Buffer
		_, err := r.Get(ctxT(t), "/f", &buf, nil)
		wantTampered(t, "get", err, &buf)
	})

	t.Run("objects of two files swapped", func(t *testing.T) {
		a := net.Signup(t)
		x, y := randBytes(t, 200000), randBytes(t, 200000)
		put(t, a, "/x", x)
		put(t, a, "/y", y)
		xi, yi := idBytes(t, stat(t, a, "/x").ID), idBytes(t, stat(t, a, "/y").ID)
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`UPDATE entry_objects SET idx = 99 WHERE entry = ?`, []any{xi}},
			{`UPDATE entry_objects SET entry = ? WHERE entry = ?`, []any{xi, yi}},
			{`UPDATE entry_objects SET entry = ?, idx = 0 WHERE entry = ? AND idx = 99`, []any{yi, xi}},
		} {
			if _, err := tx.Exec(q.sql, q.args...); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		r := net.Login(t, a.Email())
		var buf bytes.Buffer
		_, err = r.Get(ctxT(t), "/x", &buf, nil)
		wantTampered(t, "get /x", err, &buf)
	})

	t.Run("latest journal record deleted", func(t *testing.T) {
		a := net.Signup(t)
		put(t, a, "/1", []byte("1"))
		put(t, a, "/2", []byte("2"))
		opts := net.ClientOptions()
		opts.StateDir = t.TempDir()
		r, err := client.New(a.State(), opts)
		if err != nil {
			t.Fatal(err)
		}
		wantNames(t, r, "/", "1", "2")
		r.Close()
		acct := idBytes(t, a.State().Account)
		exec(t, db, `DELETE FROM journal WHERE account = ? AND seq = (SELECT max(seq) FROM journal WHERE account = ?)`, acct, acct)
		again, err := client.New(a.State(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		_, err = again.List(ctxT(t), "/")
		if !errors.Is(err, client.ErrRollback) {
			t.Fatalf("journal rolled back in the database: %v, want ErrRollback", err)
		}
		// A new device cannot know about the deleted record, but the
		// entry it put no longer matches the journal.
		fresh := net.Login(t, a.Email())
		_, err = fresh.List(ctxT(t), "/")
		wantTampered(t, "new device after the rollback", err, nil)
	})
}
