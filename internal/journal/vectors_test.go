package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

var update = flag.Bool("update", false, "regenerate testdata/journal/vectors.json")

var vectorFile = filepath.Join("..", "..", "testdata", "journal", "vectors.json")

// hexBytes is a []byte written as lowercase hex in JSON.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

type journalVectors struct {
	Comment  []string        `json:"comment"`
	Key      hexBytes        `json:"key"`
	Entries  []entryVector   `json:"entries"`
	Chain    []recordVector  `json:"chain"`
	Failures []failureVector `json:"failures"`
	// Writer continues the chain with write keys and a writer record.
	Writer *writerVectors `json:"writer"`
}

// writerVectors continues the main chain (spec §9 ops 3/4 and writer
// records). Its failures apply the whole main chain, then the first After
// records of this chain, then Record.
type writerVectors struct {
	Comment   []string         `json:"comment"`
	WriteKeys []writeKeyVector `json:"write_keys"`
	Entries   []entryVector    `json:"entries"`
	Chain     []recordVector   `json:"chain"`
	Failures  []failureVector  `json:"failures"`
}

// writeKeyVector is a write key derived from the vector journal key.
type writeKeyVector struct {
	Name     string   `json:"name"`
	KeyID    hexBytes `json:"key_id"`
	WriteKey hexBytes `json:"write_key"`
}

// entryVector is a stored entry (api.Entry with hex instead of base64)
// and its entry hash.
type entryVector struct {
	Name       string   `json:"name"`
	ID         string   `json:"id"`
	Parent     string   `json:"parent"`
	Kind       string   `json:"kind"`
	NameTag    hexBytes `json:"name_tag"`
	WrappedKey hexBytes `json:"wrapped_key"`
	Meta       hexBytes `json:"meta"`
	Objects    []string `json:"objects"`
	Hash       hexBytes `json:"hash"`
}

func (v entryVector) entry() api.Entry {
	return api.Entry{ID: v.ID, Parent: v.Parent, Kind: v.Kind, NameTag: v.NameTag, WrappedKey: v.WrappedKey, Meta: v.Meta, Objects: v.Objects}
}

type changeVector struct {
	Op     string   `json:"op"` // "put", "delete", "grant" or "revoke"
	Entry  hexBytes `json:"entry"`
	Parent hexBytes `json:"parent"`
	Hash   hexBytes `json:"hash"`
}

type recordVector struct {
	Seq      uint64         `json:"seq"`
	Prev     hexBytes       `json:"prev"`
	Time     int64          `json:"time"`
	KeyID    hexBytes       `json:"key_id,omitempty"` // writer records only
	Changes  []changeVector `json:"changes"`
	MAC      hexBytes       `json:"mac"`
	Encoding hexBytes       `json:"encoding"`
	Hash     hexBytes       `json:"hash"`
	// State after the record: number of entries.
	Entries int `json:"entries_after"`
}

// failureVector applies the first After records of the chain, then Record
// (under Key if set, else the vector key), which must fail with Error. If
// Latest is set, the check is instead that a coordinator claiming Latest
// as its latest seq is a rollback.
type failureVector struct {
	Name   string   `json:"name"`
	After  int      `json:"after"`
	Key    hexBytes `json:"key,omitempty"`
	Record hexBytes `json:"record,omitempty"`
	Latest *uint64  `json:"latest,omitempty"`
	Error  string   `json:"error"`
}

var errorNames = map[string]error{
	"ErrMalformed": ErrMalformed,
	"ErrMAC":       ErrMAC,
	"ErrChain":     ErrChain,
	"ErrRollback":  ErrRollback,
	"ErrState":     ErrState,
	"ErrWriteKey":  ErrWriteKey,
}

var opNames = map[Op]string{Put: "put", Delete: "delete", Grant: "grant", Revoke: "revoke"}

func opName(o Op) string { return opNames[o] }

func opByName(t *testing.T, name string) Op {
	t.Helper()
	for o, n := range opNames {
		if n == name {
			return o
		}
	}
	t.Fatalf("unknown op %q", name)
	return 0
}

func generateVectors(t *testing.T) journalVectors {
	key := testKey("journal key")
	v := journalVectors{Key: key[:], Comment: []string{
		"nuage v1 journal vectors (docs/spec.md §9). Hex is lowercase.",
		"entries: entry hash = SHA-256(\"nuage-entry-v1\" || 0x00 || LP32(id) || LP32(parent or empty) || LP32(kind) || LP32(name_tag) || LP32(wrapped_key) || LP32(meta) || LP32(objects concatenated)).",
		"chain: records 1..3 sealed under key; encoding = version 0x01 || seq || prev || time || count || (op || entry || parent || hash)* || mac, mac = HMAC-SHA-256(key, \"nuage-journal-v1\" || 0x00 || all preceding bytes); hash = SHA-256(encoding) is the next record's prev.",
		"failures: apply the first `after` records of the chain, then `record` (under `key` if given): it must fail with `error`. With `latest`, a coordinator whose latest seq is `latest` is a rollback.",
		"Errors: ErrMalformed = structure; ErrMAC = does not authenticate; ErrChain = wrong seq or prev; ErrState = inconsistent with the tree; ErrRollback = history older than one seen.",
	}}
	id := func(label string) string { return hex.EncodeToString(material("entry "+label, 16)) }
	obj := func(label string) string { return hex.EncodeToString(material("object "+label, 16)) }
	ev := func(name, eid, parent, kind string, objects ...string) entryVector {
		e := entryVector{Name: name, ID: eid, Parent: parent, Kind: kind,
			WrappedKey: material("wrapped key "+name, 61), Meta: material("sealed meta "+name, 48), Objects: objects}
		if parent != "" {
			e.NameTag = material("name tag "+name, 16)
		}
		h, err := EntryHash(e.entry())
		if err != nil {
			t.Fatal(err)
		}
		e.Hash = h[:]
		return e
	}
	rootID, trashID, folderID, fileID := id("root"), id("trash"), id("folder"), id("file")
	v.Entries = []entryVector{
		ev("root folder", rootID, "", "folder"),
		ev("trash folder", trashID, "", "folder"),
		ev("folder under root", folderID, rootID, "folder"),
		ev("file with two objects under the folder", fileID, folderID, "file", obj("current"), obj("older version")),
		ev("the file moved to the trash", fileID, trashID, "file", obj("current"), obj("older version")),
		ev("inline file (no objects) under root", id("inline"), rootID, "file"),
	}
	ch := func(op Op, e entryVector) Change {
		c := Change{Op: op, Entry: ID(must16(e.ID))}
		if op == Put {
			if e.Parent != "" {
				c.Parent = ID(must16(e.Parent))
			}
			c.Hash = [32]byte(e.Hash)
		}
		return c
	}
	E := v.Entries
	c := &chain{key: key}
	records := [][]Change{
		{ch(Put, E[0]), ch(Put, E[1])},
		{ch(Put, E[2]), ch(Put, E[3]), ch(Put, E[5])},
		{ch(Put, E[4]), ch(Delete, E[2])},
	}
	st := NewState()
	for _, changes := range records {
		enc := c.next(changes...)
		if err := st.Apply(enc, key); err != nil {
			t.Fatal(err)
		}
		r, err := Parse(enc)
		if err != nil {
			t.Fatal(err)
		}
		rv := recordVector{Seq: r.Seq, Prev: bytes.Clone(r.Prev[:]), Time: r.Time.Unix(), MAC: bytes.Clone(r.MAC[:]), Encoding: enc}
		h := Hash(enc)
		rv.Hash = h[:]
		for _, x := range changes {
			rv.Changes = append(rv.Changes, changeVector{opName(x.Op), bytes.Clone(x.Entry[:]), bytes.Clone(x.Parent[:]), bytes.Clone(x.Hash[:])})
		}
		rv.Entries = len(st.Entries)
		v.Chain = append(v.Chain, rv)
	}

	// Failures, built on the chain's first two records.
	rec := func(seq uint64, prev [32]byte, k [32]byte, changes ...Change) hexBytes {
		r := Record{Seq: seq, Prev: prev, Time: t0.Add(time.Hour), Changes: changes}
		return r.Seal(k)
	}
	head2 := [32]byte(v.Chain[1].Hash)
	newFile := ev("new file", id("new"), folderID, "file")
	good := rec(3, head2, key, ch(Put, newFile))
	flip := func(b []byte, i int) hexBytes { b = bytes.Clone(b); b[i] ^= 1; return b }
	other := testKey("another account's journal key")
	latest := uint64(1)
	orphan := ev("orphan", id("orphan"), id("missing folder"), "file")
	cycle := ev("folder under its own child", folderID, fileID, "folder")
	top := ev("third top-level folder", id("top"), "", "folder")
	v.Failures = []failureVector{
		{Name: "flipped MAC bit", After: 2, Record: flip(good, len(good)-1), Error: "ErrMAC"},
		{Name: "flipped hash bit", After: 2, Record: flip(good, len(good)-40), Error: "ErrMAC"},
		{Name: "another account's key", After: 2, Record: rec(3, head2, other, ch(Put, newFile)), Error: "ErrMAC"},
		{Name: "verified under the wrong key", After: 2, Key: other[:], Record: good, Error: "ErrMAC"},
		{Name: "skipped seq", After: 2, Record: rec(4, head2, key, ch(Put, newFile)), Error: "ErrChain"},
		{Name: "replayed record 2", After: 2, Record: v.Chain[1].Encoding, Error: "ErrChain"},
		{Name: "records out of order (3 before 2)", After: 1, Record: v.Chain[2].Encoding, Error: "ErrChain"},
		{Name: "wrong prev", After: 2, Record: rec(3, [32]byte(v.Chain[0].Hash), key, ch(Put, newFile)), Error: "ErrChain"},
		{Name: "rollback: latest seq below the state's", After: 2, Latest: &latest, Error: "ErrRollback"},
		{Name: "delete of an unknown entry", After: 2, Record: rec(3, head2, key, Change{Op: Delete, Entry: ID(must16(id("ghost")))}), Error: "ErrState"},
		{Name: "entry under a missing folder", After: 2, Record: rec(3, head2, key, ch(Put, orphan)), Error: "ErrState"},
		{Name: "cycle", After: 2, Record: rec(3, head2, key, ch(Put, cycle)), Error: "ErrState"},
		{Name: "parentless put after record 1", After: 2, Record: rec(3, head2, key, ch(Put, top)), Error: "ErrState"},
		{Name: "one entry changed twice", After: 2, Record: rec(3, head2, key, ch(Put, E[4]), ch(Put, E[3])), Error: "ErrState"},
		{Name: "non-empty folder deleted", After: 2, Record: rec(3, head2, key, ch(Delete, E[2])), Error: "ErrState"},
		{Name: "truncated", After: 2, Record: good[:len(good)-1], Error: "ErrMalformed"},
		{Name: "version 2", After: 2, Record: func() hexBytes { b := bytes.Clone(good); b[0] = 2; return b }(), Error: "ErrMalformed"},
		{Name: "count says 2, one change present", After: 2, Record: func() hexBytes {
			b := bytes.Clone(good)
			binary.BigEndian.PutUint32(b[49:53], 2)
			return b
		}(), Error: "ErrMalformed"},
		{Name: "unknown op 3", After: 2, Record: func() hexBytes { b := bytes.Clone(good); b[headerSize] = 3; return b }(), Error: "ErrMalformed"},
	}
	v.Writer = generateWriterVectors(t, key, st, v.Chain[len(v.Chain)-1], ev, id)
	return v
}

// generateWriterVectors continues the chain after last (state st): the
// owner creates a shared folder S and an outside folder O, grants two write
// keys for S and revokes one; a writer record under the other changes S's
// subtree; the owner then revokes that key too.
func generateWriterVectors(t *testing.T, key [32]byte, st *State, last recordVector,
	ev func(name, eid, parent, kind string, objects ...string) entryVector, id func(string) string) *writerVectors {
	w := &writerVectors{Comment: []string{
		"Write keys and writer records (docs/spec.md §9), continuing the chain above under the same journal key.",
		"write_keys: write key = HKDF-SHA-256(ikm = journal key, salt = key ID, info = \"nuage v1 share write\").",
		"chain: owner records (version 0x01) may carry op 3 grant (entry = key ID, parent = shared folder, hash zero) and op 4 revoke (entry = key ID, parent and hash zero). A writer record (key_id set) is version 0x02 || seq || prev || time || key ID || count || changes || mac, mac = HMAC-SHA-256(write key, \"nuage-journal-v2\" || 0x00 || all preceding bytes).",
		"failures: apply the whole chain above, then the first `after` records of this chain, then `record` (verified with the journal `key` if given, else the vector key, from which write keys are derived): it must fail with `error`.",
		"Errors: as above; ErrWriteKey = a writer record whose key ID is not an active write key (never granted, or revoked).",
	}}
	keyActive, keyRevoked, keyNever := ID(material("write key id active", 16)), ID(material("write key id revoked", 16)), ID(material("write key id never granted", 16))
	for _, k := range []struct {
		name string
		id   ID
	}{{"active, then revoked by the last record", keyActive}, {"revoked", keyRevoked}, {"never granted", keyNever}} {
		wk := WriteKey(key, k.id)
		w.WriteKeys = append(w.WriteKeys, writeKeyVector{Name: k.name, KeyID: bytes.Clone(k.id[:]), WriteKey: wk[:]})
	}
	root := id("root")
	if e, ok := st.Entries[ID(must16(root))]; !ok || e.Parent != (ID{}) {
		t.Fatal("no root folder in the chain's state")
	}
	sID, gID, dID, oID, yID := id("shared"), id("shared/sub"), id("shared/sub/doc"), id("outside"), id("outside/file")
	nID, hID, mID := id("shared/new"), id("shared/newdir"), id("shared/newdir/file")
	w.Entries = []entryVector{
		ev("shared folder S under root", sID, root, "folder"),
		ev("folder G under S", gID, sID, "folder"),
		ev("file D under G", dID, gID, "file", id("object of D")),
		ev("folder O under root (outside S)", oID, root, "folder"),
		ev("file Y under O", yID, oID, "file"),
		ev("new file N under S (by the writer)", nID, sID, "file"),
		ev("new folder H under S (by the writer)", hID, sID, "folder"),
		ev("new file M under H (by the writer)", mID, hID, "file"),
		ev("folder G renamed (by the writer)", gID, sID, "folder"),
		ev("a file under O (by the writer)", id("outside/new"), oID, "file"),
		ev("Y moved under S (by the writer)", yID, sID, "file"),
		ev("D moved under O (by the writer)", dID, oID, "file", id("object of D")),
		ev("S rewritten (by the writer)", sID, root, "folder"),
		ev("a top-level folder (by the writer)", id("top"), "", "folder"),
	}
	E := w.Entries
	put := func(e entryVector) Change {
		c := Change{Op: Put, Entry: ID(must16(e.ID)), Hash: [32]byte(e.Hash)}
		if e.Parent != "" {
			c.Parent = ID(must16(e.Parent))
		}
		return c
	}
	del := func(e entryVector) Change { return Change{Op: Delete, Entry: ID(must16(e.ID))} }
	grant := func(k ID, folder string) Change { return Change{Op: Grant, Entry: k, Parent: ID(must16(folder))} }
	revoke := func(k ID) Change { return Change{Op: Revoke, Entry: k} }

	type step struct {
		keyID   ID
		changes []Change
	}
	steps := []step{
		{ID{}, []Change{put(E[0]), put(E[1]), put(E[2]), put(E[3]), put(E[4])}},
		{ID{}, []Change{grant(keyActive, sID), grant(keyRevoked, sID)}},
		{ID{}, []Change{revoke(keyRevoked)}},
		{keyActive, []Change{put(E[5]), put(E[6]), put(E[7]), put(E[8]), del(E[2])}},
		{ID{}, []Change{revoke(keyActive)}},
	}
	seq, head := last.Seq, [32]byte(last.Hash)
	tm := time.Unix(last.Time, 0)
	heads := []([32]byte){head}
	for _, x := range steps {
		seq++
		tm = tm.Add(time.Minute)
		r := Record{Seq: seq, Prev: head, Time: tm, KeyID: x.keyID, Changes: x.changes}
		k := key
		if r.Writer() {
			k = WriteKey(key, r.KeyID)
		}
		enc := r.Seal(k)
		if err := st.Apply(enc, key); err != nil {
			t.Fatalf("writer chain seq %d: %v", seq, err)
		}
		rv := recordVector{Seq: seq, Prev: bytes.Clone(head[:]), Time: tm.Unix(), MAC: bytes.Clone(r.MAC[:]), Encoding: enc}
		if r.Writer() {
			rv.KeyID = bytes.Clone(r.KeyID[:])
		}
		head = Hash(enc)
		heads = append(heads, head)
		rv.Hash = bytes.Clone(head[:])
		for _, c := range x.changes {
			rv.Changes = append(rv.Changes, changeVector{opName(c.Op), bytes.Clone(c.Entry[:]), bytes.Clone(c.Parent[:]), bytes.Clone(c.Hash[:])})
		}
		rv.Entries = len(st.Entries)
		w.Chain = append(w.Chain, rv)
	}

	// Failures at seq base+4, after the owner's three records (the writer
	// record's place), unless said otherwise.
	const after = 3
	seq4, prev4 := last.Seq+4, heads[after]
	at := tm.Add(time.Hour)
	owner := func(changes ...Change) hexBytes {
		r := Record{Seq: seq4, Prev: prev4, Time: at, Changes: changes}
		return r.Seal(key)
	}
	writerWith := func(keyID ID, sealKey [32]byte, changes ...Change) hexBytes {
		r := Record{Seq: seq4, Prev: prev4, Time: at, KeyID: keyID, Changes: changes}
		return r.Seal(sealKey)
	}
	writer := func(changes ...Change) hexBytes { return writerWith(keyActive, WriteKey(key, keyActive), changes...) }
	good := writer(put(E[5]))
	flip := func(b []byte, i int) hexBytes { b = bytes.Clone(b); b[i] ^= 1; return b }
	other := testKey("another account's journal key")
	// zeroKey is a version 2 record without a key ID, MACed as a writer record would be.
	zeroKey := func() hexBytes {
		b := bytes.Clone(good)
		clear(b[49:65])
		m := mac(WriteKey(key, ID{}), b[:len(b)-macSize])
		copy(b[len(b)-macSize:], m[:])
		return b
	}()
	w.Failures = []failureVector{
		{Name: "writer: flipped MAC bit", After: after, Record: flip(good, len(good)-1), Error: "ErrMAC"},
		{Name: "writer: flipped key ID bit (names a key never granted)", After: after, Record: flip(good, 60), Error: "ErrWriteKey"},
		{Name: "writer: sealed with the journal key, not the write key", After: after, Record: writerWith(keyActive, key, put(E[5])), Error: "ErrMAC"},
		{Name: "writer: sealed with another key's write key", After: after, Record: writerWith(keyActive, WriteKey(key, keyRevoked), put(E[5])), Error: "ErrMAC"},
		{Name: "writer: verified with another account's journal key", After: after, Key: other[:], Record: good, Error: "ErrMAC"},
		{Name: "writer: revoked key", After: after, Record: writerWith(keyRevoked, WriteKey(key, keyRevoked), put(E[5])), Error: "ErrWriteKey"},
		{Name: "writer: never-granted key", After: after, Record: writerWith(keyNever, WriteKey(key, keyNever), put(E[5])), Error: "ErrWriteKey"},
		{Name: "writer: key used after its revocation", After: len(steps), Record: func() hexBytes {
			r := Record{Seq: seq, Prev: head, Time: at, KeyID: keyActive, Changes: []Change{put(E[5])}}
			return r.Seal(WriteKey(key, keyActive))
		}(), Error: "ErrWriteKey"},
		{Name: "writer: wrong seq", After: after, Record: func() hexBytes {
			r := Record{Seq: seq4 + 1, Prev: prev4, Time: at, KeyID: keyActive, Changes: []Change{put(E[5])}}
			return r.Seal(WriteKey(key, keyActive))
		}(), Error: "ErrChain"},
		{Name: "writer: puts the shared folder itself", After: after, Record: writer(put(E[12])), Error: "ErrState"},
		{Name: "writer: puts under a folder outside the shared folder", After: after, Record: writer(put(E[9])), Error: "ErrState"},
		{Name: "writer: moves an outside entry into the shared folder", After: after, Record: writer(put(E[10])), Error: "ErrState"},
		{Name: "writer: moves an entry out of the shared folder", After: after, Record: writer(put(E[11])), Error: "ErrState"},
		{Name: "writer: deletes the shared folder (with everything under it)", After: after, Record: writer(del(E[2]), del(E[1]), del(E[0])), Error: "ErrState"},
		{Name: "writer: deletes an entry outside the shared folder", After: after, Record: writer(del(E[4])), Error: "ErrState"},
		{Name: "writer: puts a top-level folder", After: after, Record: writer(put(E[13])), Error: "ErrState"},
		{Name: "writer: puts a file into a folder the record creates after it", After: after, Record: writer(put(E[7]), put(E[6])), Error: "ErrState"},
		{Name: "writer: grant in a writer record", After: after, Record: writer(put(E[5]), grant(keyNever, sID)), Error: "ErrMalformed"},
		{Name: "writer: revoke in a writer record", After: after, Record: writer(revoke(keyActive)), Error: "ErrMalformed"},
		{Name: "writer: version 2 with a zero key ID", After: after, Record: zeroKey, Error: "ErrMalformed"},
		{Name: "version 3", After: after, Record: func() hexBytes { b := bytes.Clone(good); b[0] = 3; return b }(), Error: "ErrMalformed"},
		{Name: "grant of an active key ID", After: after, Record: owner(grant(keyActive, gID)), Error: "ErrState"},
		{Name: "grant of a revoked key ID", After: after, Record: owner(grant(keyRevoked, sID)), Error: "ErrState"},
		{Name: "grant for a top-level folder", After: after, Record: owner(grant(keyNever, root)), Error: "ErrState"},
		{Name: "grant for a missing folder", After: after, Record: owner(grant(keyNever, id("missing folder"))), Error: "ErrState"},
		{Name: "revoke of an unknown key", After: after, Record: owner(revoke(keyNever)), Error: "ErrState"},
		{Name: "revoke of a revoked key", After: after, Record: owner(revoke(keyRevoked)), Error: "ErrState"},
		{Name: "grant carrying a hash", After: after, Record: owner(Change{Op: Grant, Entry: keyNever, Parent: ID(must16(sID)), Hash: [32]byte(E[0].Hash)}), Error: "ErrMalformed"},
		{Name: "grant without a folder", After: after, Record: owner(Change{Op: Grant, Entry: keyNever}), Error: "ErrMalformed"},
		{Name: "revoke naming a folder", After: after, Record: owner(Change{Op: Revoke, Entry: keyActive, Parent: ID(must16(sID))}), Error: "ErrMalformed"},
		{Name: "one key granted and revoked in one record", After: after, Record: owner(grant(keyNever, sID), revoke(keyNever)), Error: "ErrMalformed"},
		{Name: "unknown op 5", After: after, Record: owner(Change{Op: 5, Entry: keyNever}), Error: "ErrMalformed"},
	}
	return w
}

func must16(s string) [16]byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		panic("bad ID " + s)
	}
	return [16]byte(b)
}

func TestVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(generateVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(vectorFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	var v journalVectors
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if len(v.Key) != 32 || len(v.Entries) == 0 || len(v.Chain) != 3 || len(v.Failures) == 0 {
		t.Fatal("a vector section is empty")
	}
	w := v.Writer
	if w == nil || len(w.WriteKeys) == 0 || len(w.Entries) == 0 || len(w.Chain) == 0 || len(w.Failures) == 0 {
		t.Fatal("a writer vector section is empty")
	}
	key := [32]byte(v.Key)
	for _, e := range append(append([]entryVector(nil), v.Entries...), w.Entries...) {
		h, err := EntryHash(e.entry())
		if err != nil {
			t.Fatalf("entry %s: %v", e.Name, err)
		}
		if !bytes.Equal(h[:], e.Hash) {
			t.Errorf("entry %s: hash %x, want %x", e.Name, h, e.Hash)
		}
	}
	for _, k := range w.WriteKeys {
		if got := WriteKey(key, ID(k.KeyID)); !bytes.Equal(got[:], k.WriteKey) {
			t.Errorf("write key %s: %x, want %x", k.Name, got, []byte(k.WriteKey))
		}
	}

	s := NewState()
	checkChain(t, s, key, v.Chain)
	checkChain(t, s, key, w.Chain)
	if len(s.WriteKeys) != 0 || len(s.Granted) != 2 {
		t.Fatalf("after the writer chain: %d active keys, %d granted; want 0, 2", len(s.WriteKeys), len(s.Granted))
	}

	for _, f := range v.Failures {
		t.Run(f.Name, func(t *testing.T) { checkFailure(t, key, v.Chain[:f.After], f) })
	}
	for _, f := range w.Failures {
		t.Run(f.Name, func(t *testing.T) {
			checkFailure(t, key, append(append([]recordVector(nil), v.Chain...), w.Chain[:f.After]...), f)
		})
	}

	// The file must be exactly what the generator writes, so a change of
	// format or of a vector is a deliberate -update, never silent drift.
	gen, err := json.MarshalIndent(generateVectors(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(gen, '\n'), raw) {
		t.Fatalf("%s differs from the generator; rerun with -update if the change is intended", vectorFile)
	}
}

// checkChain rebuilds each record of chain from its fields, checks its
// encoding, MAC and hash, and applies it to s, which must be at the record
// before the chain's first.
func checkChain(t *testing.T, s *State, key [32]byte, chain []recordVector) {
	t.Helper()
	for _, rv := range chain {
		r := Record{Seq: rv.Seq, Prev: [32]byte(rv.Prev), Time: time.Unix(rv.Time, 0)}
		if rv.KeyID != nil {
			r.KeyID = ID(rv.KeyID)
		}
		for _, c := range rv.Changes {
			r.Changes = append(r.Changes, Change{Op: opByName(t, c.Op), Entry: ID(c.Entry), Parent: ID(c.Parent), Hash: [32]byte(c.Hash)})
		}
		if r.Seq != s.Seq+1 || r.Prev != s.Head {
			t.Fatalf("record %d: seq or prev does not follow the previous record", rv.Seq)
		}
		k := key
		if r.Writer() {
			k = WriteKey(key, r.KeyID)
		}
		enc := r.Seal(k)
		if !bytes.Equal(enc, rv.Encoding) {
			t.Fatalf("record %d: encoding\n got %x\nwant %x", rv.Seq, enc, []byte(rv.Encoding))
		}
		if !bytes.Equal(r.MAC[:], rv.MAC) {
			t.Fatalf("record %d: MAC differs", rv.Seq)
		}
		if h := Hash(enc); !bytes.Equal(h[:], rv.Hash) {
			t.Fatalf("record %d: hash differs", rv.Seq)
		}
		if err := s.Apply(rv.Encoding, key); err != nil {
			t.Fatalf("record %d: %v", rv.Seq, err)
		}
		if len(s.Entries) != rv.Entries {
			t.Fatalf("record %d: %d entries after, want %d", rv.Seq, len(s.Entries), rv.Entries)
		}
	}
}

// checkFailure applies prefix, then f, which must fail as f.Error says and
// leave the state unchanged.
func checkFailure(t *testing.T, key [32]byte, prefix []recordVector, f failureVector) {
	t.Helper()
	want, ok := errorNames[f.Error]
	if !ok {
		t.Fatalf("unknown error name %q", f.Error)
	}
	s := NewState()
	for _, rv := range prefix {
		if err := s.Apply(rv.Encoding, key); err != nil {
			t.Fatal(err)
		}
	}
	if f.Latest != nil {
		if err := s.CheckLatest(*f.Latest); !errors.Is(err, want) {
			t.Fatalf("got %v, want %s", err, f.Error)
		}
		return
	}
	k := key
	if f.Key != nil {
		k = [32]byte(f.Key)
	}
	before := encodeState(t, s)
	if err := s.Apply(f.Record, k); !errors.Is(err, want) {
		t.Fatalf("got %v, want %s", err, f.Error)
	}
	if !bytes.Equal(encodeState(t, s), before) {
		t.Fatal("a refused record changed the state")
	}
}
