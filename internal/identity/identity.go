// Package identity holds the Ed25519 identities of nodes and coordinators,
// their on-disk form, and TLS certificates pinned to them.
//
// A node's ID is its Ed25519 public key. Its TLS certificate is self-signed
// with the same key, so a peer that knows the node ID verifies the connection
// by comparing public keys, with no certificate authority (docs/spec.md §7).
package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// IDSize is the length of an identity (an Ed25519 public key) in bytes.
const IDSize = ed25519.PublicKeySize

// ID is an Ed25519 public key naming a node or a coordinator.
type ID [IDSize]byte

var (
	// ErrBadID reports an ID that is not 64 hex characters.
	ErrBadID = errors.New("identity: malformed ID")
	// ErrPinMismatch reports a TLS peer whose key is not the expected ID.
	ErrPinMismatch = errors.New("identity: peer certificate does not match the pinned ID")
)

// String returns the lowercase hex form of id.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex characters of id, for logs.
func (id ID) Short() string { return id.String()[:12] }

// IsZero reports whether id is all zeros.
func (id ID) IsZero() bool { return id == ID{} }

// PublicKey returns id as an ed25519.PublicKey.
func (id ID) PublicKey() ed25519.PublicKey { return ed25519.PublicKey(id[:]) }

// Verify reports whether sig is a valid Ed25519 signature of msg by id.
func (id ID) Verify(msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(id.PublicKey(), msg, sig)
}

// MarshalText implements encoding.TextMarshaler (hex).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// ParseID parses the 64-character hex form of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("%w: got %d characters, want %d", ErrBadID, len(s), 2*IDSize)
	}
	if strings.ToLower(s) != s {
		return id, fmt.Errorf("%w: hex must be lowercase", ErrBadID)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: %v", ErrBadID, err)
	}
	return id, nil
}

// Identity is an Ed25519 key pair.
type Identity struct {
	priv ed25519.PrivateKey
	id   ID
}

// Generate creates a new random identity.
func Generate() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate: %w", err)
	}
	return FromPrivateKey(priv), nil
}

// FromPrivateKey wraps an existing Ed25519 private key.
func FromPrivateKey(priv ed25519.PrivateKey) *Identity {
	ident := &Identity{priv: priv}
	copy(ident.id[:], priv.Public().(ed25519.PublicKey))
	return ident
}

// ID returns the public identity.
func (i *Identity) ID() ID { return i.id }

// Sign signs msg.
func (i *Identity) Sign(msg []byte) []byte { return ed25519.Sign(i.priv, msg) }

// PrivateKey returns the private key.
func (i *Identity) PrivateKey() ed25519.PrivateKey { return i.priv }

const pemType = "NUAGE ED25519 PRIVATE KEY"

// LoadOrCreate reads the identity stored at path, or creates one there
// (mode 0600, written atomically) if the file does not exist.
func LoadOrCreate(path string) (*Identity, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		ident, err := Generate()
		if err != nil {
			return nil, err
		}
		if err := ident.save(path); err != nil {
			return nil, err
		}
		return ident, nil
	}
	if err != nil {
		return nil, fmt.Errorf("identity: read %s: %w", path, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemType || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("identity: %s is not a nuage identity file (expected a %q PEM block with a 32-byte seed)", path, pemType)
	}
	return FromPrivateKey(ed25519.NewKeyFromSeed(blk.Bytes)), nil
}

func (i *Identity) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: i.priv.Seed()})
	tmp, err := os.CreateTemp(filepath.Dir(path), ".identity-*")
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("identity: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("identity: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("identity: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// Certificate returns a self-signed TLS certificate for the identity's key.
func (i *Identity) Certificate() (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "nuage " + i.id.Short()},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"nuage-node"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, i.priv.Public(), i.priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: i.priv}, nil
}

// ServerTLSConfig returns a TLS 1.3 server configuration presenting the
// identity's self-signed certificate.
func (i *Identity) ServerTLSConfig() (*tls.Config, error) {
	cert, err := i.Certificate()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// PinnedClientTLSConfig returns a TLS 1.3 client configuration that accepts
// only a peer whose certificate key is expected. Names and CAs are ignored.
func PinnedClientTLSConfig(expected ID) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by the pin check below
		ServerName:         "nuage-node",
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: no certificate", ErrPinMismatch)
			}
			pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
			if !ok {
				return fmt.Errorf("%w: certificate key is not Ed25519", ErrPinMismatch)
			}
			if !bytes.Equal(pub, expected[:]) {
				return fmt.Errorf("%w: want %s", ErrPinMismatch, expected.Short())
			}
			return nil
		},
	}
}
