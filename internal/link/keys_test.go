package link

import (
	"errors"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

func testKDF() *keys.KDF {
	return &keys.KDF{Salt: make([]byte, keys.SaltSize), Time: keys.MinTime, MemoryKiB: keys.MinMemoryKiB, Threads: keys.MinThreads}
}

func TestDerive(t *testing.T) {
	id, secret := idOf(testID), testSecret
	plain, err := Derive(id, secret, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plain.KEK.Equal(plain.Auth) || plain.KEK.IsZero() || plain.Auth.IsZero() {
		t.Fatal("KEK and auth key must be distinct, non-zero keys")
	}
	if again, _ := Derive(id, secret, []byte{}, nil); again != plain {
		t.Fatal("an empty password must equal no password when the link has none")
	}
	otherID := id
	otherID[15] ^= 1
	if k, _ := Derive(otherID, secret, nil, nil); k.KEK.Equal(plain.KEK) || k.Auth.Equal(plain.Auth) {
		t.Fatal("the link ID does not salt the derivation")
	}
	otherSecret := secret
	otherSecret[0] ^= 1
	if k, _ := Derive(id, otherSecret, nil, nil); k.KEK.Equal(plain.KEK) {
		t.Fatal("the secret does not enter the derivation")
	}

	pw1, err := Derive(id, secret, []byte("one"), testKDF())
	if err != nil {
		t.Fatal(err)
	}
	pw2, err := Derive(id, secret, []byte("two"), testKDF())
	if err != nil {
		t.Fatal(err)
	}
	if pw1.KEK.Equal(plain.KEK) || pw1.KEK.Equal(pw2.KEK) || pw1.Auth.Equal(pw2.Auth) {
		t.Fatal("the password does not enter the derivation")
	}
	if Verifier(pw1.Auth) == Verifier(pw2.Auth) || Verifier(pw1.Auth) != keys.Verifier(pw1.Auth) {
		t.Fatal("verifier is not HMAC(auth, \"nuage v1 verifier\")")
	}

	for _, c := range []struct {
		name     string
		password string
		kdf      *keys.KDF
		want     error
		part     string
	}{
		{"password without KDF", "pw", nil, nil, "without one"},
		{"KDF without password", "", testKDF(), nil, "enter it"},
		{"weak KDF", "pw", &keys.KDF{Salt: make([]byte, 16), Time: 1, MemoryKiB: 1024, Threads: 1}, keys.ErrWeakKDF, "minimum"},
		{"huge KDF", "pw", &keys.KDF{Salt: make([]byte, 16), Time: 1, MemoryKiB: 1 << 22, Threads: 1}, keys.ErrBadKDF, "maximum"},
		{"no salt", "pw", &keys.KDF{Time: 1, MemoryKiB: keys.MinMemoryKiB, Threads: 1}, keys.ErrBadKDF, "salt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := Derive(id, secret, []byte(c.password), c.kdf)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.part) {
				t.Fatalf("got %v, want an error wrapping %v that mentions %q", err, c.want, c.part)
			}
			if k != (Keys{}) {
				t.Fatal("keys returned with an error")
			}
		})
	}
}

func TestWrapRoundTrip(t *testing.T) {
	u, err := New("https://h")
	if err != nil {
		t.Fatal(err)
	}
	k, err := Derive(u.ID, u.Secret, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	owner := [16]byte{1}
	target := [16]byte{2}
	master, _ := keys.NewKey()
	L, _ := keys.NewKey()
	tk, _ := keys.NewKey()

	wl, err := WrapLinkKey(k.KEK, L, owner, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := WrapTarget(L, tk, owner, u.ID, target)
	if err != nil {
		t.Fatal(err)
	}
	wo, err := WrapOwnerKey(master, L, owner, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := WrapOwnerSecret(master, u.Secret, owner, u.ID)
	if err != nil {
		t.Fatal(err)
	}

	// The opener's path: URL → keys → L → target key.
	gotL, err := UnwrapLinkKey(k.KEK, wl, owner, u.ID)
	if err != nil || !gotL.Equal(L) {
		t.Fatalf("UnwrapLinkKey: %v", err)
	}
	if got, err := UnwrapTarget(gotL, wt, owner, u.ID, target); err != nil || !got.Equal(tk) {
		t.Fatalf("UnwrapTarget: %v", err)
	}
	// The owner's path: master → L and S, rebuilding the URL.
	if got, err := UnwrapOwnerKey(master, wo, owner, u.ID); err != nil || !got.Equal(L) {
		t.Fatalf("UnwrapOwnerKey: %v", err)
	}
	s, err := UnwrapOwnerSecret(master, ws, owner, u.ID)
	if err != nil || s != u.Secret {
		t.Fatalf("UnwrapOwnerSecret: %v", err)
	}
	again := URL{Base: u.Base, ID: u.ID, Secret: s}
	if again.String() != u.String() {
		t.Fatal("the owner cannot rebuild the URL")
	}
	// One wrap cannot stand in for another.
	if _, err := UnwrapOwnerKey(master, ws, owner, u.ID); !errors.Is(err, keys.ErrAuth) {
		t.Fatalf("owner secret opened as owner key: %v", err)
	}
	if _, err := UnwrapLinkKey(master, wo, owner, u.ID); !errors.Is(err, keys.ErrAuth) {
		t.Fatalf("owner key opened as link key: %v", err)
	}
}

func BenchmarkDerive(b *testing.B) {
	id, secret := idOf(testID), testSecret
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Derive(id, secret, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	s := testBase + "/l/" + testID + "#" + fragment(Version, idOf(testID), testSecret, 0)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}
