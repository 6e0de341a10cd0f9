package link

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

var update = flag.Bool("update", false, "regenerate the test vector files under testdata/")

var vectorFile = filepath.Join("..", "..", "testdata", "link", "vectors.json")

// hexBytes is a []byte written as lowercase hex in JSON.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

type linkVectors struct {
	Comment      []string       `json:"comment"`
	URLs         []urlVector    `json:"urls"`
	Derive       []deriveVector `json:"derive"`
	Wraps        []wrapVector   `json:"wraps"`
	WrapFailures []wrapFailure  `json:"wrap_failures"`
}

type urlVector struct {
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	Base   string   `json:"base,omitempty"`
	ID     hexBytes `json:"id,omitempty"`
	Secret hexBytes `json:"secret,omitempty"`
	Check  hexBytes `json:"check,omitempty"`
	Page   string   `json:"page,omitempty"`
	Error  string   `json:"error,omitempty"`
}

type kdfVector struct {
	Salt hexBytes `json:"salt"`
	T    uint32   `json:"t"`
	M    uint32   `json:"m"`
	P    uint8    `json:"p"`
}

type deriveVector struct {
	Name     string     `json:"name"`
	ID       hexBytes   `json:"id"`
	Secret   hexBytes   `json:"secret"`
	Password string     `json:"password,omitempty"`
	KDF      *kdfVector `json:"kdf,omitempty"`
	P        hexBytes   `json:"p,omitempty"` // Argon2id output, the password part of the ikm
	KEK      hexBytes   `json:"kek,omitempty"`
	Auth     hexBytes   `json:"auth,omitempty"`
	Verifier hexBytes   `json:"verifier,omitempty"`
	Error    string     `json:"error,omitempty"`
}

type wrapVector struct {
	Name        string   `json:"name"`
	Purpose     string   `json:"purpose"`
	WrappingKey hexBytes `json:"wrapping_key"`
	Key         hexBytes `json:"key"`
	Owner       hexBytes `json:"owner"`
	ID          hexBytes `json:"id"`
	Target      hexBytes `json:"target,omitempty"`
	Object      hexBytes `json:"object"`
	Nonce       hexBytes `json:"nonce"`
	Wrapped     hexBytes `json:"wrapped"`
}

type wrapFailure struct {
	Name        string   `json:"name"`
	Purpose     string   `json:"purpose"`
	WrappingKey hexBytes `json:"wrapping_key"`
	Owner       hexBytes `json:"owner"`
	ID          hexBytes `json:"id"`
	Target      hexBytes `json:"target,omitempty"`
	Wrapped     hexBytes `json:"wrapped"`
	Error       string   `json:"error"`
}

var errorNames = map[string]error{
	"ErrMalformed":      ErrMalformed,
	"ErrDamaged":        ErrDamaged,
	"keys.ErrAuth":      keys.ErrAuth,
	"keys.ErrMalformed": keys.ErrMalformed,
	"keys.ErrWeakKDF":   keys.ErrWeakKDF,
	"keys.ErrBadKDF":    keys.ErrBadKDF,
}

// material returns deterministic test bytes: SHA-256("nuage link test vector: "+label)[:n].
func material(label string, n int) []byte {
	h := sha256.Sum256([]byte("nuage link test vector: " + label))
	return bytes.Clone(h[:n])
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// refCheck is the spec's check value, computed independently of check.
func refCheck(id, secret []byte) []byte {
	sum := sha256.Sum256(append(append([]byte("nuage-link-v1\x00"), id...), secret...))
	return sum[:4]
}

// refURL writes a link URL from the spec, independently of URL.String.
func refURL(base string, version byte, id, secret, chk []byte) string {
	raw := append(append([]byte{version}, secret...), chk...)
	return base + "/l/" + hex.EncodeToString(id) + "#" + base64.RawURLEncoding.EncodeToString(raw)
}

// refWrap is the spec §2.1 wrap with an explicit nonce, computed
// independently of the keys package, so the vectors are deterministic.
func refWrap(w, k []byte, purpose string, owner, object, nonce []byte) []byte {
	lp := func(b, x []byte) []byte { return append(binary.BigEndian.AppendUint16(b, uint16(len(x))), x...) }
	ad := lp(lp(lp([]byte("nuage-wrap-v1"), []byte(purpose)), owner), object)
	aead := must(cipher.NewGCM(must(aes.NewCipher(w))))
	return aead.Seal(append([]byte{0x01}, nonce...), nonce, k, ad)
}

// generateLinkVectors builds the vector file. Expected errors are written
// by hand here, not computed, so TestLinkVectors checks the code against
// them.
func generateLinkVectors() linkVectors {
	v := linkVectors{Comment: []string{
		"nuage v1 link vectors (docs/spec.md §10). Hex is lowercase; strings are UTF-8.",
		"urls: URL = base \"/l/\" hex(id) \"#\" b64url_unpadded(0x01 || secret || check), check = SHA-256(\"nuage-link-v1\" || 0x00 || id || secret)[0:4]; page is the URL without \"#\" and what follows.",
		"derive: ikm = secret || p (p empty without a password; p = Argon2id(password, salt, t, m KiB, p, 32) otherwise); kek = HKDF-SHA-256(ikm, salt = id, info \"nuage v1 link kek\"); auth = HKDF-SHA-256(ikm, salt = id, info \"nuage v1 link auth\"); verifier = HMAC-SHA-256(auth, \"nuage v1 verifier\").",
		"wraps: spec §2.1, version 0x01 || nonce || AES-256-GCM(wrapping_key, nonce, key, ad = \"nuage-wrap-v1\" || LP(purpose) || LP(owner) || LP(object)); object = id for link, link-owner, link-secret; id || target for link-target.",
		"Failures: ErrMalformed = not a link URL; ErrDamaged = check failed (mistyped or altered); keys.ErrAuth = wrap did not authenticate; keys.ErrMalformed = wrap of the wrong length or version; keys.ErrWeakKDF / keys.ErrBadKDF = refused password parameters.",
	}}

	id := material("link id", 16)
	secret := material("link secret", 32)
	chk := refCheck(id, secret)
	otherID := material("other link id", 16)
	good := refURL("https://nuage.example", 1, id, secret, chk)
	frag := good[strings.IndexByte(good, '#'):]
	page := "https://nuage.example/l/" + hex.EncodeToString(id)
	valid := func(name, base string) urlVector {
		return urlVector{Name: name, URL: refURL(base, 1, id, secret, chk), Base: base, ID: id, Secret: secret,
			Check: chk, Page: base + "/l/" + hex.EncodeToString(id)}
	}
	bad := func(name, url, err string) urlVector { return urlVector{Name: name, URL: url, Error: err} }
	flippedCheck := bytes.Clone(chk)
	flippedCheck[3] ^= 0x01
	v.URLs = []urlVector{
		valid("https", "https://nuage.example"),
		valid("http with port", "http://127.0.0.1:7000"),
		valid("path prefix", "https://example.org/nuage/v1"),
		valid("IPv6 host", "http://[::1]:7000"),
		bad("wrong scheme", "ftp://nuage.example/l/"+hex.EncodeToString(id)+frag, "ErrMalformed"),
		bad("no host", "https:///l/"+hex.EncodeToString(id)+frag, "ErrMalformed"),
		bad("prefix with trailing slash", "https://nuage.example/p//l/"+hex.EncodeToString(id)+frag, "ErrMalformed"),
		bad("upper-case hex ID", "https://nuage.example/l/"+strings.ToUpper(hex.EncodeToString(id))+frag, "ErrMalformed"),
		bad("short ID", "https://nuage.example/l/"+hex.EncodeToString(id)[:30]+frag, "ErrMalformed"),
		bad("zero ID", refURL("https://nuage.example", 1, make([]byte, 16), secret, refCheck(make([]byte, 16), secret)), "ErrMalformed"),
		bad("query string", page+"?download=1"+frag, "ErrMalformed"),
		bad("missing fragment", page, "ErrMalformed"),
		bad("empty fragment", page+"#", "ErrMalformed"),
		bad("short fragment (truncated link)", good[:len(good)-1], "ErrMalformed"),
		bad("fragment with padding", good[:len(good)-2]+"==", "ErrMalformed"),
		bad("bad base64 (standard alphabet)", page+"#+"+frag[2:], "ErrMalformed"),
		bad("wrong version byte", refURL("https://nuage.example", 2, id, secret, chk), "ErrMalformed"),
		bad("bad check (damaged)", refURL("https://nuage.example", 1, id, secret, flippedCheck), "ErrDamaged"),
		bad("secret mistyped (damaged)", refURL("https://nuage.example", 1, id, material("other secret", 32), chk), "ErrDamaged"),
		bad("ID of another link (damaged)", refURL("https://nuage.example", 1, otherID, secret, chk), "ErrDamaged"),
	}

	for _, d := range []struct {
		name, password string
		t, m           uint32
		p              uint8
	}{
		{name: "no password"},
		{"password", "correct horse battery staple", 1, keys.MinMemoryKiB, 1},
		{"non-ASCII password, p=2", "p\u00e4ssw\u00f6rd \u2603", 1, keys.MinMemoryKiB, 2},
	} {
		dv := deriveVector{Name: d.name, ID: id, Secret: secret, Password: d.password}
		var kdf *keys.KDF
		if d.password != "" {
			kdf = &keys.KDF{Salt: material("kdf salt "+d.name, keys.SaltSize), Time: d.t, MemoryKiB: d.m, Threads: d.p}
			dv.KDF = &kdfVector{kdf.Salt, d.t, d.m, d.p}
			p := must(keys.DeriveRoot([]byte(d.password), *kdf))
			dv.P = p[:]
		}
		k := must(Derive([16]byte(id), [32]byte(secret), []byte(d.password), kdf))
		ver := Verifier(k.Auth)
		dv.KEK, dv.Auth, dv.Verifier = k.KEK[:], k.Auth[:], ver[:]
		v.Derive = append(v.Derive, dv)
	}
	salt := material("kdf salt", keys.SaltSize)
	for _, f := range []struct {
		name    string
		salt    []byte
		t, m    uint32
		p       uint8
		wantErr string
	}{
		{"m below the minimum", salt, 1, keys.MinMemoryKiB - 1, 1, "keys.ErrWeakKDF"},
		{"t=0", salt, 0, keys.MinMemoryKiB, 1, "keys.ErrWeakKDF"},
		{"t above 10", salt, 11, keys.MinMemoryKiB, 1, "keys.ErrBadKDF"},
		{"m above 1 GiB", salt, 1, keys.MaxMemoryKiB + 1, 1, "keys.ErrBadKDF"},
		{"p above 16", salt, 1, keys.MinMemoryKiB, 17, "keys.ErrBadKDF"},
		{"salt of 15 bytes", salt[:15], 1, keys.MinMemoryKiB, 1, "keys.ErrBadKDF"},
	} {
		v.Derive = append(v.Derive, deriveVector{Name: f.name, ID: id, Secret: secret, Password: "pw",
			KDF: &kdfVector{f.salt, f.t, f.m, f.p}, Error: f.wantErr})
	}

	owner := material("owner account", 16)
	target := material("target entry", 16)
	kek := material("link kek", 32)
	linkKey := material("link key L", 32)
	targetKey := material("target entry key", 32)
	master := material("owner master key", 32)
	tobj := append(bytes.Clone(id), target...)
	wrap := func(name, purpose string, w, k, tgt, object []byte) wrapVector {
		nonce := material("nonce "+name, 12)
		return wrapVector{name, purpose, w, k, owner, id, tgt, object, nonce, refWrap(w, k, purpose, owner, object, nonce)}
	}
	linkW := wrap("link key under link KEK", PurposeLink, kek, linkKey, nil, id)
	targetW := wrap("target key under link key", PurposeTarget, linkKey, targetKey, target, tobj)
	ownerW := wrap("link key under owner master key", PurposeOwnerKey, master, linkKey, nil, id)
	secretW := wrap("link secret under owner master key", PurposeOwnerSecret, master, secret, nil, id)
	v.Wraps = []wrapVector{linkW, targetW, ownerW, secretW}

	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x01; return b }
	fail := func(name string, _ wrapVector, purpose string, key, ownerID, linkID, tgt, wrapped []byte, err string) wrapFailure {
		return wrapFailure{name, purpose, key, ownerID, linkID, tgt, wrapped, err}
	}
	wrongKey := material("wrong key", 32)
	v.WrapFailures = []wrapFailure{
		fail("wrong KEK (wrong password)", linkW, PurposeLink, wrongKey, owner, id, nil, linkW.Wrapped, "keys.ErrAuth"),
		fail("link key: other link ID", linkW, PurposeLink, kek, owner, otherID, nil, linkW.Wrapped, "keys.ErrAuth"),
		fail("link key: other owner", linkW, PurposeLink, kek, material("other owner", 16), id, nil, linkW.Wrapped, "keys.ErrAuth"),
		fail("target: wrong link key", targetW, PurposeTarget, wrongKey, owner, id, target, targetW.Wrapped, "keys.ErrAuth"),
		fail("target: other target ID", targetW, PurposeTarget, linkKey, owner, id, material("other target", 16), targetW.Wrapped, "keys.ErrAuth"),
		fail("target: other link ID", targetW, PurposeTarget, linkKey, owner, otherID, target, targetW.Wrapped, "keys.ErrAuth"),
		fail("target: link ID and target swapped", targetW, PurposeTarget, linkKey, owner, target, id, targetW.Wrapped, "keys.ErrAuth"),
		fail("owner key opened as owner secret (wrong purpose)", ownerW, PurposeOwnerSecret, master, owner, id, nil, ownerW.Wrapped, "keys.ErrAuth"),
		fail("owner secret opened as owner key (wrong purpose)", secretW, PurposeOwnerKey, master, owner, id, nil, secretW.Wrapped, "keys.ErrAuth"),
		fail("link key opened as owner key (wrong purpose)", linkW, PurposeOwnerKey, kek, owner, id, nil, linkW.Wrapped, "keys.ErrAuth"),
		fail("owner secret: wrong master key", secretW, PurposeOwnerSecret, wrongKey, owner, id, nil, secretW.Wrapped, "keys.ErrAuth"),
		fail("flipped ciphertext byte", linkW, PurposeLink, kek, owner, id, nil, flip(linkW.Wrapped, 20), "keys.ErrAuth"),
		fail("flipped tag byte", targetW, PurposeTarget, linkKey, owner, id, target, flip(targetW.Wrapped, keys.WrapSize-1), "keys.ErrAuth"),
		fail("flipped nonce byte", ownerW, PurposeOwnerKey, master, owner, id, nil, flip(ownerW.Wrapped, 1), "keys.ErrAuth"),
		fail("truncated", secretW, PurposeOwnerSecret, master, owner, id, nil, secretW.Wrapped[:keys.WrapSize-1], "keys.ErrMalformed"),
		fail("wrong version", linkW, PurposeLink, kek, owner, id, nil, flip(linkW.Wrapped, 0), "keys.ErrMalformed"),
	}
	return v
}

// unwrapBy calls the package's unwrap function for purpose.
func unwrapBy(t *testing.T, purpose string, w, wrapped []byte, owner, id, target []byte) ([32]byte, error) {
	t.Helper()
	k := keys.Key(w)
	o, i := [16]byte(owner), [16]byte(id)
	var out keys.Key
	var err error
	switch purpose {
	case PurposeLink:
		out, err = UnwrapLinkKey(k, wrapped, o, i)
	case PurposeTarget:
		out, err = UnwrapTarget(k, wrapped, o, i, [16]byte(target))
	case PurposeOwnerKey:
		out, err = UnwrapOwnerKey(k, wrapped, o, i)
	case PurposeOwnerSecret:
		return UnwrapOwnerSecret(k, wrapped, o, i)
	default:
		t.Fatalf("unknown purpose %q", purpose)
	}
	return [32]byte(out), err
}

// wrapBy calls the package's wrap function for purpose.
func wrapBy(t *testing.T, purpose string, w, key []byte, owner, id, target []byte) []byte {
	t.Helper()
	k, x := keys.Key(w), keys.Key(key)
	o, i := [16]byte(owner), [16]byte(id)
	var out []byte
	var err error
	switch purpose {
	case PurposeLink:
		out, err = WrapLinkKey(k, x, o, i)
	case PurposeTarget:
		out, err = WrapTarget(k, x, o, i, [16]byte(target))
	case PurposeOwnerKey:
		out, err = WrapOwnerKey(k, x, o, i)
	case PurposeOwnerSecret:
		out, err = WrapOwnerSecret(k, [32]byte(key), o, i)
	default:
		t.Fatalf("unknown purpose %q", purpose)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLinkVectors(t *testing.T) {
	if *update {
		out, err := json.MarshalIndent(generateLinkVectors(), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(vectorFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorFile, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	var v linkVectors
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if len(v.URLs) == 0 || len(v.Derive) == 0 || len(v.Wraps) == 0 || len(v.WrapFailures) == 0 {
		t.Fatal("a vector section is empty")
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

	var successes, failures int
	for _, c := range v.URLs {
		t.Run("url "+c.Name, func(t *testing.T) {
			u, err := Parse(c.URL)
			if c.Error != "" {
				failures++
				wantErr(t, err, c.Error)
				if u != (URL{}) {
					t.Fatal("value returned with an error")
				}
				return
			}
			successes++
			if err != nil {
				t.Fatal(err)
			}
			if u.Base != c.Base || !bytes.Equal(u.ID[:], c.ID) || !bytes.Equal(u.Secret[:], c.Secret) {
				t.Fatalf("parsed %q as %+v", c.URL, u)
			}
			if !bytes.Equal(refCheck(c.ID, c.Secret), c.Check) {
				t.Fatal("check field does not match the spec's formula")
			}
			if u.String() != c.URL || u.Page() != c.Page {
				t.Fatalf("String %q, Page %q", u.String(), u.Page())
			}
		})
	}
	if successes == 0 || failures == 0 {
		t.Fatal("URL vectors need both successes and failures")
	}

	for _, d := range v.Derive {
		t.Run("derive "+d.Name, func(t *testing.T) {
			var kdf *keys.KDF
			if d.KDF != nil {
				kdf = &keys.KDF{Salt: d.KDF.Salt, Time: d.KDF.T, MemoryKiB: d.KDF.M, Threads: d.KDF.P}
			}
			k, err := Derive([16]byte(d.ID), [32]byte(d.Secret), []byte(d.Password), kdf)
			if d.Error != "" {
				wantErr(t, err, d.Error)
				if k != (Keys{}) {
					t.Fatal("keys returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ver := Verifier(k.Auth)
			if !bytes.Equal(k.KEK[:], d.KEK) || !bytes.Equal(k.Auth[:], d.Auth) || !bytes.Equal(ver[:], d.Verifier) {
				t.Fatal("derived keys differ from the vector")
			}
			// The vector's p is Argon2id's output: check the formula with it.
			ikm := append(bytes.Clone(d.Secret), d.P...)
			for _, x := range []struct {
				label string
				want  []byte
			}{{"nuage v1 link kek", d.KEK}, {"nuage v1 link auth", d.Auth}} {
				if got := must(hkdf.Key(sha256.New, ikm, d.ID, x.label, 32)); !bytes.Equal(got, x.want) {
					t.Fatalf("HKDF with info %q differs", x.label)
				}
			}
		})
	}

	for _, w := range v.Wraps {
		t.Run("wrap "+w.Name, func(t *testing.T) {
			wantObj := w.ID
			if w.Purpose == PurposeTarget {
				wantObj = append(bytes.Clone(w.ID), w.Target...)
			}
			if !bytes.Equal(w.Object, wantObj) {
				t.Fatal("object field does not match the purpose's rule")
			}
			if got := refWrap(w.WrappingKey, w.Key, w.Purpose, w.Owner, w.Object, w.Nonce); !bytes.Equal(got, w.Wrapped) {
				t.Fatal("wrapped differs from the spec's formula")
			}
			k, err := unwrapBy(t, w.Purpose, w.WrappingKey, w.Wrapped, w.Owner, w.ID, w.Target)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k[:], w.Key) {
				t.Fatal("unwrapped another key")
			}
			// A fresh wrap by the package (random nonce) opens to the same key.
			fresh := wrapBy(t, w.Purpose, w.WrappingKey, w.Key, w.Owner, w.ID, w.Target)
			if len(fresh) != keys.WrapSize || bytes.Equal(fresh, w.Wrapped) {
				t.Fatal("fresh wrap has the wrong size or reuses the nonce")
			}
			if k2, err := unwrapBy(t, w.Purpose, w.WrappingKey, fresh, w.Owner, w.ID, w.Target); err != nil || k2 != k {
				t.Fatalf("fresh wrap does not open: %v", err)
			}
		})
	}
	for _, f := range v.WrapFailures {
		t.Run("wrap failure "+f.Name, func(t *testing.T) {
			k, err := unwrapBy(t, f.Purpose, f.WrappingKey, f.Wrapped, f.Owner, f.ID, f.Target)
			wantErr(t, err, f.Error)
			if k != ([32]byte{}) {
				t.Fatal("key returned with an error")
			}
		})
	}

	// The file must be exactly what the generator writes, so a change of
	// format or of a vector is a deliberate -update, never silent drift.
	gen, err := json.MarshalIndent(generateLinkVectors(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(gen, '\n'), raw) {
		t.Fatalf("%s differs from the generator; rerun with -update if the change is intended", vectorFile)
	}
}
