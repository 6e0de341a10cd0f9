package client_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/testnet"
)

// stallConn never completes a write until it is closed: a node that
// accepted the connection and then went silent.
type stallConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (s *stallConn) Write(b []byte) (int, error) {
	<-s.closed
	return 0, net.ErrClosed
}

func (s *stallConn) Close() error {
	s.once.Do(func() { close(s.closed) })
	return s.Conn.Close()
}

// stallingDialer stalls every connection to the addresses in stalled.
type stallingDialer struct {
	mu      sync.Mutex
	stalled map[string]bool
	dials   map[string]int
}

func (d *stallingDialer) set(addr string, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stalled[addr] = on
}

func (d *stallingDialer) dialed(addr string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials[addr]
}

func (d *stallingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dials[addr]++
	if d.stalled[addr] {
		return &stallConn{Conn: c, closed: make(chan struct{})}, nil
	}
	return c, nil
}

// TestLongTailCut stores with a scheme that needs 3 of 4 pieces stored and
// one node that never answers: uploads must cut it instead of waiting for
// its timeout, and downloads must finish from the first k pieces.
func TestLongTailCut(t *testing.T) {
	net := testnet.New(t, testnet.Options{Nodes: 4, Scheme: api.Scheme{K: 2, N: 4, Success: 3}})
	d := &stallingDialer{stalled: map[string]bool{}, dials: map[string]int{}}
	slow := net.Nodes()[2].Addr()
	d.set(slow, true)
	opts := &client.Options{NodeTimeout: 10 * time.Minute, DialContext: d.dial}
	kdf := testnet.CheapKDF()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Signup(ctx, net.URL, testnet.NewEmail(), []byte(testnet.Password), &client.SignupOptions{KDF: &kdf}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := randBytes(t, 5*(256<<10)+17)
	// Without the cut, every segment would wait 10 minutes for the slow
	// node and the put would miss the 30-second deadline.
	if _, err := c.Put(ctx, "/f", bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatalf("put with a stalled node: %v", err)
	}
	if d.dialed(slow) == 0 {
		t.Fatal("the stalled node was never tried: the test proves nothing")
	}
	slowID := net.Nodes()[2].ID()
	// A stalled node never stores its piece, so exactly `success` pieces
	// are recorded; without one, uploads that finish in the same instant
	// as the cut are kept too.
	checkPieces := func(p string, wantNotOn bool) map[int]bool {
		t.Helper()
		e, err := c.Stat(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := hex.DecodeString(e.Object)
		if err != nil || len(obj) != 16 {
			t.Fatalf("object ID %q", e.Object)
		}
		holders := map[int]bool{}
		for s := range 6 {
			ps, err := net.DB.Pieces(ctx, metadb.ID16(obj), s)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) < 3 || (wantNotOn && len(ps) != 3) {
				t.Errorf("%s segment %d: %d pieces recorded, want 3 (success threshold)", p, s, len(ps))
			}
			for _, pc := range ps {
				if wantNotOn && pc.Node == slowID {
					t.Errorf("%s segment %d: piece recorded on the stalled node", p, s)
				}
				for i, nd := range net.Nodes() {
					if nd.ID() == pc.Node && s == 0 {
						holders[i] = true
					}
				}
			}
		}
		return holders
	}
	checkPieces("/f", true)

	// Downloads: stall a node that holds a piece of /g's first segment.
	// k=2 pieces are asked for; when the stalled one is late, the download
	// asks for the third stored piece (hedging) and finishes with it.
	d.set(slow, false)
	data2 := randBytes(t, 5*(256<<10)+17)
	if _, err := c.Put(ctx, "/g", bytes.NewReader(data2), int64(len(data2)), nil); err != nil {
		t.Fatal(err)
	}
	holders := checkPieces("/g", false)
	for i := range holders {
		d.set(net.Nodes()[i].Addr(), true)
		break
	}
	c2, err := client.New(c.State(), opts) // fresh connections, so the stall applies
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	// The stalled connection would end only at the TLS handshake timeout
	// (10 s); a download that waited for it would miss this deadline.
	gctx, gcancel := context.WithTimeout(ctx, 8*time.Second)
	defer gcancel()
	var buf bytes.Buffer
	if _, err := c2.Get(gctx, "/g", &buf, nil); err != nil || !bytes.Equal(buf.Bytes(), data2) {
		t.Fatalf("get with a stalled node: %v", err)
	}
}
