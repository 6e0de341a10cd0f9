package sqlite

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/piece"
)

// seedDatabase returns the bytes of a small valid database: one account,
// a folder, a committed object with one segment and a queued deletion.
func seedDatabase(f *testing.F) []byte {
	f.Helper()
	ctx := f.Context()
	path := filepath.Join(f.TempDir(), "seed.db")
	db, err := Open(ctx, path)
	if err != nil {
		f.Fatal(err)
	}
	a, root, trash, first := testAccount(1)
	steps := []func() error{
		func() error { return db.CreateAccount(ctx, a, root, trash, first) },
		func() error {
			return commit(ctx, db, a.ID, []metadb.Entry{{ID: metadb.ID16{9}, Account: a.ID, Parent: root.ID, Kind: metadb.KindFolder, NameTag: []byte("d")}})
		},
		func() error {
			return db.UpsertNode(ctx, metadb.Node{ID: [32]byte{7}, Address: "127.0.0.1:1", LastSeen: time.Unix(1, 0)})
		},
		func() error {
			return db.CreateObject(ctx, metadb.Object{ID: metadb.ID16{8}, Account: a.ID, Created: time.Unix(2, 0)})
		},
		func() error {
			return db.PutSegment(ctx, a.ID, metadb.Segment{Object: metadb.ID16{8}, Size: 10, PieceSize: 10, K: 1, N: 1, Hashes: []piece.ID{{1}}})
		},
		func() error {
			return db.CommitSegment(ctx, a.ID, metadb.ID16{8}, 0, []metadb.Piece{{Node: [32]byte{7}, ID: piece.ID{1}, Size: 10, Receipt: []byte("r")}})
		},
		func() error { return db.CommitObject(ctx, a.ID, metadb.ID16{8}, 1, 10) },
		func() error {
			return commit(ctx, db, a.ID, []metadb.Entry{{ID: metadb.ID16{10}, Account: a.ID, Parent: metadb.ID16{9}, Kind: metadb.KindFile,
				NameTag: []byte("f"), Objects: []metadb.ID16{{8}}}})
		},
		func() error {
			return db.CreateToken(ctx, metadb.Token{ID: metadb.ID16{11}, Account: a.ID, Name: "t", Verifier: []byte("v"), WrappedMasterKey: []byte("w")})
		},
		func() error {
			return db.QueueDeletions(ctx, []metadb.Deletion{{Node: [32]byte{7}, Piece: piece.ID{2}, Queued: time.Unix(3, 0)}})
		},
		// Sharing (schema version 2): a signing key, a second account, a
		// write key, a read-write share, a link and their sessions.
		func() error { return db.SetSigningKey(ctx, a.ID, make([]byte, 32), []byte("wrapped seed")) },
		func() error {
			b, rootB, trashB, firstB := testAccount(2)
			return db.CreateAccount(ctx, b, rootB, trashB, firstB)
		},
		func() error {
			seq, head, err := db.JournalHead(ctx, a.ID)
			if err != nil {
				return err
			}
			rec := testRecord(a.ID, seq+1)
			rec.Grants = []metadb.WriteKey{{ID: metadb.ID16{13}, Root: metadb.ID16{9}}, {ID: metadb.ID16{14}, Root: metadb.ID16{9}}}
			if err := db.Commit(ctx, a.ID, rec, head, nil, nil); err != nil {
				return err
			}
			rec2 := testRecord(a.ID, seq+2)
			rec2.Revokes = []metadb.ID16{{14}}
			return db.Commit(ctx, a.ID, rec2, rec.Hash, nil, nil)
		},
		func() error {
			return db.CreateShare(ctx, metadb.Share{ID: metadb.ID16{15}, Owner: a.ID, Root: metadb.ID16{9}, Recipient: metadb.ID16{1, 2},
				Write: true, KeyID: metadb.ID16{13}, Epoch: 1, Sealed: []byte("sealed")})
		},
		func() error {
			return db.CreateLink(ctx, metadb.Link{ID: metadb.ID16{16}, Account: a.ID, Target: metadb.ID16{10}, MaxDownloads: 2,
				Expires: time.Unix(4e9, 0), Verifier: []byte("v"), KDF: []byte(`{"t":3}`), WrappedLinkKey: []byte("l"),
				WrappedTargetKey: []byte("t"), OwnerLinkKey: []byte("o"), OwnerSecret: []byte("s")})
		},
		func() error {
			return db.CreateSession(ctx, metadb.Session{TokenHash: [32]byte{17}, Account: a.ID, Expires: time.Unix(4e9, 0),
				Root: metadb.ID16{10}, Link: metadb.ID16{16}})
		},
		func() error { return db.MarkDownloaded(ctx, [32]byte{17}) },
		func() error {
			return db.CreateSession(ctx, metadb.Session{TokenHash: [32]byte{18}, Account: a.ID, Expires: time.Unix(4e9, 0),
				Root: metadb.ID16{9}, Share: metadb.ID16{15}, Write: true})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			f.Fatal(err)
		}
	}
	if err := db.Close(); err != nil { // checkpoints the WAL into the file
		f.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzOpen opens arbitrary bytes as a database file: Open must either
// fail cleanly or give a database whose reads and deletes fail cleanly,
// never panic or hang.
func FuzzOpen(f *testing.F) {
	valid := seedDatabase(f)
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte("SQLite format 3\x00"))
	f.Add(valid[:len(valid)/2])
	damaged := append([]byte(nil), valid...)
	for i := 100; i < len(damaged); i += 509 {
		damaged[i] ^= 0x5a
	}
	f.Add(damaged)
	// A database of schema version 1, which Open migrates.
	v1 := filepath.Join(f.TempDir(), "v1.db")
	v1Database(f, v1)
	if b, err := os.ReadFile(v1); err != nil {
		f.Fatal(err)
	} else {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := t.Context()
		path := filepath.Join(t.TempDir(), "fuzz.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(ctx, path)
		if err != nil {
			return
		}
		defer db.Close()
		a, root, _, _ := testAccount(1)
		// Every read path over every table; errors are fine, panics not.
		_, _ = db.AccountByEmail(ctx, a.Email)
		_, _ = db.AccountByID(ctx, a.ID)
		_, _ = db.Entry(ctx, a.ID, metadb.ID16{9})
		_, _ = db.Children(ctx, a.ID, a.RootEntry)
		_, _ = db.Object(ctx, a.ID, metadb.ID16{8})
		_, _ = db.Segments(ctx, a.ID, metadb.ID16{8}, 0, 10)
		_, _ = db.Pieces(ctx, metadb.ID16{8}, 0)
		_, _ = db.StalePendingObjects(ctx, time.Now(), 10)
		_, _ = db.Nodes(ctx, time.Time{})
		_, _ = db.NodesWithDeletions(ctx)
		_, _ = db.PendingDeletions(ctx, [32]byte{7}, 10)
		_, _ = db.Usage(ctx, a.ID)
		_, _ = db.SessionByToken(ctx, [32]byte{})
		_, _ = db.Entry(ctx, a.ID, metadb.ID16{10})
		_, _ = db.CommittedSegments(ctx, a.ID, metadb.ID16{8})
		_, _ = db.Journal(ctx, a.ID, 0, 10)
		_, _, _ = db.JournalHead(ctx, a.ID)
		_, _ = db.Token(ctx, metadb.ID16{11})
		_, _ = db.Tokens(ctx, a.ID)
		_, _ = db.Link(ctx, metadb.ID16{16})
		_, _ = db.Links(ctx, a.ID)
		_, _ = db.Share(ctx, metadb.ID16{15})
		_, _ = db.SharesByOwner(ctx, a.ID)
		_, _ = db.SharesByRecipient(ctx, metadb.ID16{1, 2})
		_, _ = db.WriteKey(ctx, a.ID, metadb.ID16{13})
		_, _ = db.SessionByToken(ctx, [32]byte{18})
		_, _ = db.Ancestors(ctx, a.ID, metadb.ID16{10}, 256)
		_, _ = db.EntriesWithObject(ctx, a.ID, metadb.ID16{8})
		// Every write path that reads before it writes.
		_ = db.UseTOTPStep(ctx, a.ID, 1)
		_ = db.TouchToken(ctx, metadb.ID16{11}, time.Unix(5, 0))
		_ = commit(ctx, db, a.ID, []metadb.Entry{{ID: metadb.ID16{12}, Account: a.ID, Parent: root.ID, Kind: metadb.KindFolder, NameTag: []byte("n")}},
			metadb.ID16{10}, metadb.ID16{9})
		_ = db.DeleteObject(ctx, a.ID, metadb.ID16{8})
		_ = db.MarkDownloaded(ctx, [32]byte{17})
		_ = db.SetSigningKey(ctx, a.ID, make([]byte, 32), []byte("w"))
		_ = db.RevokeLink(ctx, a.ID, metadb.ID16{16}, time.Unix(6, 0))
		_ = db.DeleteShare(ctx, a.ID, metadb.ID16{15})
	})
}
