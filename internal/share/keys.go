package share

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// PurposeSigning is the wrap purpose of the account's Ed25519 seed under
// its master key; owner and object are the account ID (spec §2.3).
const PurposeSigning = "ed25519"

const fingerprintLabel = "nuage-fingerprint-v1"

// Fingerprint is spec §2.3's key fingerprint of an account:
//
//	SHA-256("nuage-fingerprint-v1" || 0x00 || account ID || LP(e-mail) || X25519 public key || Ed25519 public key)
//
// whose first 16 bytes are written as 8 groups of 4 lower-case hex digits
// joined by "-". The e-mail is normalised as the coordinator does (trimmed,
// lower-case), so the owner's and the recipient's clients agree. It returns
// "" when there is nothing to fingerprint: a public key that is not 32
// bytes (an account without a signing key yet) or an e-mail of 65536
// bytes or more.
func Fingerprint(account [16]byte, email string, x25519Pub, ed25519Pub []byte) string {
	email = strings.ToLower(strings.TrimSpace(email))
	if len(x25519Pub) != 32 || len(ed25519Pub) != ed25519.PublicKeySize || len(email) > 0xffff {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(fingerprintLabel))
	h.Write([]byte{0})
	h.Write(account[:])
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(email))))
	h.Write([]byte(email))
	h.Write(x25519Pub)
	h.Write(ed25519Pub)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var hx [32]byte
	hex.Encode(hx[:], sum[:16])
	out := make([]byte, 0, 8*5-1)
	for i := 0; i < len(hx); i += 4 {
		if i > 0 {
			out = append(out, '-')
		}
		out = append(out, hx[i:i+4]...)
	}
	return string(out)
}

// NewSigningKey makes an Ed25519 key pair for an account and wraps its
// 32-byte seed under the master key (purpose "ed25519", owner = object =
// account ID). The coordinator stores pub in clear and the wrap.
func NewSigningKey(master keys.Key, account [16]byte) (pub ed25519.PublicKey, wrapped []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("share: new signing key: %w", err)
	}
	defer clear(priv)
	seed := keys.Key(priv.Seed())
	defer clear(seed[:])
	wrapped, err = keys.Wrap(master, seed, PurposeSigning, account[:], account[:])
	if err != nil {
		return nil, nil, fmt.Errorf("share: wrap the signing key: %w", err)
	}
	return pub, wrapped, nil
}

// UnwrapSigningKey reverses NewSigningKey: it unwraps the seed under the
// master key and checks, in constant time, that it derives pub, the public
// key the coordinator stores. A wrap that does not authenticate fails with
// an error wrapping keys.ErrAuth (or keys.ErrMalformed); a seed that
// derives another public key, or a pub that is not 32 bytes, with another
// error. Either means the coordinator's copy was tampered with.
func UnwrapSigningKey(master keys.Key, wrapped []byte, account [16]byte, pub []byte) (ed25519.PrivateKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("share: the stored signing public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	seed, err := keys.Unwrap(master, wrapped, PurposeSigning, account[:], account[:])
	if err != nil {
		return nil, fmt.Errorf("share: the account's signing key: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed[:])
	clear(seed[:])
	if subtle.ConstantTimeCompare(priv[ed25519.SeedSize:], pub) != 1 {
		clear(priv)
		return nil, errors.New("share: the wrapped signing key does not derive the account's stored public key")
	}
	return priv, nil
}
