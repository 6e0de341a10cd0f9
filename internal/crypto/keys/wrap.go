package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"
)

// Purposes of key wraps (docs/spec.md §2.1).
const (
	// PurposeMaster wraps the master key under the KEK; the object is the
	// account ID.
	PurposeMaster = "master"
	// PurposeEntryKey wraps a folder's or file's key under its parent's
	// key (the master key for the root folder); the object is
	// EntryObject(entry ID, parent ID).
	PurposeEntryKey = "entry-key"
)

// Key wrap layout (version 1).
const (
	WrapVersion = 0x01
	NonceSize   = 12
	TagSize     = 16
	// WrapSize is the length of every version-1 wrap.
	WrapSize = 1 + NonceSize + Size + TagSize
)

const (
	wrapADPrefix = "nuage-wrap-v1"
	maxLP        = 1<<16 - 1 // LP(x) needs len(x) < 65536
	maxLabel     = 255
)

// EntryObject returns the wrap object of an entry key: entry ID || parent
// ID, so that an entry's wrapped key cannot be moved under another parent
// or swapped with another entry's.
func EntryObject(entryID, parentID []byte) []byte {
	o := make([]byte, 0, len(entryID)+len(parentID))
	return append(append(o, entryID...), parentID...)
}

// Wrap seals key k under the wrapping key w with a random nonce, binding it
// to purpose, owner (the account ID) and object (see PurposeMaster,
// PurposeEntryKey). The result is WrapSize bytes.
func Wrap(w, k Key, purpose string, owner, object []byte) ([]byte, error) {
	var nonce [NonceSize]byte
	if _, err := io.ReadFull(rand.Reader, nonce[:]); err != nil {
		return nil, fmt.Errorf("keys: random nonce: %w", err)
	}
	return wrapWithNonce(w, k, purpose, owner, object, nonce)
}

// wrapWithNonce is Wrap with an explicit nonce, for test vectors. A nonce
// must never be reused under the same wrapping key.
func wrapWithNonce(w, k Key, purpose string, owner, object []byte, nonce [NonceSize]byte) ([]byte, error) {
	ad, err := wrapAD(purpose, owner, object)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(w)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+NonceSize, WrapSize)
	out[0] = WrapVersion
	copy(out[1:], nonce[:])
	return aead.Seal(out, nonce[:], k[:], ad), nil
}

// Unwrap opens a wrap made by Wrap with the same wrapping key, purpose,
// owner and object. It fails with ErrMalformed for a wrap of the wrong
// length or version, and with an error matching ErrAuth, which names the
// purpose, if the wrap does not authenticate (wrong key, or a wrap that was
// tampered with or belongs to another purpose, owner or object). On error
// it returns the zero Key.
func Unwrap(w Key, wrapped []byte, purpose string, owner, object []byte) (Key, error) {
	if len(wrapped) != WrapSize {
		return Key{}, fmt.Errorf("%w: key wrap is %d bytes, want %d", ErrMalformed, len(wrapped), WrapSize)
	}
	if wrapped[0] != WrapVersion {
		return Key{}, fmt.Errorf("%w: key wrap version %d, want %d", ErrMalformed, wrapped[0], WrapVersion)
	}
	ad, err := wrapAD(purpose, owner, object)
	if err != nil {
		return Key{}, err
	}
	aead, err := newGCM(w)
	if err != nil {
		return Key{}, err
	}
	var k Key
	if _, err := aead.Open(k[:0], wrapped[1:1+NonceSize], wrapped[1+NonceSize:], ad); err != nil {
		return Key{}, &authError{what: "key wrap for " + purpose}
	}
	return k, nil
}

// wrapAD returns "nuage-wrap-v1" || LP(purpose) || LP(owner) || LP(object).
func wrapAD(purpose string, owner, object []byte) ([]byte, error) {
	if err := checkLabel("purpose", purpose); err != nil {
		return nil, err
	}
	if err := checkLP("owner", owner); err != nil {
		return nil, err
	}
	if err := checkLP("object", object); err != nil {
		return nil, err
	}
	ad := make([]byte, 0, len(wrapADPrefix)+6+len(purpose)+len(owner)+len(object))
	ad = append(ad, wrapADPrefix...)
	ad = appendLP(ad, []byte(purpose))
	ad = appendLP(ad, owner)
	return appendLP(ad, object), nil
}

// appendLP appends uint16(len(x)) || x. The caller checks len(x) <= maxLP.
func appendLP(b, x []byte) []byte {
	b = append(b, byte(len(x)>>8), byte(len(x)))
	return append(b, x...)
}

func checkLP(field string, x []byte) error {
	if len(x) > maxLP {
		return fmt.Errorf("%w: %s is %d bytes, at most %d fit in associated data", ErrMalformed, field, len(x), maxLP)
	}
	return nil
}

// checkLabel accepts a non-empty printable-ASCII label of at most 255 bytes
// (a purpose or an entry kind).
func checkLabel(field, s string) error {
	if s == "" || len(s) > maxLabel {
		return fmt.Errorf("%w: %s must be 1 to %d bytes, got %d", ErrMalformed, field, maxLabel, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("%w: %s %q is not printable ASCII", ErrMalformed, field, s)
		}
	}
	return nil
}

func newGCM(k Key) (cipher.AEAD, error) {
	b, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return aead, nil
}
