// Package keys implements nuage's key hierarchy (docs/spec.md §2): password
// derivation with Argon2id, HKDF-separated subkeys, the authenticated key
// wrap (§2.1), entry metadata sealing (§2.2) and folder name tags.
//
// Every key has exactly one purpose, fixed by a distinct HKDF label, and
// every ciphertext is AES-256-GCM with associated data binding it to its
// owner, its object and its purpose, so a server that moves, swaps or
// alters key material is detected rather than trusted.
//
// All functions are safe for concurrent use.
package keys

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Size is the length of every key in bytes.
const Size = 32

// HKDF labels (the info strings) of docs/spec.md §2. Each label names one key
// and one purpose; none is ever reused for another.
const (
	LabelAuth    = "nuage v1 auth"
	LabelKEK     = "nuage v1 kek"
	LabelMeta    = "nuage v1 meta"
	LabelNameTag = "nuage v1 name-tag"
	verifierMsg  = "nuage v1 verifier"
)

var (
	// ErrAuth reports a ciphertext that did not authenticate: the key is
	// wrong, or the data was tampered with, moved or swapped. Errors that
	// wrap it say what failed to authenticate.
	ErrAuth = errors.New("keys: authentication failed")
	// ErrMalformed reports input of the wrong length or an unknown version.
	ErrMalformed = errors.New("keys: malformed input")
	// ErrWeakKDF reports Argon2id parameters below the minimum of the spec.
	ErrWeakKDF = errors.New("keys: KDF parameters are too weak")
	// ErrBadKDF reports Argon2id parameters that are malformed or
	// unreasonably large.
	ErrBadKDF = errors.New("keys: invalid KDF parameters")
)

// authError is an ErrAuth that says what did not authenticate.
type authError struct{ what string }

func (e *authError) Error() string {
	return "keys: " + e.what + " did not authenticate: wrong key or tampered data"
}

// Is makes errors.Is(err, ErrAuth) true.
func (e *authError) Is(target error) bool { return target == ErrAuth }

// Key is a 32-byte symmetric key. Its String, GoString and Format methods
// never print the key bytes, so keys cannot leak into logs by accident.
type Key [Size]byte

const redacted = "keys.Key(redacted)"

// NewKey returns a new random key from crypto/rand.
func NewKey() (Key, error) {
	var k Key
	if _, err := io.ReadFull(rand.Reader, k[:]); err != nil {
		return Key{}, fmt.Errorf("keys: random key: %w", err)
	}
	return k, nil
}

// KeyFromBytes returns b as a Key. It fails with ErrMalformed unless b is
// exactly Size bytes long.
func KeyFromBytes(b []byte) (Key, error) {
	var k Key
	if len(b) != Size {
		return k, fmt.Errorf("%w: key is %d bytes, want %d", ErrMalformed, len(b), Size)
	}
	copy(k[:], b)
	return k, nil
}

// String returns "keys.Key(redacted)", never the key.
func (k Key) String() string { return redacted }

// GoString returns "keys.Key(redacted)", never the key.
func (k Key) GoString() string { return redacted }

// Format implements fmt.Formatter so that no verb (%x, %d, %v, …) prints
// the key bytes.
func (k Key) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer: a key in a log record is redacted.
func (k Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// Equal reports whether k and o are the same key, in constant time.
func (k Key) Equal(o Key) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// IsZero reports whether k is all zeros (an unset key), in constant time.
func (k Key) IsZero() bool { return k.Equal(Key{}) }

// Derive returns HKDF-SHA-256(ikm=k, salt, info=label), 32 bytes. A nil or
// empty salt is HKDF's default (a block of zeros).
func Derive(k Key, salt []byte, label string) Key {
	out, err := hkdf.Key(sha256.New, k[:], salt, label, Size)
	if err != nil {
		// hkdf.Key fails only for output lengths above 255 hash blocks or,
		// in FIPS 140-only mode, secrets shorter than 112 bits; neither can
		// happen with a 32-byte key and a 32-byte output.
		panic("keys: HKDF-SHA-256 failed on a 32-byte key: " + err.Error())
	}
	var d Key
	copy(d[:], out)
	return d
}

// AuthKey returns the authentication key derived from the root secret
// (HKDF info "nuage v1 auth"). It is sent to the coordinator at login.
func AuthKey(root Key) Key { return Derive(root, nil, LabelAuth) }

// KEK returns the key-encryption key derived from the root secret (HKDF
// info "nuage v1 kek"). It wraps the master key and never leaves the client.
func KEK(root Key) Key { return Derive(root, nil, LabelKEK) }

// MetaKey returns the key that encrypts an entry's metadata (HKDF info
// "nuage v1 meta").
func MetaKey(entryKey Key) Key { return Derive(entryKey, nil, LabelMeta) }

// NameTagKey returns the key under which a folder tags its children's
// names (HKDF info "nuage v1 name-tag").
func NameTagKey(folderKey Key) Key { return Derive(folderKey, nil, LabelNameTag) }

// Verifier returns HMAC-SHA-256(key=authKey, "nuage v1 verifier"), the
// value the coordinator stores instead of the auth key.
func Verifier(authKey Key) [32]byte {
	m := hmac.New(sha256.New, authKey[:])
	m.Write([]byte(verifierMsg))
	var v [32]byte
	m.Sum(v[:0])
	return v
}

// CheckVerifier reports, in constant time, whether authKey matches the
// stored verifier.
func CheckVerifier(authKey Key, verifier []byte) bool {
	v := Verifier(authKey)
	return subtle.ConstantTimeCompare(v[:], verifier) == 1
}
