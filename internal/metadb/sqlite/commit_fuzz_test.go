package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/piece"
)

// The commit model: a small tree of entries named by their index in a
// pool, and a pool of committed objects. FuzzCommit decodes commits of
// puts and deletes from the fuzzer's bytes, applies each to the database
// and to this model (a direct transcription of Commit's contract), and
// requires that both agree: the commit succeeds exactly when the model
// says it is valid, and then the database holds the model's tree and
// objects; a failed commit changes nothing.
const (
	poolEntries = 7 // 0 is the root folder, 1 the trash
	poolObjects = 3
	noParent    = -1
)

type modelEntry struct {
	parent int // pool index, or noParent
	folder bool
	tag    byte
	objs   []int
}

type model struct {
	entries map[int]modelEntry
	alive   [poolObjects]bool
}

type modelPut struct {
	idx int
	e   modelEntry
}

// apply returns the model after a commit, or ok false if the contract
// says the commit fails.
func (m *model) apply(puts []modelPut, deletes []int) (next model, ok bool) {
	if len(puts)+len(deletes) == 0 {
		return *m, false
	}
	seen := make(map[int]bool)
	for _, p := range puts {
		if seen[p.idx] {
			return *m, false
		}
		seen[p.idx] = true
	}
	pos := make(map[int]int)
	for i, d := range deletes {
		if seen[d] {
			return *m, false
		}
		seen[d] = true
		pos[d] = i
	}
	next = model{entries: make(map[int]modelEntry), alive: m.alive}
	for k, v := range m.entries {
		next.entries[k] = v
	}
	for i, d := range deletes {
		old, exists := m.entries[d]
		if !exists || old.parent == noParent {
			return *m, false
		}
		if j, ok := pos[old.parent]; ok && j < i {
			return *m, false
		}
		delete(next.entries, d)
	}
	for _, p := range puts {
		if p.e.folder && len(p.e.objs) > 0 {
			return *m, false
		}
		old, exists := m.entries[p.idx]
		switch {
		case !exists && p.e.parent == noParent:
			return *m, false
		case exists && old.folder != p.e.folder:
			return *m, false
		case exists && (old.parent == noParent) != (p.e.parent == noParent):
			return *m, false
		}
		next.entries[p.idx] = p.e
	}
	for _, p := range puts {
		if p.e.parent == noParent {
			continue
		}
		if _, deleted := pos[p.e.parent]; deleted {
			return *m, false
		}
		if parent, ok := next.entries[p.e.parent]; !ok || !parent.folder {
			return *m, false
		}
	}
	for d := range pos {
		for _, e := range next.entries {
			if e.parent == d {
				return *m, false
			}
		}
	}
	names := make(map[[2]int]bool)
	users := make(map[int]int)
	for _, e := range next.entries {
		if e.parent != noParent {
			if names[[2]int{e.parent, int(e.tag)}] {
				return *m, false
			}
			names[[2]int{e.parent, int(e.tag)}] = true
		}
		for _, o := range e.objs {
			users[o]++
		}
	}
	for _, p := range puts {
		for _, o := range p.e.objs {
			if !m.alive[o] {
				return *m, false
			}
		}
	}
	for _, n := range users {
		if n > 1 {
			return *m, false
		}
	}
	for idx := range next.entries {
		cur := idx
		for range poolEntries + 1 {
			cur = next.entries[cur].parent
			if cur == noParent {
				break
			}
		}
		if cur != noParent {
			return *m, false // a cycle
		}
	}
	for o := range next.alive {
		if next.alive[o] && users[o] == 0 {
			for _, e := range m.entries {
				if slices.Contains(e.objs, o) {
					next.alive[o] = false
				}
			}
		}
	}
	return next, true
}

// decodeCommits reads commits from data, three bytes per change:
// op (2 bits: put file, put folder, delete, end the commit), target and
// parent (3 bits each; parent 7 is none); a name tag; objects (bits 0-2
// select them, bit 3 reverses their order).
func decodeCommits(data []byte) (commits [][2]any) {
	var (
		puts    []modelPut
		deletes []int
	)
	flush := func() {
		commits = append(commits, [2]any{puts, deletes})
		puts, deletes = nil, nil
	}
	for i := 0; i+3 <= len(data) && i < 3*64; i += 3 {
		b0, b1, b2 := data[i], data[i+1], data[i+2]
		target := int(b0>>2&7) % poolEntries
		switch b0 & 3 {
		case 0, 1:
			e := modelEntry{parent: int(b0 >> 5), folder: b0&3 == 1, tag: b1 % 4}
			if e.parent == 7 {
				e.parent = noParent
			} else {
				e.parent %= poolEntries
			}
			for o := range poolObjects {
				if b2>>o&1 == 1 {
					e.objs = append(e.objs, o)
				}
			}
			if b2&8 != 0 {
				slices.Reverse(e.objs)
			}
			puts = append(puts, modelPut{target, e})
		case 2:
			deletes = append(deletes, target)
		case 3:
			flush()
		}
	}
	if len(puts)+len(deletes) > 0 {
		flush()
	}
	return commits
}

// fuzzAccount is an account of FuzzCommit with its pools of IDs.
type fuzzAccount struct {
	a       metadb.Account
	entries [poolEntries]metadb.ID16
	objects [poolObjects]metadb.ID16
}

func (fa *fuzzAccount) entry(idx int, e modelEntry) metadb.Entry {
	out := metadb.Entry{ID: fa.entries[idx], Account: fa.a.ID, Kind: metadb.KindFile, NameTag: []byte{'t', e.tag},
		WrappedKey: []byte("key"), Meta: []byte("meta")}
	if e.folder {
		out.Kind = metadb.KindFolder
	}
	if e.parent != noParent {
		out.Parent = fa.entries[e.parent]
	}
	for _, o := range e.objs {
		out.Objects = append(out.Objects, fa.objects[o])
	}
	return out
}

// newFuzzAccount creates account n with its root and trash folders and
// poolObjects committed objects of one segment on node.
func newFuzzAccount(ctx context.Context, db *DB, n uint64, node identity.ID) (*fuzzAccount, error) {
	fa := &fuzzAccount{}
	id := func(kind byte, i int) metadb.ID16 {
		var x metadb.ID16
		x[0], x[1] = 0xf0, kind
		x[2] = byte(i)
		for j := range 8 {
			x[8+j] = byte(n >> (8 * j))
		}
		return x
	}
	for i := range fa.entries {
		fa.entries[i] = id('e', i)
	}
	for i := range fa.objects {
		fa.objects[i] = id('o', i)
	}
	fa.a = metadb.Account{ID: id('a', 0), Email: fmt.Sprintf("fuzz%d@example.org", n), KDF: []byte("{}"), Verifier: []byte("v"),
		WrappedMasterKey: []byte("w"), RootEntry: fa.entries[0], TrashEntry: fa.entries[1], PublicKey: []byte("p"), WrappedPrivateKey: []byte("w")}
	root := fa.entry(0, modelEntry{parent: noParent, folder: true, tag: 0})
	trash := fa.entry(1, modelEntry{parent: noParent, folder: true, tag: 1})
	if err := db.CreateAccount(ctx, fa.a, root, trash, testRecord(fa.a.ID, 1)); err != nil {
		return nil, err
	}
	for i, o := range fa.objects {
		h := piece.Sum(o[:])
		steps := []func() error{
			func() error { return db.CreateObject(ctx, metadb.Object{ID: o, Account: fa.a.ID}) },
			func() error {
				return db.PutSegment(ctx, fa.a.ID, metadb.Segment{Object: o, Size: 10, PieceSize: 10, K: 1, N: 1, Hashes: []piece.ID{h}})
			},
			func() error {
				return db.CommitSegment(ctx, fa.a.ID, o, 0, []metadb.Piece{{Node: node, ID: h, Size: 10, Receipt: []byte{byte(i)}}})
			},
			func() error { return db.CommitObject(ctx, fa.a.ID, o, 1, 10) },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return nil, err
			}
		}
	}
	return fa, nil
}

// dump returns the account's tree and live objects in model form.
func (fa *fuzzAccount) dump(ctx context.Context, db *DB) (model, error) {
	m := model{entries: make(map[int]modelEntry)}
	index := func(id metadb.ID16) int {
		for i, e := range fa.entries {
			if e == id {
				return i
			}
		}
		return -2
	}
	var walk func(id metadb.ID16) error
	walk = func(id metadb.ID16) error {
		e, err := db.Entry(ctx, fa.a.ID, id)
		if err != nil {
			return err
		}
		me := modelEntry{parent: noParent, folder: e.Kind == metadb.KindFolder, tag: e.NameTag[1]}
		if e.Parent != (metadb.ID16{}) {
			me.parent = index(e.Parent)
		}
		for _, o := range e.Objects {
			me.objs = append(me.objs, slices.Index(fa.objects[:], o))
		}
		m.entries[index(id)] = me
		children, err := db.Children(ctx, fa.a.ID, id)
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := walk(c.ID); err != nil {
				return err
			}
		}
		return nil
	}
	for _, top := range []metadb.ID16{fa.a.RootEntry, fa.a.TrashEntry} {
		if err := walk(top); err != nil {
			return m, err
		}
	}
	u, err := db.Usage(ctx, fa.a.ID)
	if err != nil {
		return m, err
	}
	if int(u.Files+u.Folders)+2 != len(m.entries) {
		return m, fmt.Errorf("usage counts %d files and %d folders, the tree holds %d entries", u.Files, u.Folders, len(m.entries))
	}
	for i, o := range fa.objects {
		_, err := db.Object(ctx, fa.a.ID, o)
		switch {
		case err == nil:
			m.alive[i] = true
		case !errors.Is(err, metadb.ErrNotFound):
			return m, err
		}
	}
	return m, nil
}

func (m model) String() string {
	var b strings.Builder
	for i := range poolEntries {
		if e, ok := m.entries[i]; ok {
			fmt.Fprintf(&b, "%d:%+v ", i, e)
		}
	}
	fmt.Fprintf(&b, "alive %v", m.alive)
	return b.String()
}

// FuzzCommit checks Commit against the model of its contract on commits
// decoded from arbitrary bytes (see decodeCommits).
func FuzzCommit(f *testing.F) {
	// A folder with a file in it, the file replaced then moved, the
	// folder deleted with its contents children first (then folder first).
	f.Add([]byte{
		0x01 | 2<<2 | 0<<5, 5, 0, 0x00 | 3<<2 | 2<<5, 1, 1, 3, 0, 0,
		0x00 | 3<<2 | 2<<5, 1, 0x0a, 3, 0, 0,
		0x00 | 3<<2 | 0<<5, 2, 0x02, 3, 0, 0,
		0x02 | 3<<2, 0, 0, 0x02 | 2<<2, 0, 0,
	})
	f.Add([]byte{0x01 | 2<<2 | 0<<5, 5, 0, 0x01 | 4<<2 | 2<<5, 1, 0, 3, 0, 0, 0x02 | 2<<2, 0, 0, 0x02 | 4<<2, 0, 0})
	// A cycle, a top-level change, a name clash, an object in two files.
	f.Add([]byte{0x01 | 2<<2 | 0<<5, 1, 0, 0x01 | 3<<2 | 2<<5, 1, 0, 3, 0, 0, 0x01 | 2<<2 | 3<<5, 1, 0})
	f.Add([]byte{0x01 | 0<<2 | 1<<5, 1, 0, 3, 0, 0, 0x01 | 1<<2 | 7<<5, 3, 0})
	f.Add([]byte{0x00 | 2<<2 | 0<<5, 1, 1, 0x00 | 3<<2 | 0<<5, 1, 2})
	f.Add([]byte{0x00 | 2<<2 | 0<<5, 1, 1, 0x00 | 3<<2 | 0<<5, 2, 1})

	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	// Durability is beside the point here; speed is not. The writer pool
	// has one connection, so the pragma holds for every write.
	if _, err := db.w.ExecContext(ctx, "PRAGMA synchronous = OFF"); err != nil {
		f.Fatal(err)
	}
	node := identity.ID{0xf0, 'n'}
	if err := db.UpsertNode(ctx, metadb.Node{ID: node, Address: "127.0.0.1:1", LastSeen: time.Unix(1, 0)}); err != nil {
		f.Fatal(err)
	}
	var accounts uint64
	f.Fuzz(func(t *testing.T, data []byte) {
		commits := decodeCommits(data)
		if len(commits) == 0 {
			return
		}
		accounts++
		fa, err := newFuzzAccount(ctx, db, accounts, node)
		if err != nil {
			t.Fatal(err)
		}
		m, err := fa.dump(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range commits {
			puts, deletes := c[0].([]modelPut), c[1].([]int)
			want, ok := m.apply(puts, deletes)
			entries := make([]metadb.Entry, len(puts))
			for j, p := range puts {
				entries[j] = fa.entry(p.idx, p.e)
			}
			ids := make([]metadb.ID16, len(deletes))
			for j, d := range deletes {
				ids[j] = fa.entries[d]
			}
			seq, _, err := db.JournalHead(ctx, fa.a.ID)
			if err != nil {
				t.Fatal(err)
			}
			err = commit(ctx, db, fa.a.ID, entries, ids...)
			switch {
			case ok && err != nil:
				t.Fatalf("commit %d (puts %+v, deletes %v) on %v: %v, want success", i, puts, deletes, m, err)
			case !ok && err == nil:
				t.Fatalf("commit %d (puts %+v, deletes %v) on %v succeeded, want a failure", i, puts, deletes, m)
			case err != nil && !errors.Is(err, metadb.ErrConflict) && !errors.Is(err, metadb.ErrExists) &&
				!errors.Is(err, metadb.ErrNotFound) && !errors.Is(err, ErrInvalid):
				t.Fatalf("commit %d: %v, want a metadb sentinel", i, err)
			case err != nil && strings.Contains(err.Error(), "constraint"):
				t.Fatalf("commit %d: a constraint caught what the checks missed: %v", i, err)
			}
			got, err := fa.dump(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Fatalf("commit %d (puts %+v, deletes %v, ok %v) on %v:\n got %v\nwant %v", i, puts, deletes, ok, m, got, want)
			}
			after, _, err := db.JournalHead(ctx, fa.a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ok && after != seq+1 || !ok && after != seq {
				t.Fatalf("commit %d (ok %v): journal went from %d to %d", i, ok, seq, after)
			}
			m = want
		}
	})
}
