package keys

import (
	"crypto/rand"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameter bounds and defaults (docs/spec.md §2).
const (
	SaltSize         = 16
	MinTime          = 1
	MinMemoryKiB     = 19456
	MinThreads       = 1
	MaxMemoryKiB     = 1 << 20 // 1 GiB
	MaxTime          = 10
	MaxThreads       = 16
	DefaultTime      = 3
	DefaultMemoryKiB = 65536 // 64 MiB
	DefaultThreads   = 4
)

// KDF holds the Argon2id parameters stored with an account.
type KDF struct {
	Salt      []byte // SaltSize random bytes
	Time      uint32 // passes (t)
	MemoryKiB uint32 // memory in KiB (m)
	Threads   uint8  // parallelism (p)
}

// DefaultKDF returns the default parameters (t=3, m=64 MiB, p=4) with a new
// random salt.
func DefaultKDF() (KDF, error) {
	salt := make([]byte, SaltSize)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		return KDF{}, fmt.Errorf("keys: random salt: %w", err)
	}
	return KDF{Salt: salt, Time: DefaultTime, MemoryKiB: DefaultMemoryKiB, Threads: DefaultThreads}, nil
}

// Validate checks p against the spec. Parameters weaker than t=1, m=19456
// KiB, p=1 fail with ErrWeakKDF; a salt that is not 16 bytes or a memory
// cost above 4 GiB fails with ErrBadKDF. Clients must validate parameters
// received from a coordinator before deriving, so that a hostile server
// can neither weaken the derivation nor exhaust the client's memory.
func (p KDF) Validate() error {
	if len(p.Salt) != SaltSize {
		return fmt.Errorf("%w: salt is %d bytes, want %d", ErrBadKDF, len(p.Salt), SaltSize)
	}
	if p.MemoryKiB > MaxMemoryKiB {
		return fmt.Errorf("%w: memory %d KiB exceeds the maximum of %d KiB (1 GiB)", ErrBadKDF, p.MemoryKiB, MaxMemoryKiB)
	}
	if p.Time > MaxTime {
		return fmt.Errorf("%w: t=%d exceeds the maximum of %d", ErrBadKDF, p.Time, MaxTime)
	}
	if p.Threads > MaxThreads {
		return fmt.Errorf("%w: p=%d exceeds the maximum of %d", ErrBadKDF, p.Threads, MaxThreads)
	}
	if p.Time < MinTime {
		return fmt.Errorf("%w: t=%d, minimum is %d", ErrWeakKDF, p.Time, MinTime)
	}
	if p.MemoryKiB < MinMemoryKiB {
		return fmt.Errorf("%w: m=%d KiB, minimum is %d KiB", ErrWeakKDF, p.MemoryKiB, MinMemoryKiB)
	}
	if p.Threads < MinThreads {
		return fmt.Errorf("%w: p=%d, minimum is %d", ErrWeakKDF, p.Threads, MinThreads)
	}
	return nil
}

// DeriveRoot derives the 32-byte root secret from a password with Argon2id.
// It validates p first and derives nothing from invalid parameters. It uses
// MemoryKiB of memory and cannot be interrupted.
func DeriveRoot(password []byte, p KDF) (Key, error) {
	if err := p.Validate(); err != nil {
		return Key{}, err
	}
	var k Key
	copy(k[:], argon2.IDKey(password, p.Salt, p.Time, p.MemoryKiB, p.Threads, Size))
	return k, nil
}
