package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/piece"
)

// writerSync returns PRAGMA synchronous of the writer connection.
func writerSync(t testing.TB, db *DB) int {
	t.Helper()
	var mode int
	if err := db.w.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	return mode
}

// TestLazyWriteRestoresSync: a lazy transaction commits with NORMAL, and
// the writer connection is back to FULL afterwards, whether the
// transaction committed or failed, so no other write inherits the lax
// mode.
func TestLazyWriteRestoresSync(t *testing.T) {
	db := openTemp(t)
	if got := writerSync(t, db); got != 2 {
		t.Fatalf("writer connection opens with synchronous=%d, want 2 (FULL)", got)
	}
	boom := errors.New("boom")
	for _, fail := range []bool{false, true} {
		var inside int
		err := db.writeLazy(t.Context(), "test", func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&inside); err != nil {
				return err
			}
			if fail {
				return boom
			}
			return nil
		})
		if fail != errors.Is(err, boom) || (!fail && err != nil) {
			t.Fatalf("writeLazy (fail=%v) = %v", fail, err)
		}
		if inside != syncNormal {
			t.Errorf("inside a lazy write, synchronous=%d, want %d (NORMAL)", inside, syncNormal)
		}
		if got := writerSync(t, db); got != 2 {
			t.Errorf("after a lazy write (fail=%v), synchronous=%d, want 2 (FULL)", fail, got)
		}
	}
	// The two lazy writes of the metadb contract leave FULL behind too.
	a, _ := createAccount(t, db, 1)
	obj, seg, pieces := segmentFixture(t, db, a.ID, 2, 3)
	if err := db.PutSegment(t.Context(), a.ID, seg); err != nil {
		t.Fatal(err)
	}
	if err := db.CommitSegment(t.Context(), a.ID, obj, 0, pieces); err != nil {
		t.Fatal(err)
	}
	if got := writerSync(t, db); got != 2 {
		t.Errorf("after PutSegment and CommitSegment, synchronous=%d, want 2 (FULL)", got)
	}
}

// TestLazyWriteKeepsLaxerMode: a connection already laxer than NORMAL (as
// the fuzz tests set it) keeps its mode.
func TestLazyWriteKeepsLaxerMode(t *testing.T) {
	db := openTemp(t)
	if _, err := db.w.ExecContext(t.Context(), "PRAGMA synchronous = OFF"); err != nil {
		t.Fatal(err)
	}
	if err := db.writeLazy(t.Context(), "test", func(*sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := writerSync(t, db); got != 0 {
		t.Errorf("synchronous=%d after a lazy write on an OFF connection, want 0", got)
	}
}

// TestPendingDeletionsAreDurable: PendingDeletions syncs the WAL before
// it reads, so a deletion queued by a lazy CommitSegment is on disk before
// any node is told to delete the piece.
func TestPendingDeletionsAreDurable(t *testing.T) {
	db := openTemp(t)
	a, _ := createAccount(t, db, 1)
	obj, seg, pieces := segmentFixture(t, db, a.ID, 2, 3)
	ctx := t.Context()
	if err := db.PutSegment(ctx, a.ID, seg); err != nil {
		t.Fatal(err)
	}
	if err := db.CommitSegment(ctx, a.ID, obj, 0, pieces); err != nil {
		t.Fatal(err)
	}
	// Committing the segment again with one piece on another node queues
	// the deletion of the piece it replaces, lazily.
	other := identity.ID{0xee}
	if err := db.UpsertNode(ctx, metadb.Node{ID: other, Address: "127.0.0.1:2", LastSeen: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}
	moved := append([]metadb.Piece(nil), pieces...)
	moved[0].Node = other
	if err := db.CommitSegment(ctx, a.ID, obj, 0, moved); err != nil {
		t.Fatal(err)
	}
	var syncs []string
	old := syncFile
	syncFile = func(f *os.File) error {
		syncs = append(syncs, f.Name())
		return old(f)
	}
	t.Cleanup(func() { syncFile = old })
	ds, err := db.PendingDeletions(ctx, pieces[0].Node, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Piece != pieces[0].ID {
		t.Fatalf("PendingDeletions = %+v, want the replaced piece", ds)
	}
	if len(syncs) != 1 || syncs[0] != db.path+"-wal" {
		t.Fatalf("PendingDeletions synced %q, want the WAL file once", syncs)
	}
}

// segmentFixture creates a node and a pending object of the account, and
// returns the object, a declaration of its segment 0 (k-of-n, pieces of
// 1000 bytes) and its n pieces on that node.
func segmentFixture(t testing.TB, db *DB, account metadb.ID16, k, n int) (metadb.ID16, metadb.Segment, []metadb.Piece) {
	t.Helper()
	ctx := context.Background()
	node := identity.ID{0xf0, 'n'}
	if err := db.UpsertNode(ctx, metadb.Node{ID: node, Address: "127.0.0.1:1", LastSeen: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}
	obj := metadb.ID16{0x0b, account[0]}
	if err := db.CreateObject(ctx, metadb.Object{ID: obj, Account: account, Created: time.Unix(2, 0)}); err != nil {
		t.Fatal(err)
	}
	seg := metadb.Segment{Object: obj, Index: 0, Size: int64(k) * 1000, PieceSize: 1000, K: k, N: n}
	var pieces []metadb.Piece
	for i := range n {
		id := piece.ID{byte(i + 1), account[0]}
		seg.Hashes = append(seg.Hashes, id)
		pieces = append(pieces, metadb.Piece{Index: i, Node: node, ID: id, Size: 1000, Receipt: []byte("r")})
	}
	return obj, seg, pieces
}

// BenchmarkSegment measures what the coordinator stores for each uploaded
// segment: its declaration and its commit with six pieces (4-of-6), on the
// temporary directory's disk.
func BenchmarkSegment(b *testing.B) {
	db := openTemp(b)
	ctx := b.Context()
	a, _ := createAccount(b, db, 1)
	obj, seg, pieces := segmentFixture(b, db, a.ID, 4, 6)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		seg.Index = i
		if err := db.PutSegment(ctx, a.ID, seg); err != nil {
			b.Fatal(err)
		}
		if err := db.CommitSegment(ctx, a.ID, obj, i, pieces); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
