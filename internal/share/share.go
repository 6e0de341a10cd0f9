// Package share implements sharing a folder between nuage accounts
// (docs/spec.md §11): the sealed share that carries a folder's key, and for
// a read-write share a write key, from its owner to one recipient; the
// account key fingerprint users compare out of band (§2.3); and the
// account's Ed25519 signing key, wrapped under its master key.
//
// A sealed share is signed with the owner's Ed25519 key and sealed with
// HPKE (RFC 9180) to the recipient's X25519 key, so a coordinator that
// swaps public keys can neither read a share (it is sealed to the key the
// owner pinned) nor plant one (it cannot sign as the owner the recipient
// pinned).
//
// All functions are safe for concurrent use.
package share

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// Version is the version of the sealed share and of its payload that this
// package reads and writes.
const Version = 1

var (
	// ErrMalformed reports a sealed share or payload that breaks the
	// format: an unknown version, a wrong length, trailing bytes, or a
	// field outside its rules (level, write key of a read share, name).
	ErrMalformed = errors.New("share: malformed sealed share")
	// ErrSignature reports a payload that the owner's pinned Ed25519 key
	// did not sign (or no usable pinned key).
	ErrSignature = errors.New("share: not signed by the owner's pinned key")
	// ErrMismatch reports a payload, correctly signed by the owner, that
	// names another share, owner or recipient than the share record.
	ErrMismatch = errors.New("share: sealed share names another share, owner or recipient")
	// ErrDecrypt reports a sealed share that does not decrypt: it was
	// sealed to another X25519 key or for another share, owner or recipient
	// (the HPKE info binds them), or it was damaged.
	ErrDecrypt = errors.New("share: sealed share does not decrypt (sealed to another key or share, or damaged)")
)

// Level is the access a share grants.
type Level uint8

// Share levels.
const (
	// Read grants reading the folder and its subtree.
	Read Level = 1
	// ReadWrite also grants writing inside the folder with a write key.
	ReadWrite Level = 2
)

// String returns "read", "read-write", or "level(N)" for an invalid level.
func (l Level) String() string {
	switch l {
	case Read:
		return "read"
	case ReadWrite:
		return "read-write"
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// Payload is what a sealed share carries (spec §11.2).
type Payload struct {
	// ShareID, Owner and Recipient name the share record; Root is the
	// shared folder's entry ID.
	ShareID, Owner, Recipient, Root [16]byte
	Level                           Level
	// Epoch counts key rotations (+1 at each).
	Epoch uint32
	// RootKey is the shared folder's entry key.
	RootKey keys.Key
	// WriteKeyID and WriteKey are the write key granted for the folder
	// (spec §9): both non-zero for ReadWrite, both zero for Read.
	WriteKeyID [16]byte
	WriteKey   [32]byte
	// Name is the folder's name: 1 to 255 bytes of UTF-8, without "/" or
	// NUL.
	Name string
}

// Layout (spec §11.2).
const (
	nameOffset   = 150 // LP(name) starts here
	maxName      = 255
	sigSize      = ed25519.SignatureSize
	minPayload   = nameOffset + 2 + sigSize // an empty name: parseable, then refused
	maxPayload   = nameOffset + 2 + maxName + sigSize
	encSize      = 32 // DHKEM(X25519) encapsulated key
	tagSize      = 16 // AES-256-GCM
	minSealed    = 1 + encSize + minPayload + tagSize
	maxSealed    = 1 + encSize + maxPayload + tagSize
	label        = "nuage-share-v1"
	signedPrefix = label + "\x00"
)

// check enforces the field rules of spec §11.2; errors wrap ErrMalformed.
func (p *Payload) check() error {
	switch p.Level {
	case Read:
		if p.WriteKeyID != ([16]byte{}) || !isZero(p.WriteKey[:]) {
			return fmt.Errorf("%w: a read share carries a write key", ErrMalformed)
		}
	case ReadWrite:
		if p.WriteKeyID == ([16]byte{}) || isZero(p.WriteKey[:]) {
			return fmt.Errorf("%w: a read-write share without a write key", ErrMalformed)
		}
	default:
		return fmt.Errorf("%w: level %d is neither read (1) nor read-write (2)", ErrMalformed, uint8(p.Level))
	}
	return checkName(p.Name)
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: the folder name is empty", ErrMalformed)
	}
	if len(name) > maxName {
		return fmt.Errorf("%w: the folder name is %d bytes, at most %d", ErrMalformed, len(name), maxName)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: the folder name is not UTF-8", ErrMalformed)
	}
	if strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%w: the folder name contains \"/\" or NUL", ErrMalformed)
	}
	return nil
}

func isZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return subtle.ConstantTimeByteEq(acc, 0) == 1
}

// appendPayload appends the unsigned payload (every field up to and
// including LP(name)) to b. It does not validate p; len(p.Name) must be
// below 65536.
func appendPayload(b []byte, p *Payload) []byte {
	b = append(b, Version)
	b = append(b, p.ShareID[:]...)
	b = append(b, p.Owner[:]...)
	b = append(b, p.Recipient[:]...)
	b = append(b, p.Root[:]...)
	b = append(b, byte(p.Level))
	b = binary.BigEndian.AppendUint32(b, p.Epoch)
	b = append(b, p.RootKey[:]...)
	b = append(b, p.WriteKeyID[:]...)
	b = append(b, p.WriteKey[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Name)))
	return append(b, p.Name...)
}

// signPayload returns the unsigned payload msg followed by the owner's
// signature over "nuage-share-v1" || 0x00 || msg.
func signPayload(msg []byte, priv ed25519.PrivateKey) []byte {
	buf := make([]byte, 0, len(signedPrefix)+len(msg)+sigSize)
	buf = append(append(buf, signedPrefix...), msg...)
	sig := ed25519.Sign(priv, buf)
	return append(buf, sig...)[len(signedPrefix):]
}

// hpkeInfo returns "nuage-share-v1" || 0x00 || share ID || owner || recipient.
func hpkeInfo(shareID, owner, recipient [16]byte) []byte {
	b := make([]byte, 0, len(signedPrefix)+48)
	b = append(b, signedPrefix...)
	b = append(b, shareID[:]...)
	b = append(b, owner[:]...)
	return append(b, recipient[:]...)
}

// sealTo returns 0x01 || HPKE single-shot seal of plaintext (enc || ct).
func sealTo(plaintext, info []byte, recipientPub *ecdh.PublicKey) ([]byte, error) {
	pk, err := hpke.NewDHKEMPublicKey(recipientPub)
	if err != nil {
		return nil, fmt.Errorf("share: recipient public key: %w", err)
	}
	ct, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), info, plaintext)
	if err != nil {
		return nil, fmt.Errorf("share: HPKE seal: %w", err)
	}
	out := make([]byte, 1+len(ct))
	out[0] = Version
	copy(out[1:], ct)
	return out, nil
}

// Seal signs the payload with the owner's Ed25519 private key and seals it
// with HPKE (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// AES-256-GCM, single shot) to the recipient's X25519 public key, with the
// share, owner and recipient IDs in the HPKE info. It refuses a payload
// that breaks a field rule of spec §11.2 (an error wrapping ErrMalformed)
// and keys of the wrong kind.
func Seal(p Payload, ownerSigning ed25519.PrivateKey, recipientPub *ecdh.PublicKey) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("share: cannot seal: %w", err)
	}
	if len(ownerSigning) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("share: the owner's signing key is %d bytes, want %d", len(ownerSigning), ed25519.PrivateKeySize)
	}
	if recipientPub == nil || recipientPub.Curve() != ecdh.X25519() {
		return nil, errors.New("share: the recipient's public key is not an X25519 key")
	}
	msg := appendPayload(make([]byte, 0, nameOffset+2+len(p.Name)), &p)
	signed := signPayload(msg, ownerSigning)
	defer clear(signed)
	clear(msg)
	return sealTo(signed, hpkeInfo(p.ShareID, p.Owner, p.Recipient), recipientPub)
}

// Open decrypts a sealed share with the recipient's X25519 private key and
// checks it against the share record and the owner's pinned Ed25519 key.
// It fails with an error wrapping
//   - ErrMalformed for another outer or payload version, a wrong length,
//     trailing bytes, or a field that breaks a rule of spec §11.2;
//   - ErrDecrypt if HPKE fails (sealed to another key, for another share,
//     owner or recipient, or damaged);
//   - ErrSignature if the owner's pinned key did not sign the payload;
//   - ErrMismatch if the signed payload names another share, owner or
//     recipient than expected.
//
// Nothing is returned unless every check passes. The caller still compares
// the payload's Root, Level and Epoch with the share record.
func Open(sealed []byte, recipientPriv *ecdh.PrivateKey, shareID, owner, recipient [16]byte, ownerSigningPub ed25519.PublicKey) (Payload, error) {
	if recipientPriv == nil || recipientPriv.Curve() != ecdh.X25519() {
		return Payload{}, errors.New("share: the recipient's private key is not an X25519 key")
	}
	if len(ownerSigningPub) != ed25519.PublicKeySize {
		return Payload{}, fmt.Errorf("%w: the owner's pinned signing key is %d bytes, want %d", ErrSignature, len(ownerSigningPub), ed25519.PublicKeySize)
	}
	if len(sealed) == 0 {
		return Payload{}, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if sealed[0] != Version {
		return Payload{}, fmt.Errorf("%w: version %d, want %d", ErrMalformed, sealed[0], Version)
	}
	if len(sealed) < minSealed || len(sealed) > maxSealed {
		return Payload{}, fmt.Errorf("%w: %d bytes, want %d to %d", ErrMalformed, len(sealed), minSealed, maxSealed)
	}
	sk, err := hpke.NewDHKEMPrivateKey(recipientPriv)
	if err != nil {
		return Payload{}, fmt.Errorf("share: recipient private key: %w", err)
	}
	pt, err := hpke.Open(sk, hpke.HKDFSHA256(), hpke.AES256GCM(), hpkeInfo(shareID, owner, recipient), sealed[1:])
	if err != nil {
		return Payload{}, ErrDecrypt
	}
	defer clear(pt)
	return openPayload(pt, shareID, owner, recipient, ownerSigningPub)
}

// openPayload parses and checks a decrypted payload: its structure, the
// owner's signature, the IDs, then the field rules.
func openPayload(pt []byte, shareID, owner, recipient [16]byte, ownerSigningPub ed25519.PublicKey) (Payload, error) {
	if len(pt) < minPayload {
		return Payload{}, fmt.Errorf("%w: payload is %d bytes, at least %d", ErrMalformed, len(pt), minPayload)
	}
	if pt[0] != Version {
		return Payload{}, fmt.Errorf("%w: payload version %d, want %d", ErrMalformed, pt[0], Version)
	}
	n := int(binary.BigEndian.Uint16(pt[nameOffset:]))
	end := nameOffset + 2 + n
	switch want := end + sigSize; {
	case len(pt) < want:
		return Payload{}, fmt.Errorf("%w: payload is %d bytes, its name length needs %d", ErrMalformed, len(pt), want)
	case len(pt) > want:
		return Payload{}, fmt.Errorf("%w: payload is %d bytes, %d more than its name length implies (trailing bytes)", ErrMalformed, len(pt), len(pt)-want)
	}
	signed := make([]byte, 0, len(signedPrefix)+end)
	signed = append(append(signed, signedPrefix...), pt[:end]...)
	ok := ed25519.Verify(ownerSigningPub, signed, pt[end:])
	clear(signed)
	if !ok {
		return Payload{}, ErrSignature
	}

	var p Payload
	copy(p.ShareID[:], pt[1:17])
	copy(p.Owner[:], pt[17:33])
	copy(p.Recipient[:], pt[33:49])
	copy(p.Root[:], pt[49:65])
	p.Level = Level(pt[65])
	p.Epoch = binary.BigEndian.Uint32(pt[66:70])
	copy(p.RootKey[:], pt[70:102])
	copy(p.WriteKeyID[:], pt[102:118])
	copy(p.WriteKey[:], pt[118:150])
	p.Name = string(pt[nameOffset+2 : end])

	var err error
	switch {
	case p.ShareID != shareID:
		err = fmt.Errorf("%w: it is for share %x, not %x", ErrMismatch, p.ShareID, shareID)
	case p.Owner != owner:
		err = fmt.Errorf("%w: it names owner %x, not %x", ErrMismatch, p.Owner, owner)
	case p.Recipient != recipient:
		err = fmt.Errorf("%w: it names recipient %x, not %x", ErrMismatch, p.Recipient, recipient)
	default:
		err = p.check()
	}
	if err != nil {
		clear(p.RootKey[:])
		clear(p.WriteKey[:])
		return Payload{}, err
	}
	return p, nil
}
