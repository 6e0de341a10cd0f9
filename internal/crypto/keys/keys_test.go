package keys

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// testKey returns a fixed key whose bytes are all b.
func testKey(b byte) Key {
	var k Key
	for i := range k {
		k[i] = b
	}
	return k
}

func TestKeyNeverPrinted(t *testing.T) {
	k := testKey(0xab)
	type holder struct {
		Name string
		K    Key
	}
	h := holder{"x", k}
	outputs := []string{
		k.String(), k.GoString(),
		fmt.Sprintf("%v", k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k),
		fmt.Sprintf("%s", k), fmt.Sprintf("%q", k), fmt.Sprintf("%x", k),
		fmt.Sprintf("%X", k), fmt.Sprintf("%d", k), fmt.Sprintf("% x", k),
		fmt.Sprintf("%v", h), fmt.Sprintf("%+v", h), fmt.Sprintf("%#v", h),
		fmt.Sprintf("%v", &h), fmt.Sprint(k), fmt.Sprintln(k),
	}
	var logBuf bytes.Buffer
	lg := slog.New(slog.NewJSONHandler(&logBuf, nil))
	lg.Info("key", "k", k)
	lg.Info("key", slog.Any("k", k))
	var textBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&textBuf, nil)).Info("key", "k", k)
	outputs = append(outputs, logBuf.String(), textBuf.String())
	for _, out := range outputs {
		low := strings.ToLower(out)
		if strings.Contains(low, "abab") || strings.Contains(out, "171 171") || strings.Contains(out, "171,171") || strings.Contains(out, "\u00ab") || strings.Contains(out, "«") {
			t.Errorf("key bytes leaked: %q", out)
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("output %q does not say the key is redacted", out)
		}
	}
}

func TestNewKey(t *testing.T) {
	a, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if a.IsZero() || b.IsZero() || a.Equal(b) {
		t.Fatal("NewKey returned a zero or repeated key")
	}
	if !a.Equal(a) {
		t.Fatal("Equal is not reflexive")
	}
}

func TestKeyFromBytes(t *testing.T) {
	for _, n := range []int{0, 1, 31, 33, 64} {
		if _, err := KeyFromBytes(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Errorf("KeyFromBytes(%d bytes) = %v, want ErrMalformed", n, err)
		}
	}
	k := testKey(7)
	got, err := KeyFromBytes(k[:])
	if err != nil || got != k {
		t.Fatalf("KeyFromBytes = %v, %v", got == k, err)
	}
}

func TestKDFValidate(t *testing.T) {
	salt := make([]byte, SaltSize)
	tests := []struct {
		name string
		p    KDF
		want error
	}{
		{"minimum", KDF{salt, 1, 19456, 1}, nil},
		{"default", KDF{salt, 3, 65536, 4}, nil},
		{"1 GiB", KDF{salt, 1, 1 << 20, 1}, nil},
		{"max threads", KDF{salt, 1, 19456, 16}, nil},
		{"too many threads", KDF{salt, 1, 19456, 17}, ErrBadKDF},
		{"t above max", KDF{salt, 11, 19456, 1}, ErrBadKDF},
		{"t=0", KDF{salt, 0, 65536, 4}, ErrWeakKDF},
		{"m too small", KDF{salt, 3, 19455, 4}, ErrWeakKDF},
		{"m=0", KDF{salt, 3, 0, 4}, ErrWeakKDF},
		{"p=0", KDF{salt, 3, 65536, 0}, ErrWeakKDF},
		{"m above 1 GiB", KDF{salt, 3, 1<<20 + 1, 4}, ErrBadKDF},
		{"m max uint32", KDF{salt, 3, ^uint32(0), 4}, ErrBadKDF},
		{"no salt", KDF{nil, 3, 65536, 4}, ErrBadKDF},
		{"short salt", KDF{salt[:15], 3, 65536, 4}, ErrBadKDF},
		{"long salt", KDF{make([]byte, 17), 3, 65536, 4}, ErrBadKDF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.want == nil && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDefaultKDF(t *testing.T) {
	a, err := DefaultKDF()
	if err != nil {
		t.Fatal(err)
	}
	b, err := DefaultKDF()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.Time != 3 || a.MemoryKiB != 65536 || a.Threads != 4 {
		t.Fatalf("DefaultKDF = t=%d m=%d p=%d", a.Time, a.MemoryKiB, a.Threads)
	}
	if bytes.Equal(a.Salt, b.Salt) {
		t.Fatal("DefaultKDF repeated its salt")
	}
}

func TestDeriveRoot(t *testing.T) {
	p := KDF{Salt: bytes.Repeat([]byte{1}, SaltSize), Time: 1, MemoryKiB: MinMemoryKiB, Threads: 1}
	a, err := DeriveRoot([]byte("password"), p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DeriveRoot([]byte("password"), p)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(b) || a.IsZero() {
		t.Fatal("DeriveRoot is not deterministic")
	}
	c, err := DeriveRoot([]byte("passwore"), p)
	if err != nil {
		t.Fatal(err)
	}
	p2 := p
	p2.Salt = bytes.Repeat([]byte{2}, SaltSize)
	d, err := DeriveRoot([]byte("password"), p2)
	if err != nil {
		t.Fatal(err)
	}
	if a.Equal(c) || a.Equal(d) {
		t.Fatal("DeriveRoot ignores its password or salt")
	}
	weak := p
	weak.MemoryKiB = 1024
	if k, err := DeriveRoot([]byte("password"), weak); !errors.Is(err, ErrWeakKDF) || !k.IsZero() {
		t.Fatalf("DeriveRoot(weak) = %v, want ErrWeakKDF and no key", err)
	}
}

func TestLabelsSeparateKeys(t *testing.T) {
	root := testKey(9)
	derived := map[string]Key{
		"auth":     AuthKey(root),
		"kek":      KEK(root),
		"meta":     MetaKey(root),
		"name-tag": NameTagKey(root),
		"salted":   Derive(root, []byte("salt"), LabelAuth),
		"other":    AuthKey(testKey(10)),
	}
	seen := map[Key]string{root: "root"}
	for name, k := range derived {
		if prev, ok := seen[k]; ok {
			t.Errorf("%s and %s derive the same key", name, prev)
		}
		seen[k] = name
	}
	if AuthKey(root) != Derive(root, nil, "nuage v1 auth") || KEK(root) != Derive(root, []byte{}, "nuage v1 kek") {
		t.Fatal("AuthKey/KEK do not use the spec labels")
	}
}

func TestVerifier(t *testing.T) {
	ak := AuthKey(testKey(3))
	v := Verifier(ak)
	if !CheckVerifier(ak, v[:]) {
		t.Fatal("CheckVerifier rejects the right auth key")
	}
	if CheckVerifier(AuthKey(testKey(4)), v[:]) {
		t.Fatal("CheckVerifier accepts a wrong auth key")
	}
	if CheckVerifier(ak, v[:31]) || CheckVerifier(ak, nil) {
		t.Fatal("CheckVerifier accepts a truncated verifier")
	}
	if v == Verifier(testKey(3)) {
		t.Fatal("Verifier does not depend on its key")
	}
}

func TestNameTag(t *testing.T) {
	parent := testKey(5)
	nfc := "caf\u00e9.txt"
	nfd := "cafe\u0301.txt"
	a, b := NameTag(parent, nfc), NameTag(parent, nfd)
	if len(a) != NameTagSize || cap(a) != NameTagSize {
		t.Fatalf("tag length %d cap %d, want %d", len(a), cap(a), NameTagSize)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("NFC and NFD spellings of a name get different tags")
	}
	if bytes.Equal(a, NameTag(parent, "Caf\u00e9.txt")) {
		t.Fatal("different names get the same tag")
	}
	if bytes.Equal(a, NameTag(testKey(6), nfc)) {
		t.Fatal("the same name gets the same tag under different folders")
	}
	// Invalid UTF-8 must not panic and stays distinct from valid names.
	if bytes.Equal(NameTag(parent, "\xff"), NameTag(parent, "\ufffd")) {
		t.Fatal("invalid UTF-8 collides with U+FFFD")
	}
}

func TestErrorNamesFailureWithoutKey(t *testing.T) {
	// A wrap error must name what failed and never include key bytes.
	w := testKey(0xcd)
	wrapped, err := Wrap(w, testKey(0xef), PurposeEntryKey, make([]byte, 16), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Unwrap(testKey(1), wrapped, PurposeEntryKey, make([]byte, 16), make([]byte, 32))
	msg := err.Error()
	if !strings.Contains(msg, "key wrap for entry-key did not authenticate: wrong key or tampered data") {
		t.Fatalf("error %q does not say what failed", msg)
	}
	if strings.Contains(msg, "cdcd") || strings.Contains(msg, "efef") {
		t.Fatalf("error %q leaks key bytes", msg)
	}
}
