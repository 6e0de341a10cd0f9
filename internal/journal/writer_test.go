package journal

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var (
	outside = testID("o") // a folder under root, outside the shared folder
	fileY   = testID("y") // a file in outside
	fileG   = testID("g") // a file in dirB
	keyK    = testID("key K")
	keyR    = testID("key R")
)

// nextWriter appends a writer record under keyID, sealed with its write key.
func (c *chain) nextWriter(keyID ID, changes ...Change) []byte {
	r := Record{Seq: c.seq + 1, Prev: c.head, Time: t0.Add(time.Duration(c.seq) * time.Minute), KeyID: keyID, Changes: changes}
	b := r.Seal(WriteKey(c.key, keyID))
	c.seq++
	c.head = Hash(b)
	c.recs = append(c.recs, b)
	return b
}

func grant(k, folder ID) Change { return Change{Op: Grant, Entry: k, Parent: folder} }

func revoke(k ID) Change { return Change{Op: Revoke, Entry: k} }

// shared returns base(key) continued to root{a{b{g}, f}, o{y}}, trash,
// with write key K active for a (the shared folder F) and key R, granted
// for a, revoked.
func shared(key [32]byte) *chain {
	c := base(key)
	c.next(put(outside, root, testHash("o")), put(fileY, outside, testHash("y")), put(fileG, dirB, testHash("g")))
	c.next(grant(keyK, dirA), grant(keyR, dirA))
	c.next(revoke(keyR))
	return c
}

// hkdfByHand is RFC 5869 for one 32-byte block, written out with HMAC.
func hkdfByHand(ikm, salt []byte, info string) []byte {
	ext := hmac.New(sha256.New, salt)
	ext.Write(ikm)
	prk := ext.Sum(nil)
	exp := hmac.New(sha256.New, prk)
	exp.Write([]byte(info))
	exp.Write([]byte{1})
	return exp.Sum(nil)
}

func TestWriteKey(t *testing.T) {
	jk := testKey("journal key")
	a, b := WriteKey(jk, keyK), WriteKey(jk, keyR)
	if want := hkdfByHand(jk[:], keyK[:], "nuage v1 share write"); !bytes.Equal(a[:], want) {
		t.Fatalf("WriteKey = %x, by hand %x", a, want)
	}
	if a == b || a == jk || a == WriteKey(testKey("other journal key"), keyK) {
		t.Fatal("write keys of distinct key IDs or journal keys collide")
	}
}

func TestWriterRecordLayout(t *testing.T) {
	key := testKey("journal key")
	wk := WriteKey(key, keyK)
	r := Record{Seq: 9, Prev: testHash("prev"), Time: t0, KeyID: keyK, Changes: []Change{put(fileF, dirA, testHash("f")), del(fileG)}}
	b := r.Seal(wk)
	if len(b) != writerHeaderSize+2*changeSize+macSize || b[0] != 2 {
		t.Fatalf("%d bytes, version %d", len(b), b[0])
	}
	if binary.BigEndian.Uint64(b[1:9]) != 9 || !bytes.Equal(b[9:41], r.Prev[:]) ||
		int64(binary.BigEndian.Uint64(b[41:49])) != t0.Unix() || !bytes.Equal(b[49:65], keyK[:]) ||
		binary.BigEndian.Uint32(b[65:69]) != 2 || b[69] != byte(Put) || !bytes.Equal(b[70:86], fileF[:]) {
		t.Fatalf("layout differs from spec §9: %x", b[:90])
	}
	m := hmac.New(sha256.New, wk[:])
	m.Write([]byte("nuage-journal-v2\x00"))
	m.Write(b[:len(b)-32])
	if !bytes.Equal(m.Sum(nil), b[len(b)-32:]) {
		t.Fatal("writer MAC does not follow the spec")
	}
	p := mustParse(t, b)
	if !p.Writer() || p.KeyID != keyK || !bytes.Equal(p.Marshal(), b) {
		t.Fatal("writer record does not round-trip")
	}
	if err := p.Verify(wk); err != nil {
		t.Fatal(err)
	}
	// The two versions' MACs are domain-separated: the same key and the
	// same body bytes under the other context do not verify.
	if err := p.Verify(key); !errors.Is(err, ErrMAC) {
		t.Fatalf("verified under the journal key: %v", err)
	}
	owner := Record{Seq: 9, Prev: r.Prev, Time: t0, Changes: r.Changes}
	ob := owner.Seal(wk)
	m = hmac.New(sha256.New, wk[:])
	m.Write([]byte("nuage-journal-v2\x00"))
	m.Write(ob[:len(ob)-32])
	if bytes.Equal(m.Sum(nil), ob[len(ob)-32:]) {
		t.Fatal("an owner record is MACed with the writer context")
	}
	if MaxEncodedSz != 69+MaxChanges*65+32 {
		t.Fatalf("MaxEncodedSz = %d", MaxEncodedSz)
	}
}

func TestParseRefuses(t *testing.T) {
	key := testKey("journal key")
	wk := WriteKey(key, keyK)
	seal := func(keyID ID, changes ...Change) []byte {
		r := Record{Seq: 7, Prev: testHash("p"), Time: t0, KeyID: keyID, Changes: changes}
		if keyID == (ID{}) {
			return r.Seal(key)
		}
		return r.Seal(wk)
	}
	good := seal(keyK, put(testID("n"), dirA, testHash("n")))
	edit := func(b []byte, f func([]byte)) []byte { b = bytes.Clone(b); f(b); return b }
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"writer: grant", seal(keyK, grant(testID("k"), dirA)), ErrMalformed},
		{"writer: revoke", seal(keyK, revoke(keyR)), ErrMalformed},
		{"writer: zero key ID", edit(good, func(b []byte) { clear(b[49:65]) }), ErrMalformed},
		{"writer: too short for its header", good[:writerHeaderSize+macSize-1], ErrMalformed},
		{"writer: count 0", edit(good[:writerHeaderSize], func(b []byte) { binary.BigEndian.PutUint32(b[65:69], 0) }), ErrMalformed},
		{"writer: count 0 with MAC", append(edit(good[:writerHeaderSize], func(b []byte) { binary.BigEndian.PutUint32(b[65:69], 0) }), make([]byte, macSize)...), ErrMalformed},
		{"writer: count too large", edit(good, func(b []byte) { binary.BigEndian.PutUint32(b[65:69], MaxChanges+1) }), ErrMalformed},
		{"writer: trailing byte", append(bytes.Clone(good), 0), ErrMalformed},
		{"writer: missing byte", good[:len(good)-1], ErrMalformed},
		{"version 0", edit(good, func(b []byte) { b[0] = 0 }), ErrMalformed},
		{"version 3", edit(good, func(b []byte) { b[0] = 3 }), ErrMalformed},
		{"op 5", seal(ID{}, Change{Op: 5, Entry: testID("k")}), ErrMalformed},
		{"grant with a hash", seal(ID{}, Change{Op: Grant, Entry: testID("k"), Parent: dirA, Hash: testHash("h")}), ErrMalformed},
		{"grant without a folder", seal(ID{}, Change{Op: Grant, Entry: testID("k")}), ErrMalformed},
		{"grant of key ID zero", seal(ID{}, Change{Op: Grant, Parent: dirA}), ErrMalformed},
		{"revoke with a folder", seal(ID{}, Change{Op: Revoke, Entry: keyK, Parent: dirA}), ErrMalformed},
		{"revoke with a hash", seal(ID{}, Change{Op: Revoke, Entry: keyK, Hash: testHash("h")}), ErrMalformed},
		{"entry put twice", seal(ID{}, put(fileF, dirA, testHash("1")), put(fileF, dirB, testHash("2"))), ErrMalformed},
		{"writer: entry put and deleted", seal(keyK, put(fileF, dirA, testHash("1")), del(fileF)), ErrMalformed},
		{"key granted and revoked", seal(ID{}, grant(testID("k"), dirA), revoke(testID("k"))), ErrMalformed},
		{"key ID equal to an entry ID put", seal(ID{}, put(testID("k"), dirA, testHash("1")), grant(testID("k"), dirA)), ErrMalformed},
	}
	// A long record, to exercise the sorting duplicate check.
	var many []Change
	for i := range 40 {
		many = append(many, put(ID{0xee, byte(i)}, dirA, testHash("m")))
	}
	cases = append(cases, struct {
		name string
		b    []byte
		want error
	}{"40 changes, last repeats one", seal(ID{}, append(many, del(ID{0xee, 17}))...), ErrMalformed})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Parse(seal(ID{}, many...)); err != nil {
		t.Fatalf("40 distinct changes: %v", err)
	}
	// A repeated ID is also ErrState (what Apply reported for it before).
	if _, err := Parse(seal(ID{}, del(fileF), del(fileF))); !errors.Is(err, ErrState) {
		t.Fatalf("duplicate: %v, want it to match ErrState too", err)
	}
}

func TestWriterApply(t *testing.T) {
	key := testKey("journal key")
	newFile, newDir, inNew := testID("new file"), testID("new dir"), testID("in new dir")
	cases := []struct {
		name    string
		changes []Change
		want    map[ID]EntryState // entries after that differ from shared()
		gone    []ID
	}{
		{"file, folder and a file in it", []Change{
			put(newFile, dirA, testHash("nf")), put(newDir, dirA, testHash("nd")), put(inNew, newDir, testHash("in")),
		}, map[ID]EntryState{newFile: {dirA, testHash("nf")}, newDir: {dirA, testHash("nd")}, inNew: {newDir, testHash("in")}}, nil},
		{"rename in place", []Change{put(fileF, dirA, testHash("f2"))}, map[ID]EntryState{fileF: {dirA, testHash("f2")}}, nil},
		{"move within the folder", []Change{put(fileF, dirB, testHash("f"))}, map[ID]EntryState{fileF: {dirB, testHash("f")}}, nil},
		{"move up to the folder", []Change{put(fileG, dirA, testHash("g"))}, map[ID]EntryState{fileG: {dirA, testHash("g")}}, nil},
		{"move into a folder created before", []Change{put(newDir, dirA, testHash("nd")), put(fileF, newDir, testHash("f"))},
			map[ID]EntryState{newDir: {dirA, testHash("nd")}, fileF: {newDir, testHash("f")}}, nil},
		{"delete a descendant", []Change{del(fileF)}, nil, []ID{fileF}},
		{"delete a subtree, children first", []Change{del(fileG), del(dirB)}, nil, []ID{fileG, dirB}},
		{"delete a subtree, parent first", []Change{del(dirB), del(fileG)}, nil, []ID{fileG, dirB}},
		{"move out of a folder, then delete it", []Change{put(fileG, dirA, testHash("g")), del(dirB)},
			map[ID]EntryState{fileG: {dirA, testHash("g")}}, []ID{dirB}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := shared(key)
			s := NewState()
			mustApply(t, s, key, c.recs...)
			want := refFromState(s)
			for id, e := range tc.want {
				want.entries[id] = e
			}
			for _, id := range tc.gone {
				delete(want.entries, id)
			}
			if err := s.Apply(c.nextWriter(keyK, tc.changes...), key); err != nil {
				t.Fatal(err)
			}
			if d := sameAsRef(s, want); d != "" {
				t.Fatal(d)
			}
			checkIndex(t, s)
			if s.Seq != c.seq || s.Head != c.head {
				t.Fatal("seq or head not advanced")
			}
			// The owner continues after a writer record.
			if err := s.Apply(c.next(put(testID("owner"), root, testHash("owner"))), key); err != nil {
				t.Fatalf("owner record after a writer record: %v", err)
			}
		})
	}
}

func TestWriterRefuses(t *testing.T) {
	key := testKey("journal key")
	c := shared(key)
	nd, nf := testID("new dir"), testID("new file")
	writer := func(keyID ID, changes ...Change) []byte {
		r := Record{Seq: c.seq + 1, Prev: c.head, Time: t0, KeyID: keyID, Changes: changes}
		return r.Seal(WriteKey(key, keyID))
	}
	good := writer(keyK, put(nf, dirA, testHash("nf")))
	cases := []struct {
		name string
		rec  []byte
		want error
	}{
		{"bad MAC", func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }(), ErrMAC},
		{"sealed with the journal key", func() []byte {
			r := Record{Seq: c.seq + 1, Prev: c.head, Time: t0, KeyID: keyK, Changes: []Change{put(nf, dirA, testHash("nf"))}}
			return r.Seal(key)
		}(), ErrMAC},
		{"revoked key", writer(keyR, put(nf, dirA, testHash("nf"))), ErrWriteKey},
		{"never-granted key", writer(testID("stranger"), put(nf, dirA, testHash("nf"))), ErrWriteKey},
		{"wrong prev", func() []byte {
			r := Record{Seq: c.seq + 1, Prev: testHash("x"), Time: t0, KeyID: keyK, Changes: []Change{put(nf, dirA, testHash("nf"))}}
			return r.Seal(WriteKey(key, keyK))
		}(), ErrChain},
		{"put F itself", writer(keyK, put(dirA, root, testHash("a2"))), ErrState},
		{"put F under a folder inside it", writer(keyK, put(dirA, dirB, testHash("a2"))), ErrState},
		{"put under a folder outside F", writer(keyK, put(nf, outside, testHash("nf"))), ErrState},
		{"put under F's parent", writer(keyK, put(nf, root, testHash("nf"))), ErrState},
		{"put in the trash", writer(keyK, put(nf, trash, testHash("nf"))), ErrState},
		{"put at the top level", writer(keyK, put(nf, ID{}, testHash("nf"))), ErrState},
		{"put under a missing folder", writer(keyK, put(nf, testID("missing"), testHash("nf"))), ErrState},
		{"move an outside entry in", writer(keyK, put(fileY, dirA, testHash("y"))), ErrState},
		{"move an outside folder in", writer(keyK, put(outside, dirA, testHash("o"))), ErrState},
		{"move an entry out", writer(keyK, put(fileF, outside, testHash("f"))), ErrState},
		{"move an entry to the trash", writer(keyK, put(fileF, trash, testHash("f"))), ErrState},
		{"rename the root in place", writer(keyK, put(root, ID{}, testHash("root2"))), ErrState},
		{"delete F (emptied first)", writer(keyK, del(fileG), del(dirB), del(fileF), del(dirA)), ErrState},
		{"delete outside", writer(keyK, del(fileY)), ErrState},
		{"delete the root's file", writer(keyK, del(outside), del(fileY)), ErrState},
		{"delete unknown", writer(keyK, del(testID("ghost"))), ErrState},
		{"file into a folder created after it", writer(keyK, put(nf, nd, testHash("nf")), put(nd, dirA, testHash("nd"))), ErrState},
		{"move into a folder, then that folder out", writer(keyK, put(nd, dirA, testHash("nd")), put(nf, nd, testHash("nf")), put(nd, outside, testHash("nd"))), ErrState},
		{"a cycle inside F", writer(keyK, put(dirB, fileG, testHash("b"))), ErrState},
		{"delete a non-empty folder", writer(keyK, del(dirB)), ErrState},
		{"under a folder deleted in the record", writer(keyK, del(fileF), put(nf, fileF, testHash("nf"))), ErrState},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewState()
			mustApply(t, s, key, c.recs...)
			before := encodeState(t, s)
			if err := s.Apply(tc.rec, key); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !bytes.Equal(encodeState(t, s), before) {
				t.Fatal("a refused record changed the state")
			}
			checkIndex(t, s)
			if err := s.Apply(good, key); err != nil {
				t.Fatalf("valid record after a refused one: %v", err)
			}
		})
	}
}

func TestGrantRevoke(t *testing.T) {
	key := testKey("journal key")
	k1, k2 := testID("k1"), testID("k2")
	nd := testID("new dir")
	cases := []struct {
		name    string
		changes []Change
		want    error
		active  map[ID]ID // after, when accepted
	}{
		{"grant", []Change{grant(k1, dirB)}, nil, map[ID]ID{keyK: dirA, k1: dirB}},
		{"two grants for one folder", []Change{grant(k1, dirA), grant(k2, dirA)}, nil, map[ID]ID{keyK: dirA, k1: dirA, k2: dirA}},
		{"revoke", []Change{revoke(keyK)}, nil, map[ID]ID{}},
		{"rotate: revoke and grant", []Change{revoke(keyK), grant(k1, dirA)}, nil, map[ID]ID{k1: dirA}},
		{"grant for a folder put earlier in the record", []Change{put(nd, dirA, testHash("nd")), grant(k1, nd)}, nil, map[ID]ID{keyK: dirA, k1: nd}},
		{"grant for a folder in the trash", []Change{put(dirB, trash, testHash("b")), grant(k1, dirB)}, nil, map[ID]ID{keyK: dirA, k1: dirB}},
		{"grant for a folder put later in the record", []Change{grant(k1, nd), put(nd, dirA, testHash("nd"))}, ErrState, nil},
		{"grant for a folder deleted earlier in the record", []Change{del(fileF), grant(k1, fileF)}, ErrState, nil},
		{"grant for the root", []Change{grant(k1, root)}, ErrState, nil},
		{"grant for the trash", []Change{grant(k1, trash)}, ErrState, nil},
		{"grant for a missing folder", []Change{grant(k1, testID("missing"))}, ErrState, nil},
		{"grant of an active key", []Change{grant(keyK, dirB)}, ErrState, nil},
		{"grant of a revoked key", []Change{grant(keyR, dirB)}, ErrState, nil},
		{"revoke of a revoked key", []Change{revoke(keyR)}, ErrState, nil},
		{"revoke of an unknown key", []Change{revoke(k1)}, ErrState, nil},
		{"grant and orphan in one record", []Change{grant(k1, dirB), put(testID("x"), testID("missing"), testHash("x"))}, ErrState, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := shared(key)
			s := NewState()
			mustApply(t, s, key, c.recs...)
			before := encodeState(t, s)
			err := s.Apply(c.next(tc.changes...), key)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil {
				if !bytes.Equal(encodeState(t, s), before) {
					t.Fatal("a refused record changed the state")
				}
				return
			}
			if len(s.WriteKeys) != len(tc.active) {
				t.Fatalf("active keys %v, want %v", s.WriteKeys, tc.active)
			}
			for k, f := range tc.active {
				if s.WriteKeys[k] != f {
					t.Fatalf("active keys %v, want %v", s.WriteKeys, tc.active)
				}
				if _, ok := s.Granted[k]; !ok {
					t.Fatalf("active key %v not in Granted", k)
				}
			}
			if _, ok := s.Granted[keyR]; !ok {
				t.Fatal("a revoked key left Granted")
			}
			// A key this record revoked no longer writes; one it granted does.
			for _, ch := range tc.changes {
				w := c.nextWriter(ch.Entry, put(testID("w"), s.WriteKeys[ch.Entry], testHash("w")))
				err := s.Clone().Apply(w, key)
				switch ch.Op {
				case Revoke:
					if !errors.Is(err, ErrWriteKey) {
						t.Fatalf("writer under a revoked key: %v", err)
					}
				case Grant:
					if err != nil {
						t.Fatalf("writer under a new key: %v", err)
					}
				}
				c.seq--
				c.head = s.Head
				c.recs = c.recs[:len(c.recs)-1]
			}
		})
	}
}

func TestWithin(t *testing.T) {
	key := testKey("journal key")
	s := NewState()
	mustApply(t, s, key, shared(key).recs...)
	for _, tc := range []struct {
		id, root ID
		want     bool
	}{
		{dirA, dirA, true},
		{dirB, dirA, true},
		{fileG, dirA, true},
		{fileG, root, true},
		{fileF, dirB, false},
		{dirA, dirB, false},
		{fileY, dirA, false},
		{root, root, true},
		{trash, root, false},
		{root, dirA, false},
		{testID("ghost"), testID("ghost"), false},
		{testID("ghost"), root, false},
		{dirA, testID("ghost"), false},
	} {
		if got := s.Within(tc.id, tc.root); got != tc.want {
			t.Errorf("Within(%v, %v) = %v, want %v", tc.id, tc.root, got, tc.want)
		}
	}
	// A cycle (which no valid chain makes) ends the walk.
	cyc := &State{Entries: map[ID]EntryState{{1}: {ID{2}, testHash("1")}, {2}: {ID{1}, testHash("2")}}}
	if cyc.Within(ID{1}, ID{3}) {
		t.Fatal("Within through a cycle")
	}
}

func TestStateEncodingKeys(t *testing.T) {
	key := testKey("journal key")
	c := shared(key)
	s := NewState()
	mustApply(t, s, key, c.recs...)
	b := encodeState(t, s)
	var d State
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if d.WriteKeys[keyK] != dirA || len(d.WriteKeys) != 1 || len(d.Granted) != 2 {
		t.Fatalf("keys after decode: %v, granted %v", d.WriteKeys, d.Granted)
	}
	if !bytes.Equal(encodeState(t, &d), b) {
		t.Fatal("state does not round-trip")
	}
	// The decoded state accepts the writer and refuses the revoked key.
	if err := d.Clone().Apply(c.nextWriter(keyR, put(testID("n"), dirA, testHash("n"))), key); !errors.Is(err, ErrWriteKey) {
		t.Fatalf("revoked key after decode: %v", err)
	}
	c.seq, c.head, c.recs = d.Seq, d.Head, c.recs[:len(c.recs)-1]
	if err := d.Apply(c.nextWriter(keyK, put(testID("n"), dirA, testHash("n"))), key); err != nil {
		t.Fatalf("writer after decode: %v", err)
	}
	// And a key ID granted before is still refused.
	if err := d.Apply(c.next(grant(keyR, dirB)), key); !errors.Is(err, ErrState) {
		t.Fatalf("re-grant after decode: %v", err)
	}

	// Offsets in b: entries, then active keys, then revoked keys.
	ents := len(stateMagic) + stateHeaderSize
	act := ents + len(s.Entries)*stateEntrySize
	rev := act + 4 + stateKeySize
	edit := func(f func(x []byte)) []byte { x := bytes.Clone(b); f(x); return x }
	other := testID("other key")
	twoActive := func() *State {
		x := s.Clone()
		x.WriteKeys[other], x.Granted[other] = dirB, struct{}{}
		return x
	}()
	tb := encodeState(t, twoActive)
	for name, bad := range map[string][]byte{
		"version 1 magic":    append([]byte("nuage-jstate-v1\x00"), b[len(stateMagic):]...),
		"no key counts":      b[:act],
		"no revoked count":   b[:rev],
		"truncated":          b[:len(b)-1],
		"extra byte":         append(bytes.Clone(b), 0),
		"active count":       edit(func(x []byte) { x[act+3]++ }),
		"revoked count":      edit(func(x []byte) { x[rev+3]++ }),
		"huge count":         edit(func(x []byte) { binary.BigEndian.PutUint32(x[act:], 0xffffffff) }),
		"zero key ID":        edit(func(x []byte) { clear(x[act+4 : act+20]) }),
		"zero folder":        edit(func(x []byte) { clear(x[act+20 : act+36]) }),
		"key for the root":   edit(func(x []byte) { copy(x[act+20:act+36], root[:]) }),
		"zero revoked key":   edit(func(x []byte) { clear(x[rev+4 : rev+20]) }),
		"active and revoked": edit(func(x []byte) { copy(x[rev+4:rev+20], keyK[:]) }),
		"active keys unsorted": func() []byte {
			x := bytes.Clone(tb)
			a, b := x[act+4:act+36], x[act+36:act+68]
			tmp := bytes.Clone(a)
			copy(a, b)
			copy(b, tmp)
			return x
		}(),
		"active key repeated": func() []byte {
			x := bytes.Clone(tb)
			copy(x[act+36:act+68], x[act+4:act+36])
			return x
		}(),
		"keys at seq 0": func() []byte {
			x := &State{WriteKeys: map[ID]ID{}, Granted: map[ID]struct{}{keyR: {}}}
			return encodeState(t, x)
		}(),
	} {
		var st State
		if err := st.UnmarshalBinary(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	var st State
	if err := st.UnmarshalBinary(tb); err != nil {
		t.Fatalf("two active keys: %v", err)
	}
	// Revoked keys out of order.
	threeRevoked := s.Clone()
	for _, k := range []ID{{1}, {2}} {
		threeRevoked.Granted[k] = struct{}{}
	}
	rb := encodeState(t, threeRevoked)
	if err := st.UnmarshalBinary(rb); err != nil {
		t.Fatalf("three revoked keys: %v", err)
	}
	swapped := bytes.Clone(rb)
	copy(swapped[rev+4:rev+20], rb[rev+20:rev+36])
	copy(swapped[rev+20:rev+36], rb[rev+4:rev+20])
	if err := st.UnmarshalBinary(swapped); !errors.Is(err, ErrMalformed) {
		t.Errorf("revoked keys unsorted: %v", err)
	}
}

func TestCloneCopiesKeys(t *testing.T) {
	key := testKey("journal key")
	c := shared(key)
	s := NewState()
	mustApply(t, s, key, c.recs...)
	x := s.Clone()
	if !bytes.Equal(encodeState(t, x), encodeState(t, s)) {
		t.Fatal("clone differs")
	}
	// Applying to the clone leaves the original alone.
	if err := x.Apply(c.next(revoke(keyK), grant(testID("k2"), dirB)), key); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.WriteKeys[keyK]; !ok || len(s.Granted) != 2 {
		t.Fatal("applying to a clone changed the original's keys")
	}
}

// sortedKeys returns the keys of m, sorted, so that random choices
// among them are deterministic.
func sortedKeys[V any](m map[ID]V) []ID {
	out := make([]ID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// nonTop returns the entries of ref below the top level, sorted.
func nonTop(ref refState) []ID {
	var out []ID
	for _, id := range sortedKeys(ref.entries) {
		if ref.entries[id].Parent != (ID{}) {
			out = append(out, id)
		}
	}
	return out
}

// randomShareRecord builds a random owner or writer record over a small
// space of entries (ID{1..12}; 1 and 2 are top level) and keys
// (ID{0x81..0xe4}), mostly naming existing entries and keys.
func randomShareRecord(rnd *rand.Rand, ref refState, seq uint64, head [32]byte) Record {
	r := Record{Seq: seq, Prev: head, Time: t0}
	existing := sortedKeys(ref.entries)
	pick := func(from []ID) ID {
		if len(from) > 0 && rnd.IntN(4) != 0 {
			return from[rnd.IntN(len(from))]
		}
		return ID{byte(1 + rnd.IntN(12))}
	}
	if active := sortedKeys(ref.keys); rnd.IntN(2) == 0 && len(active) > 0 {
		r.KeyID = active[rnd.IntN(len(active))]
		if revoked := sortedKeys(ref.granted); rnd.IntN(10) == 0 {
			r.KeyID = revoked[rnd.IntN(len(revoked))]
		}
		r.Changes = randomWriterChanges(rnd, ref, ref.keys[r.KeyID])
		return r
	}
	for range 1 + rnd.IntN(3) {
		switch n := rnd.IntN(10); {
		case n < 2:
			r.Changes = append(r.Changes, del(pick(existing)))
		case n == 2:
			r.Changes = append(r.Changes, grant(ID{byte(0x81 + rnd.IntN(100))}, pick(nonTop(ref))))
		case n == 3 && rnd.IntN(2) == 0:
			r.Changes = append(r.Changes, revoke(pick(sortedKeys(ref.keys))))
		default:
			var parent ID
			if rnd.IntN(8) != 0 {
				parent = pick(existing)
			}
			r.Changes = append(r.Changes, put(pick(existing), parent, [32]byte{byte(rnd.IntN(256)), 1}))
		}
	}
	return r
}

// randomWriterChanges returns 1 to 3 changes for a writer record under a
// key for folder: mostly changes that stay inside it (new entries, moves
// and deletes inside), sometimes one that escapes (F itself, entries
// outside, puts under outside folders).
func randomWriterChanges(rnd *rand.Rand, ref refState, folder ID) []Change {
	var inF, strict, outside, fresh []ID
	for _, id := range sortedKeys(ref.entries) {
		switch {
		case id == folder:
			inF = append(inF, id)
		case refInside(ref.entries, id, folder):
			inF, strict = append(inF, id), append(strict, id)
		case ref.entries[id].Parent != (ID{}):
			outside = append(outside, id)
		}
	}
	for i := byte(1); i <= 12; i++ {
		if _, ok := ref.entries[ID{i}]; !ok {
			fresh = append(fresh, ID{i})
		}
	}
	one := func(from []ID) (ID, bool) {
		if len(from) == 0 {
			return ID{}, false
		}
		return from[rnd.IntN(len(from))], true
	}
	var cs []Change
	used := map[ID]bool{}
	for range 1 + rnd.IntN(3) {
		h := [32]byte{byte(rnd.IntN(256)), 2}
		var c Change
		var ok bool
		switch n := rnd.IntN(20); {
		case n < 6: // a new entry inside
			var p ID
			if c.Entry, ok = one(fresh); ok {
				p, _ = one(inF)
				if len(cs) > 0 && rnd.IntN(2) == 0 && cs[len(cs)-1].Op == Put {
					p = cs[len(cs)-1].Entry // under an entry the record put before
				}
				c = put(c.Entry, p, h)
			}
		case n < 10: // move or rename inside
			if c.Entry, ok = one(strict); ok {
				p, _ := one(inF)
				c = put(c.Entry, p, h)
			}
		case n < 14: // delete inside
			if c.Entry, ok = one(strict); ok {
				c = del(c.Entry)
			}
		case n < 15: // F itself
			c, ok = put(folder, ref.entries[folder].Parent, h), true
		case n < 16:
			c, ok = del(folder), true
		case n < 17: // a new entry outside
			var p ID
			if c.Entry, ok = one(fresh); ok {
				if p, ok = one(outside); ok {
					c = put(c.Entry, p, h)
				}
			}
		case n < 18: // move in from outside
			if c.Entry, ok = one(outside); ok {
				p, _ := one(inF)
				c = put(c.Entry, p, h)
			}
		case n < 19: // move out
			if c.Entry, ok = one(strict); ok {
				var p ID
				if p, ok = one(outside); ok {
					c = put(c.Entry, p, h)
				}
			}
		default: // delete outside
			if c.Entry, ok = one(outside); ok {
				c = del(c.Entry)
			}
		}
		if ok && !used[c.Entry] {
			used[c.Entry] = true
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		cs = append(cs, put(folder, ref.entries[folder].Parent, [32]byte{3}))
	}
	return cs
}

// TestApplyShareMatchesReference runs random owner and writer records
// against the reference. It also counts the writer records that only the
// confinement rules refuse: a State.Apply that skipped them would accept
// those and fail here.
func TestApplyShareMatchesReference(t *testing.T) {
	key := testKey("journal key")
	rnd := rand.New(rand.NewPCG(3, 4))
	var acceptedWriter, confined, grants int
	for run := range 150 {
		c := &chain{key: key}
		s := NewState()
		c.next(put(ID{1}, ID{}, [32]byte{1}), put(ID{2}, ID{}, [32]byte{2}))
		mustApply(t, s, key, c.recs[0])
		ref, _ := refApply(newRefState(), mustParse(t, c.recs[0]), false)
		for step := range 80 {
			r := randomShareRecord(rnd, ref, c.seq+1, c.head)
			sealKey := key
			if r.Writer() {
				sealKey = WriteKey(key, r.KeyID)
			}
			enc := r.Seal(sealKey)
			want, ok := refApply(ref, r, false)
			before := encodeState(t, s)
			err := s.Apply(enc, key)
			if ok != (err == nil) {
				t.Fatalf("run %d step %d: reference accepts=%v, Apply: %v (record %+v)", run, step, ok, err, r)
			}
			if !ok {
				if !bytes.Equal(encodeState(t, s), before) {
					t.Fatalf("run %d step %d: a refused record changed the state", run, step)
				}
				if _, loose := refApply(ref, r, true); loose && r.Writer() {
					confined++
				}
				continue
			}
			if r.Writer() {
				acceptedWriter++
			}
			for _, ch := range r.Changes {
				if ch.Op == Grant {
					grants++
				}
			}
			c.seq, c.head = r.Seq, Hash(enc)
			ref = want
			if d := sameAsRef(s, ref); d != "" {
				t.Fatalf("run %d step %d: %s", run, step, d)
			}
		}
		checkIndex(t, s)
		var d State
		if err := d.UnmarshalBinary(encodeState(t, s)); err != nil {
			t.Fatalf("run %d: state does not decode: %v", run, err)
		}
	}
	t.Logf("%d writer records accepted, %d refused only by confinement, %d grants", acceptedWriter, confined, grants)
	if acceptedWriter < 500 || confined < 400 || grants < 200 {
		t.Fatalf("the test exercises too little: %d writer records accepted, %d refused only by confinement, %d grants", acceptedWriter, confined, grants)
	}
}

func BenchmarkApplyWriter(b *testing.B) {
	// A 500-change writer record into a shared folder 20 levels deep, in
	// a state of 100,000 entries: the confinement walk on every change.
	key := testKey("journal key")
	c := &chain{key: key}
	c.next(put(root, ID{}, testHash("root")), put(trash, ID{}, testHash("trash")))
	s := NewState()
	mustApply(b, s, key, c.recs[0])
	var id uint32
	newID := func() ID { id++; var x ID; x[0] = 0xaa; binary.BigEndian.PutUint32(x[12:], id); return x }
	parent := root
	var deep []Change
	for range 20 {
		d := newID()
		deep = append(deep, put(d, parent, testHash("d")))
		parent = d
	}
	folder := deep[0].Entry
	mustApply(b, s, key, c.next(deep...))
	for range 100 {
		var cs []Change
		for range 1000 {
			cs = append(cs, put(newID(), root, testHash("e")))
		}
		mustApply(b, s, key, c.next(cs...))
	}
	mustApply(b, s, key, c.next(grant(keyK, folder)))
	b.SetBytes(writerHeaderSize + 500*changeSize + macSize)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var cs []Change
		for range 500 {
			cs = append(cs, put(newID(), parent, testHash("e")))
		}
		r := c.nextWriter(keyK, cs...)
		b.StartTimer()
		if err := s.Apply(r, key); err != nil {
			b.Fatal(err)
		}
	}
}
