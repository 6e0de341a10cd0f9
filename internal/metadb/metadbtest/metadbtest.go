// Package metadbtest is the conformance suite of metadb.DB: every
// implementation (SQLite, PostgreSQL, …) runs the same tests with Run.
//
// The suite pins down the behaviour the interface documents and what the
// coordinator relies on beyond it:
//
//   - the top-level folders of an account (root and trash) cannot be
//     deleted, moved under a folder, or joined by new parentless entries
//     (ErrConflict); a put without parent may only replace one of them;
//   - Children, Segments, CommittedSegments of an unknown or foreign parent
//     or object, and Pieces of an undeclared segment, are ErrNotFound, not
//     empty; so are Journal, JournalHead and Usage of an unknown account;
//   - DeleteSession and DeleteToken of an absent session or token are
//     ErrNotFound; TouchToken never moves LastUsed back;
//   - Commit checks the tree the commit leaves, so the order of its puts
//     does not matter: a name or an object freed by a put or a delete of
//     the same commit may be taken by another put, and a folder may be
//     put together with its contents. Deletes keep their order: a folder
//     listed before its contents is not empty at its turn (ErrConflict).
//     A put replacing an entry keeps its Created time. A folder moved into
//     itself or a descendant, and an entry changed twice by one commit, are
//     ErrConflict; a put with the ID of another account's entry is
//     ErrExists. A failed Commit changes nothing at all;
//   - CommitSegment checks the pieces against the declaration (at least k,
//     indexes in range and distinct, declared size and piece ID) and
//     reports a mismatch as ErrConflict; a piece on an unknown node is
//     ErrNotFound; pieces it replaces are queued for deletion unless still
//     referenced; committing a piece cancels a queued deletion of the same
//     (node, piece ID);
//   - CommitObject checks that the segment sizes add up to the size;
//   - a (node, piece ID) still referenced by a stored piece is never
//     queued for deletion, by any method;
//   - times round-trip with microsecond precision (the suite uses no
//     finer times);
//   - a session opened for a share or link that does not exist is
//     ErrNotFound, for a revoked link or (writable) for a read-only share
//     ErrConflict, so that no session outlives a revocation it raced
//     with; scoped sessions have the owner as their account, so
//     DeleteSessions of the owner ends them; DeleteShareSessions and
//     DeleteLinkSessions with nothing to end succeed; MarkDownloaded of an
//     absent or expired session is ErrNotFound, and a session already
//     counted stays counted (nil) even once the link's limit is reached;
//   - CreateLink and CreateShare for an unknown account are ErrNotFound;
//     Links, SharesByOwner and SharesByRecipient of an unknown account are
//     empty; RevokeLink of a revoked link keeps the first revocation time;
//     UpdateShare keeps the fields it does not replace (Created among them);
//   - a journal record may change write keys only, with no entry; a key ID
//     is per account (two accounts may grant the same one); a record that
//     names a key twice fails, and a failed or stale Commit applies none of
//     its grants and revokes;
//   - Ancestors with a limit equal to the entry's depth succeeds;
//     EntriesWithObject of an object no entry of the account references
//     (another account's, pending, unknown) is empty, not an error.
//
// Calls that break the contract outright (a zero ID, k > n, a negative
// limit, a journal record whose hash is not the SHA-256 of its data, a
// read-write share without a write key ID, a session opened for both a
// share and a link, MarkDownloaded of a session not opened for a link)
// must fail, with an error the suite does not inspect.
package metadbtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/piece"
)

// Run runs the suite. open must return a fresh, empty database for the
// test it is given and close it when that test ends (t.Cleanup). Each
// subtest gets its own database.
func Run(t *testing.T, open func(t *testing.T) metadb.DB) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Account", accountTests},
		{"TOTP", totpTests},
		{"Token", tokenTests},
		{"Session", sessionTests},
		{"Entry", entryTests},
		{"Commit", commitTests},
		{"Journal", journalTests},
		{"Object", objectTests},
		{"Node", nodeTests},
		{"Deletion", deletionTests},
		{"Usage", usageTests},
		{"SigningKey", signingKeyTests},
		{"ScopedSession", scopedSessionTests},
		{"Link", linkTests},
		{"Download", downloadTests},
		{"Share", shareTests},
		{"WriteKey", writeKeyTests},
		{"Ancestors", ancestorTests},
		{"EntriesWithObject", entriesWithObjectTests},
		{"Concurrency", concurrencyTests},
		{"Context", contextTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, newFixture(t, open(t)))
				})
			}
		})
	}
}

// test is one subtest of the suite.
type test struct {
	name string
	fn   func(t *testing.T, f *fixture)
}

// fixture builds deterministic test data in one database.
type fixture struct {
	t   *testing.T
	db  metadb.DB
	ctx context.Context
	seq uint64
}

func newFixture(t *testing.T, db metadb.DB) *fixture {
	return &fixture{t: t, db: db, ctx: t.Context()}
}

// base is the suite's reference time, with microsecond precision.
var base = time.Date(2026, 11, 22, 10, 0, 0, 123456000, time.UTC)

// at returns base + d.
func at(d time.Duration) time.Time { return base.Add(d) }

// id returns a fresh 16-byte ID. IDs increase with each call.
func (f *fixture) id() metadb.ID16 {
	f.seq++
	var id metadb.ID16
	id[0] = 0xa5
	binary.BigEndian.PutUint64(id[8:], f.seq)
	return id
}

// nodeID returns a fresh node ID. IDs increase with each call.
func (f *fixture) nodeID() identity.ID {
	f.seq++
	var id identity.ID
	id[0] = 0x4e
	binary.BigEndian.PutUint64(id[24:], f.seq)
	return id
}

// bytesFor returns deterministic opaque bytes labelled by label.
func (f *fixture) bytesFor(label string) []byte {
	f.seq++
	return fmt.Appendf(nil, "%s#%d", label, f.seq)
}

// newAccount returns (without creating it) an account with its root and
// trash folders and its first journal record.
func (f *fixture) newAccount() (metadb.Account, metadb.Entry, metadb.Entry, metadb.JournalRecord) {
	a := metadb.Account{
		ID:                f.id(),
		KDF:               []byte(`{"alg":"argon2id","t":3,"m":65536,"p":4}`),
		Verifier:          bytes.Repeat([]byte{0x56}, 32),
		WrappedMasterKey:  f.bytesFor("wrapped master key"),
		PublicKey:         bytes.Repeat([]byte{0x9b}, 32),
		WrappedPrivateKey: f.bytesFor("wrapped private key"),
		Created:           at(0),
	}
	a.Email = fmt.Sprintf("user%d@example.org", f.seq)
	a.RootEntry = f.id()
	a.TrashEntry = f.id()
	top := func(id metadb.ID16, label string) metadb.Entry {
		return metadb.Entry{
			ID:         id,
			Account:    a.ID,
			Kind:       metadb.KindFolder,
			NameTag:    f.bytesFor(label + " tag"),
			WrappedKey: f.bytesFor(label + " key"),
			Meta:       f.bytesFor(label + " meta"),
			Created:    at(0),
			Updated:    at(0),
		}
	}
	return a, top(a.RootEntry, "root"), top(a.TrashEntry, "trash"), f.record(a.ID, 1)
}

// account creates an account with its root and trash folders, and returns
// it with its root folder.
func (f *fixture) account() (metadb.Account, metadb.Entry) {
	f.t.Helper()
	a, root, trash, first := f.newAccount()
	if err := f.db.CreateAccount(f.ctx, a, root, trash, first); err != nil {
		f.t.Fatalf("CreateAccount: %v", err)
	}
	return a, root
}

// record returns a journal record of account with the given seq: opaque
// data, unique to the call, and its SHA-256.
func (f *fixture) record(account metadb.ID16, seq uint64) metadb.JournalRecord {
	f.seq++
	return newRecord(account, seq, fmt.Sprint(f.seq))
}

// newRecord returns a journal record of account with the given seq, its
// data labelled by label.
func newRecord(account metadb.ID16, seq uint64, label string) metadb.JournalRecord {
	data := fmt.Appendf(nil, "journal record %x/%d %s ", account, seq, label)
	data = append(data, bytes.Repeat([]byte{byte(seq)}, 40)...)
	return metadb.JournalRecord{Seq: seq, Hash: sha256.Sum256(data), Data: data, Created: at(time.Duration(seq) * time.Second)}
}

// next returns the record that follows the account's latest one, and the
// latest one's hash.
func (f *fixture) next(account metadb.ID16) (metadb.JournalRecord, [32]byte) {
	f.t.Helper()
	seq, head, err := f.db.JournalHead(f.ctx, account)
	if err != nil {
		f.t.Fatalf("JournalHead: %v", err)
	}
	return f.record(account, seq+1), head
}

// commit commits puts and deletes with the account's next journal record.
func (f *fixture) commit(account metadb.ID16, puts []metadb.Entry, deletes ...metadb.ID16) error {
	f.t.Helper()
	rec, prev := f.next(account)
	return f.db.Commit(f.ctx, account, rec, prev, puts, deletes)
}

// mustCommit commits puts and deletes, failing the test on an error.
func (f *fixture) mustCommit(account metadb.ID16, puts []metadb.Entry, deletes ...metadb.ID16) {
	f.t.Helper()
	if err := f.commit(account, puts, deletes...); err != nil {
		f.t.Fatalf("Commit: %v", err)
	}
}

// entry returns (without creating it) a new entry of account under parent,
// referencing objects.
func (f *fixture) entry(account, parent metadb.ID16, kind metadb.Kind, objects ...metadb.ID16) metadb.Entry {
	return metadb.Entry{
		ID:         f.id(),
		Account:    account,
		Parent:     parent,
		Kind:       kind,
		NameTag:    f.bytesFor("tag"),
		WrappedKey: f.bytesFor("key"),
		Meta:       f.bytesFor("meta"),
		Objects:    objects,
		Created:    at(time.Minute),
		Updated:    at(2 * time.Minute),
	}
}

// mustCreate creates e with a commit of its own.
func (f *fixture) mustCreate(e metadb.Entry) metadb.Entry {
	f.t.Helper()
	if err := f.commit(e.Account, []metadb.Entry{e}); err != nil {
		f.t.Fatalf("Commit(put %x): %v", e.ID, err)
	}
	return e
}

// folder creates a folder of account under parent.
func (f *fixture) folder(account, parent metadb.ID16) metadb.Entry {
	f.t.Helper()
	return f.mustCreate(f.entry(account, parent, metadb.KindFolder))
}

// file creates a file of account under parent referencing objects (none
// for an inline file).
func (f *fixture) file(account, parent metadb.ID16, objects ...metadb.ID16) metadb.Entry {
	f.t.Helper()
	return f.mustCreate(f.entry(account, parent, metadb.KindFile, objects...))
}

// mustEntry returns the stored entry.
func (f *fixture) mustEntry(account, id metadb.ID16) metadb.Entry {
	f.t.Helper()
	e, err := f.db.Entry(f.ctx, account, id)
	if err != nil {
		f.t.Fatalf("Entry(%x): %v", id, err)
	}
	return e
}

// snapshot describes everything an account's commits can change: its
// journal, its tree (from the root and trash folders down), its objects'
// usage and every queued deletion. Two equal snapshots mean nothing
// changed.
func (f *fixture) snapshot(a metadb.Account) string {
	f.t.Helper()
	var b strings.Builder
	seq, head, err := f.db.JournalHead(f.ctx, a.ID)
	if err != nil {
		f.t.Fatalf("JournalHead: %v", err)
	}
	fmt.Fprintf(&b, "head %d %x\n", seq, head)
	recs, err := f.db.Journal(f.ctx, a.ID, 0, 1<<20)
	if err != nil {
		f.t.Fatalf("Journal: %v", err)
	}
	for _, r := range recs {
		fmt.Fprintf(&b, "record %d %x %q\n", r.Seq, r.Hash, r.Data)
	}
	var walk func(id metadb.ID16, depth int)
	walk = func(id metadb.ID16, depth int) {
		children, err := f.db.Children(f.ctx, a.ID, id)
		if err != nil {
			f.t.Fatalf("Children(%x): %v", id, err)
		}
		for _, c := range children {
			fmt.Fprintf(&b, "%*s%+v\n", depth, "", normEntry(c))
			walk(c.ID, depth+1)
		}
	}
	for _, top := range []metadb.ID16{a.RootEntry, a.TrashEntry} {
		fmt.Fprintf(&b, "%+v\n", normEntry(f.mustEntry(a.ID, top)))
		walk(top, 1)
	}
	u, err := f.db.Usage(f.ctx, a.ID)
	if err != nil {
		f.t.Fatalf("Usage: %v", err)
	}
	fmt.Fprintf(&b, "usage %+v\n", u)
	q := f.queued()
	ks := make([]string, 0, len(q))
	for k := range q {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	fmt.Fprintf(&b, "queued %v\n", ks)
	return b.String()
}

// unchanged fails the test if the account's snapshot differs from before.
func (f *fixture) unchanged(t *testing.T, what string, a metadb.Account, before string) {
	t.Helper()
	if after := f.snapshot(a); after != before {
		t.Errorf("%s changed the database:\nbefore:\n%s\nafter:\n%s", what, before, after)
	}
}

// nodes registers n storage nodes, ordered by ID.
func (f *fixture) nodes(n int) []identity.ID {
	f.t.Helper()
	ids := make([]identity.ID, n)
	for i := range ids {
		ids[i] = f.nodeID()
		err := f.db.UpsertNode(f.ctx, metadb.Node{
			ID:       ids[i],
			Address:  fmt.Sprintf("127.0.0.1:%d", 7000+i),
			Capacity: 1 << 40,
			Used:     int64(i) << 20,
			LastSeen: at(time.Duration(i) * time.Second),
			Created:  at(-time.Hour),
		})
		if err != nil {
			f.t.Fatalf("UpsertNode: %v", err)
		}
	}
	return ids
}

// pendingObject creates a pending object of account.
func (f *fixture) pendingObject(account metadb.ID16, created time.Time) metadb.Object {
	f.t.Helper()
	o := metadb.Object{ID: f.id(), Account: account, State: metadb.ObjectPending, Created: created}
	if err := f.db.CreateObject(f.ctx, o); err != nil {
		f.t.Fatalf("CreateObject: %v", err)
	}
	return o
}

// segment returns (without declaring it) segment index of object, k of n,
// holding size bytes. Its piece IDs derive from seed, so segments with the
// same seed, k, n and size have identical pieces.
func segment(object metadb.ID16, index, k, n int, size int64, seed string) metadb.Segment {
	s := metadb.Segment{
		Object:    object,
		Index:     index,
		Size:      size,
		PieceSize: (size + int64(k) - 1) / int64(k),
		K:         k,
		N:         n,
		Hashes:    make([]piece.ID, n),
	}
	for j := range s.Hashes {
		s.Hashes[j] = piece.Sum(fmt.Appendf(nil, "%s/%d/%d/%d/%d", seed, k, n, size, j))
	}
	return s
}

// piecesOf returns the n pieces of s, piece j on nodes[j % len(nodes)].
func piecesOf(s metadb.Segment, nodes []identity.ID) []metadb.Piece {
	ps := make([]metadb.Piece, s.N)
	for j := range ps {
		ps[j] = metadb.Piece{
			Object:  s.Object,
			Segment: s.Index,
			Index:   j,
			Node:    nodes[j%len(nodes)],
			ID:      s.Hashes[j],
			Size:    s.PieceSize,
			Receipt: fmt.Appendf(nil, "receipt %s %d", s.Hashes[j], j),
		}
	}
	return ps
}

// putSegment declares s.
func (f *fixture) putSegment(account metadb.ID16, s metadb.Segment) {
	f.t.Helper()
	if err := f.db.PutSegment(f.ctx, account, s); err != nil {
		f.t.Fatalf("PutSegment(%d): %v", s.Index, err)
	}
}

// commitSegment records ps as the pieces of s.
func (f *fixture) commitSegment(account metadb.ID16, s metadb.Segment, ps []metadb.Piece) {
	f.t.Helper()
	if err := f.db.CommitSegment(f.ctx, account, s.Object, s.Index, ps); err != nil {
		f.t.Fatalf("CommitSegment(%d): %v", s.Index, err)
	}
}

// upload is a committed object with its segments and pieces.
type upload struct {
	obj    metadb.Object
	segs   []metadb.Segment
	pieces [][]metadb.Piece
}

// all returns every piece of the upload.
func (u upload) all() []metadb.Piece {
	var ps []metadb.Piece
	for _, p := range u.pieces {
		ps = append(ps, p...)
	}
	return ps
}

// committedObject uploads an object of account whose segment i has
// sizes[i] bytes, 2 of 4 pieces derived from seed, spread over nodes.
func (f *fixture) committedObject(account metadb.ID16, nodes []identity.ID, seed string, sizes ...int64) upload {
	f.t.Helper()
	u := upload{obj: f.pendingObject(account, at(-time.Hour))}
	var total int64
	for i, size := range sizes {
		s := segment(u.obj.ID, i, 2, 4, size, fmt.Sprintf("%s/%d", seed, i))
		ps := piecesOf(s, nodes)
		f.putSegment(account, s)
		f.commitSegment(account, s, ps)
		u.segs = append(u.segs, s)
		u.pieces = append(u.pieces, ps)
		total += size
	}
	if err := f.db.CommitObject(f.ctx, account, u.obj.ID, len(sizes), total); err != nil {
		f.t.Fatalf("CommitObject: %v", err)
	}
	u.obj.State = metadb.ObjectCommitted
	u.obj.Size = total
	u.obj.Segments = len(sizes)
	return u
}

// pending returns the deletions queued for node, as a set.
func (f *fixture) pending(node identity.ID) map[piece.ID]metadb.Deletion {
	f.t.Helper()
	ds, err := f.db.PendingDeletions(f.ctx, node, 1<<20)
	if err != nil {
		f.t.Fatalf("PendingDeletions: %v", err)
	}
	m := make(map[piece.ID]metadb.Deletion, len(ds))
	for _, d := range ds {
		if d.Node != node {
			f.t.Errorf("PendingDeletions(%s) returned a deletion for node %s", node.Short(), d.Node.Short())
		}
		if _, dup := m[d.Piece]; dup {
			f.t.Errorf("PendingDeletions(%s) returned piece %s twice", node.Short(), d.Piece)
		}
		m[d.Piece] = d
	}
	return m
}

// queued returns every queued deletion as "node/piece" keys.
func (f *fixture) queued() map[string]bool {
	f.t.Helper()
	nodes, err := f.db.NodesWithDeletions(f.ctx)
	if err != nil {
		f.t.Fatalf("NodesWithDeletions: %v", err)
	}
	m := make(map[string]bool)
	for _, n := range nodes {
		for p := range f.pending(n) {
			m[key(n, p)] = true
		}
	}
	return m
}

// key names a stored piece.
func key(n identity.ID, p piece.ID) string { return n.Short() + "/" + p.String() }

// keys returns the set of (node, piece) keys of ps.
func keys(ps []metadb.Piece) map[string]bool {
	m := make(map[string]bool, len(ps))
	for _, p := range ps {
		m[key(p.Node, p.ID)] = true
	}
	return m
}

// wantErr fails the test unless err matches want: nil for success, a
// sentinel for errors.Is, or errAny for any non-nil error.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case want == errAny && err == nil:
		t.Errorf("%s: no error, want one", what)
	case want != nil && want != errAny && !errors.Is(err, want):
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

// errAny stands for any non-nil error in wantErr.
var errAny = errors.New("any error")

// sameSet reports the difference between two key sets.
func sameSet(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	for k := range want {
		if !got[k] {
			t.Errorf("%s: missing %s", what, k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("%s: unexpected %s", what, k)
		}
	}
}

// union returns the union of key sets.
func union(sets ...map[string]bool) map[string]bool {
	m := make(map[string]bool)
	for _, s := range sets {
		for k := range s {
			m[k] = true
		}
	}
	return m
}
