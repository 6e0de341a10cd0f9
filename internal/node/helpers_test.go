package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/order"
	"github.com/nuage-storage/nuage/internal/piece"
)

// logRecorder is a slog.Handler that keeps the records it receives.
type logRecorder struct {
	mu      sync.Mutex
	records []logRecord
}

type logRecord struct {
	level slog.Level
	msg   string
	text  string // message and attributes
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, logRecord{r.Level, r.Message, b.String()})
	l.mu.Unlock()
	return nil
}

// count returns how many records have the level and a message containing msg.
func (l *logRecorder) count(level slog.Level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if r.level == level && strings.Contains(r.msg, msg) {
			n++
		}
	}
	return n
}

func (l *logRecorder) find(level slog.Level, msg string) (logRecord, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r.level == level && strings.Contains(r.msg, msg) {
			return r, true
		}
	}
	return logRecord{}, false
}

// testEnv is a node running on loopback, a coordinator identity it trusts
// and an HTTPS client pinned to the node.
type testEnv struct {
	t      testing.TB
	coord  *identity.Identity
	node   *Node
	client *http.Client
	base   string
	logs   *logRecorder
	dir    string
}

// startNode runs a node configured by cfg (DataDir, Listen, Logger filled in
// if empty) and stops it when the test ends.
func startNode(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	env := &testEnv{t: t, logs: &logRecorder{}}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	env.dir = cfg.DataDir
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(env.logs)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.node = n
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	env.base = "https://" + n.Addr()
	env.client = &http.Client{Transport: &http.Transport{TLSClientConfig: identity.PinnedClientTLSConfig(n.ID()), WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10}}
	t.Cleanup(func() {
		env.client.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
	})
	return env
}

// newEnv starts a node that trusts a fresh coordinator identity.
func newEnv(t testing.TB, capacity int64) *testEnv {
	t.Helper()
	coord, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	env := startNode(t, Config{Capacity: capacity, TrustedCoordinators: []identity.ID{coord.ID()}})
	env.coord = coord
	return env
}

// randomPiece returns deterministic pseudo-random bytes and their ID.
func randomPiece(seed uint64, size int) ([]byte, piece.ID) {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, size)
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
	return b, piece.Sum(b)
}

// order returns a Nuage-Order header signed by signer (the env's
// coordinator if nil), and the order.
func (e *testEnv) order(signer *identity.Identity, a order.Action, node identity.ID, id piece.ID, size int, ttl time.Duration) (string, order.Order) {
	if signer == nil {
		signer = e.coord
	}
	o := order.New(a, node, id, uint64(size), ttl)
	signed := o.Sign(signer)
	return EncodeOrder(signed), o
}

// do sends a request to the node and returns the answer with its body read.
func (e *testEnv) do(method, path, orderHdr string, body io.Reader, size int64, hdr http.Header) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = size
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if orderHdr != "" {
		req.Header.Set(order.Header, orderHdr)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

// put uploads data as piece id with a fresh PUT order and returns the answer.
func (e *testEnv) put(id piece.ID, data []byte) (*http.Response, []byte, order.Order) {
	e.t.Helper()
	hdr, o := e.order(nil, order.Put, e.node.ID(), id, len(data), time.Minute)
	resp, b := e.do(http.MethodPut, "/v1/pieces/"+id.String(), hdr, bytes.NewReader(data), int64(len(data)), nil)
	return resp, b, o
}

// wantError checks an api.Error answer.
func wantError(t testing.TB, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var e api.Error
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e.Code != code || e.Error == "" {
		t.Fatalf("error %+v, want code %q and a message", e, code)
	}
}

// diskState returns the piece files under dir/pieces with their sizes, and
// the temporary files.
func diskState(t testing.TB, dir string) (pieces map[string]int64, temps []string) {
	t.Helper()
	pieces = map[string]int64{}
	err := filepath.WalkDir(filepath.Join(dir, "pieces"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			temps = append(temps, p)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		pieces[d.Name()] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pieces, temps
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
