package client_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/testnet"
)

// hostileProxy sits between clients and the coordinator and rewrites the
// coordinator's answers: a coordinator taken over by an attacker.
type hostileProxy struct {
	*httptest.Server
	mu       sync.Mutex
	rewrite  func(r *http.Request, body []byte) []byte // nil: pass through
	recorded map[string][]byte                         // last answer per path and query
}

func newHostileProxy(t *testing.T, coordinator string) *hostileProxy {
	t.Helper()
	u, err := url.Parse(coordinator)
	if err != nil {
		t.Fatal(err)
	}
	p := &hostileProxy{recorded: map[string][]byte{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		r := resp.Request
		p.mu.Lock()
		p.recorded[r.Method+" "+r.URL.RequestURI()] = body
		fn := p.rewrite
		p.mu.Unlock()
		if fn != nil && resp.StatusCode/100 == 2 {
			body = fn(r, body)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	p.Server = httptest.NewServer(rp)
	t.Cleanup(p.Close)
	return p
}

func (p *hostileProxy) set(fn func(r *http.Request, body []byte) []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewrite = fn
}

// answer returns the last answer recorded for method and path (with query).
func (p *hostileProxy) answer(t *testing.T, method, pathAndQuery string) []byte {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.recorded[method+" "+api.Prefix+pathAndQuery]
	if !ok {
		t.Fatalf("no answer recorded for %s %s", method, pathAndQuery)
	}
	return b
}

// onPath rewrites the JSON answers to GET requests for exactly path
// (without query) into a T, edited by edit.
func onPath[T any](t *testing.T, path string, edit func(*T)) func(*http.Request, []byte) []byte {
	return func(r *http.Request, body []byte) []byte {
		if r.Method != http.MethodGet || r.URL.Path != api.Prefix+path {
			return body
		}
		var v T
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("proxy: decode %s: %v", path, err)
			return body
		}
		edit(&v)
		out, err := json.Marshal(v)
		if err != nil {
			t.Errorf("proxy: encode %s: %v", path, err)
		}
		return out
	}
}

// tamperEnv is a test network, a proxy in front of its coordinator and an
// account whose client writes directly to the coordinator.
type tamperEnv struct {
	net    *testnet.Network
	proxy  *hostileProxy
	email  string
	writer *client.Client
}

func newTamperEnv(t *testing.T, net *testnet.Network) *tamperEnv {
	t.Helper()
	email := testnet.NewEmail()
	return &tamperEnv{net: net, proxy: newHostileProxy(t, net.URL), email: email, writer: net.SignupAs(t, email)}
}

// reader logs in through the proxy, like a new device of the account.
func (e *tamperEnv) reader(t *testing.T, opts *client.Options) *client.Client {
	t.Helper()
	if opts == nil {
		opts = e.net.ClientOptions()
	}
	c, err := client.Login(ctxT(t), e.proxy.URL, e.email, []byte(testnet.Password), nil, opts)
	if err != nil {
		t.Fatalf("login through the proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rootID returns the ID of the account's root folder.
func rootID(t *testing.T, c *client.Client) string {
	t.Helper()
	e, err := c.Stat(ctxT(t), "/")
	if err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// wantTampered checks that err reports tampering, and that nothing was
// written.
func wantTampered(t *testing.T, what string, err error, out *bytes.Buffer) {
	t.Helper()
	if !errors.Is(err, client.ErrTampered) {
		t.Fatalf("%s: err = %v, want ErrTampered", what, err)
	}
	if out != nil && out.Len() != 0 {
		t.Fatalf("%s: %d bytes written although the data is refused", what, out.Len())
	}
	if client.HintOf(err) == "" {
		t.Errorf("%s: no hint with %v", what, err)
	}
}

// recSeq returns the seq of an encoded journal record (0 if too short).
func recSeq(r []byte) uint64 {
	if len(r) < 9 {
		return 0
	}
	return binary.BigEndian.Uint64(r[1:9])
}

// refusedEverywhere checks that every operation that reads p from c fails with
// ErrTampered and returns nothing.
func refusedEverywhere(t *testing.T, c *client.Client, p string) {
	t.Helper()
	ctx := ctxT(t)
	var buf bytes.Buffer
	_, err := c.Get(ctx, p, &buf, nil)
	wantTampered(t, "get "+p, err, &buf)
	es, err := c.List(ctx, "/")
	wantTampered(t, "ls /", err, nil)
	if es != nil {
		t.Fatalf("ls / returned %d entries with the error", len(es))
	}
	err = c.Walk(ctx, "/", func(client.Entry) error { return nil })
	wantTampered(t, "walk /", err, nil)
}

func TestMaliciousCoordinator(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	secret := []byte("the plaintext of /a: never shown wrong")

	t.Run("flipped bit in an entry's metadata", func(t *testing.T) {
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		put(t, e.writer, "/b", []byte("other"))
		r := e.reader(t, nil)
		root := rootID(t, e.writer)
		e.proxy.set(onPath(t, "/entries/"+root+"/children", func(ch *api.Children) {
			for i := range ch.Entries {
				ch.Entries[i].Meta[20] ^= 0x04
			}
		}))
		refusedEverywhere(t, r, "/a")
	})

	t.Run("flipped bit in a wrapped key", func(t *testing.T) {
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		r := e.reader(t, nil)
		e.proxy.set(onPath(t, "/entries/"+rootID(t, e.writer)+"/children", func(ch *api.Children) {
			ch.Entries[0].WrappedKey[30] ^= 0x01
		}))
		refusedEverywhere(t, r, "/a")
	})

	t.Run("two entries' metadata swapped", func(t *testing.T) {
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		put(t, e.writer, "/b", []byte("other"))
		r := e.reader(t, nil)
		e.proxy.set(onPath(t, "/entries/"+rootID(t, e.writer)+"/children", func(ch *api.Children) {
			ch.Entries[0].Meta, ch.Entries[1].Meta = ch.Entries[1].Meta, ch.Entries[0].Meta
		}))
		refusedEverywhere(t, r, "/a")
	})

	t.Run("two files' wrapped keys swapped", func(t *testing.T) {
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		put(t, e.writer, "/b", []byte("other"))
		r := e.reader(t, nil)
		e.proxy.set(onPath(t, "/entries/"+rootID(t, e.writer)+"/children", func(ch *api.Children) {
			ch.Entries[0].WrappedKey, ch.Entries[1].WrappedKey = ch.Entries[1].WrappedKey, ch.Entries[0].WrappedKey
		}))
		refusedEverywhere(t, r, "/a")
	})

	t.Run("another user's entries served", func(t *testing.T) {
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		r := e.reader(t, nil)
		// User B, through the proxy too, so its answers are recorded.
		other := newTamperEnv(t, net)
		other.proxy = e.proxy
		put(t, other.writer, "/a", []byte("user B's file"))
		rb := other.reader(t, nil)
		bRoot := rootID(t, rb)
		if _, err := rb.List(ctxT(t), "/"); err != nil {
			t.Fatal(err)
		}
		bListing := e.proxy.answer(t, http.MethodGet, "/entries/"+bRoot+"/children")
		aRoot := rootID(t, e.writer)
		e.proxy.set(func(req *http.Request, body []byte) []byte {
			if req.URL.Path == api.Prefix+"/entries/"+aRoot+"/children" {
				return bListing
			}
			return body
		})
		refusedEverywhere(t, r, "/a")
		// B's entries with A's IDs as parent: still refused.
		e.proxy.set(onPath(t, "/entries/"+aRoot+"/children", func(ch *api.Children) {
			var b api.Children
			if err := json.Unmarshal(bListing, &b); err != nil {
				t.Error(err)
			}
			for i := range b.Entries {
				b.Entries[i].Parent = aRoot
			}
			ch.Entries = b.Entries
		}))
		refusedEverywhere(t, r, "/a")
	})

	t.Run("old version of an entry replayed", func(t *testing.T) {
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", []byte("version 1"))
		root := rootID(t, e.writer)
		probe := e.reader(t, nil)
		if _, err := probe.List(ctxT(t), "/"); err != nil {
			t.Fatal(err)
		}
		old := e.proxy.answer(t, http.MethodGet, "/entries/"+root+"/children")
		if _, err := e.writer.Put(ctxT(t), "/a", bytes.NewReader([]byte("version 2")), 9, &client.PutOptions{Overwrite: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.writer.Move(ctxT(t), "/a", "/renamed", false); err != nil {
			t.Fatal(err)
		}
		e.proxy.set(func(req *http.Request, body []byte) []byte {
			if req.URL.Path == api.Prefix+"/entries/"+root+"/children" {
				return old
			}
			return body
		})
		r := e.reader(t, nil)
		var buf bytes.Buffer
		_, err := r.Get(ctxT(t), "/a", &buf, nil)
		wantTampered(t, "get the replayed /a", err, &buf)
		_, err = r.Get(ctxT(t), "/renamed", &buf, nil)
		wantTampered(t, "get /renamed", err, &buf)
		// The client that saw the listing before is not fooled either.
		_, err = probe.Get(ctxT(t), "/a", &buf, nil)
		wantTampered(t, "get /a on the first device", err, &buf)
	})

	t.Run("child dropped from a listing", func(t *testing.T) {
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		put(t, e.writer, "/b", []byte("hidden"))
		r := e.reader(t, nil)
		e.proxy.set(onPath(t, "/entries/"+rootID(t, e.writer)+"/children", func(ch *api.Children) {
			ch.Entries = ch.Entries[:1]
		}))
		refusedEverywhere(t, r, "/a")
		_, err := r.Stat(ctxT(t), "/b")
		wantTampered(t, "stat the hidden file", err, nil)
	})

	t.Run("child added to a listing", func(t *testing.T) {
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		if _, err := e.writer.Mkdir(ctxT(t), "/d", false); err != nil {
			t.Fatal(err)
		}
		put(t, e.writer, "/d/inner", []byte("moved in by the coordinator"))
		r := e.reader(t, nil)
		dEntry, err := e.writer.Stat(ctxT(t), "/d")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.List(ctxT(t), "/d"); err != nil {
			t.Fatal(err)
		}
		inner := e.proxy.answer(t, http.MethodGet, "/entries/"+dEntry.ID+"/children")
		e.proxy.set(onPath(t, "/entries/"+rootID(t, e.writer)+"/children", func(ch *api.Children) {
			var in api.Children
			if err := json.Unmarshal(inner, &in); err != nil {
				t.Error(err)
			}
			ch.Entries = append(ch.Entries, in.Entries...)
		}))
		r2 := e.reader(t, nil)
		refusedEverywhere(t, r2, "/a")
	})

	t.Run("entry read alone is tampered", func(t *testing.T) {
		// The trash names the folder an item came from; that folder is
		// read with GET /entries/{id}.
		e := newTamperEnv(t, net)
		if _, err := e.writer.Mkdir(ctxT(t), "/d", false); err != nil {
			t.Fatal(err)
		}
		put(t, e.writer, "/d/f", secret)
		if err := e.writer.Remove(ctxT(t), "/d/f", false); err != nil {
			t.Fatal(err)
		}
		d, err := e.writer.Stat(ctxT(t), "/d")
		if err != nil {
			t.Fatal(err)
		}
		e.proxy.set(onPath(t, "/entries/"+d.ID, func(en *api.Entry) { en.Meta[len(en.Meta)-1] ^= 1 }))
		r := e.reader(t, nil)
		_, err = r.Trash(ctxT(t))
		wantTampered(t, "trash ls", err, nil)
	})

	t.Run("journal truncated: rollback", func(t *testing.T) {
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		put(t, e.writer, "/b", secret)
		dir := t.TempDir()
		opts := e.net.ClientOptions()
		opts.StateDir = dir
		r := e.reader(t, opts)
		if _, err := r.List(ctxT(t), "/"); err != nil {
			t.Fatal(err)
		}
		st := r.State()
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		// The coordinator now claims the journal ends one record earlier.
		e.proxy.set(onPath(t, "/journal", func(jr *api.JournalRecords) {
			jr.Latest--
			jr.Records = nil
		}))
		again, err := client.New(st, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		_, err = again.List(ctxT(t), "/")
		if !errors.Is(err, client.ErrRollback) || !errors.Is(err, client.ErrTampered) {
			t.Fatalf("rolled-back journal: %v, want ErrRollback and ErrTampered", err)
		}
		if !strings.Contains(err.Error(), "rolled") {
			t.Errorf("the error does not say what happened: %v", err)
		}
		// A new login on the same device (same state directory) too.
		again2 := e.reader(t, opts)
		if _, err := again2.Stat(ctxT(t), "/a"); !errors.Is(err, client.ErrRollback) {
			t.Fatalf("new login on the same device: %v, want ErrRollback", err)
		}
		// Serving fewer records than the latest it claims is refused too.
		e.proxy.set(onPath(t, "/journal", func(jr *api.JournalRecords) {
			if len(jr.Records) > 0 {
				jr.Records = jr.Records[:len(jr.Records)-1]
			}
		}))
		fresh := e.reader(t, nil)
		_, err = fresh.List(ctxT(t), "/")
		wantTampered(t, "journal with its last record withheld", err, nil)
	})

	t.Run("journal records reordered", func(t *testing.T) {
		// A consistent attacker: records 2 and 3 always come in swapped.
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		put(t, e.writer, "/b", secret)
		e.proxy.set(onPath(t, "/journal", func(jr *api.JournalRecords) {
			for i := 0; i+1 < len(jr.Records); i++ {
				if recSeq(jr.Records[i]) == 2 && recSeq(jr.Records[i+1]) == 3 {
					jr.Records[i], jr.Records[i+1] = jr.Records[i+1], jr.Records[i]
				}
			}
		}))
		r := e.reader(t, nil)
		refusedEverywhere(t, r, "/a")
	})

	t.Run("journal record tampered", func(t *testing.T) {
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		e.proxy.set(onPath(t, "/journal", func(jr *api.JournalRecords) {
			for _, rec := range jr.Records {
				rec[60] ^= 0x80 // an entry ID or hash bit
			}
		}))
		r := e.reader(t, nil)
		refusedEverywhere(t, r, "/a")
	})

	t.Run("journal record dropped from the middle", func(t *testing.T) {
		// A consistent attacker: record 2 is never served.
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		put(t, e.writer, "/b", secret)
		e.proxy.set(onPath(t, "/journal", func(jr *api.JournalRecords) {
			jr.Records = slices.DeleteFunc(jr.Records, func(r []byte) bool { return recSeq(r) == 2 })
		}))
		r := e.reader(t, nil)
		refusedEverywhere(t, r, "/a")
	})

	t.Run("different root served at login", func(t *testing.T) {
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		other := net.Signup(t)
		otherRoot := other.State().Root
		// Another account's root.
		e.proxy.set(func(req *http.Request, body []byte) []byte {
			if req.URL.Path != api.Prefix+"/login" {
				return body
			}
			var s api.Session
			if err := json.Unmarshal(body, &s); err != nil {
				t.Error(err)
			}
			s.Root = otherRoot
			out, _ := json.Marshal(s)
			return out
		})
		_, err := client.Login(ctxT(t), e.proxy.URL, e.email, []byte(testnet.Password), nil, net.ClientOptions())
		wantTampered(t, "login with another account's root", err, nil)
		// The account's own trash as its root, and the reverse.
		e.proxy.set(func(req *http.Request, body []byte) []byte {
			if req.URL.Path != api.Prefix+"/login" {
				return body
			}
			var s api.Session
			if err := json.Unmarshal(body, &s); err != nil {
				t.Error(err)
			}
			s.Root, s.Trash = s.Trash, s.Root
			out, _ := json.Marshal(s)
			return out
		})
		_, err = client.Login(ctxT(t), e.proxy.URL, e.email, []byte(testnet.Password), nil, net.ClientOptions())
		wantTampered(t, "login with root and trash swapped", err, nil)
		// Another public key.
		e.proxy.set(func(req *http.Request, body []byte) []byte {
			if req.URL.Path != api.Prefix+"/login" {
				return body
			}
			var s api.Session
			if err := json.Unmarshal(body, &s); err != nil {
				t.Error(err)
			}
			s.PublicKey = other.PublicKey()
			out, _ := json.Marshal(s)
			return out
		})
		_, err = client.Login(ctxT(t), e.proxy.URL, e.email, []byte(testnet.Password), nil, net.ClientOptions())
		wantTampered(t, "login with another account's public key", err, nil)
	})

	t.Run("root entry replaced after login", func(t *testing.T) {
		// A saved session whose root entry was altered does not open.
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		st := e.writer.State()
		st.Server = e.proxy.URL
		st.Root.Meta = append([]byte(nil), st.Root.Meta...)
		st.Root.Meta[15] ^= 1
		if _, err := client.New(st, net.ClientOptions()); !errors.Is(err, client.ErrTampered) {
			t.Fatalf("session with a tampered root: %v", err)
		}
	})

	t.Run("file's object swapped for another of the same user", func(t *testing.T) {
		e := newTamperEnv(t, net)
		x := randBytes(t, 300000)
		y := randBytes(t, 300000)
		put(t, e.writer, "/x", x)
		put(t, e.writer, "/y", y)
		root := rootID(t, e.writer)
		// The entry lists y's object.
		e.proxy.set(onPath(t, "/entries/"+root+"/children", func(ch *api.Children) {
			ch.Entries[0].Objects, ch.Entries[1].Objects = ch.Entries[1].Objects, ch.Entries[0].Objects
		}))
		r := e.reader(t, nil)
		refusedEverywhere(t, r, "/x")

		// The coordinator serves y's segments when asked for x's.
		e.proxy.set(nil)
		r2 := e.reader(t, nil)
		xe, err := r2.Stat(ctxT(t), "/x")
		if err != nil {
			t.Fatal(err)
		}
		ye, err := r2.Stat(ctxT(t), "/y")
		if err != nil {
			t.Fatal(err)
		}
		if got := get(t, r2, "/y"); !bytes.Equal(got, y) {
			t.Fatal("wrong data for /y")
		}
		var ySegs []byte
		e.proxy.mu.Lock()
		for k, v := range e.proxy.recorded {
			if strings.HasPrefix(k, "GET "+api.Prefix+"/objects/"+ye.Object+"/segments") {
				ySegs = v
			}
		}
		e.proxy.mu.Unlock()
		if ySegs == nil {
			t.Fatal("no segments of /y recorded")
		}
		e.proxy.set(func(req *http.Request, body []byte) []byte {
			if strings.HasPrefix(req.URL.Path, api.Prefix+"/objects/"+xe.Object+"/segments") {
				return ySegs
			}
			return body
		})
		var buf bytes.Buffer
		_, err = r2.Get(ctxT(t), "/x", &buf, nil)
		wantTampered(t, "get /x with /y's segments", err, &buf)
	})

	t.Run("what the writer reads stays right", func(t *testing.T) {
		// Control: without tampering, everything above reads back.
		e := newTamperEnv(t, net)
		put(t, e.writer, "/a", secret)
		r := e.reader(t, nil)
		if got := get(t, r, "/a"); !bytes.Equal(got, secret) {
			t.Fatal("wrong data through an honest proxy")
		}
	})
}

// TestCoordinatorAheadOfJournal: a listing newer than the client's journal
// state (another device committed in between, or the journal was read
// from a lagging replica) is not tampering: the client syncs and reads it.
func TestCoordinatorAheadOfJournal(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	e := newTamperEnv(t, net)
	put(t, e.writer, "/a", []byte("a"))
	put(t, e.writer, "/b", []byte("b"))
	// The first journal read misses the newest record, the next is whole.
	var once sync.Once
	e.proxy.set(onPath(t, "/journal", func(jr *api.JournalRecords) {
		once.Do(func() {
			jr.Records = jr.Records[:len(jr.Records)-1]
			jr.Latest--
		})
	}))
	r := e.reader(t, nil)
	es, err := r.List(ctxT(t), "/")
	if err != nil {
		t.Fatalf("listing ahead of the journal: %v", err)
	}
	if len(es) != 2 {
		t.Fatalf("ls / lists %d entries, want 2", len(es))
	}
}
