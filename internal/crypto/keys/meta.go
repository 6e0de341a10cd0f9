package keys

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"

	"golang.org/x/text/unicode/norm"
)

// Entry kinds (docs/spec.md §2.2).
const (
	KindFolder = "folder"
	KindFile   = "file"
)

// RootParentID is the parent ID used for the root folder, which has no
// parent, in its key wrap object and its metadata: 16 zero bytes, so that
// the root's wrap object is 32 bytes like every entry's. Do not modify it.
var RootParentID [16]byte

// Sealed metadata layout (version 1).
const (
	MetaVersion = 0x01
	// MetaOverhead is the length of sealed metadata minus its plaintext.
	MetaOverhead = 1 + NonceSize + TagSize
	// NameTagSize is the length of a name tag.
	NameTagSize = 16
)

const metaADPrefix = "nuage-meta-v1"

// SealMeta encrypts an entry's metadata plaintext under MetaKey(entryKey)
// with a random nonce, binding it to the owner (account ID), the entry ID,
// its parent's ID (RootParentID for the root folder) and its kind
// (KindFolder or KindFile). The result is len(plaintext)+MetaOverhead bytes.
func SealMeta(entryKey Key, plaintext []byte, owner, entryID, parentID []byte, kind string) ([]byte, error) {
	var nonce [NonceSize]byte
	if _, err := io.ReadFull(rand.Reader, nonce[:]); err != nil {
		return nil, fmt.Errorf("keys: random nonce: %w", err)
	}
	return sealMetaWithNonce(entryKey, plaintext, owner, entryID, parentID, kind, nonce)
}

// sealMetaWithNonce is SealMeta with an explicit nonce, for test vectors.
func sealMetaWithNonce(entryKey Key, plaintext []byte, owner, entryID, parentID []byte, kind string, nonce [NonceSize]byte) ([]byte, error) {
	ad, err := metaAD(owner, entryID, parentID, kind)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(MetaKey(entryKey))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+NonceSize, len(plaintext)+MetaOverhead)
	out[0] = MetaVersion
	copy(out[1:], nonce[:])
	return aead.Seal(out, nonce[:], plaintext, ad), nil
}

// OpenMeta decrypts metadata sealed by SealMeta with the same entry key,
// owner, entry ID, parent ID and kind. It fails with ErrMalformed if sealed
// is too short or of another version, and with an error matching ErrAuth if
// it does not authenticate (wrong key, tampered, or moved to another entry,
// parent, owner or kind). It never returns partial plaintext.
func OpenMeta(entryKey Key, sealed []byte, owner, entryID, parentID []byte, kind string) ([]byte, error) {
	if len(sealed) < MetaOverhead {
		return nil, fmt.Errorf("%w: sealed metadata is %d bytes, want at least %d", ErrMalformed, len(sealed), MetaOverhead)
	}
	if sealed[0] != MetaVersion {
		return nil, fmt.Errorf("%w: metadata version %d, want %d", ErrMalformed, sealed[0], MetaVersion)
	}
	ad, err := metaAD(owner, entryID, parentID, kind)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(MetaKey(entryKey))
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, sealed[1:1+NonceSize], sealed[1+NonceSize:], ad)
	if err != nil {
		return nil, &authError{what: "metadata of " + kind + " entry"}
	}
	return pt, nil
}

// metaAD returns "nuage-meta-v1" || LP(owner) || LP(entry ID) ||
// LP(parent ID) || LP(kind).
func metaAD(owner, entryID, parentID []byte, kind string) ([]byte, error) {
	if err := checkLabel("kind", kind); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"owner", owner}, {"entry ID", entryID}, {"parent ID", parentID}} {
		if err := checkLP(f.name, f.b); err != nil {
			return nil, err
		}
	}
	ad := make([]byte, 0, len(metaADPrefix)+8+len(owner)+len(entryID)+len(parentID)+len(kind))
	ad = append(ad, metaADPrefix...)
	ad = appendLP(ad, owner)
	ad = appendLP(ad, entryID)
	ad = appendLP(ad, parentID)
	return appendLP(ad, []byte(kind)), nil
}

// NameTag returns the 16-byte tag of a child's name in the folder whose key
// is parentKey: HMAC-SHA-256(NameTagKey(parentKey), NFC(name))[0:16].
// Canonically equivalent spellings of a name (NFC and NFD, say) get the
// same tag, so the coordinator's uniqueness check sees them as one name.
func NameTag(parentKey Key, name string) []byte {
	tk := NameTagKey(parentKey)
	m := hmac.New(sha256.New, tk[:])
	io.WriteString(m, norm.NFC.String(name))
	return m.Sum(nil)[:NameTagSize:NameTagSize]
}
