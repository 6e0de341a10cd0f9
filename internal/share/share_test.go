package share

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// party is an account's sharing keys.
type party struct {
	id   [16]byte
	x    *ecdh.PrivateKey
	sign ed25519.PrivateKey
}

func newParty(t testing.TB, b byte) party {
	t.Helper()
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, s, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return party{id: [16]byte{b, b, b}, x: x, sign: s}
}

func (p party) signPub() ed25519.PublicKey { return p.sign.Public().(ed25519.PublicKey) }

func samplePayload(owner, recipient party, level Level) Payload {
	p := Payload{
		ShareID:   [16]byte{0x5a, 1, 2, 3},
		Owner:     owner.id,
		Recipient: recipient.id,
		Root:      [16]byte{0xf0, 0x1d},
		Level:     level,
		Epoch:     7,
		Name:      "Photos 2026 ☀",
	}
	for i := range p.RootKey {
		p.RootKey[i] = byte(i + 1)
	}
	if level == ReadWrite {
		p.WriteKeyID = [16]byte{0x1d, 9}
		for i := range p.WriteKey {
			p.WriteKey[i] = byte(0x80 + i)
		}
	}
	return p
}

// sealCustom builds a sealed share the way Seal does but without its
// checks: preSign edits the unsigned payload, postSign the signed one, the
// HPKE info names infoIDs (share, owner, recipient), and eph, if not nil,
// is the ephemeral key (the reference HPKE) for deterministic output.
func sealCustom(p Payload, signer ed25519.PrivateKey, preSign, postSign func([]byte) []byte,
	infoIDs [3][16]byte, pub *ecdh.PublicKey, eph *ecdh.PrivateKey) []byte {
	msg := appendPayload(nil, &p)
	if preSign != nil {
		msg = preSign(msg)
	}
	signed := signPayload(msg, signer)
	if postSign != nil {
		signed = postSign(signed)
	}
	info := hpkeInfo(infoIDs[0], infoIDs[1], infoIDs[2])
	if eph != nil {
		return append([]byte{Version}, refSeal(eph, pub, info, signed)...)
	}
	return must(sealTo(signed, info, pub))
}

func idsOf(p Payload) [3][16]byte { return [3][16]byte{p.ShareID, p.Owner, p.Recipient} }

func TestSealOpen(t *testing.T) {
	owner, rcpt := newParty(t, 1), newParty(t, 2)
	for _, level := range []Level{Read, ReadWrite} {
		t.Run(level.String(), func(t *testing.T) {
			p := samplePayload(owner, rcpt, level)
			sealed, err := Seal(p, owner.sign, rcpt.x.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if want := 1 + encSize + nameOffset + 2 + len(p.Name) + sigSize + tagSize; len(sealed) != want {
				t.Fatalf("sealed share is %d bytes, want %d", len(sealed), want)
			}
			got, err := Open(sealed, rcpt.x, p.ShareID, p.Owner, p.Recipient, owner.signPub())
			if err != nil {
				t.Fatal(err)
			}
			if got != p {
				t.Fatalf("opened %+v, want %+v", got, p)
			}
			again, err := Seal(p, owner.sign, rcpt.x.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(again[1:1+encSize], sealed[1:1+encSize]) {
				t.Fatal("two seals share an ephemeral key")
			}
		})
	}
}

// TestSealFormat checks Seal's output against the reference HPKE: the
// outer version, then enc (32 bytes), then the ciphertext of the signed
// payload, as spec §11.2 lays it out.
func TestSealFormat(t *testing.T) {
	owner, rcpt := newParty(t, 1), newParty(t, 2)
	p := samplePayload(owner, rcpt, ReadWrite)
	sealed, err := Seal(p, owner.sign, rcpt.x.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != 0x01 {
		t.Fatalf("outer version %d", sealed[0])
	}
	pt, err := refOpen(rcpt.x, hpkeInfo(p.ShareID, p.Owner, p.Recipient), sealed[1:])
	if err != nil {
		t.Fatalf("the reference HPKE cannot open Seal's output: %v", err)
	}
	unsigned := appendPayload(nil, &p)
	if !bytes.Equal(pt[:len(unsigned)], unsigned) || len(pt) != len(unsigned)+sigSize {
		t.Fatal("the plaintext is not the payload followed by a signature")
	}
	if !ed25519.Verify(owner.signPub(), append([]byte("nuage-share-v1\x00"), unsigned...), pt[len(unsigned):]) {
		t.Fatal("the signature is not over \"nuage-share-v1\" || 0x00 || payload")
	}
	// And the other way: a share sealed by the reference opens with Open.
	eph, _ := ecdh.X25519().GenerateKey(rand.Reader)
	ref := sealCustom(p, owner.sign, nil, nil, idsOf(p), rcpt.x.PublicKey(), eph)
	if got, err := Open(ref, rcpt.x, p.ShareID, p.Owner, p.Recipient, owner.signPub()); err != nil || got != p {
		t.Fatalf("Open of the reference seal: %v", err)
	}
}

func TestSealRefuses(t *testing.T) {
	owner, rcpt := newParty(t, 1), newParty(t, 2)
	for _, c := range []struct {
		name string
		edit func(*Payload)
		part string
	}{
		{"level 0", func(p *Payload) { p.Level = 0 }, "level 0"},
		{"level 3", func(p *Payload) { p.Level = 3 }, "level 3"},
		{"read with write key ID", func(p *Payload) { p.Level = Read; p.WriteKey = [32]byte{} }, "read share carries"},
		{"read with write key", func(p *Payload) { p.Level = Read; p.WriteKeyID = [16]byte{} }, "read share carries"},
		{"read-write without key ID", func(p *Payload) { p.WriteKeyID = [16]byte{} }, "without a write key"},
		{"read-write without key", func(p *Payload) { p.WriteKey = [32]byte{} }, "without a write key"},
		{"empty name", func(p *Payload) { p.Name = "" }, "empty"},
		{"name with slash", func(p *Payload) { p.Name = "a/b" }, `"/"`},
		{"name with NUL", func(p *Payload) { p.Name = "a\x00b" }, "NUL"},
		{"name not UTF-8", func(p *Payload) { p.Name = "a\xffb" }, "UTF-8"},
		{"name of 256 bytes", func(p *Payload) { p.Name = strings.Repeat("n", 256) }, "at most 255"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := samplePayload(owner, rcpt, ReadWrite)
			c.edit(&p)
			sealed, err := Seal(p, owner.sign, rcpt.x.PublicKey())
			if !errors.Is(err, ErrMalformed) || sealed != nil || !strings.Contains(err.Error(), c.part) {
				t.Fatalf("Seal = %v, want ErrMalformed mentioning %q", err, c.part)
			}
		})
	}
	p := samplePayload(owner, rcpt, Read)
	p.Name = strings.Repeat("é", 127) + "a" // 255 bytes
	if _, err := Seal(p, owner.sign, rcpt.x.PublicKey()); err != nil {
		t.Fatalf("a 255-byte name: %v", err)
	}
	if _, err := Seal(p, owner.sign[:32], rcpt.x.PublicKey()); err == nil {
		t.Fatal("Seal accepted a short signing key")
	}
	if _, err := Seal(p, owner.sign, nil); err == nil {
		t.Fatal("Seal accepted a nil public key")
	}
	p256, _ := ecdh.P256().GenerateKey(rand.Reader)
	if _, err := Seal(p, owner.sign, p256.PublicKey()); err == nil {
		t.Fatal("Seal accepted a P-256 key")
	}
	sealed, _ := Seal(p, owner.sign, rcpt.x.PublicKey())
	if _, err := Open(sealed, p256, p.ShareID, p.Owner, p.Recipient, owner.signPub()); err == nil {
		t.Fatal("Open accepted a P-256 key")
	}
	if _, err := Open(sealed, rcpt.x, p.ShareID, p.Owner, p.Recipient, nil); !errors.Is(err, ErrSignature) {
		t.Fatalf("Open without a pinned signing key: %v", err)
	}
}

// TestOpenFailures covers the checks with fresh keys; the vector file
// covers them again with fixed bytes.
func TestOpenFailures(t *testing.T) {
	owner, rcpt, other := newParty(t, 1), newParty(t, 2), newParty(t, 3)
	p := samplePayload(owner, rcpt, ReadWrite)
	ids := idsOf(p)
	pub := rcpt.x.PublicKey()
	good := sealCustom(p, owner.sign, nil, nil, ids, pub, nil)
	withIDs := func(share, own, rc [16]byte) Payload {
		q := p
		q.ShareID, q.Owner, q.Recipient = share, own, rc
		return q
	}
	for _, c := range []struct {
		name     string
		sealed   []byte
		priv     *ecdh.PrivateKey
		expected [3][16]byte
		signer   ed25519.PublicKey
		want     error
	}{
		{"wrong recipient key", good, other.x, ids, owner.signPub(), ErrDecrypt},
		{"other signing key pinned", good, rcpt.x, ids, other.signPub(), ErrSignature},
		{"expected another share", good, rcpt.x, [3][16]byte{{9}, ids[1], ids[2]}, owner.signPub(), ErrDecrypt},
		{"expected another owner", good, rcpt.x, [3][16]byte{ids[0], {9}, ids[2]}, owner.signPub(), ErrDecrypt},
		{"expected another recipient", good, rcpt.x, [3][16]byte{ids[0], ids[1], {9}}, owner.signPub(), ErrDecrypt},
		{"payload names another share", sealCustom(withIDs([16]byte{9}, ids[1], ids[2]), owner.sign, nil, nil, ids, pub, nil), rcpt.x, ids, owner.signPub(), ErrMismatch},
		{"payload names another owner", sealCustom(withIDs(ids[0], [16]byte{9}, ids[2]), owner.sign, nil, nil, ids, pub, nil), rcpt.x, ids, owner.signPub(), ErrMismatch},
		{"payload names another recipient (re-sealed by a recipient)", sealCustom(withIDs(ids[0], ids[1], other.id), owner.sign, nil, nil, ids, pub, nil), rcpt.x, ids, owner.signPub(), ErrMismatch},
		{"signed by someone else", sealCustom(p, other.sign, nil, nil, ids, pub, nil), rcpt.x, ids, owner.signPub(), ErrSignature},
		{"forged with other IDs, unsigned", sealCustom(withIDs([16]byte{9}, ids[1], ids[2]), other.sign, nil, nil, ids, pub, nil), rcpt.x, ids, owner.signPub(), ErrSignature},
		{"flipped signature bit", sealCustom(p, owner.sign, nil, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ids, pub, nil), rcpt.x, ids, owner.signPub(), ErrSignature},
		{"trailing byte", sealCustom(p, owner.sign, nil, func(b []byte) []byte { return append(b, 0) }, ids, pub, nil), rcpt.x, ids, owner.signPub(), ErrMalformed},
		{"signature cut", sealCustom(p, owner.sign, nil, func(b []byte) []byte { return b[:len(b)-1] }, ids, pub, nil), rcpt.x, ids, owner.signPub(), ErrMalformed},
		{"flipped ciphertext", flip(good, 60), rcpt.x, ids, owner.signPub(), ErrDecrypt},
		{"flipped enc", flip(good, 5), rcpt.x, ids, owner.signPub(), ErrDecrypt},
		{"truncated by one", good[:len(good)-1], rcpt.x, ids, owner.signPub(), ErrDecrypt},
		{"truncated below the minimum", good[:minSealed-1], rcpt.x, ids, owner.signPub(), ErrMalformed},
		{"outer version 2", flip(good, 0), rcpt.x, ids, owner.signPub(), ErrMalformed},
		{"empty", nil, rcpt.x, ids, owner.signPub(), ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Open(c.sealed, c.priv, c.expected[0], c.expected[1], c.expected[2], c.signer)
			if !errors.Is(err, c.want) {
				t.Fatalf("Open = %v, want %v", err, c.want)
			}
			if got != (Payload{}) {
				t.Fatal("a payload returned with an error")
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x03
	return b
}

var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{4}(-[0-9a-f]{4}){7}$`)

func TestFingerprint(t *testing.T) {
	account := [16]byte{1, 2, 3}
	x := bytes.Repeat([]byte{0x11}, 32)
	e := bytes.Repeat([]byte{0x22}, 32)
	fp := Fingerprint(account, "alice@example.org", x, e)
	if !fingerprintRE.MatchString(fp) {
		t.Fatalf("fingerprint %q is not 8 groups of 4 hex digits", fp)
	}
	if Fingerprint(account, "  Alice@Example.ORG\n", x, e) != fp {
		t.Fatal("the e-mail is not normalised")
	}
	other := [16]byte{1, 2, 4}
	x2 := bytes.Repeat([]byte{0x12}, 32)
	e2 := bytes.Repeat([]byte{0x23}, 32)
	for name, got := range map[string]string{
		"account": Fingerprint(other, "alice@example.org", x, e),
		"e-mail":  Fingerprint(account, "alice@example.com", x, e),
		"X25519":  Fingerprint(account, "alice@example.org", x2, e),
		"Ed25519": Fingerprint(account, "alice@example.org", x, e2),
		"swapped": Fingerprint(account, "alice@example.org", e, x),
	} {
		if got == fp {
			t.Errorf("changing the %s does not change the fingerprint", name)
		}
	}
	for name, got := range map[string]string{
		"no signing key": Fingerprint(account, "a@b", x, nil),
		"short X25519":   Fingerprint(account, "a@b", x[:31], e),
		"huge e-mail":    Fingerprint(account, strings.Repeat("a", 1<<16), x, e),
	} {
		if got != "" {
			t.Errorf("%s: fingerprint %q, want none", name, got)
		}
	}
}

func TestSigningKey(t *testing.T) {
	master, _ := keys.NewKey()
	account := [16]byte{7}
	pub, wrapped, err := NewSigningKey(master, account)
	if err != nil {
		t.Fatal(err)
	}
	if len(pub) != ed25519.PublicKeySize || len(wrapped) != keys.WrapSize {
		t.Fatalf("pub %d bytes, wrap %d bytes", len(pub), len(wrapped))
	}
	priv, err := UnwrapSigningKey(master, wrapped, account, pub)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("m")
	if !ed25519.Verify(pub, msg, ed25519.Sign(priv, msg)) {
		t.Fatal("the unwrapped key does not sign for pub")
	}
	seed, err := keys.Unwrap(master, wrapped, "ed25519", account[:], account[:])
	if err != nil || !bytes.Equal(seed[:], priv.Seed()) {
		t.Fatal("the wrap is not the seed under purpose \"ed25519\", owner = object = account")
	}

	otherPub, otherWrapped, _ := NewSigningKey(master, account)
	wrongMaster, _ := keys.NewKey()
	for _, c := range []struct {
		name    string
		master  keys.Key
		wrapped []byte
		account [16]byte
		pub     []byte
		want    error
	}{
		{"wrong master key", wrongMaster, wrapped, account, pub, keys.ErrAuth},
		{"other account", master, wrapped, [16]byte{8}, pub, keys.ErrAuth},
		{"swapped public key", master, wrapped, account, otherPub, nil},
		{"swapped wrap", master, otherWrapped, account, pub, nil},
		{"short public key", master, wrapped, account, pub[:31], nil},
		{"truncated wrap", master, wrapped[:60], account, pub, keys.ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := UnwrapSigningKey(c.master, c.wrapped, c.account, c.pub)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("got %v, want an error (%v)", err, c.want)
			}
			if k != nil {
				t.Fatal("a key returned with an error")
			}
		})
	}
}

func TestLevelString(t *testing.T) {
	if Read.String() != "read" || ReadWrite.String() != "read-write" || Level(9).String() != "level(9)" {
		t.Fatal("Level.String")
	}
}

func BenchmarkSeal(b *testing.B) {
	owner, rcpt := newParty(b, 1), newParty(b, 2)
	p := samplePayload(owner, rcpt, ReadWrite)
	pub := rcpt.x.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Seal(p, owner.sign, pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	owner, rcpt := newParty(b, 1), newParty(b, 2)
	p := samplePayload(owner, rcpt, ReadWrite)
	sealed, err := Seal(p, owner.sign, rcpt.x.PublicKey())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(sealed, rcpt.x, p.ShareID, p.Owner, p.Recipient, owner.signPub()); err != nil {
			b.Fatal(err)
		}
	}
}
