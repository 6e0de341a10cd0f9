package client

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/share"
)

var updateWrapVectors = flag.Bool("update-wrap-vectors", false, "regenerate testdata/keys/account-wraps.json")

var wrapVectorFile = filepath.Join("..", "testdata", "keys", "account-wraps.json")

// xb is a []byte written as lowercase hex in JSON.
type xb []byte

func (h xb) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *xb) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

type accountWrapVectors struct {
	Comment     []string            `json:"comment"`
	Derivations []derivationVector  `json:"derivations"`
	Wraps       []accountWrapVector `json:"wraps"`
	Failures    []accountWrapFail   `json:"failures"`
	KeyPairs    []keyPairVector     `json:"x25519"`
}

type derivationVector struct {
	Name string `json:"name"`
	IKM  xb     `json:"ikm"`
	Info string `json:"info"`
	Out  xb     `json:"out"`
}

type accountWrapVector struct {
	Name        string `json:"name"`
	Purpose     string `json:"purpose"`
	WrappingKey xb     `json:"wrapping_key"`
	Key         xb     `json:"key"`
	Owner       xb     `json:"owner"`
	Object      xb     `json:"object"`
	Nonce       xb     `json:"nonce"`
	Wrapped     xb     `json:"wrapped"`
}

type accountWrapFail struct {
	Name        string `json:"name"`
	Purpose     string `json:"purpose"`
	WrappingKey xb     `json:"wrapping_key"`
	Owner       xb     `json:"owner"`
	Object      xb     `json:"object"`
	Wrapped     xb     `json:"wrapped"`
	Error       string `json:"error"`
}

type keyPairVector struct {
	Private       xb     `json:"private"`
	Public        xb     `json:"public"`
	Email         string `json:"email"`
	SigningSeed   xb     `json:"signing_seed"`
	SigningPublic xb     `json:"signing_public"`
	Fingerprint   string `json:"fingerprint"`
}

func vb(label string, n int) []byte {
	var out []byte
	h := sha256.Sum256([]byte("nuage account wrap vectors: " + label))
	for len(out) < n {
		out = append(out, h[:]...)
		h = sha256.Sum256(h[:])
	}
	return out[:n:n]
}

// wrapByHand seals key under w as spec §2.1 says, with AES-GCM from the
// standard library: an implementation independent of keys.Wrap.
func wrapByHand(t *testing.T, w, key, nonce []byte, purpose string, owner, object []byte) []byte {
	t.Helper()
	lp := func(b, x []byte) []byte { return append(append(b, byte(len(x)>>8), byte(len(x))), x...) }
	ad := []byte("nuage-wrap-v1")
	ad = lp(ad, []byte(purpose))
	ad = lp(ad, owner)
	ad = lp(ad, object)
	blk, err := aes.NewCipher(w)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(blk)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte{0x01}, nonce...)
	return g.Seal(out, nonce, key, ad)
}

func genAccountWrapVectors(t *testing.T) accountWrapVectors {
	v := accountWrapVectors{Comment: []string{
		"nuage v1 wraps of the account keys beyond the password (docs/spec.md §2.1, §2.3), and the journal key (§9). Hex is lowercase.",
		"derivations: HKDF-SHA-256(ikm, empty salt, info), 32 bytes.",
		"wraps: 0x01 || nonce || AES-256-GCM(wrapping_key, nonce, key, ad = \"nuage-wrap-v1\" || LP(purpose) || LP(owner) || LP(object)).",
		"x25519: the account key pair's private half is wrapped under the master key (purpose \"x25519\", object = account ID); the Ed25519 signing seed likewise (purpose \"ed25519\"); fingerprint = first 16 bytes of SHA-256(\"nuage-fingerprint-v1\" || 0x00 || account ID || LP(email) || X25519 public || Ed25519 public), hex, groups of 4 joined by \"-\".",
		"recovery: the master key wrapped under HKDF(R, \"nuage v1 recovery kek\") (purpose \"recovery\", object = account ID).",
		"token: the master key wrapped under HKDF(S, \"nuage v1 token kek\") (purpose \"token\", object = token ID).",
		"failures: must not unwrap; ErrAuth = does not authenticate, ErrMalformed = wrong length or version.",
	}}
	account, tokenID := vb("account", 16), vb("token id", 16)
	master, recovery, secret := vb("master key", 32), vb("recovery key R", 32), vb("token secret S", 32)
	derive := func(name string, ikm []byte, info string) []byte {
		out := keys.Derive(keys.Key(ikm), nil, info)
		v.Derivations = append(v.Derivations, derivationVector{name, ikm, info, out[:]})
		return out[:]
	}
	derive("journal key", master, journalLabel)
	recKEK := derive("recovery KEK", recovery, "nuage v1 recovery kek")
	derive("recovery auth key", recovery, "nuage v1 recovery auth")
	tokKEK := derive("token KEK", secret, "nuage v1 token kek")
	derive("token auth key", secret, "nuage v1 token auth")

	priv, err := ecdh.X25519().NewPrivateKey(vb("x25519 private key", 32))
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.PublicKey().Bytes()
	seed := vb("ed25519 seed", ed25519.SeedSize)
	signPub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	const email = "vectors@example.org"
	v.KeyPairs = []keyPairVector{{priv.Bytes(), pub, email, seed, xb(signPub), share.Fingerprint([16]byte(account), email, pub, signPub)}}

	add := func(name, purpose string, w, key, object []byte) []byte {
		nonce := vb("nonce "+name, 12)
		wrapped := wrapByHand(t, w, key, nonce, purpose, account, object)
		v.Wraps = append(v.Wraps, accountWrapVector{name, purpose, w, key, account, object, nonce, wrapped})
		return wrapped
	}
	xw := add("x25519 private key under the master key", PurposeX25519, master, priv.Bytes(), account)
	add("ed25519 seed under the master key", share.PurposeSigning, master, seed, account)
	rw := add("master key under the recovery KEK", "recovery", recKEK, master, account)
	tw := add("master key under the token KEK", "token", tokKEK, master, tokenID)

	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	v.Failures = []accountWrapFail{
		{"x25519 wrap opened as the master key", keys.PurposeMaster, master, account, account, xw, "ErrAuth"},
		{"x25519 wrap opened as a recovery wrap", "recovery", master, account, account, xw, "ErrAuth"},
		{"x25519 wrap of another account", PurposeX25519, master, vb("other account", 16), account, xw, "ErrAuth"},
		{"recovery wrap opened as a token wrap", "token", recKEK, account, account, rw, "ErrAuth"},
		{"recovery wrap under the token KEK", "recovery", tokKEK, account, account, rw, "ErrAuth"},
		{"token wrap for another token ID", "token", tokKEK, account, vb("other token id", 16), tw, "ErrAuth"},
		{"token wrap opened with the account ID as object", "token", tokKEK, account, account, tw, "ErrAuth"},
		{"token wrap opened as a recovery wrap", "recovery", tokKEK, account, tokenID, tw, "ErrAuth"},
		{"flipped tag bit", "token", tokKEK, account, tokenID, flip(tw, len(tw)-1), "ErrAuth"},
		{"truncated", PurposeX25519, master, account, account, xw[:len(xw)-1], "ErrMalformed"},
	}
	return v
}

func TestAccountWrapVectors(t *testing.T) {
	if *updateWrapVectors {
		b, err := json.MarshalIndent(genAccountWrapVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(wrapVectorFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(wrapVectorFile)
	if err != nil {
		t.Fatal(err)
	}
	var v accountWrapVectors
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if len(v.Derivations) == 0 || len(v.Wraps) != 4 || len(v.Failures) == 0 || len(v.KeyPairs) == 0 {
		t.Fatal("a vector section is empty")
	}
	for _, d := range v.Derivations {
		if out := keys.Derive(keys.Key(d.IKM), nil, d.Info); !bytes.Equal(out[:], d.Out) {
			t.Errorf("%s: derived %x", d.Name, out)
		}
	}
	for _, w := range v.Wraps {
		k, err := keys.Unwrap(keys.Key(w.WrappingKey), w.Wrapped, w.Purpose, w.Owner, w.Object)
		if err != nil || !bytes.Equal(k[:], w.Key) {
			t.Errorf("%s: unwrap: %v", w.Name, err)
		}
		if again := wrapByHand(t, w.WrappingKey, w.Key, w.Nonce, w.Purpose, w.Owner, w.Object); !bytes.Equal(again, w.Wrapped) {
			t.Errorf("%s: wrap differs", w.Name)
		}
		// keys.Wrap (random nonce) produces wraps this reader opens.
		fresh, err := keys.Wrap(keys.Key(w.WrappingKey), keys.Key(w.Key), w.Purpose, w.Owner, w.Object)
		if err != nil {
			t.Fatal(err)
		}
		if k, err := keys.Unwrap(keys.Key(w.WrappingKey), fresh, w.Purpose, w.Owner, w.Object); err != nil || !bytes.Equal(k[:], w.Key) {
			t.Errorf("%s: keys.Wrap round trip: %v", w.Name, err)
		}
	}
	for _, f := range v.Failures {
		want := map[string]error{"ErrAuth": keys.ErrAuth, "ErrMalformed": keys.ErrMalformed}[f.Error]
		if want == nil {
			t.Fatalf("%s: unknown error %q", f.Name, f.Error)
		}
		k, err := keys.Unwrap(keys.Key(f.WrappingKey), f.Wrapped, f.Purpose, f.Owner, f.Object)
		if !errors.Is(err, want) || !k.IsZero() {
			t.Errorf("%s: %v, want %s", f.Name, err, f.Error)
		}
	}
	for _, kp := range v.KeyPairs {
		priv, err := ecdh.X25519().NewPrivateKey(kp.Private)
		if err != nil {
			t.Fatal(err)
		}
		signPub := ed25519.NewKeyFromSeed(kp.SigningSeed).Public().(ed25519.PublicKey)
		if !bytes.Equal(priv.PublicKey().Bytes(), kp.Public) || !bytes.Equal(signPub, kp.SigningPublic) ||
			share.Fingerprint([16]byte(vb("account", 16)), kp.Email, kp.Public, kp.SigningPublic) != kp.Fingerprint {
			t.Errorf("x25519 key pair or fingerprint differs")
		}
	}
	// The file is exactly what the generator writes.
	gen, err := json.MarshalIndent(genAccountWrapVectors(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(gen, '\n'), raw) {
		t.Fatalf("%s differs from the generator; rerun with -update-wrap-vectors if the change is intended", wrapVectorFile)
	}
}

// TestFingerprintFormat spells the fingerprint out by hand (spec §2.3).
func TestFingerprintFormat(t *testing.T) {
	acct, x, ed := vb("some account", 16), vb("some public key", 32), vb("some signing key", 32)
	const email = "someone@example.org"
	msg := append([]byte("nuage-fingerprint-v1\x00"), acct...)
	msg = append(msg, 0, byte(len(email)))
	msg = append(append(append(msg, email...), x...), ed...)
	sum := sha256.Sum256(msg)
	h := hex.EncodeToString(sum[:16])
	want := h[0:4] + "-" + h[4:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:24] + "-" + h[24:28] + "-" + h[28:32]
	if got := share.Fingerprint([16]byte(acct), email, x, ed); got != want {
		t.Fatalf("Fingerprint = %q, want %q", got, want)
	}
}
