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
	Op     string   `json:"op"` // "put" or "delete"
	Entry  hexBytes `json:"entry"`
	Parent hexBytes `json:"parent"`
	Hash   hexBytes `json:"hash"`
}

type recordVector struct {
	Seq      uint64         `json:"seq"`
	Prev     hexBytes       `json:"prev"`
	Time     int64          `json:"time"`
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
}

func opName(o Op) string {
	if o == Put {
		return "put"
	}
	return "delete"
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
	return v
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
	key := [32]byte(v.Key)
	for _, e := range v.Entries {
		h, err := EntryHash(e.entry())
		if err != nil {
			t.Fatalf("entry %s: %v", e.Name, err)
		}
		if !bytes.Equal(h[:], e.Hash) {
			t.Errorf("entry %s: hash %x, want %x", e.Name, h, e.Hash)
		}
	}
	s := NewState()
	var head [32]byte
	for i, rv := range v.Chain {
		r := Record{Seq: rv.Seq, Prev: [32]byte(rv.Prev), Time: time.Unix(rv.Time, 0)}
		for _, c := range rv.Changes {
			op := Put
			if c.Op == "delete" {
				op = Delete
			}
			r.Changes = append(r.Changes, Change{Op: op, Entry: ID(c.Entry), Parent: ID(c.Parent), Hash: [32]byte(c.Hash)})
		}
		if r.Prev != head {
			t.Fatalf("record %d: prev is not the previous record's hash", i+1)
		}
		enc := r.Seal(key)
		if !bytes.Equal(enc, rv.Encoding) {
			t.Fatalf("record %d: encoding\n got %x\nwant %x", i+1, enc, []byte(rv.Encoding))
		}
		if !bytes.Equal(r.MAC[:], rv.MAC) {
			t.Fatalf("record %d: MAC differs", i+1)
		}
		head = Hash(enc)
		if !bytes.Equal(head[:], rv.Hash) {
			t.Fatalf("record %d: hash differs", i+1)
		}
		if err := s.Apply(rv.Encoding, key); err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		if len(s.Entries) != rv.Entries {
			t.Fatalf("record %d: %d entries after, want %d", i+1, len(s.Entries), rv.Entries)
		}
	}
	for _, f := range v.Failures {
		t.Run(f.Name, func(t *testing.T) {
			want, ok := errorNames[f.Error]
			if !ok {
				t.Fatalf("unknown error name %q", f.Error)
			}
			s := NewState()
			for _, rv := range v.Chain[:f.After] {
				if err := s.Apply(rv.Encoding, key); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if f.Latest != nil {
				err = s.CheckLatest(*f.Latest)
			} else {
				k := key
				if f.Key != nil {
					k = [32]byte(f.Key)
				}
				err = s.Apply(f.Record, k)
			}
			if !errors.Is(err, want) {
				t.Fatalf("got %v, want %s", err, f.Error)
			}
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
