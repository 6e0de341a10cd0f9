package identity_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
)

// fixed returns the identity with the Ed25519 seed 00 01 … 1f.
func fixed() *identity.Identity {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return identity.FromPrivateKey(ed25519.NewKeyFromSeed(seed))
}

func TestFromPrivateKey(t *testing.T) {
	id := fixed()
	// The public key of seed 00…1f, as every Ed25519 implementation computes it.
	const want = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
	if got := id.ID().String(); got != want {
		t.Fatalf("ID = %s, want %s", got, want)
	}
	if got := id.ID().Short(); got != want[:12] {
		t.Fatalf("Short = %s", got)
	}
	if !bytes.Equal(id.ID().PublicKey(), id.PrivateKey().Public().(ed25519.PublicKey)) {
		t.Fatal("PublicKey differs from the private key's")
	}
	if id.ID().IsZero() || !(identity.ID{}).IsZero() {
		t.Fatal("IsZero is wrong")
	}
}

func TestSignVerify(t *testing.T) {
	id := fixed()
	msg := []byte("nuage")
	sig := id.Sign(msg)
	if !id.ID().Verify(msg, sig) {
		t.Fatal("valid signature rejected")
	}
	other, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   identity.ID
		msg  []byte
		sig  []byte
	}{
		{"other message", id.ID(), []byte("nuagf"), sig},
		{"other key", other.ID(), msg, sig},
		{"nil signature", id.ID(), msg, nil},
		{"short signature", id.ID(), msg, sig[:63]},
		{"long signature", id.ID(), msg, append(bytes.Clone(sig), 0)},
		{"flipped signature", id.ID(), msg, func() []byte { s := bytes.Clone(sig); s[10] ^= 1; return s }()},
		{"zero key", identity.ID{}, msg, sig},
	}
	for _, tt := range tests {
		if tt.id.Verify(tt.msg, tt.sig) {
			t.Errorf("%s: Verify accepted", tt.name)
		}
	}
}

func TestGenerate(t *testing.T) {
	a, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() == b.ID() || a.ID().IsZero() {
		t.Fatal("Generate is not random")
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "node")
	path := filepath.Join(dir, "identity.pem")

	created, err := identity.LoadOrCreate(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Fatalf("identity file mode %v, want 0600", perm)
		}
		di, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := di.Mode().Perm(); perm&0o077 != 0 {
			t.Fatalf("created directory mode %v is open to others", perm)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the identity file (no temporary left)", len(entries))
	}

	// The file is a PEM block holding the 32-byte seed.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "NUAGE ED25519 PRIVATE KEY" || !bytes.Equal(blk.Bytes, created.PrivateKey().Seed()) || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("unexpected identity file:\n%s", b)
	}

	loaded, err := identity.LoadOrCreate(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if loaded.ID() != created.ID() || !bytes.Equal(loaded.PrivateKey(), created.PrivateKey()) {
		t.Fatal("loaded identity differs from the created one")
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, b) {
		t.Fatal("loading rewrote the file")
	}
	msg := []byte("survives a restart")
	if !created.ID().Verify(msg, loaded.Sign(msg)) {
		t.Fatal("loaded key does not sign for the created ID")
	}
}

func TestLoadOrCreateCorrupt(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	block := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"garbage", []byte("not a key\n")},
		{"raw seed", seed},
		{"wrong PEM type", block("PRIVATE KEY", seed)},
		{"short seed", block("NUAGE ED25519 PRIVATE KEY", seed[:31])},
		{"long seed", block("NUAGE ED25519 PRIVATE KEY", append(bytes.Clone(seed), 0))},
		{"full private key instead of seed", block("NUAGE ED25519 PRIVATE KEY", ed25519.NewKeyFromSeed(seed))},
		{"truncated PEM", block("NUAGE ED25519 PRIVATE KEY", seed)[:40]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.pem")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if id, err := identity.LoadOrCreate(path); err == nil {
				t.Fatalf("loaded %s from a corrupt file", id.ID())
			}
			// A corrupt identity is never silently replaced.
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, tt.data) {
				t.Fatal("LoadOrCreate overwrote a corrupt identity file")
			}
		})
	}
	t.Run("path is a directory", func(t *testing.T) {
		if _, err := identity.LoadOrCreate(t.TempDir()); err == nil {
			t.Fatal("loaded an identity from a directory")
		}
	})
	t.Run("parent is a file", func(t *testing.T) {
		parent := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(parent, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := identity.LoadOrCreate(filepath.Join(parent, "identity.pem")); err == nil {
			t.Fatal("created an identity under a regular file")
		}
	})
	t.Run("valid seed loads", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "identity.pem")
		if err := os.WriteFile(path, block("NUAGE ED25519 PRIVATE KEY", seed), 0o600); err != nil {
			t.Fatal(err)
		}
		id, err := identity.LoadOrCreate(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := identity.FromPrivateKey(ed25519.NewKeyFromSeed(seed)).ID(); id.ID() != want {
			t.Fatalf("loaded %s, want %s", id.ID(), want)
		}
	})
}

func TestParseID(t *testing.T) {
	valid := fixed().ID().String()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"valid", valid, true},
		{"zero", strings.Repeat("0", 64), true},
		{"empty", "", false},
		{"63 chars", valid[:63], false},
		{"65 chars", valid + "0", false},
		{"128 chars", valid + valid, false},
		{"32 chars", valid[:32], false},
		{"non-hex", "zz" + valid[2:], false},
		{"non-hex at the end", valid[:63] + "g", false},
		{"space", " " + valid[1:], false},
		{"0x prefix", "0x" + valid[2:], false},
		{"multibyte", "é" + valid[2:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := identity.ParseID(tt.in)
			if !tt.ok {
				if !errors.Is(err, identity.ErrBadID) {
					t.Fatalf("ParseID(%q) = %v, want ErrBadID", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.String() != tt.in {
				t.Fatalf("round trip gives %s", id)
			}
		})
	}
}

func TestIDJSON(t *testing.T) {
	type doc struct {
		Node identity.ID `json:"node"`
	}
	in := doc{Node: fixed().ID()}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"node":"` + in.Node.String() + `"}`; string(b) != want {
		t.Fatalf("JSON = %s, want %s", b, want)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatal("JSON round trip changed the ID")
	}
	if err := json.Unmarshal([]byte(`{"node":"abcd"}`), &out); !errors.Is(err, identity.ErrBadID) {
		t.Fatalf("short ID in JSON: %v, want ErrBadID", err)
	}
}

func FuzzParseID(f *testing.F) {
	f.Add(fixed().ID().String())
	f.Add(strings.Repeat("0", 64))
	f.Add(strings.Repeat("F", 64))
	f.Add("")
	f.Add("zz")
	f.Add(strings.Repeat("g", 64))
	f.Add(strings.Repeat("é", 32))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := identity.ParseID(s)
		if err != nil {
			if !errors.Is(err, identity.ErrBadID) {
				t.Fatalf("ParseID error %v does not wrap ErrBadID", err)
			}
			return
		}
		if len(s) != 64 {
			t.Fatalf("ParseID accepted %d characters", len(s))
		}
		if !strings.EqualFold(id.String(), s) {
			t.Fatalf("ParseID(%q) = %s", s, id)
		}
		again, err := identity.ParseID(id.String())
		if err != nil || again != id {
			t.Fatalf("canonical form %s does not round-trip: %v", id, err)
		}
	})
}

// serve accepts TLS connections on 127.0.0.1:0 with cfg, completes each
// handshake and closes it, until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_ = c.(*tls.Conn).Handshake() // fails when the client refuses us
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

func TestPinnedTLS(t *testing.T) {
	server, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := server.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)

	c, err := dial(t, addr, identity.PinnedClientTLSConfig(server.ID()))
	if err != nil {
		t.Fatalf("pinned to the server's ID: %v", err)
	}
	st := c.ConnectionState()
	c.Close()
	if st.Version != tls.VersionTLS13 {
		t.Fatalf("negotiated %s, want TLS 1.3", tls.VersionName(st.Version))
	}
	pub, ok := st.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok || !bytes.Equal(pub, server.ID().PublicKey()) {
		t.Fatal("server certificate does not carry the identity key")
	}

	other, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for _, pin := range []identity.ID{other.ID(), {}} {
		if c, err := dial(t, addr, identity.PinnedClientTLSConfig(pin)); !errors.Is(err, identity.ErrPinMismatch) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("pinned to %s: err = %v, want ErrPinMismatch", pin.Short(), err)
		}
	}

	// The server refuses anything older than TLS 1.3.
	old := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
	if c, err := dial(t, addr, old); err == nil {
		c.Close()
		t.Fatal("server accepted TLS 1.2")
	}
}

// TestPinnedTLSNotEd25519 serves a certificate with an ECDSA key: a pinned
// client must refuse it even though nothing else is wrong with it.
func TestPinnedTLSNotEd25519(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"nuage-node"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS13,
	})
	if c, err := dial(t, addr, identity.PinnedClientTLSConfig(fixed().ID())); !errors.Is(err, identity.ErrPinMismatch) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("err = %v, want ErrPinMismatch", err)
	}
}

func TestCertificate(t *testing.T) {
	id := fixed()
	cert, err := id.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	x, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := x.CheckSignature(x.SignatureAlgorithm, x.RawTBSCertificate, x.Signature); err != nil {
		t.Fatalf("certificate is not self-signed by its key: %v", err)
	}
	pub, ok := x.PublicKey.(ed25519.PublicKey)
	if !ok || !bytes.Equal(pub, id.ID().PublicKey()) {
		t.Fatal("certificate key is not the identity key")
	}
	now := time.Now()
	if now.Before(x.NotBefore) || now.After(x.NotAfter) {
		t.Fatalf("certificate not valid now: %v – %v", x.NotBefore, x.NotAfter)
	}
}

func TestParseIDRejectsUpperCase(t *testing.T) {
	ident, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.ParseID(strings.ToUpper(ident.ID().String())); !errors.Is(err, identity.ErrBadID) {
		t.Fatalf("upper-case ID: err = %v, want ErrBadID", err)
	}
}
