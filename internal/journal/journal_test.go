package journal

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

// material returns deterministic test bytes: SHA-256("nuage test vector: "+label)[:n].
// Longer outputs continue with SHA-256 of the previous block.
func material(label string, n int) []byte {
	var out []byte
	h := sha256.Sum256([]byte("nuage test vector: " + label))
	for len(out) < n {
		out = append(out, h[:]...)
		h = sha256.Sum256(h[:])
	}
	return out[:n:n]
}

func testKey(label string) [32]byte { return [32]byte(material(label, 32)) }

func testID(label string) ID { return ID(material("id "+label, 16)) }

func testHash(label string) [32]byte { return [32]byte(material("hash "+label, 32)) }

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func put(id, parent ID, h [32]byte) Change {
	return Change{Op: Put, Entry: id, Parent: parent, Hash: h}
}

func del(id ID) Change { return Change{Op: Delete, Entry: id} }

// chain builds sealed records one after another.
type chain struct {
	key  [32]byte
	seq  uint64
	head [32]byte
	recs [][]byte
}

func (c *chain) next(changes ...Change) []byte {
	r := Record{Seq: c.seq + 1, Prev: c.head, Time: t0.Add(time.Duration(c.seq) * time.Minute), Changes: changes}
	b := r.Seal(c.key)
	c.seq++
	c.head = Hash(b)
	c.recs = append(c.recs, b)
	return b
}

func mustApply(t testing.TB, s *State, key [32]byte, recs ...[]byte) {
	t.Helper()
	for _, r := range recs {
		if err := s.Apply(r, key); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
}

func encodeState(t testing.TB, s *State) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	root  = testID("root")
	trash = testID("trash")
	dirA  = testID("a")
	dirB  = testID("b")
	fileF = testID("f")
)

// base returns a chain whose first records build:
// root{a{b, f}}, trash.
func base(key [32]byte) *chain {
	c := &chain{key: key}
	c.next(put(root, ID{}, testHash("root")), put(trash, ID{}, testHash("trash")))
	c.next(put(dirA, root, testHash("a")), put(dirB, dirA, testHash("b")), put(fileF, dirA, testHash("f")))
	return c
}

func TestApplyValidChain(t *testing.T) {
	key := testKey("journal key")
	c := base(key)
	// Move f to the root, rename b (new hash), delete nothing.
	c.next(put(fileF, root, testHash("f2")), put(dirB, dirA, testHash("b2")))
	// Trash a (with b inside), then delete b and a, children first.
	c.next(put(dirA, trash, testHash("a-trashed")))
	c.next(del(dirB), del(dirA))
	s := NewState()
	mustApply(t, s, key, c.recs...)
	if s.Seq != 5 || s.Head != c.head {
		t.Fatalf("state at seq %d, head %x; want 5, %x", s.Seq, s.Head, c.head)
	}
	want := map[ID]EntryState{
		root:  {ID{}, testHash("root")},
		trash: {ID{}, testHash("trash")},
		fileF: {root, testHash("f2")},
	}
	if len(s.Entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(s.Entries), len(want))
	}
	for id, e := range want {
		if s.Entries[id] != e {
			t.Errorf("entry %s = %+v, want %+v", id, s.Entries[id], e)
		}
	}
	if got := s.Children(root); len(got) != 1 || got[0] != fileF {
		t.Errorf("children of root: %v", got)
	}
	if got := s.Children(trash); len(got) != 0 {
		t.Errorf("children of trash: %v", got)
	}
	if err := s.CheckLatest(5); err != nil {
		t.Error(err)
	}
	if err := s.CheckLatest(7); err != nil {
		t.Error(err)
	}
	if err := s.CheckLatest(4); !errors.Is(err, ErrRollback) {
		t.Errorf("latest 4 after 5: %v, want ErrRollback", err)
	}
}

func TestApplyRefuses(t *testing.T) {
	key := testKey("journal key")
	other := testKey("other key")
	orphan := testID("orphan")
	c := base(key)
	seq, head := c.seq, c.head
	rec := func(seq uint64, prev [32]byte, k [32]byte, changes ...Change) []byte {
		r := Record{Seq: seq, Prev: prev, Time: t0, Changes: changes}
		return r.Seal(k)
	}
	next := func(changes ...Change) []byte { return rec(seq+1, head, key, changes...) }
	good := next(put(testID("new"), root, testHash("new")))
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	// resealed re-MACs an encoding after a raw edit, so only the
	// structural check can refuse it.
	resealed := func(b []byte) []byte {
		b = bytes.Clone(b)
		m := mac(key, b[:len(b)-macSize])
		copy(b[len(b)-macSize:], m[:])
		return b
	}
	raw := func(edit func([]byte) []byte) []byte { return resealed(edit(bytes.Clone(good))) }

	cases := []struct {
		name string
		rec  []byte
		want error
	}{
		{"bad MAC", flip(good, len(good)-1), ErrMAC},
		{"flipped body bit", flip(good, 60), ErrMAC},
		{"wrong key", rec(seq+1, head, other, put(testID("new"), root, testHash("new"))), ErrMAC},
		{"skipped seq", rec(seq+2, head, key, put(testID("new"), root, testHash("new"))), ErrChain},
		{"replayed seq", c.recs[len(c.recs)-1], ErrChain},
		{"replayed first record", c.recs[0], ErrChain},
		{"wrong prev", rec(seq+1, testHash("other head"), key, put(testID("new"), root, testHash("new"))), ErrChain},
		{"delete of unknown", next(del(testID("ghost"))), ErrState},
		{"orphan entry", next(put(orphan, testID("missing folder"), testHash("o"))), ErrState},
		{"cycle", next(put(dirA, dirB, testHash("a"))), ErrState},
		{"own parent", next(put(dirA, dirA, testHash("a"))), ErrState},
		{"cycle within the record", next(put(testID("x"), testID("y"), testHash("x")), put(testID("y"), testID("x"), testHash("y"))), ErrState},
		{"parentless put after seq 1", next(put(testID("top"), ID{}, testHash("top"))), ErrState},
		{"child moved to the top", next(put(dirA, ID{}, testHash("a"))), ErrState},
		{"duplicate change", next(put(fileF, root, testHash("f")), put(fileF, dirA, testHash("f"))), ErrState},
		{"duplicate delete", next(del(fileF), del(fileF)), ErrState},
		{"put then delete of one entry", next(put(fileF, root, testHash("f")), del(fileF)), ErrState},
		{"delete of a non-empty folder", next(del(dirA)), ErrState},
		{"delete of a folder, children left behind", next(del(dirA), del(dirB)), ErrState},
		{"move under a deleted folder", next(put(fileF, dirB, testHash("f")), del(dirB)), ErrState},
		{"empty", nil, ErrMalformed},
		{"too short", good[:headerSize+macSize-1], ErrMalformed},
		{"truncated change", good[:len(good)-1], ErrMalformed},
		{"extra byte", append(bytes.Clone(good), 0), ErrMalformed},
		{"bad version", raw(func(b []byte) []byte { b[0] = 2; return b }), ErrMalformed},
		{"seq 0", raw(func(b []byte) []byte { binary.BigEndian.PutUint64(b[1:9], 0); return b }), ErrMalformed},
		{"zero changes", resealed(append(append(bytes.Clone(good[:49]), 0, 0, 0, 0), make([]byte, macSize)...)), ErrMalformed},
		{"count too large", raw(func(b []byte) []byte { binary.BigEndian.PutUint32(b[49:53], MaxChanges+1); return b }), ErrMalformed},
		{"count disagrees with length", raw(func(b []byte) []byte { binary.BigEndian.PutUint32(b[49:53], 2); return b }), ErrMalformed},
		{"unknown op", raw(func(b []byte) []byte { b[headerSize] = 3; return b }), ErrMalformed},
		{"op 0", raw(func(b []byte) []byte { b[headerSize] = 0; return b }), ErrMalformed},
		{"put without hash", raw(func(b []byte) []byte { clear(b[headerSize+33 : headerSize+65]); return b }), ErrMalformed},
		{"delete with parent", raw(func(b []byte) []byte { b[headerSize] = byte(Delete); clear(b[headerSize+33 : headerSize+65]); return b }), ErrMalformed},
		{"delete with hash", raw(func(b []byte) []byte { b[headerSize] = byte(Delete); clear(b[headerSize+17 : headerSize+33]); return b }), ErrMalformed},
		{"zero entry ID", raw(func(b []byte) []byte { clear(b[headerSize+1 : headerSize+17]); return b }), ErrMalformed},
		{"first record with prev", func() []byte {
			r := Record{Seq: 1, Prev: testHash("x"), Time: t0, Changes: []Change{put(root, ID{}, testHash("root"))}}
			return r.Seal(key)
		}(), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewState()
			mustApply(t, s, key, c.recs...)
			before := encodeState(t, s)
			beforeKids := len(s.Children(dirA))
			err := s.Apply(tc.rec, key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !bytes.Equal(encodeState(t, s), before) || len(s.Children(dirA)) != beforeKids {
				t.Fatal("a refused record changed the state")
			}
			// The state still accepts the next valid record.
			if err := s.Apply(good, key); err != nil {
				t.Fatalf("valid record after a refused one: %v", err)
			}
		})
	}
	// Rewriting an existing top-level folder in place is allowed.
	c2 := base(key)
	c2.next(put(root, ID{}, testHash("root v2")))
	s2 := NewState()
	mustApply(t, s2, key, c2.recs...)
}

// refState is the state as the reference implementation keeps it.
type refState struct {
	entries map[ID]EntryState
	keys    map[ID]ID // active write key → folder
	granted map[ID]bool
}

func newRefState() refState {
	return refState{entries: map[ID]EntryState{}, keys: map[ID]ID{}, granted: map[ID]bool{}}
}

func (s refState) clone() refState {
	c := newRefState()
	for k, v := range s.entries {
		c.entries[k] = v
	}
	for k, v := range s.keys {
		c.keys[k] = v
	}
	for k := range s.granted {
		c.granted[k] = true
	}
	return c
}

// refFromState copies a State into a refState.
func refFromState(s *State) refState {
	c := newRefState()
	for k, v := range s.Entries {
		c.entries[k] = v
	}
	for k, v := range s.WriteKeys {
		c.keys[k] = v
	}
	for k := range s.Granted {
		c.granted[k] = true
	}
	return c
}

// sameAsRef reports how s differs from the reference state ("" if not).
func sameAsRef(s *State, ref refState) string {
	if len(s.Entries) != len(ref.entries) {
		return fmt.Sprintf("%d entries, reference %d", len(s.Entries), len(ref.entries))
	}
	for id, e := range ref.entries {
		if got, ok := s.Entries[id]; !ok || got != e {
			return fmt.Sprintf("entry %v differs from the reference", id)
		}
	}
	if len(s.WriteKeys) != len(ref.keys) || len(s.Granted) != len(ref.granted) {
		return fmt.Sprintf("%d active / %d granted keys, reference %d / %d", len(s.WriteKeys), len(s.Granted), len(ref.keys), len(ref.granted))
	}
	for k, f := range ref.keys {
		if got, ok := s.WriteKeys[k]; !ok || got != f {
			return fmt.Sprintf("write key %v differs from the reference", k)
		}
	}
	for k := range ref.granted {
		if _, ok := s.Granted[k]; !ok {
			return fmt.Sprintf("granted key %v missing", k)
		}
	}
	return ""
}

// refInside reports whether id is strictly inside f in m, the simple way.
func refInside(m map[ID]EntryState, id, f ID) bool {
	if id == f {
		return false
	}
	for range len(m) + 1 {
		if id == f {
			return true
		}
		e, ok := m[id]
		if !ok {
			return false
		}
		id = e.Parent
	}
	return false
}

// refApply is the specification of Apply written the simple way: copy the
// whole state, apply every change in order, checking each against the
// state so far (a writer's existing entries against the state before the
// record), then check every entry. The record's MAC, seq and prev are
// not its concern. With noConfine it skips the confinement of writer
// records (to measure how often a test depends on it).
func refApply(s refState, r Record, noConfine bool) (refState, bool) {
	next := s.clone()
	var folder ID
	if r.Writer() {
		f, ok := s.keys[r.KeyID]
		if !ok {
			return refState{}, false
		}
		folder = f
	}
	confine := r.Writer() && !noConfine
	seen := map[ID]bool{}
	for _, c := range r.Changes {
		if seen[c.Entry] {
			return refState{}, false
		}
		seen[c.Entry] = true
		switch c.Op {
		case Put:
			if confine {
				if _, ok := s.entries[c.Entry]; ok && !refInside(s.entries, c.Entry, folder) {
					return refState{}, false
				}
				if c.Entry == folder || (c.Parent != folder && !refInside(next.entries, c.Parent, folder)) {
					return refState{}, false
				}
			}
			if c.Parent == (ID{}) && r.Seq != 1 {
				if old, ok := s.entries[c.Entry]; !ok || old.Parent != (ID{}) {
					return refState{}, false
				}
			}
			next.entries[c.Entry] = EntryState{c.Parent, c.Hash}
		case Delete:
			if _, ok := next.entries[c.Entry]; !ok {
				return refState{}, false
			}
			if confine && !refInside(s.entries, c.Entry, folder) {
				return refState{}, false
			}
			delete(next.entries, c.Entry)
		case Grant:
			if r.Writer() || s.granted[c.Entry] || c.Parent == (ID{}) {
				return refState{}, false
			}
			if f, ok := next.entries[c.Parent]; !ok || f.Parent == (ID{}) {
				return refState{}, false
			}
			next.keys[c.Entry] = c.Parent
			next.granted[c.Entry] = true
		case Revoke:
			if r.Writer() {
				return refState{}, false
			}
			if _, ok := s.keys[c.Entry]; !ok {
				return refState{}, false
			}
			delete(next.keys, c.Entry)
		default:
			return refState{}, false
		}
	}
	for id, e := range next.entries {
		if e.Parent == (ID{}) {
			continue
		}
		if _, ok := next.entries[e.Parent]; !ok {
			return refState{}, false
		}
		cur := id
		for range len(next.entries) + 1 {
			cur = next.entries[cur].Parent
			if cur == id {
				return refState{}, false
			}
			if cur == (ID{}) {
				break
			}
		}
		if cur != (ID{}) {
			return refState{}, false
		}
	}
	return next, true
}

// randomRecord builds a record of random changes over a small ID space,
// so that moves, cycles, orphans and deletes of folders happen often.
func randomRecord(rnd *rand.Rand, seq uint64) []Change {
	n := 1 + rnd.IntN(3)
	var cs []Change
	for range n {
		id := ID{byte(1 + rnd.IntN(12))}
		if rnd.IntN(4) == 0 {
			cs = append(cs, del(id))
			continue
		}
		parent := ID{byte(rnd.IntN(13))}
		if parent == (ID{}) && rnd.IntN(3) != 0 {
			parent = ID{1}
		}
		cs = append(cs, put(id, parent, [32]byte{byte(rnd.IntN(256)), 1}))
	}
	return cs
}

func TestApplyMatchesReference(t *testing.T) {
	key := testKey("journal key")
	rnd := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for run := range 200 {
		c := &chain{key: key}
		s := NewState()
		c.next(put(ID{1}, ID{}, [32]byte{1}), put(ID{2}, ID{}, [32]byte{2}))
		mustApply(t, s, key, c.recs[0])
		ref, _ := refApply(newRefState(), mustParse(t, c.recs[0]), false)
		for step := range 60 {
			r := Record{Seq: c.seq + 1, Prev: c.head, Time: t0, Changes: randomRecord(rnd, c.seq+1)}
			enc := r.Seal(key)
			want, ok := refApply(ref, r, false)
			err := s.Apply(enc, key)
			if ok != (err == nil) {
				t.Fatalf("run %d step %d: reference accepts=%v, Apply: %v (changes %v)", run, step, ok, err, r.Changes)
			}
			if ok {
				accepted++
				c.seq, c.head = r.Seq, Hash(enc)
				ref = want
			}
			if d := sameAsRef(s, ref); d != "" {
				t.Fatalf("run %d step %d: %s", run, step, d)
			}
			checkIndex(t, s)
		}
		// The index rebuilt from scratch agrees with the incremental one.
		fresh := s.Clone()
		for id := range ref.entries {
			if a, b := fresh.Children(id), s.Children(id); fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("run %d: children of %v: rebuilt %v, incremental %v", run, id, a, b)
			}
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d random records accepted: the test exercises too little", accepted)
	}
}

// checkIndex checks that the children index lists every non-top-level
// entry once, under its parent.
func checkIndex(t testing.TB, s *State) {
	t.Helper()
	kids, top := 0, 0
	for id, e := range s.Entries {
		n := s.Children(id)
		kids += len(n)
		for _, k := range n {
			if s.Entries[k].Parent != id {
				t.Fatalf("the children index lists %v under %v, its parent is %v", k, id, s.Entries[k].Parent)
			}
		}
		if e.Parent == (ID{}) {
			top++
		}
	}
	if kids != len(s.Entries)-top {
		t.Fatalf("the children index lists %d entries, want %d", kids, len(s.Entries)-top)
	}
}

func mustParse(t testing.TB, b []byte) Record {
	t.Helper()
	r, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseMarshalRoundTrip(t *testing.T) {
	key := testKey("journal key")
	c := base(key)
	for _, b := range c.recs {
		r := mustParse(t, b)
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatal("Marshal(Parse(b)) != b")
		}
		if err := r.Verify(key); err != nil {
			t.Fatal(err)
		}
		if err := r.Verify(testKey("other")); !errors.Is(err, ErrMAC) {
			t.Fatalf("verify under another key: %v", err)
		}
	}
}

// entryHashByHand builds the spec §9 preimage byte by byte, independently
// of EntryHash.
func entryHashByHand(id, parent []byte, kind string, tag, wrapped, meta []byte, objects ...[]byte) [32]byte {
	var b []byte
	b = append(b, "nuage-entry-v1"...)
	b = append(b, 0)
	lp := func(x []byte) {
		b = append(b, byte(len(x)>>24), byte(len(x)>>16), byte(len(x)>>8), byte(len(x)))
		b = append(b, x...)
	}
	lp(id)
	lp(parent)
	lp([]byte(kind))
	lp(tag)
	lp(wrapped)
	lp(meta)
	lp(bytes.Join(objects, nil))
	return sha256.Sum256(b)
}

func TestEntryHashKnownAnswer(t *testing.T) {
	id, parent := material("entry", 16), material("parent", 16)
	o1, o2 := material("object 1", 16), material("object 2", 16)
	e := api.Entry{
		ID: hex.EncodeToString(id), Parent: hex.EncodeToString(parent), Kind: "file",
		NameTag: material("tag", 16), WrappedKey: material("wrap", 32), Meta: []byte("sealed metadata"),
		Objects: []string{hex.EncodeToString(o1), hex.EncodeToString(o2)},
		Created: 1, Updated: 2, // not covered: set by the coordinator
	}
	got, err := EntryHash(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = "faaa57ee5ddc6c53255f7aaada2f8942b2e4377c9c86edad9ea7da370a1c9de3"
	if hex.EncodeToString(got[:]) != want {
		t.Errorf("EntryHash = %x, want %s", got, want)
	}
	if byHand := entryHashByHand(id, parent, "file", e.NameTag, e.WrappedKey, e.Meta, o1, o2); got != byHand {
		t.Errorf("EntryHash = %x, by hand %x", got, byHand)
	}
	rootE := api.Entry{ID: hex.EncodeToString(id), Kind: "folder", WrappedKey: e.WrappedKey, Meta: e.Meta}
	rh, err := EntryHash(rootE)
	if err != nil {
		t.Fatal(err)
	}
	if byHand := entryHashByHand(id, nil, "folder", nil, e.WrappedKey, e.Meta); rh != byHand {
		t.Errorf("root EntryHash = %x, by hand %x", rh, byHand)
	}
	// Every covered field changes the hash; the coordinator's timestamps do not.
	mods := map[string]func(*api.Entry){
		"id":      func(x *api.Entry) { x.ID = hex.EncodeToString(material("other", 16)) },
		"parent":  func(x *api.Entry) { x.Parent = "" },
		"kind":    func(x *api.Entry) { x.Kind = "folder" },
		"tag":     func(x *api.Entry) { x.NameTag = material("tag2", 16) },
		"wrap":    func(x *api.Entry) { x.WrappedKey = material("wrap2", 32) },
		"meta":    func(x *api.Entry) { x.Meta = []byte("sealed metadatA") },
		"objects": func(x *api.Entry) { x.Objects = x.Objects[:1] },
		"order":   func(x *api.Entry) { x.Objects = []string{x.Objects[1], x.Objects[0]} },
		// Moving bytes between adjacent fields must change the hash.
		"shift": func(x *api.Entry) { x.NameTag = append(x.NameTag, x.WrappedKey[0]); x.WrappedKey = x.WrappedKey[1:] },
	}
	for name, mod := range mods {
		x := e
		x.Objects = append([]string(nil), e.Objects...)
		mod(&x)
		h, err := EntryHash(x)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h == got {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	x := e
	x.Created, x.Updated = 100, 200
	if h, _ := EntryHash(x); h != got {
		t.Error("the coordinator's timestamps change the hash")
	}
	for name, bad := range map[string]api.Entry{
		"short ID":        {ID: "00", Kind: "file"},
		"upper-case ID":   {ID: "AABBCCDDEEFF00112233445566778899", Kind: "file"},
		"bad parent":      {ID: e.ID, Parent: "zz", Kind: "file"},
		"bad object":      {ID: e.ID, Kind: "file", Objects: []string{"0011"}},
		"upper-case obj":  {ID: e.ID, Kind: "file", Objects: []string{"AABBCCDDEEFF00112233445566778899"}},
		"upper-case prnt": {ID: e.ID, Parent: "AABBCCDDEEFF00112233445566778899", Kind: "file"},
	} {
		if _, err := EntryHash(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestStateEncoding(t *testing.T) {
	key := testKey("journal key")
	c := base(key)
	s := NewState()
	mustApply(t, s, key, c.recs...)
	b := encodeState(t, s)
	var s2 State
	if err := s2.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeState(t, &s2), b) || s2.Seq != s.Seq || s2.Head != s.Head {
		t.Fatal("state does not round-trip")
	}
	// The decoded state continues the chain.
	c.next(put(testID("n"), dirB, testHash("n")))
	mustApply(t, &s2, key, c.recs[len(c.recs)-1])
	if got := s2.Children(dirB); len(got) != 1 {
		t.Fatalf("children after decode + apply: %v", got)
	}

	hdr := len(stateMagic) + 44
	entry := func(i int) int { return hdr + i*stateEntrySize }
	edit := func(f func(b []byte)) []byte { x := bytes.Clone(b); f(x); return x }
	for name, bad := range map[string][]byte{
		"empty":      nil,
		"bad magic":  edit(func(x []byte) { x[0] ^= 1 }),
		"truncated":  b[:len(b)-1],
		"extra byte": append(bytes.Clone(b), 0),
		"count":      edit(func(x []byte) { x[hdr-1]++ }),
		"unsorted": edit(func(x []byte) {
			copy(x[entry(0):entry(1)], b[entry(1):entry(2)])
			copy(x[entry(1):entry(2)], b[entry(0):entry(1)])
		}),
		"duplicate":       edit(func(x []byte) { copy(x[entry(1):entry(2)], b[entry(0):entry(1)]) }),
		"zero hash":       edit(func(x []byte) { clear(x[entry(0)+32 : entry(1)]) }),
		"missing parent":  edit(func(x []byte) { x[entry(0)+16] ^= 0xff; x[entry(0)+17] ^= 0x0f }),
		"seq 0 with head": edit(func(x []byte) { clear(x[len(stateMagic) : len(stateMagic)+8]) }),
	} {
		var st State
		if err := st.UnmarshalBinary(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	var empty State
	if err := empty.UnmarshalBinary(encodeState(t, NewState())); err != nil || empty.Seq != 0 || len(empty.Entries) != 0 {
		t.Fatalf("empty state: %v", err)
	}
}

func TestUnmarshalRefusesCycle(t *testing.T) {
	// Two entries that are each other's parent: no chain of records makes this.
	s := &State{Seq: 3, Head: testHash("h"), Entries: map[ID]EntryState{
		{1}: {Parent: ID{2}, Hash: testHash("1")},
		{2}: {Parent: ID{1}, Hash: testHash("2")},
	}}
	b := encodeState(t, s)
	var d State
	if err := d.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("cycle: %v", err)
	}
}

func TestMACContext(t *testing.T) {
	// The MAC is HMAC-SHA-256(key, "nuage-journal-v1" || 0x00 || body).
	key := testKey("journal key")
	r := Record{Seq: 1, Time: t0, Changes: []Change{put(root, ID{}, testHash("root"))}}
	b := r.Seal(key)
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte("nuage-journal-v1\x00"))
	m.Write(b[:len(b)-32])
	if !bytes.Equal(m.Sum(nil), b[len(b)-32:]) {
		t.Fatal("MAC does not follow the spec")
	}
	if len(b) != headerSize+changeSize+macSize || b[0] != 1 {
		t.Fatalf("encoding is %d bytes", len(b))
	}
}

func BenchmarkApply(b *testing.B) {
	// A 500-change record applied to a state of 100,000 entries: the cost
	// of one group commit on a big account.
	key := testKey("journal key")
	c := &chain{key: key}
	c.next(put(root, ID{}, testHash("root")), put(trash, ID{}, testHash("trash")))
	s := NewState()
	mustApply(b, s, key, c.recs[0])
	var id uint32
	newID := func() ID { id++; var x ID; x[0] = 0xaa; binary.BigEndian.PutUint32(x[12:], id); return x }
	for range 100 {
		var cs []Change
		for range 1000 {
			cs = append(cs, put(newID(), root, testHash("e")))
		}
		mustApply(b, s, key, c.next(cs...))
	}
	b.SetBytes(headerSize + 500*changeSize + macSize)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var cs []Change
		for range 500 {
			cs = append(cs, put(newID(), root, testHash("e")))
		}
		r := c.next(cs...)
		b.StartTimer()
		if err := s.Apply(r, key); err != nil {
			b.Fatal(err)
		}
	}
}
