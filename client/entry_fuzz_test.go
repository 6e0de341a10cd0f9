package client

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// entryFixture is a client with keys but no coordinator, a folder under
// the root, and the trash: enough to seal and open entries.
type entryFixture struct {
	c           *Client
	root, trash *node
	dir         *node
}

func newEntryFixture(t testing.TB) *entryFixture {
	t.Helper()
	c := &Client{}
	copy(c.account[:], bytes.Repeat([]byte{7}, 16))
	copy(c.master[:], bytes.Repeat([]byte{9}, 32))
	f := &entryFixture{c: c}
	mk := func(parent *node, name string, idByte byte) *node {
		var id [16]byte
		id[0] = idByte
		key, err := keys.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.seal(id, parent, keys.KindFolder, key, &meta{Name: name, Mode: 0o700}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	f.root = mk(nil, "", 1)
	f.trash = mk(nil, trashName, 2)
	c.rootID, c.trashID = f.root.id, f.trash.id
	f.dir = mk(f.root, "photos", 3)
	return f
}

func (f *entryFixture) file(t testing.TB, name string, m meta) *node {
	t.Helper()
	m.Name = name
	var id [16]byte
	copy(id[:], name)
	key, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.c.seal(id, f.dir, keys.KindFile, key, &m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sampleContent() *content {
	return &content{Object: "00112233445566778899aabbccddeeff", Key: bytes.Repeat([]byte{1}, 32), Block: 65536, Segment: 16 << 20, K: 4, N: 6}
}

func TestOpenEntryRoundTrip(t *testing.T) {
	f := newEntryFixture(t)
	when := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	cases := map[string]meta{
		"inline":   {Size: 3, ModTime: when, Mode: 0o644, Inline: []byte("abc")},
		"empty":    {ModTime: when, Mode: 0o600, Inline: []byte{}},
		"stored":   {Size: 100000, ModTime: when, Mode: 0o644, Content: sampleContent()},
		"versions": {Size: 1, Inline: []byte("x"), Versions: []version{{Size: 100000, Content: sampleContent(), Replaced: when}, {Size: 0, Inline: []byte{}}}},
	}
	for name, m := range cases {
		n := f.file(t, name, m)
		got, err := f.c.openEntry(n.raw, f.dir)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.hash != n.hash || got.meta.Name != name || !bytes.Equal(got.meta.Inline, m.Inline) || (got.meta.Inline == nil) != (m.Inline == nil) {
			t.Fatalf("%s: opened %+v", name, got.meta)
		}
	}
	// The wire form of metadata: unpadded base64url, an empty inline file
	// still says "inline".
	plain, err := json.Marshal(&meta{Name: "e", Inline: []byte{}, Content: nil})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(plain, []byte(`"inline":""`)) {
		t.Fatalf("empty inline data is not written: %s", plain)
	}
	plain, _ = json.Marshal(sampleContent())
	if !bytes.Contains(plain, []byte(`"key":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"`)) {
		t.Fatalf("content key is not unpadded base64url: %s", plain)
	}
	var b b64
	for _, bad := range []string{`"AQE="`, `"+/+/"`, `12`} {
		if err := json.Unmarshal([]byte(bad), &b); err == nil {
			t.Errorf("b64 accepted %s", bad)
		}
	}
}

// TestOpenEntryRefusesBadMeta: metadata that authenticates but breaks the
// format's rules (a client bug, or another client's) is refused.
func TestOpenEntryRefusesBadMeta(t *testing.T) {
	f := newEntryFixture(t)
	bad := map[string]meta{
		"both content and inline":  {Size: 1, Inline: []byte("x"), Content: sampleContent()},
		"neither":                  {Size: 1},
		"inline of the wrong size": {Size: 2, Inline: []byte("x")},
		"negative size":            {Size: -1, Inline: []byte{}},
		"empty stored object":      {Content: sampleContent()},
		"trash info outside":       {Size: 1, Inline: []byte("x"), Trashed: &trashed{Parent: hex.EncodeToString(f.root.id[:]), Name: "x"}},
		"eleven versions":          {Size: 1, Inline: []byte("x"), Versions: make([]version, MaxVersions+1)},
	}
	for name, m := range bad {
		n := f.file(t, "f", m)
		if _, err := f.c.openEntry(n.raw, f.dir); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A malformed object ID cannot even be stored.
	if _, err := f.c.seal([16]byte{9}, f.dir, keys.KindFile, keys.Key{1}, &meta{Name: "h", Size: 9, Content: &content{Object: "XYZ"}}, nil); err == nil {
		t.Error("sealed an entry with a malformed object ID")
	}
	// The object list must match the metadata's.
	n := f.file(t, "g", meta{Size: 100000, Content: sampleContent()})
	raw := n.raw
	raw.Objects = []string{"ffeeddccbbaa99887766554433221100"}
	if _, err := f.c.openEntry(raw, f.dir); err == nil {
		t.Error("another object accepted")
	}
	raw.Objects = nil
	if _, err := f.c.openEntry(raw, f.dir); err == nil {
		t.Error("missing object list accepted")
	}
	// Under another folder, or with another name tag.
	if _, err := f.c.openEntry(n.raw, f.root); err == nil {
		t.Error("entry opened under another folder")
	}
	raw = n.raw
	raw.NameTag = keys.NameTag(f.dir.key, "other name")
	if _, err := f.c.openEntry(raw, f.dir); err == nil {
		t.Error("wrong name tag accepted")
	}
}

// FuzzOpenEntry: whatever the coordinator sends in an entry's fields,
// openEntry does not panic, and accepts only the entry that was sealed.
func FuzzOpenEntry(f *testing.F) {
	fx := newEntryFixture(f)
	n := fx.file(f, "seed", meta{Size: 3, Inline: []byte("abc")})
	f.Add([]byte(n.raw.ID), n.raw.NameTag, n.raw.WrappedKey, n.raw.Meta, "")
	f.Add([]byte(n.raw.ID), n.raw.NameTag, n.raw.WrappedKey, n.raw.Meta, "00112233445566778899aabbccddeeff")
	f.Fuzz(func(t *testing.T, id, tag, wrapped, sealed []byte, object string) {
		e := n.raw
		e.ID, e.NameTag, e.WrappedKey, e.Meta = string(id), tag, wrapped, sealed
		if object != "" {
			e.Objects = []string{object}
		}
		got, err := fx.c.openEntry(e, fx.dir)
		if err != nil {
			return
		}
		if got.hash != n.hash {
			t.Fatalf("accepted an entry that differs from the one sealed")
		}
	})
}

// FuzzMeta: any metadata plaintext that authenticates either is refused
// or satisfies the format's rules.
func FuzzMeta(f *testing.F) {
	fx := newEntryFixture(f)
	for _, s := range []string{
		`{"name":"a","size":3,"inline":"YWJj"}`,
		`{"name":"a","size":100000,"content":{"object":"00112233445566778899aabbccddeeff","key":"AQ","block":65536,"segment":16777216,"k":4,"n":6}}`,
		`{"name":"a","size":1,"inline":"eA","versions":[{"size":0,"mtime":"2026-11-22T10:00:00Z","inline":"","replaced":"2026-11-22T10:00:00Z"}]}`,
		`{"name":"a","inline":null}`,
	} {
		f.Add([]byte(s))
	}
	key, err := keys.NewKey()
	if err != nil {
		f.Fatal(err)
	}
	var id [16]byte
	id[0] = 0x42
	f.Fuzz(func(t *testing.T, plain []byte) {
		var m meta
		if json.Unmarshal(plain, &m) != nil || m.Name == "" || checkName(m.Name) != nil {
			return
		}
		sealed, err := keys.SealMeta(key, plain, fx.c.account[:], id[:], fx.dir.id[:], keys.KindFile)
		if err != nil {
			t.Fatal(err)
		}
		wrapped, err := keys.Wrap(fx.dir.key, key, keys.PurposeEntryKey, fx.c.account[:], keys.EntryObject(id[:], fx.dir.id[:]))
		if err != nil {
			t.Fatal(err)
		}
		e := n0(fx, id, m, wrapped, sealed)
		got, err := fx.c.openEntry(e, fx.dir)
		if err != nil {
			return
		}
		if (got.meta.Content == nil) == (got.meta.Inline == nil) || got.meta.Size < 0 || len(got.meta.Versions) > MaxVersions {
			t.Fatalf("accepted metadata that breaks the format: %s", plain)
		}
		if got.meta.Inline != nil && int64(len(got.meta.Inline)) != got.meta.Size {
			t.Fatalf("accepted inline data of the wrong size: %s", plain)
		}
	})
}

// n0 builds the stored entry for sealed metadata of m under fx.dir.
func n0(fx *entryFixture, id [16]byte, m meta, wrapped, sealed []byte) (e api.Entry) {
	e.ID = hex.EncodeToString(id[:])
	e.Parent = hex.EncodeToString(fx.dir.id[:])
	e.Kind = keys.KindFile
	e.NameTag = keys.NameTag(fx.dir.key, m.Name)
	e.WrappedKey, e.Meta = wrapped, sealed
	e.Objects = objectsOf(&m)
	return e
}

// BenchmarkOpenEntry measures what listing a folder costs per entry once
// it is fetched: unwrap the key, open and decode the metadata, check the
// name tag.
func BenchmarkOpenEntry(b *testing.B) {
	fx := newEntryFixture(b)
	n := fx.file(b, "IMG_0001.jpg", meta{Size: 3 << 20, ModTime: time.Now(), Mode: 0o644, Content: sampleContent()})
	b.SetBytes(int64(len(n.raw.Meta) + len(n.raw.WrappedKey)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fx.c.openEntry(n.raw, fx.dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealEntry measures building one stored entry (a put or a move).
func BenchmarkSealEntry(b *testing.B) {
	fx := newEntryFixture(b)
	m := meta{Name: "IMG_0001.jpg", Size: 3 << 20, ModTime: time.Now(), Mode: 0o644, Content: sampleContent()}
	n, err := fx.c.newEntry(fx.dir, keys.KindFile, &m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(n.raw.Meta) + len(n.raw.WrappedKey)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fx.c.newEntry(fx.dir, keys.KindFile, &m); err != nil {
			b.Fatal(err)
		}
	}
}
