package node

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/order"
)

// coordStub is a coordinator answering /api/v1/info and check-ins.
type coordStub struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	infoKey   identity.ID // presented by /info
	answerKey identity.ID // presented in check-in answers
	failNext  int         // answer this many next requests with 503
	checkIns  []api.CheckIn
	requests  int
}

func newCoordStub(t *testing.T, key identity.ID) *coordStub {
	c := &coordStub{t: t, infoKey: key, answerKey: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/info", func(w http.ResponseWriter, r *http.Request) {
		if c.fail(w) {
			return
		}
		c.mu.Lock()
		info := api.Info{Version: "test", Coordinator: c.infoKey, Scheme: api.Scheme{K: 2, N: 3}}
		c.mu.Unlock()
		json.NewEncoder(w).Encode(info)
	})
	mux.HandleFunc("POST /api/v1/nodes/checkin", func(w http.ResponseWriter, r *http.Request) {
		if c.fail(w) {
			return
		}
		var ci api.CheckIn
		if err := json.NewDecoder(r.Body).Decode(&ci); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(api.Error{Error: err.Error(), Code: api.CodeBadRequest})
			return
		}
		if !api.VerifyCheckIn(ci) {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(api.Error{Error: "bad check-in signature", Code: api.CodeUnauthorized})
			t.Errorf("check-in with a bad signature: %+v", ci)
			return
		}
		c.mu.Lock()
		c.checkIns = append(c.checkIns, ci)
		key := c.answerKey
		c.mu.Unlock()
		json.NewEncoder(w).Encode(api.CheckInResponse{Coordinator: key})
	})
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

func (c *coordStub) fail(w http.ResponseWriter) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	if c.failNext > 0 {
		c.failNext--
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(api.Error{Error: "down for maintenance", Code: api.CodeInternal})
		return true
	}
	return false
}

func (c *coordStub) received() []api.CheckIn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]api.CheckIn{}, c.checkIns...)
}

func (c *coordStub) requestCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

// putStatus sends a PUT of a small piece with an order signed by signer to
// the node's handler and returns the status.
func putStatus(t *testing.T, n *Node, signer *identity.Identity) int {
	t.Helper()
	data, id := randomPiece(uint64(time.Now().UnixNano()), 100)
	o := order.New(order.Put, n.ID(), id, uint64(len(data)), time.Minute)
	req := httptest.NewRequest(http.MethodPut, "/v1/pieces/"+id.String(), bytes.NewReader(data))
	req.Header.Set(order.Header, EncodeOrder(o.Sign(signer)))
	w := httptest.NewRecorder()
	n.srv.Handler.ServeHTTP(w, req)
	return w.Code
}

func TestCheckInTrustOnFirstUse(t *testing.T) {
	coord, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	stub := newCoordStub(t, coord.ID())
	dir := t.TempDir()
	logs := &logRecorder{}
	n, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", Capacity: 5 << 20,
		Coordinator: stub.srv.URL + "/", CheckInInterval: 50 * time.Millisecond, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	if got := putStatus(t, n, coord); got != http.StatusForbidden {
		t.Fatalf("order before the coordinator is known: %d, want 403", got)
	}
	n.Close()

	env := startNode(t, Config{DataDir: dir, Capacity: 5 << 20, Coordinator: stub.srv.URL, CheckInInterval: 50 * time.Millisecond})
	waitFor(t, "two check-ins", func() bool { return len(stub.received()) >= 2 })
	ci := stub.received()[0]
	if ci.Node != env.node.ID() || ci.Address != env.node.Addr() || ci.Capacity != 5<<20 || ci.Used != 0 {
		t.Fatalf("check-in %+v", ci)
	}
	if d := time.Since(time.Unix(ci.Time, 0)); d < -time.Second || d > 10*time.Second {
		t.Fatalf("check-in time %d is %v off", ci.Time, d)
	}
	b, err := os.ReadFile(filepath.Join(dir, CoordinatorKeyFile))
	if err != nil || strings.TrimSpace(string(b)) != coord.ID().String() {
		t.Fatalf("pinned key file: %q, %v", b, err)
	}
	if got := putStatus(t, env.node, coord); got != http.StatusOK {
		t.Fatalf("order from the pinned coordinator: %d", got)
	}
	waitFor(t, "a check-in reporting the stored piece", func() bool {
		cis := stub.received()
		return cis[len(cis)-1].Used == 100
	})
}

func TestCheckInRefusesChangedKey(t *testing.T) {
	pinned, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		info, answer      identity.ID
		configured        bool // the key is configured rather than pinned on disk
		wantCheckInsReach bool
	}{
		{"info presents another key", impostor.ID(), impostor.ID(), false, false},
		{"check-in answer presents another key", pinned.ID(), impostor.ID(), false, true},
		{"configured key, info presents another", impostor.ID(), impostor.ID(), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newCoordStub(t, tt.info)
			stub.answerKey = tt.answer
			dir := t.TempDir()
			pinFile := filepath.Join(dir, CoordinatorKeyFile)
			cfg := Config{DataDir: dir, Coordinator: stub.srv.URL, CheckInInterval: 20 * time.Millisecond}
			if tt.configured {
				k := pinned.ID()
				cfg.CoordinatorKey = &k
			} else if err := os.WriteFile(pinFile, []byte(pinned.ID().String()+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			env := startNode(t, cfg)
			waitFor(t, "the refusal to be logged twice", func() bool {
				return env.logs.count(slog.LevelError, "refusing coordinator") >= 2
			})
			rec, _ := env.logs.find(slog.LevelError, "refusing coordinator")
			if !strings.Contains(rec.text, impostor.ID().String()) {
				t.Errorf("error log does not name the new key: %s", rec.text)
			}
			if got := putStatus(t, env.node, impostor); got != http.StatusForbidden {
				t.Fatalf("order from the new key: %d, want 403", got)
			}
			if got := putStatus(t, env.node, pinned); got != http.StatusOK {
				t.Fatalf("order from the pinned key: %d, want 200", got)
			}
			if got := len(stub.received()) > 0; got != tt.wantCheckInsReach {
				t.Fatalf("check-ins sent to the coordinator: %v, want %v", got, tt.wantCheckInsReach)
			}
			b, err := os.ReadFile(pinFile)
			if tt.configured {
				if err == nil {
					t.Fatalf("a configured key was pinned on disk: %q", b)
				}
			} else if err != nil || strings.TrimSpace(string(b)) != pinned.ID().String() {
				t.Fatalf("pin file changed: %q, %v", b, err)
			}
		})
	}
}

func TestCheckInBackoff(t *testing.T) {
	coord, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	stub := newCoordStub(t, coord.ID())
	stub.failNext = 4
	k := coord.ID()
	env := startNode(t, Config{Coordinator: stub.srv.URL, CoordinatorKey: &k, CheckInInterval: 30 * time.Millisecond})
	waitFor(t, "a check-in", func() bool { return len(stub.received()) >= 1 })
	if got := stub.requestCount(); got < 5 {
		t.Fatalf("%d requests before the first check-in, want the 4 failures and retries", got)
	}
	if got := env.logs.count(slog.LevelWarn, "check-in failed"); got != 1 {
		t.Fatalf("%d warnings for one streak of failures, want 1", got)
	}
	waitFor(t, "the recovery log", func() bool { return env.logs.count(slog.LevelInfo, "reachable again") == 1 })

	// A second streak is logged again.
	stub.mu.Lock()
	stub.failNext = 2
	stub.mu.Unlock()
	waitFor(t, "the second streak", func() bool { return env.logs.count(slog.LevelWarn, "check-in failed") == 2 })
	waitFor(t, "the second recovery", func() bool { return env.logs.count(slog.LevelInfo, "reachable again") == 2 })
}

func TestCheckInUnreachable(t *testing.T) {
	stub := newCoordStub(t, identity.ID{1})
	url := stub.srv.URL
	stub.srv.Close() // nothing listens there any more
	env := startNode(t, Config{Coordinator: url, CheckInInterval: 20 * time.Millisecond})
	waitFor(t, "the failure to be logged", func() bool { return env.logs.count(slog.LevelWarn, "check-in failed") == 1 })
	time.Sleep(100 * time.Millisecond) // several retries
	if got := env.logs.count(slog.LevelWarn, "check-in failed"); got != 1 {
		t.Fatalf("%d warnings for one streak, want 1", got)
	}
	if fileExists(filepath.Join(env.dir, CoordinatorKeyFile)) {
		t.Fatal("a key was pinned without contact")
	}
}
