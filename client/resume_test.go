package client_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/testnet"
)

var (
	declarePath = regexp.MustCompile(`^/api/v1/objects/[0-9a-f]{32}/segments$`)
	statusPath  = regexp.MustCompile(`^/api/v1/objects/[0-9a-f]{32}$`)
	objectsPath = regexp.MustCompile(`^/api/v1/objects$`)
)

// recorder is a coordinator transport that counts segment declarations
// and new uploads, remembers the last upload status the coordinator
// answered, and can fail chosen requests.
type recorder struct {
	mu       sync.Mutex
	declares int
	creates  int
	status   *api.ObjectStatus
	fail     func(*http.Request) bool
	// staleOnce, if set, rewrites the next upload status answered.
	staleOnce func(*api.ObjectStatus)
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	p := req.URL.Path
	r.mu.Lock()
	fail := r.fail
	switch {
	case req.Method == http.MethodPost && declarePath.MatchString(p):
		r.declares++
	case req.Method == http.MethodPost && objectsPath.MatchString(p):
		r.creates++
	}
	r.mu.Unlock()
	if fail != nil && fail(req) {
		return nil, errors.New("recorder: request refused by the test")
	}
	// Forward without the caller's cancellation: when an interrupted upload
	// returns, every request it sent has been answered, so the coordinator's
	// state is settled before the test looks at it (a real interruption can
	// leave a commit in flight; the client copes with that separately).
	resp, err := http.DefaultTransport.RoundTrip(req.WithContext(context.WithoutCancel(req.Context())))
	if err == nil && req.Method == http.MethodGet && statusPath.MatchString(p) && resp.StatusCode == http.StatusOK {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		var st api.ObjectStatus
		if json.Unmarshal(b, &st) == nil {
			r.mu.Lock()
			r.status = &st
			if f := r.staleOnce; f != nil {
				r.staleOnce = nil
				f(&st)
				b, _ = json.Marshal(st)
			}
			r.mu.Unlock()
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, err
}

// reset zeroes the counters and sets the failure rule.
func (r *recorder) reset(fail func(*http.Request) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.declares, r.creates, r.status, r.fail = 0, 0, nil, fail
}

func (r *recorder) counts() (declares, creates int, status *api.ObjectStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.declares, r.creates, r.status
}

func signupRecorded(t *testing.T, net *testnet.Network) (*client.Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts := net.ClientOptions()
	opts.HTTPClient = &http.Client{Transport: rec, Timeout: time.Minute}
	kdf := testnet.CheapKDF()
	c, err := client.Signup(ctxT(t), net.URL, testnet.NewEmail(), []byte(testnet.Password), &client.SignupOptions{KDF: &kdf}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rec
}

// onlyReader hides io.ReaderAt, so the upload reads sequentially.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(b []byte) (int, error) { return o.r.Read(b) }

// interruptedPut starts a resumable put of data and cancels it once stop
// segments are committed; it returns the saved state, as a new process
// would read it back.
func interruptedPut(t *testing.T, c *client.Client, p string, data []byte, stop int) *client.ResumeState {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var saved []byte
	rs := &client.ResumeState{Save: func(s *client.ResumeState) error {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		saved = b
		if len(s.Done) >= stop {
			cancel()
		}
		return nil
	}}
	_, err := c.Put(ctx, p, bytes.NewReader(data), int64(len(data)), &client.PutOptions{Resume: rs})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted put: %v, want context.Canceled", err)
	}
	if _, err := c.Stat(ctxT(t), p); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("an interrupted put left %s behind (stat: %v)", p, err)
	}
	var out client.ResumeState
	if err := json.Unmarshal(saved, &out); err != nil {
		t.Fatalf("saved state: %v", err)
	}
	if !out.Resumed() || len(out.Done) < stop || len(out.Key) != 32 || out.Size != int64(len(data)) {
		t.Fatalf("saved state is incomplete: %+v", out)
	}
	return &out
}

func TestResumeUpload(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c, rec := signupRecorded(t, net)
	const seg = 256 << 10
	const segments = 10
	data := randBytes(t, segments*seg-1234)

	for _, tc := range []struct {
		name string
		wrap func([]byte) io.Reader
	}{
		{"ReaderAt", func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"Reader", func(b []byte) io.Reader { return onlyReader{bytes.NewReader(b)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := "/resume-" + tc.name
			rec.reset(nil)
			rs := interruptedPut(t, c, p, data, 3)
			rec.reset(nil)
			var saves int
			rs.Save = func(*client.ResumeState) error { saves++; return nil }
			var progressed int64
			var mu sync.Mutex
			e, err := c.Put(ctxT(t), p, tc.wrap(data), int64(len(data)), &client.PutOptions{Resume: rs, Progress: func(n int64) {
				mu.Lock()
				progressed += n
				mu.Unlock()
			}})
			if err != nil {
				t.Fatalf("resumed put: %v", err)
			}
			declares, creates, st := rec.counts()
			if st == nil {
				t.Fatal("the resumed put did not ask the coordinator which segments are stored")
			}
			if len(st.Committed) < 3 {
				t.Fatalf("coordinator reports %d committed segments after the interruption, want at least 3", len(st.Committed))
			}
			if want := segments - len(st.Committed); declares != want || saves != want {
				t.Errorf("resumed put declared %d segments and saved %d times, want %d (%d of %d were stored)", declares, saves, want, len(st.Committed), segments)
			}
			if creates != 0 || e.Object != rs.Object {
				t.Errorf("resumed put started a new upload (creates %d, object %s, state %s)", creates, e.Object, rs.Object)
			}
			if progressed != int64(len(data)) {
				t.Errorf("progress reported %d bytes, want %d", progressed, len(data))
			}
			if got := get(t, c, p); !bytes.Equal(got, data) {
				t.Fatal("resumed file differs")
			}
		})
	}

	// A commit of the interrupted run can land after the resumed run asked
	// what was stored: the resumed run then finds that segment committed
	// when it declares it, and must take it as done.
	t.Run("CommittedMeanwhile", func(t *testing.T) {
		rec.reset(nil)
		rs := interruptedPut(t, c, "/meanwhile", data, 3)
		rec.mu.Lock()
		rec.staleOnce = func(st *api.ObjectStatus) { st.Committed = st.Committed[:len(st.Committed)-1] }
		rec.mu.Unlock()
		if _, err := c.Put(ctxT(t), "/meanwhile", bytes.NewReader(data), int64(len(data)), &client.PutOptions{Resume: rs}); err != nil {
			t.Fatalf("resume with a stale status: %v", err)
		}
		if got := get(t, c, "/meanwhile"); !bytes.Equal(got, data) {
			t.Fatal("file differs")
		}
	})

	t.Run("OtherSize", func(t *testing.T) {
		rec.reset(nil)
		rs := interruptedPut(t, c, "/other", data, 2)
		old := rs.Object
		rec.reset(nil)
		short := data[:len(data)-seg]
		e, err := c.Put(ctxT(t), "/other", bytes.NewReader(short), int64(len(short)), &client.PutOptions{Resume: rs})
		if err != nil {
			t.Fatal(err)
		}
		declares, creates, _ := rec.counts()
		if creates != 1 || declares != segments-1 || e.Object == old || e.Object != rs.Object {
			t.Errorf("a state for another size was reused: creates %d, declares %d", creates, declares)
		}
		if got := get(t, c, "/other"); !bytes.Equal(got, short) {
			t.Fatal("file differs")
		}
	})

	t.Run("ObjectGone", func(t *testing.T) {
		rec.reset(nil)
		rs := interruptedPut(t, c, "/gone", data, 2)
		old := rs.Object
		acct, obj := ids(t, c.State().Account), ids(t, old)
		if err := net.DB.DeleteObject(ctxT(t), acct, obj); err != nil {
			t.Fatal(err)
		}
		rec.reset(nil)
		e, err := c.Put(ctxT(t), "/gone", bytes.NewReader(data), int64(len(data)), &client.PutOptions{Resume: rs})
		if err != nil {
			t.Fatal(err)
		}
		declares, creates, _ := rec.counts()
		if creates != 1 || declares != segments || e.Object == old || e.Object != rs.Object {
			t.Errorf("an upload the coordinator dropped was not started over: creates %d, declares %d", creates, declares)
		}
		if got := get(t, c, "/gone"); !bytes.Equal(got, data) {
			t.Fatal("file differs")
		}
	})

	t.Run("SealedNotRecorded", func(t *testing.T) {
		// Everything is stored and sealed, but the tree change (and the
		// abandon that follows its failure) never reach the coordinator:
		// as if the process died between the two.
		rec.reset(func(r *http.Request) bool {
			return r.Method == http.MethodDelete ||
				(r.Method == http.MethodPost && (r.URL.Path == "/api/v1/journal" || r.URL.Path == "/api/v1/entries"))
		})
		var saved *client.ResumeState
		rs := &client.ResumeState{Save: func(s *client.ResumeState) error { cp := *s; saved = &cp; return nil }}
		if _, err := c.Put(ctxT(t), "/sealed", bytes.NewReader(data), int64(len(data)), &client.PutOptions{Resume: rs}); err == nil {
			t.Fatal("put succeeded without recording the file")
		}
		if saved == nil || len(saved.Done) != segments {
			t.Fatalf("state after a complete upload: %+v", saved)
		}
		rec.reset(nil)
		saved.Save = nil
		e, err := c.Put(ctxT(t), "/sealed", bytes.NewReader(data), int64(len(data)), &client.PutOptions{Resume: saved})
		if err != nil {
			t.Fatal(err)
		}
		declares, creates, _ := rec.counts()
		if declares != 0 || creates != 0 || e.Object != saved.Object {
			t.Errorf("a sealed upload was sent again: declares %d, creates %d", declares, creates)
		}
		if got := get(t, c, "/sealed"); !bytes.Equal(got, data) {
			t.Fatal("file differs")
		}
	})

	t.Run("SaveFails", func(t *testing.T) {
		rec.reset(nil)
		boom := errors.New("disk full")
		rs := &client.ResumeState{Save: func(s *client.ResumeState) error {
			if len(s.Done) == 2 {
				return boom
			}
			return nil
		}}
		_, err := c.Put(ctxT(t), "/savefails", bytes.NewReader(data), int64(len(data)), &client.PutOptions{Resume: rs})
		if !errors.Is(err, boom) {
			t.Fatalf("put with a failing Save: %v, want %v", err, boom)
		}
	})

	t.Run("ShrunkSource", func(t *testing.T) {
		rec.reset(nil)
		rs := interruptedPut(t, c, "/shrunk", data, 2)
		// The saved size is announced, but the file is now shorter.
		_, err := c.Put(ctxT(t), "/shrunk", bytes.NewReader(data[:len(data)-5]), int64(len(data)), &client.PutOptions{Resume: rs})
		if err == nil {
			t.Fatal("put of a source shorter than announced succeeded")
		}
		_, err = c.Put(ctxT(t), "/shrunk", bytes.NewReader(append(bytes.Clone(data), 1)), int64(len(data)), &client.PutOptions{Resume: rs})
		if err == nil {
			t.Fatal("put of a source longer than announced succeeded")
		}
	})
}

func ids(t *testing.T, s string) metadb.ID16 {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("bad ID %q", s)
	}
	return metadb.ID16(b)
}
