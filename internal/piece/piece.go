// Package piece names erasure-coded pieces by their BLAKE3-256 hash.
//
// A piece is one Reed–Solomon shard of an encrypted segment (docs/spec.md §4).
// Its ID is the BLAKE3-256 hash of its bytes, so anyone holding the ID can
// verify the bytes, and nodes learn nothing but size and hash.
package piece

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/zeebo/blake3"
)

// IDSize is the length of a piece ID in bytes.
const IDSize = 32

// ID is the BLAKE3-256 hash of a piece's bytes.
type ID [IDSize]byte

// ErrBadID reports a piece ID that is not 64 hex characters.
var ErrBadID = errors.New("piece: malformed piece ID")

// Sum returns the ID of data.
func Sum(data []byte) ID {
	return ID(blake3.Sum256(data))
}

// NewHasher returns a hash.Hash whose Sum is a piece ID.
func NewHasher() hash.Hash { return blake3.New() }

// FromHasher returns the ID accumulated in h (made by NewHasher).
func FromHasher(h hash.Hash) ID {
	var id ID
	h.Sum(id[:0])
	return id
}

// String returns the lowercase hex form of id.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zeros.
func (id ID) IsZero() bool { return id == ID{} }

// Parse parses the 64-character hex form of a piece ID.
func Parse(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("%w: %q has %d characters, want %d", ErrBadID, truncate(s), len(s), 2*IDSize)
	}
	if strings.ToLower(s) != s {
		return id, fmt.Errorf("%w: hex must be lowercase", ErrBadID)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: %v", ErrBadID, err)
	}
	return id, nil
}

// MarshalText implements encoding.TextMarshaler (hex).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (id *ID) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
