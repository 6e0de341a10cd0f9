package link

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// HKDF labels of the link keys (docs/spec.md §10).
const (
	labelKEK  = "nuage v1 link kek"
	labelAuth = "nuage v1 link auth"
)

// Purposes of the link's key wraps (docs/spec.md §10, wraps as §2.1). The
// owner is always the owner's account ID.
const (
	// PurposeLink wraps the link key L under the link KEK; the object is
	// the link ID.
	PurposeLink = "link"
	// PurposeTarget wraps the target entry's key under L; the object is
	// link ID || target entry ID.
	PurposeTarget = "link-target"
	// PurposeOwnerKey wraps L under the owner's master key; the object is
	// the link ID.
	PurposeOwnerKey = "link-owner"
	// PurposeOwnerSecret wraps the link secret S under the owner's master
	// key; the object is the link ID.
	PurposeOwnerSecret = "link-secret"
)

// Keys are the keys derived from a link's secret and password.
type Keys struct {
	// KEK unwraps the link key L; it never leaves the client.
	KEK keys.Key
	// Auth proves knowledge of the link to the coordinator, which stores
	// only Verifier(Auth).
	Auth keys.Key
}

// Derive computes the link KEK and auth key:
//
//	ikm  = S || P
//	KEK  = HKDF-SHA-256(ikm, salt = link ID, info = "nuage v1 link kek")
//	auth = HKDF-SHA-256(ikm, salt = link ID, info = "nuage v1 link auth")
//
// kdf nil means the link has no password: P is empty and password must be
// empty too. Otherwise kdf is validated against the §2 bounds (a hostile
// coordinator's prelude cannot make the derivation weak or huge; errors
// wrap keys.ErrWeakKDF or keys.ErrBadKDF), password must not be empty, and
// P = Argon2id(password, kdf). The Argon2id step uses kdf.MemoryKiB of
// memory and cannot be interrupted.
func Derive(id [16]byte, secret [32]byte, password []byte, kdf *keys.KDF) (Keys, error) {
	var ikm [len(secret) + keys.Size]byte
	defer clear(ikm[:])
	copy(ikm[:], secret[:])
	n := len(secret)
	if kdf == nil {
		if len(password) != 0 {
			return Keys{}, errors.New("link: a password was given for a link without one")
		}
	} else {
		if len(password) == 0 {
			return Keys{}, errors.New("link: the link has a password: enter it")
		}
		p, err := keys.DeriveRoot(password, *kdf)
		if err != nil {
			return Keys{}, fmt.Errorf("link: the link's password parameters: %w", err)
		}
		copy(ikm[n:], p[:])
		clear(p[:])
		n += keys.Size
	}
	// HKDF-Extract once, then Expand per label: the same as two full HKDFs.
	prk, err := hkdf.Extract(sha256.New, ikm[:n], id[:])
	if err != nil {
		return Keys{}, fmt.Errorf("link: HKDF: %w", err)
	}
	defer clear(prk)
	kek, err := expand(prk, labelKEK)
	if err != nil {
		return Keys{}, err
	}
	auth, err := expand(prk, labelAuth)
	if err != nil {
		return Keys{}, err
	}
	return Keys{KEK: kek, Auth: auth}, nil
}

// expand returns HKDF-Expand-SHA-256(prk, info = label), 32 bytes.
func expand(prk []byte, label string) (keys.Key, error) {
	out, err := hkdf.Expand(sha256.New, prk, label, keys.Size)
	if err != nil {
		return keys.Key{}, fmt.Errorf("link: HKDF: %w", err)
	}
	k := keys.Key(out)
	clear(out)
	return k, nil
}

// Verifier returns HMAC-SHA-256(auth, "nuage v1 verifier"), the value the
// coordinator stores to check a link's auth key.
func Verifier(auth keys.Key) [32]byte { return keys.Verifier(auth) }

// targetObject returns link ID || target ID.
func targetObject(id, targetID [16]byte) []byte {
	return keys.EntryObject(id[:], targetID[:])
}

// WrapLinkKey wraps the link key L under the link KEK (purpose "link",
// object = link ID).
func WrapLinkKey(kek, linkKey keys.Key, owner, id [16]byte) ([]byte, error) {
	return keys.Wrap(kek, linkKey, PurposeLink, owner[:], id[:])
}

// UnwrapLinkKey opens a wrap made by WrapLinkKey. A wrong KEK (a wrong
// password) or a wrap of another link or owner fails with an error
// wrapping keys.ErrAuth; a wrap of the wrong length or version with
// keys.ErrMalformed.
func UnwrapLinkKey(kek keys.Key, wrapped []byte, owner, id [16]byte) (keys.Key, error) {
	return keys.Unwrap(kek, wrapped, PurposeLink, owner[:], id[:])
}

// WrapTarget wraps the target entry's key under the link key L (purpose
// "link-target", object = link ID || target ID).
func WrapTarget(linkKey, target keys.Key, owner, id, targetID [16]byte) ([]byte, error) {
	return keys.Wrap(linkKey, target, PurposeTarget, owner[:], targetObject(id, targetID))
}

// UnwrapTarget opens a wrap made by WrapTarget; errors as UnwrapLinkKey.
func UnwrapTarget(linkKey keys.Key, wrapped []byte, owner, id, targetID [16]byte) (keys.Key, error) {
	return keys.Unwrap(linkKey, wrapped, PurposeTarget, owner[:], targetObject(id, targetID))
}

// WrapOwnerKey wraps the link key L under the owner's master key (purpose
// "link-owner", object = link ID), so the owner's devices can rewrap the
// target key after a rotation without the link's password.
func WrapOwnerKey(master, linkKey keys.Key, owner, id [16]byte) ([]byte, error) {
	return keys.Wrap(master, linkKey, PurposeOwnerKey, owner[:], id[:])
}

// UnwrapOwnerKey opens a wrap made by WrapOwnerKey; errors as UnwrapLinkKey.
func UnwrapOwnerKey(master keys.Key, wrapped []byte, owner, id [16]byte) (keys.Key, error) {
	return keys.Unwrap(master, wrapped, PurposeOwnerKey, owner[:], id[:])
}

// WrapOwnerSecret wraps the link secret S under the owner's master key
// (purpose "link-secret", object = link ID), so the owner's devices can
// show the link's URL again.
func WrapOwnerSecret(master keys.Key, secret [32]byte, owner, id [16]byte) ([]byte, error) {
	return keys.Wrap(master, keys.Key(secret), PurposeOwnerSecret, owner[:], id[:])
}

// UnwrapOwnerSecret opens a wrap made by WrapOwnerSecret; errors as
// UnwrapLinkKey. On error it returns the zero secret.
func UnwrapOwnerSecret(master keys.Key, wrapped []byte, owner, id [16]byte) ([32]byte, error) {
	k, err := keys.Unwrap(master, wrapped, PurposeOwnerSecret, owner[:], id[:])
	if err != nil {
		return [32]byte{}, err
	}
	return [32]byte(k), nil
}
