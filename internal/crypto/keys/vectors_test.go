package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "regenerate the test vector files under testdata/")

var vectorFile = filepath.Join("..", "..", "..", "testdata", "keys", "vectors.json")

// hexBytes is a []byte written as lowercase hex in JSON.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

type keyVectors struct {
	Comment      []string        `json:"comment"`
	Argon2id     []argonVector   `json:"argon2id"`
	KDFChecks    []kdfCheck      `json:"kdf_checks"`
	HKDF         []hkdfVector    `json:"hkdf"`
	Wraps        []wrapVector    `json:"wraps"`
	WrapFailures []wrapFailure   `json:"wrap_failures"`
	Meta         []metaVector    `json:"meta"`
	MetaFailures []metaFailure   `json:"meta_failures"`
	NameTags     []nameTagVector `json:"name_tags"`
}

type argonVector struct {
	Password string   `json:"password"`
	Salt     hexBytes `json:"salt"`
	T        uint32   `json:"t"`
	M        uint32   `json:"m"`
	P        uint8    `json:"p"`
	Root     hexBytes `json:"root"`
	AuthKey  hexBytes `json:"auth_key"`
	KEK      hexBytes `json:"kek"`
	Verifier hexBytes `json:"verifier"`
}

type kdfCheck struct {
	Name  string   `json:"name"`
	Salt  hexBytes `json:"salt"`
	T     uint32   `json:"t"`
	M     uint32   `json:"m"`
	P     uint8    `json:"p"`
	Error string   `json:"error,omitempty"`
}

type hkdfVector struct {
	IKM  hexBytes `json:"ikm"`
	Salt hexBytes `json:"salt"`
	Info string   `json:"info"`
	Out  hexBytes `json:"out"`
}

type wrapVector struct {
	Name        string   `json:"name"`
	WrappingKey hexBytes `json:"wrapping_key"`
	Key         hexBytes `json:"key"`
	Purpose     string   `json:"purpose"`
	Owner       hexBytes `json:"owner"`
	Object      hexBytes `json:"object"`
	Nonce       hexBytes `json:"nonce"`
	Wrapped     hexBytes `json:"wrapped"`
}

type wrapFailure struct {
	Name        string   `json:"name"`
	WrappingKey hexBytes `json:"wrapping_key"`
	Purpose     string   `json:"purpose"`
	Owner       hexBytes `json:"owner"`
	Object      hexBytes `json:"object"`
	Wrapped     hexBytes `json:"wrapped"`
	Error       string   `json:"error"`
}

type metaVector struct {
	Name      string   `json:"name"`
	EntryKey  hexBytes `json:"entry_key"`
	MetaKey   hexBytes `json:"meta_key"`
	Owner     hexBytes `json:"owner"`
	Entry     hexBytes `json:"entry"`
	Parent    hexBytes `json:"parent"`
	Kind      string   `json:"kind"`
	Plaintext string   `json:"plaintext"`
	Nonce     hexBytes `json:"nonce"`
	Sealed    hexBytes `json:"sealed"`
}

type metaFailure struct {
	Name     string   `json:"name"`
	EntryKey hexBytes `json:"entry_key"`
	Owner    hexBytes `json:"owner"`
	Entry    hexBytes `json:"entry"`
	Parent   hexBytes `json:"parent"`
	Kind     string   `json:"kind"`
	Sealed   hexBytes `json:"sealed"`
	Error    string   `json:"error"`
}

type nameTagVector struct {
	ParentKey  hexBytes `json:"parent_key"`
	NameTagKey hexBytes `json:"name_tag_key"`
	Name       string   `json:"name"`
	NameHex    hexBytes `json:"name_hex"`
	Tag        hexBytes `json:"tag"`
}

var errorNames = map[string]error{
	"ErrAuth":      ErrAuth,
	"ErrMalformed": ErrMalformed,
	"ErrWeakKDF":   ErrWeakKDF,
	"ErrBadKDF":    ErrBadKDF,
}

// material returns deterministic test bytes: SHA-256("nuage test vector: "+label)[:n].
func material(label string, n int) []byte {
	h := sha256.Sum256([]byte("nuage test vector: " + label))
	return bytes.Clone(h[:n])
}

// noErr returns a function that fails t if err is not nil and returns v.
func noErr[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func vkey(label string) Key { return Key(material(label, Size)) }

func vnonce(label string) [NonceSize]byte { return [NonceSize]byte(material(label, NonceSize)) }

// must returns v, or panics if err is not nil; the test binary reports the
// panic as a failure with its stack. It keeps vector tables readable.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// generateKeyVectors builds the vector file. Expected errors are written by
// hand here, not computed, so TestKeyVectors checks the code against them.
func generateKeyVectors(t *testing.T) keyVectors {
	v := keyVectors{Comment: []string{
		"nuage v1 key hierarchy vectors (docs/spec.md §2). Hex is lowercase; strings are UTF-8.",
		"argon2id: root = Argon2id(password, salt, t, m KiB, p, 32 bytes); auth_key = HKDF(root, info \"nuage v1 auth\"); kek = HKDF(root, info \"nuage v1 kek\"); verifier = HMAC-SHA-256(auth_key, \"nuage v1 verifier\").",
		"kdf_checks: parameter validation only (nothing is derived); error names the expected failure.",
		"hkdf: HKDF-SHA-256(ikm, salt, info), 32 bytes; an empty salt is HKDF's default.",
		"wraps: version 0x01 || nonce || AES-256-GCM(wrapping_key, nonce, key, ad = \"nuage-wrap-v1\" || LP(purpose) || LP(owner) || LP(object)).",
		"meta: version 0x01 || nonce || AES-256-GCM(meta_key, nonce, plaintext, ad = \"nuage-meta-v1\" || LP(owner) || LP(entry) || LP(parent) || LP(kind)), meta_key = HKDF(entry_key, info \"nuage v1 meta\").",
		"name_tags: HMAC-SHA-256(HKDF(parent_key, info \"nuage v1 name-tag\"), NFC(name))[0:16].",
		"Failures: ErrAuth = did not authenticate; ErrMalformed = wrong length or version; ErrWeakKDF / ErrBadKDF = refused parameters.",
	}}

	for _, a := range []struct {
		password string
		t, m     uint32
		p        uint8
	}{
		{"correct horse battery staple", 1, MinMemoryKiB, 1},
		{"p\u00e4ssw\u00f6rd", 2, MinMemoryKiB, 2},
	} {
		kdf := KDF{Salt: material("argon2id salt "+a.password, SaltSize), Time: a.t, MemoryKiB: a.m, Threads: a.p}
		root := noErr[Key](t)(DeriveRoot([]byte(a.password), kdf))
		auth := AuthKey(root)
		kek := KEK(root)
		ver := Verifier(auth)
		v.Argon2id = append(v.Argon2id, argonVector{a.password, kdf.Salt, a.t, a.m, a.p, root[:], auth[:], kek[:], ver[:]})
	}

	salt := material("kdf salt", SaltSize)
	v.KDFChecks = []kdfCheck{
		{"minimum", salt, 1, 19456, 1, ""},
		{"default", salt, 3, 65536, 4, ""},
		{"maximum memory (1 GiB)", salt, 1, 1048576, 1, ""},
		{"maximum t and p", salt, 10, 19456, 16, ""},
		{"t above 10", salt, 11, 19456, 1, "ErrBadKDF"},
		{"p above 16", salt, 1, 19456, 17, "ErrBadKDF"},
		{"t=0", salt, 0, 65536, 4, "ErrWeakKDF"},
		{"m below minimum", salt, 3, 19455, 4, "ErrWeakKDF"},
		{"p=0", salt, 3, 65536, 0, "ErrWeakKDF"},
		{"m above 1 GiB", salt, 3, 1048577, 4, "ErrBadKDF"},
		{"salt 15 bytes", salt[:15], 3, 65536, 4, "ErrBadKDF"},
		{"salt 17 bytes", append(bytes.Clone(salt), 0), 3, 65536, 4, "ErrBadKDF"},
		{"no salt", nil, 3, 65536, 4, "ErrBadKDF"},
	}

	ikm := vkey("hkdf ikm")
	for _, h := range []struct {
		salt []byte
		info string
	}{
		{nil, LabelAuth}, {nil, LabelKEK}, {nil, LabelMeta}, {nil, LabelNameTag},
		{material("object id", 16), "nuage v1 content"},
	} {
		out := Derive(ikm, h.salt, h.info)
		v.HKDF = append(v.HKDF, hkdfVector{ikm[:], h.salt, h.info, out[:]})
	}

	account := material("account", 16)
	entry := material("entry", 16)
	parent := material("parent", 16)
	otherParent := material("other parent", 16)
	kek, master, entryKey := vkey("kek"), vkey("master"), vkey("entry key")
	wrapped := func(w, k Key, purpose string, owner, object []byte, nonce [NonceSize]byte) []byte {
		return must(wrapWithNonce(w, k, purpose, owner, object, nonce))
	}
	masterNonce, entryNonce := vnonce("master wrap"), vnonce("entry wrap")
	masterWrap := wrapped(kek, master, PurposeMaster, account, account, masterNonce)
	entryWrap := wrapped(master, entryKey, PurposeEntryKey, account, EntryObject(entry, parent), entryNonce)
	rootNonce := vnonce("root wrap")
	rootWrap := wrapped(master, vkey("root folder key"), PurposeEntryKey, account, EntryObject(parent, RootParentID[:]), rootNonce)
	rk := vkey("root folder key")
	v.Wraps = []wrapVector{
		{"master key under KEK", kek[:], master[:], PurposeMaster, account, account, masterNonce[:], masterWrap},
		{"entry key under parent key", master[:], entryKey[:], PurposeEntryKey, account, EntryObject(entry, parent), entryNonce[:], entryWrap},
		{"root folder key under master key (parent: 16 zero bytes)", master[:], rk[:], PurposeEntryKey, account, EntryObject(parent, RootParentID[:]), rootNonce[:], rootWrap},
	}
	flip := func(b []byte, i int, mask byte) []byte { b = bytes.Clone(b); b[i] ^= mask; return b }
	wrongKey := vkey("wrong key")
	entryObj := EntryObject(entry, parent)
	v.WrapFailures = []wrapFailure{
		{"wrong key", wrongKey[:], PurposeEntryKey, account, entryObj, entryWrap, "ErrAuth"},
		{"wrong purpose", kek[:], PurposeEntryKey, account, account, masterWrap, "ErrAuth"},
		{"wrong owner", master[:], PurposeEntryKey, material("other account", 16), entryObj, entryWrap, "ErrAuth"},
		{"wrong object (other entry)", master[:], PurposeEntryKey, account, EntryObject(material("other entry", 16), parent), entryWrap, "ErrAuth"},
		{"swapped parent", master[:], PurposeEntryKey, account, EntryObject(entry, otherParent), entryWrap, "ErrAuth"},
		{"entry and parent swapped", master[:], PurposeEntryKey, account, EntryObject(parent, entry), entryWrap, "ErrAuth"},
		{"flipped ciphertext bit", master[:], PurposeEntryKey, account, entryObj, flip(entryWrap, 20, 0x01), "ErrAuth"},
		{"flipped tag bit", master[:], PurposeEntryKey, account, entryObj, flip(entryWrap, WrapSize-1, 0x80), "ErrAuth"},
		{"flipped nonce bit", master[:], PurposeEntryKey, account, entryObj, flip(entryWrap, 1, 0x02), "ErrAuth"},
		{"truncated", master[:], PurposeEntryKey, account, entryObj, entryWrap[:WrapSize-1], "ErrMalformed"},
		{"extended", master[:], PurposeEntryKey, account, entryObj, append(bytes.Clone(entryWrap), 0), "ErrMalformed"},
		{"empty", master[:], PurposeEntryKey, account, entryObj, []byte{}, "ErrMalformed"},
		{"bad version", master[:], PurposeEntryKey, account, entryObj, flip(entryWrap, 0, 0x03), "ErrMalformed"},
	}

	fileMeta := `{"name":"a.jpg","size":1234,"mtime":"2026-11-22T10:00:00Z","mode":420,"content":{"object":"00112233445566778899aabbccddeeff","key":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8","block":65536,"segment":16777216,"k":4,"n":6}}`
	folderMeta := `{"name":"Photos","mtime":"2026-11-22T10:00:00Z","mode":493}`
	mk := MetaKey(entryKey)
	fileNonce, folderNonce := vnonce("file meta"), vnonce("folder meta")
	fileSealed := must(sealMetaWithNonce(entryKey, []byte(fileMeta), account, entry, parent, KindFile, fileNonce))
	rootMK := MetaKey(rk)
	folderSealed := must(sealMetaWithNonce(rk, []byte(folderMeta), account, parent, RootParentID[:], KindFolder, folderNonce))
	v.Meta = []metaVector{
		{"file", entryKey[:], mk[:], account, entry, parent, KindFile, fileMeta, fileNonce[:], fileSealed},
		{"root folder (parent: 16 zero bytes)", rk[:], rootMK[:], account, parent, RootParentID[:], KindFolder, folderMeta, folderNonce[:], folderSealed},
	}
	v.MetaFailures = []metaFailure{
		{"wrong key", wrongKey[:], account, entry, parent, KindFile, fileSealed, "ErrAuth"},
		{"meta key given as entry key", mk[:], account, entry, parent, KindFile, fileSealed, "ErrAuth"},
		{"wrong owner", entryKey[:], material("other account", 16), entry, parent, KindFile, fileSealed, "ErrAuth"},
		{"wrong entry", entryKey[:], account, material("other entry", 16), parent, KindFile, fileSealed, "ErrAuth"},
		{"swapped parent", entryKey[:], account, entry, otherParent, KindFile, fileSealed, "ErrAuth"},
		{"wrong kind", entryKey[:], account, entry, parent, KindFolder, fileSealed, "ErrAuth"},
		{"root given a parent", rk[:], account, parent, entry, KindFolder, folderSealed, "ErrAuth"},
		{"flipped bit", entryKey[:], account, entry, parent, KindFile, flip(fileSealed, 40, 0x10), "ErrAuth"},
		{"truncated by one byte", entryKey[:], account, entry, parent, KindFile, fileSealed[:len(fileSealed)-1], "ErrAuth"},
		{"truncated below the minimum", entryKey[:], account, entry, parent, KindFile, fileSealed[:MetaOverhead-1], "ErrMalformed"},
		{"bad version", entryKey[:], account, entry, parent, KindFile, flip(fileSealed, 0, 0x03), "ErrMalformed"},
	}

	for _, name := range []string{"a.jpg", "caf\u00e9.txt", "cafe\u0301.txt", "\u65e5\u672c\u8a9e", "A.jpg"} {
		tk := NameTagKey(rk)
		v.NameTags = append(v.NameTags, nameTagVector{rk[:], tk[:], name, []byte(name), NameTag(rk, name)})
	}
	return v
}

func TestKeyVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(generateKeyVectors(t), "", "  ")
		if err != nil {
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
	var v keyVectors
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if len(v.Argon2id) == 0 || len(v.KDFChecks) == 0 || len(v.HKDF) == 0 || len(v.Wraps) == 0 ||
		len(v.WrapFailures) == 0 || len(v.Meta) == 0 || len(v.MetaFailures) == 0 || len(v.NameTags) == 0 {
		t.Fatal("a vector section is empty")
	}
	key := func(t *testing.T, b hexBytes) Key { return noErr[Key](t)(KeyFromBytes(b)) }
	nonce := func(t *testing.T, b hexBytes) [NonceSize]byte {
		if len(b) != NonceSize {
			t.Fatalf("nonce is %d bytes", len(b))
		}
		return [NonceSize]byte(b)
	}
	wantErr := func(t *testing.T, err error, name string) {
		t.Helper()
		want, ok := errorNames[name]
		if !ok {
			t.Fatalf("unknown error name %q", name)
		}
		if !errors.Is(err, want) {
			t.Fatalf("got %v, want %s", err, name)
		}
	}

	for i, a := range v.Argon2id {
		root := noErr[Key](t)(DeriveRoot([]byte(a.Password), KDF{a.Salt, a.T, a.M, a.P}))
		auth, kek, ver := AuthKey(root), KEK(root), Verifier(AuthKey(root))
		if !bytes.Equal(root[:], a.Root) || !bytes.Equal(auth[:], a.AuthKey) || !bytes.Equal(kek[:], a.KEK) || !bytes.Equal(ver[:], a.Verifier) {
			t.Errorf("argon2id vector %d does not match", i)
		}
	}
	for _, c := range v.KDFChecks {
		err := KDF{c.Salt, c.T, c.M, c.P}.Validate()
		if c.Error == "" && err != nil {
			t.Errorf("kdf %s: %v", c.Name, err)
		} else if c.Error != "" {
			t.Run("kdf "+c.Name, func(t *testing.T) { wantErr(t, err, c.Error) })
		}
	}
	for i, h := range v.HKDF {
		out := Derive(key(t, h.IKM), h.Salt, h.Info)
		if !bytes.Equal(out[:], h.Out) {
			t.Errorf("hkdf vector %d (%s) does not match", i, h.Info)
		}
	}
	for _, w := range v.Wraps {
		got := noErr[[]byte](t)(wrapWithNonce(key(t, w.WrappingKey), key(t, w.Key), w.Purpose, w.Owner, w.Object, nonce(t, w.Nonce)))
		if !bytes.Equal(got, w.Wrapped) {
			t.Errorf("wrap %s: got %x, want %x", w.Name, got, w.Wrapped)
		}
		k := noErr[Key](t)(Unwrap(key(t, w.WrappingKey), w.Wrapped, w.Purpose, w.Owner, w.Object))
		if !bytes.Equal(k[:], w.Key) {
			t.Errorf("unwrap %s returned another key", w.Name)
		}
	}
	for _, f := range v.WrapFailures {
		t.Run("wrap "+f.Name, func(t *testing.T) {
			k, err := Unwrap(key(t, f.WrappingKey), f.Wrapped, f.Purpose, f.Owner, f.Object)
			wantErr(t, err, f.Error)
			if !k.IsZero() {
				t.Fatal("key returned with an error")
			}
		})
	}
	for _, m := range v.Meta {
		ek := key(t, m.EntryKey)
		if mk := MetaKey(ek); !bytes.Equal(mk[:], m.MetaKey) {
			t.Errorf("meta %s: meta key does not match", m.Name)
		}
		got := noErr[[]byte](t)(sealMetaWithNonce(ek, []byte(m.Plaintext), m.Owner, m.Entry, m.Parent, m.Kind, nonce(t, m.Nonce)))
		if !bytes.Equal(got, m.Sealed) {
			t.Errorf("meta %s: sealed differs", m.Name)
		}
		pt := noErr[[]byte](t)(OpenMeta(ek, m.Sealed, m.Owner, m.Entry, m.Parent, m.Kind))
		if string(pt) != m.Plaintext {
			t.Errorf("meta %s: opened %q", m.Name, pt)
		}
	}
	for _, f := range v.MetaFailures {
		t.Run("meta "+f.Name, func(t *testing.T) {
			pt, err := OpenMeta(key(t, f.EntryKey), f.Sealed, f.Owner, f.Entry, f.Parent, f.Kind)
			wantErr(t, err, f.Error)
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
		})
	}
	for _, n := range v.NameTags {
		if n.Name != string(n.NameHex) {
			t.Fatalf("name tag vector %q: name and name_hex differ", n.Name)
		}
		pk := key(t, n.ParentKey)
		if tk := NameTagKey(pk); !bytes.Equal(tk[:], n.NameTagKey) {
			t.Errorf("name tag key for %q does not match", n.Name)
		}
		if got := NameTag(pk, n.Name); !bytes.Equal(got, n.Tag) {
			t.Errorf("name tag for %q: got %x, want %x", n.Name, got, n.Tag)
		}
	}

	// The file must be exactly what the generator writes, so a change of
	// format or of a vector is a deliberate -update, never silent drift.
	gen, err := json.MarshalIndent(generateKeyVectors(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(gen, '\n'), raw) {
		t.Fatalf("%s differs from the generator; rerun with -update if the change is intended", vectorFile)
	}
}
