// Package testnet is the in-process network harness for tests: a
// coordinator and N storage nodes on loopback, each with its own data
// directory, real TLS and a real SQLite database, plus clients that sign up
// with cheap (but valid) password hashing.
package testnet

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/cluster"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// Options configure a test network. Zero values pick test-friendly defaults.
type Options struct {
	Nodes       int        // default 6
	Scheme      api.Scheme // default {K:4, N:6}
	SegmentSize int64      // default 256 KiB, so small files span several segments
	InlineMax   int64      // default: the coordinator's (4 KiB)
	// NodeCapacity per node (default: the node's default).
	NodeCapacity int64
	// Quota is each account's storage quota in ciphertext bytes (0: none).
	Quota int64
	// Verbose logs everything to the test log.
	Verbose bool
}

// Network is a running test network.
type Network struct {
	*cluster.Cluster
	Dir string
	t   testing.TB
}

var emails atomic.Int64

// New starts a network and stops it when the test ends.
func New(t testing.TB, o Options) *Network {
	t.Helper()
	if o.Nodes == 0 {
		o.Nodes = 6
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = 256 << 10
	}
	logger := slog.New(slog.DiscardHandler)
	if o.Verbose || os.Getenv("NUAGE_TEST_VERBOSE") != "" {
		logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Config{
		DataDir:          dir,
		Listen:           "127.0.0.1:0",
		Nodes:            o.Nodes,
		NodeCapacity:     o.NodeCapacity,
		Scheme:           o.Scheme,
		SegmentSize:      o.SegmentSize,
		InlineMax:        o.InlineMax,
		Quota:            o.Quota,
		CheckInInterval:  200 * time.Millisecond,
		DeletionInterval: 100 * time.Millisecond,
		Logger:           logger,
	})
	if err != nil {
		t.Fatalf("testnet: start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("testnet: close: %v", err)
		}
	})
	if err := c.WaitNodes(ctx, o.Nodes); err != nil {
		t.Fatalf("testnet: %v", err)
	}
	return &Network{Cluster: c, Dir: dir, t: t}
}

// CheapKDF returns the weakest Argon2id parameters clients accept, with a
// random salt: fast enough for tests, still valid.
func CheapKDF() keys.KDF {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	return keys.KDF{Salt: salt, Time: 1, MemoryKiB: 19456, Threads: 1}
}

// Password is the password test accounts use.
const Password = "correct horse battery staple"

// NewEmail returns a fresh e-mail address.
func NewEmail() string { return fmt.Sprintf("user%d@example.org", emails.Add(1)) }

// Signup creates an account with a fresh e-mail address and returns its client.
func (n *Network) Signup(t testing.TB) *client.Client {
	t.Helper()
	return n.SignupAs(t, NewEmail())
}

// SignupAs creates an account for email.
func (n *Network) SignupAs(t testing.TB, email string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kdf := CheapKDF()
	c, err := client.Signup(ctx, n.URL, email, []byte(Password), &client.SignupOptions{KDF: &kdf}, n.ClientOptions())
	if err != nil {
		t.Fatalf("testnet: signup %s: %v", email, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Login opens another session of the account email (made with Signup or
// SignupAs), like a second device.
func (n *Network) Login(t testing.TB, email string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Login(ctx, n.URL, email, []byte(Password), nil, n.ClientOptions())
	if err != nil {
		t.Fatalf("testnet: login %s: %v", email, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ClientOptions are the options test clients use. Their journal state is
// kept in memory: each client is a new device.
func (n *Network) ClientOptions() *client.Options {
	return &client.Options{NodeTimeout: 20 * time.Second}
}

// WaitDeletions waits until the coordinator has delivered every queued piece deletion.
func (n *Network) WaitDeletions(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ids, err := n.DB.NodesWithDeletions(context.Background())
		if err != nil {
			t.Fatalf("testnet: %v", err)
		}
		if len(ids) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("testnet: piece deletions not delivered within 20s")
}

// StoredPieces counts the piece files on every node's disk.
func (n *Network) StoredPieces(t testing.TB) int {
	t.Helper()
	count := 0
	for _, nd := range n.Nodes() {
		err := filepath.WalkDir(filepath.Join(nd.DataDir, "pieces"), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && len(d.Name()) == 64 { // piece files are named by their 64-hex ID
				count++
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatalf("testnet: walk pieces: %v", err)
		}
	}
	return count
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
