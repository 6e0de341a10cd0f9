package client_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/testnet"
)

// countConn counts the bytes read from a connection.
type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// logBuf is a goroutine-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// countingClient signs up a client whose connections to nodes count the
// bytes they read into *read, and whose debug log goes to logs.
func countingClient(t *testing.T, tn *testnet.Network) (c *client.Client, read *atomic.Int64, logs *logBuf) {
	t.Helper()
	read, logs = new(atomic.Int64), new(logBuf)
	opts := tn.ClientOptions()
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countConn{conn, read}, nil
	}
	kdf := testnet.CheapKDF()
	c, err := client.Signup(ctxT(t), tn.URL, testnet.NewEmail(), []byte(testnet.Password), &client.SignupOptions{KDF: &kdf}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, read, logs
}

func readRange(t *testing.T, c *client.Client, p string, off, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := c.ReadRange(ctxT(t), p, off, n, &buf, nil); err != nil {
		t.Fatalf("range %d+%d: %v", off, n, err)
	}
	return buf.Bytes()
}

// segmentPieces returns the coordinator's record of the pieces of segment
// s of the file at p, ordered by index.
func segmentPieces(t *testing.T, net *testnet.Network, c *client.Client, p string, s int) []metadb.Piece {
	t.Helper()
	e, err := c.Stat(ctxT(t), p)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := hex.DecodeString(e.Object)
	if err != nil || len(obj) != 16 {
		t.Fatalf("object ID %q", e.Object)
	}
	ps, err := net.DB.Pieces(ctxT(t), metadb.ID16(obj), s)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// nodeIndex returns the index in net.Nodes() of the node that holds pc.
func nodeIndex(t *testing.T, net *testnet.Network, pc metadb.Piece) int {
	t.Helper()
	for i, nd := range net.Nodes() {
		if nd.ID() == pc.Node {
			return i
		}
	}
	t.Fatalf("piece %d is on an unknown node", pc.Index)
	return -1
}

// TestRangedReads reads small ranges, which go through byte ranges of data
// pieces: across block boundaries, across data-piece boundaries (the last
// segment's blocks straddle its pieces), and at the file's end.
func TestRangedReads(t *testing.T) {
	net := testnet.New(t, testnet.Options{}) // 256 KiB segments, 4 of 6
	c, read, logs := countingClient(t, net)
	const seg = 256 << 10
	// Segment 2 holds 200000 bytes: 4 blocks, 200064 ciphertext bytes,
	// pieces of 50016 bytes, so each block spans two pieces.
	data := randBytes(t, 2*seg+200000)
	put(t, c, "/f", data)
	cases := []struct{ off, n int64 }{
		{0, 1}, {65535, 2}, {65536 - 100, 200}, {100, 65536}, {seg - 10, 20},
		{seg + 3*65536, 65536}, {2*seg + 50000, 100}, {2*seg + 49990, 40},
		{2*seg + 65530, 40000}, {int64(len(data)) - 1, 1}, {int64(len(data)) - 3000, 3000},
	}
	for _, tc := range cases {
		before := read.Load()
		got := readRange(t, c, "/f", tc.off, tc.n)
		if !bytes.Equal(got, data[tc.off:tc.off+tc.n]) {
			t.Fatalf("range %d+%d: wrong bytes (got %d)", tc.off, tc.n, len(got))
		}
		// At most two blocks of ciphertext (plus headers) are read; whole
		// pieces would be k+1 pieces of ~64 KiB.
		if r := read.Load() - before; r > 160<<10 {
			t.Errorf("range %d+%d: read %d bytes from nodes: not a ranged read", tc.off, tc.n, r)
		}
	}
	if strings.Contains(logs.String(), "ranged read failed") {
		t.Errorf("a ranged read fell back with every node healthy:\n%s", logs)
	}
	// A whole-file get reads its head through a ranged read, then the rest.
	if got := get(t, c, "/f"); !bytes.Equal(got, data) {
		t.Fatal("get: wrong bytes")
	}
}

// corruptPiece flips one byte at offset off of the stored piece pc.
func corruptPiece(t *testing.T, net *testnet.Network, pc metadb.Piece, off int) {
	t.Helper()
	dir := filepath.Join(net.Nodes()[nodeIndex(t, net, pc)].DataDir, "pieces")
	name := pc.ID.String()
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != name {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b[off] ^= 0x01
		found = true
		return os.WriteFile(p, b, 0o600)
	})
	if err != nil || !found {
		t.Fatalf("corrupt piece %s: found=%v, %v", name, found, err)
	}
}

// TestRangedReadFallback: a data piece that is corrupted, or on a node
// that is down, makes the ranged read fail (authentication or transport)
// and fall back to whole, hash-verified pieces, which give the right bytes.
func TestRangedReadFallback(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c, _, logs := countingClient(t, net)
	const seg = 256 << 10
	data := randBytes(t, 3*seg+5000)
	put(t, c, "/f", data)

	// Corrupt data piece 0 of segment 0 inside block 0.
	ps := segmentPieces(t, net, c, "/f", 0)
	if len(ps) < 4 || ps[0].Index != 0 {
		t.Fatalf("segment 0 pieces: %+v", ps)
	}
	corruptPiece(t, net, ps[0], 1000)
	if got := readRange(t, c, "/f", 500, 1000); !bytes.Equal(got, data[500:1500]) {
		t.Fatal("corrupted data piece: wrong bytes")
	}
	if !strings.Contains(logs.String(), "ranged read failed") || !strings.Contains(logs.String(), "did not authenticate") {
		t.Fatalf("no authentication failure and fallback logged:\n%s", logs)
	}
	// The whole-file get's ranged head hits the same corrupted block.
	if got := get(t, c, "/f"); !bytes.Equal(got, data) {
		t.Fatal("get with a corrupted data piece: wrong bytes")
	}

	// Kill the node holding data piece 1 of segment 1.
	ps = segmentPieces(t, net, c, "/f", 1)
	if len(ps) < 4 || ps[1].Index != 1 {
		t.Fatalf("segment 1 pieces: %+v", ps)
	}
	net.KillNode(nodeIndex(t, net, ps[1]))
	before := strings.Count(logs.String(), "ranged read failed")
	off := int64(seg + 65536 + 7) // block 1 of segment 1: data piece 1
	if got := readRange(t, c, "/f", off, 3000); !bytes.Equal(got, data[off:off+3000]) {
		t.Fatal("killed node: wrong bytes")
	}
	if strings.Count(logs.String(), "ranged read failed") == before {
		t.Fatal("the ranged read did not fall back with its node down")
	}
}

// TestRangedReadFetchesLittle: a 1 KiB range of a file with 4 MiB segments
// reads a block's worth of ciphertext, not k whole pieces (4 MiB).
func TestRangedReadFetchesLittle(t *testing.T) {
	net := testnet.New(t, testnet.Options{SegmentSize: 4 << 20})
	c, read, logs := countingClient(t, net)
	data := randBytes(t, 9<<20+321)
	put(t, c, "/big", data)
	for _, off := range []int64{5<<20 + 1000, 65536 - 512, 9<<20 - 1100} {
		before := read.Load()
		if got := readRange(t, c, "/big", off, 1024); !bytes.Equal(got, data[off:off+1024]) {
			t.Fatalf("range %d+1024: wrong bytes", off)
		}
		if r := read.Load() - before; r > 256<<10 {
			t.Fatalf("range %d+1024: read %d bytes from nodes, want far less than a 4 MiB segment", off, r)
		}
	}
	if strings.Contains(logs.String(), "ranged read failed") {
		t.Fatalf("ranged read fell back:\n%s", logs)
	}
	// The head of a whole-file get comes first, quickly; all of it right.
	start := time.Now()
	var first time.Duration
	var out bytes.Buffer
	w := &hookWriter{w: &out, fn: func() { first = time.Since(start) }}
	if _, err := c.Get(ctxT(t), "/big", w, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("get: wrong bytes")
	}
	t.Logf("time to first byte of a whole-file get: %v", first)
}
