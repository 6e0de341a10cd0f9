package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/testnet"
)

var (
	declareRE  = regexp.MustCompile(`^/api/v1/objects/[0-9a-f]{32}/segments$`)
	segCommit  = regexp.MustCompile(`^/api/v1/objects/[0-9a-f]{32}/segments/\d+/commit$`)
	segListRE  = regexp.MustCompile(`^/api/v1/objects/[0-9a-f]{32}/segments$`)
	objStateRE = regexp.MustCompile(`^/api/v1/objects/[0-9a-f]{32}$`)
)

// proxy stands between the nuage binary and the coordinator: it counts
// the calls that show what a transfer sends or fetches, and can hold a
// chosen call so that the test kills the client at a known point.
type proxy struct {
	rp *httputil.ReverseProxy

	mu         sync.Mutex
	declares   int               // segment declarations
	committed  int               // segment commits answered 204
	journals   int               // POST /journal calls let through
	listFrom   []int             // "from" of every segment listing
	status     *api.ObjectStatus // last GET /objects/{id} answer
	hold       func(p *proxy, r *http.Request) bool
	held       chan struct{} // closed when a call is held
	release    chan struct{} // closed to fail the held calls
	heldClosed bool
}

func newProxy(t *testing.T, target string) (*proxy, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	px := &proxy{rp: httputil.NewSingleHostReverseProxy(u)}
	px.rp.ErrorLog = log.New(io.Discard, "", 0) // killed clients abort their calls
	px.rp.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		px.mu.Lock()
		defer px.mu.Unlock()
		switch {
		case r.Method == http.MethodPost && segCommit.MatchString(r.URL.Path) && resp.StatusCode == http.StatusNoContent:
			px.committed++
		case r.Method == http.MethodGet && objStateRE.MatchString(r.URL.Path) && resp.StatusCode == http.StatusOK:
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			var st api.ObjectStatus
			if json.Unmarshal(b, &st) == nil {
				px.status = &st
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
		}
		return nil
	}
	px.reset(nil)
	srv := httptest.NewServer(px)
	t.Cleanup(srv.Close)
	t.Cleanup(px.unhold)
	return px, srv.URL
}

// reset zeroes the counters and sets which calls to hold.
func (px *proxy) reset(hold func(*proxy, *http.Request) bool) {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.declares, px.committed, px.journals, px.listFrom, px.status = 0, 0, 0, nil, nil
	px.hold, px.held, px.release, px.heldClosed = hold, make(chan struct{}), make(chan struct{}), false
}

// unhold fails the held calls and stops holding.
func (px *proxy) unhold() {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.hold = nil
	select {
	case <-px.release:
	default:
		close(px.release)
	}
}

func (px *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	px.mu.Lock()
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && declareRE.MatchString(p):
		px.declares++
	case r.Method == http.MethodGet && segListRE.MatchString(p):
		from, _ := strconv.Atoi(r.URL.Query().Get("from"))
		px.listFrom = append(px.listFrom, from)
	}
	if px.hold != nil && px.hold(px, r) {
		if !px.heldClosed {
			px.heldClosed = true
			close(px.held)
		}
		release := px.release
		px.mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "held by the test", http.StatusServiceUnavailable)
		return
	}
	if r.Method == http.MethodPost && p == "/api/v1/journal" {
		px.journals++
	}
	px.mu.Unlock()
	px.rp.ServeHTTP(w, r)
}

// cli runs the nuage binary against the proxy.
type cli struct {
	t   *testing.T
	bin string
	env []string
	dir string
}

func (c *cli) cmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Dir = c.dir
	return cmd
}

func (c *cli) run(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.cmd(ctx, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("nuage %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// killWhenHeld starts nuage args, waits until the proxy holds one of its
// calls, SIGKILLs it and fails the held calls.
func (c *cli) killWhenHeld(px *proxy, args ...string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := c.cmd(ctx, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	px.mu.Lock()
	held := px.held
	px.mu.Unlock()
	select {
	case <-held:
	case err := <-exited:
		c.t.Fatalf("nuage %s ended before it could be interrupted (%v):\n%s", strings.Join(args, " "), err, out.String())
	case <-ctx.Done():
		c.t.Fatalf("nuage %s: never reached the held call", strings.Join(args, " "))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatal(err)
	}
	<-exited
	px.unhold()
}

func buildNuage(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nuage")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func randomFile(t *testing.T, p string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKillAndRerun SIGKILLs the real binary in the middle of a put, a get,
// a put -r and a get -r, re-runs each, and checks that the re-run sends or
// fetches only what is missing and that the result is intact.
func TestKillAndRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it")
	}
	const seg = 256 << 10 // testnet segment size
	const segments = 40
	net := testnet.New(t, testnet.Options{})
	px, url := newProxy(t, net.URL)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg")
	c := &cli{t: t, bin: buildNuage(t), dir: dir,
		env: []string{"NUAGE_SERVER=" + url, "NUAGE_CONFIG=" + cfg, "NUAGE_PASSWORD=kill and rerun test password"}}
	c.run("signup", "kill@example.org")
	data := randomFile(t, filepath.Join(dir, "big.bin"), segments*seg-777)

	t.Run("put", func(t *testing.T) {
		c.t = t
		// Hold the first segment declared after 5 are committed.
		px.reset(func(px *proxy, r *http.Request) bool {
			return r.Method == http.MethodPost && declareRE.MatchString(r.URL.Path) && px.committed >= 5
		})
		c.killWhenHeld(px, "put", "big.bin", "/big.bin")
		states, _ := filepath.Glob(filepath.Join(cfg, "uploads", "*.json"))
		if len(states) != 1 {
			t.Fatalf("%d upload states after the kill, want 1: %v", len(states), states)
		}
		if st, err := os.Stat(states[0]); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("upload state: %v, mode %v (want 0600)", err, st.Mode())
		}
		if out, err := c.cmd(context.Background(), "stat", "/big.bin").CombinedOutput(); err == nil {
			t.Fatalf("an interrupted put left /big.bin:\n%s", out)
		}

		px.reset(nil)
		out := c.run("put", "big.bin", "/big.bin")
		m := regexp.MustCompile(`resuming the upload of /big.bin: (\d+) of (\d+) segments already stored`).FindStringSubmatch(out)
		if m == nil || m[2] != strconv.Itoa(segments) {
			t.Fatalf("the re-run did not say it resumes:\n%s", out)
		}
		px.mu.Lock()
		declares, st := px.declares, px.status
		px.mu.Unlock()
		if st == nil || len(st.Committed) < 5 {
			t.Fatalf("coordinator status at the resume: %+v, want at least 5 committed segments", st)
		}
		if want := segments - len(st.Committed); declares != want {
			t.Errorf("the re-run declared %d segments, want %d (%d of %d were stored before the kill)", declares, want, len(st.Committed), segments)
		}
		if states, _ := filepath.Glob(filepath.Join(cfg, "uploads", "*.json")); len(states) != 0 {
			t.Errorf("upload state left after success: %v", states)
		}
		c.run("get", "/big.bin", "check.bin")
		if got, err := os.ReadFile(filepath.Join(dir, "check.bin")); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("resumed upload reads back differently (%v)", err)
		}
	})

	t.Run("get", func(t *testing.T) {
		c.t = t
		// Hold the listing of the second batch of segments (16 per batch).
		px.reset(func(px *proxy, r *http.Request) bool {
			return r.Method == http.MethodGet && segListRE.MatchString(r.URL.Path) && r.URL.Query().Get("from") != "0"
		})
		c.killWhenHeld(px, "get", "/big.bin", "dl.bin")
		if _, err := os.Stat(filepath.Join(dir, "dl.bin")); err == nil {
			t.Fatal("an interrupted get left the destination file")
		}
		ps, ok := loadPartial(filepath.Join(dir, ".dl.bin.nuage-partial.json"))
		// Progress is recorded at most once a second (and at the first
		// callback), so Done may be any point the client reported.
		if !ok || ps.Done <= 0 || ps.Done >= int64(len(data)) || ps.Size != int64(len(data)) {
			t.Fatalf("partial download state: %+v (found %v), want some progress recorded", ps, ok)
		}
		px.reset(nil)
		out := c.run("get", "/big.bin", "dl.bin")
		if !strings.Contains(out, "resuming the download of /big.bin at") {
			t.Fatalf("the re-run did not say it resumes:\n%s", out)
		}
		px.mu.Lock()
		from := px.listFrom
		px.mu.Unlock()
		if len(from) == 0 || int64(from[0]) != ps.Done/seg {
			t.Errorf("the re-run fetched segments from %v, want from %d", from, ps.Done/seg)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "dl.bin")); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("resumed download differs (%v)", err)
		}
		for _, p := range []string{".dl.bin.nuage-partial", ".dl.bin.nuage-partial.json"} {
			if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
				t.Errorf("%s left after success", p)
			}
		}
	})

	t.Run("put -r", func(t *testing.T) {
		c.t = t
		want := map[string][]byte{}
		for i := range 12 {
			name := fmt.Sprintf("f%02d.txt", i)
			if i%3 == 0 {
				name = "sub/" + name
			}
			want[name] = randomFile(t, filepath.Join(dir, "tree", filepath.FromSlash(name)), 100+i)
		}
		want["sub/big.bin"] = data
		if err := os.WriteFile(filepath.Join(dir, "tree", "sub", "big.bin"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		// The two folders are created first; hold the first file's commit.
		px.reset(func(px *proxy, r *http.Request) bool {
			return r.Method == http.MethodPost && r.URL.Path == "/api/v1/journal" && px.journals >= 2
		})
		c.killWhenHeld(px, "put", "-r", "tree", "/backup")
		px.reset(nil)
		// /backup now exists: without the saved job, cp -r semantics
		// would put the copy in /backup/tree.
		out := c.run("put", "-r", "tree", "/backup")
		if !strings.Contains(out, "continuing the interrupted upload of tree to /backup") {
			t.Fatalf("the re-run did not say it continues:\n%s", out)
		}
		c.run("get", "-r", "/backup", "restored")
		for name, b := range want {
			got, err := os.ReadFile(filepath.Join(dir, "restored", filepath.FromSlash(name)))
			if err != nil || !bytes.Equal(got, b) {
				t.Errorf("%s: %v (or content differs)", name, err)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "restored", "tree")); err == nil {
			t.Error("the re-run nested a second copy")
		}
	})

	t.Run("get -r", func(t *testing.T) {
		c.t = t
		px.reset(func(px *proxy, r *http.Request) bool {
			return r.Method == http.MethodGet && segListRE.MatchString(r.URL.Path) && r.URL.Query().Get("from") != "0"
		})
		c.killWhenHeld(px, "get", "-r", "--jobs", "1", "/backup", "again")
		px.reset(nil)
		out := c.run("get", "-r", "/backup", "again")
		if !strings.Contains(out, "continuing the interrupted download of /backup") || !strings.Contains(out, "resuming the download of /backup/sub/big.bin") {
			t.Fatalf("the re-run did not say it continues:\n%s", out)
		}
		got, err := os.ReadFile(filepath.Join(dir, "again", "sub", "big.bin"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("big.bin after the re-run: %v (or content differs)", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "again", "backup")); err == nil {
			t.Error("the re-run nested a second copy")
		}
	})
}
