package coordinator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/journal"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/metadb/sqlite"
	"github.com/nuage-storage/nuage/internal/order"
	"github.com/nuage-storage/nuage/internal/piece"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		// The database logs its migrations through the default logger.
		slog.SetDefault(quietLogger())
	}
	os.Exit(m.Run())
}

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a coordinator on a real SQLite database behind an httptest server.
type env struct {
	t     testing.TB
	c     *Coordinator
	db    metadb.DB
	srv   *httptest.Server
	clock *clock
	id    *identity.Identity
}

func testSecret() []byte { return bytes.Repeat([]byte{7}, SecretSize) }

func openDB(t testing.TB) metadb.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	ident, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: openDB(t), clock: newClock(), id: ident}
	cfg := Config{
		DB:               e.db,
		Identity:         ident,
		Secret:           testSecret(),
		Logger:           testLogger(t),
		Now:              e.clock.Now,
		SegmentSize:      4 * BlockSize,
		DeletionInterval: time.Hour,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.c, err = New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv = httptest.NewServer(e.c.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// response is an answer to a test request.
type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) apiError(t testing.TB) api.Error {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q is not an api.Error: %v", r.body, err)
	}
	if e.Error == "" || e.Code == "" {
		t.Fatalf("error body %q lacks error or code", r.body)
	}
	return e
}

// do sends a request; body may be nil, []byte or string (sent as is), or
// any value (sent as JSON).
func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+api.Prefix+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, body: b, header: resp.Header}
}

// call sends a request, requires status want and decodes a 200 body into out.
func (e *env) call(method, path, token string, body any, want int, out any) response {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if want >= 400 {
		r.apiError(e.t)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, r.body, err)
		}
	}
	return r
}

// expectError requires an error answer with status and code whose message
// contains substr.
func (e *env) expectError(method, path, token string, body any, status int, code, substr string) api.Error {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.body)
	}
	ae := r.apiError(e.t)
	if ae.Code != code {
		e.t.Fatalf("%s %s: code %q, want %q (%s)", method, path, ae.Code, code, ae.Error)
	}
	if !strings.Contains(ae.Error, substr) {
		e.t.Fatalf("%s %s: error %q does not contain %q", method, path, ae.Error, substr)
	}
	return ae
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randHex16() string { return hex.EncodeToString(randBytes(16)) }

// user is a signed-up test account and its client's journal state.
type user struct {
	email   string
	authKey []byte
	sess    api.Session
	jkey    [32]byte // journal key
	seq     uint64   // latest record committed
	head    [32]byte // its hash
}

func (u *user) token() string { return u.sess.Token }
func (u *user) root() string  { return u.sess.Root.ID }
func (u *user) trash() string { return u.sess.Trash.ID }

// sealRecord builds and seals a journal record putting puts and deleting
// deletes, with the entry hashes of the entries as given.
func sealRecord(t testing.TB, key [32]byte, seq uint64, prev [32]byte, puts []api.Entry, deletes []string) []byte {
	t.Helper()
	rec := journal.Record{Seq: seq, Prev: prev, Time: time.Unix(1_700_000_000, 0)}
	for _, p := range puts {
		h, err := journal.EntryHash(p)
		if err != nil {
			t.Fatalf("entry hash: %v", err)
		}
		rec.Changes = append(rec.Changes, journal.Change{Op: journal.Put, Entry: jid(t, p.ID), Parent: jid(t, p.Parent), Hash: h})
	}
	for _, d := range deletes {
		rec.Changes = append(rec.Changes, journal.Change{Op: journal.Delete, Entry: jid(t, d)})
	}
	return rec.Seal(key)
}

// jid parses a hex entry ID; "" is the zero ID.
func jid(t testing.TB, s string) journal.ID {
	t.Helper()
	var id journal.ID
	if s == "" {
		return id
	}
	if n, err := hex.Decode(id[:], []byte(s)); err != nil || n != len(id) {
		// Tests build invalid IDs on purpose: keep what decodes.
		return id
	}
	return id
}

// topFolder returns a valid parentless folder entry.
func topFolder() api.Entry {
	return api.Entry{ID: randHex16(), Kind: "folder", WrappedKey: randBytes(WrappedKeySize), Meta: randBytes(60)}
}

// signupRequest returns a valid sign-up, its auth key and journal key.
func signupRequest(t testing.TB, email string) (api.SignupRequest, []byte, [32]byte) {
	t.Helper()
	auth := randBytes(AuthKeySize)
	var key [32]byte
	copy(key[:], randBytes(32))
	root, trash := topFolder(), topFolder()
	return api.SignupRequest{
		Email:             email,
		Account:           randHex16(),
		KDF:               api.KDF{Alg: "argon2id", Salt: randBytes(16), Time: 3, MemoryKiB: 65536, Threads: 4},
		AuthKey:           auth,
		WrappedMasterKey:  randBytes(WrappedKeySize),
		Root:              root,
		Trash:             trash,
		PublicKey:         randBytes(PublicKeySize),
		WrappedPrivateKey: randBytes(WrappedKeySize),
		SigningKey:        randBytes(SigningKeySize),
		WrappedSigningKey: randBytes(WrappedKeySize),
		Journal:           sealRecord(t, key, 1, [32]byte{}, []api.Entry{root, trash}, nil),
	}, auth, key
}

// resealSignup rebuilds the journal record of req after its folders changed.
func resealSignup(t testing.TB, req *api.SignupRequest) {
	t.Helper()
	var key [32]byte
	req.Journal = sealRecord(t, key, 1, [32]byte{}, []api.Entry{req.Root, req.Trash}, nil)
}

func (e *env) signup(email string) *user {
	e.t.Helper()
	req, auth, key := signupRequest(e.t, email)
	var s api.Session
	e.call("POST", "/signup", "", req, http.StatusOK, &s)
	return &user{email: email, authKey: auth, sess: s, jkey: key, seq: 1, head: journal.Hash(req.Journal)}
}

// commitBody builds the next journal commit of u.
func (e *env) commitBody(u *user, puts []api.Entry, deletes []string) api.JournalCommit {
	e.t.Helper()
	return api.JournalCommit{Record: sealRecord(e.t, u.jkey, u.seq+1, u.head, puts, deletes), Puts: puts, Deletes: deletes}
}

// commit sends the next journal commit of u and, when it is accepted,
// advances u's journal state.
func (e *env) commit(u *user, puts []api.Entry, deletes []string) response {
	e.t.Helper()
	body := e.commitBody(u, puts, deletes)
	r := e.do("POST", "/journal", u.token(), body)
	if r.status == http.StatusNoContent {
		u.seq++
		u.head = journal.Hash(body.Record)
	}
	return r
}

// mustCommit commits and requires success.
func (e *env) mustCommit(u *user, puts []api.Entry, deletes []string) {
	e.t.Helper()
	if r := e.commit(u, puts, deletes); r.status != http.StatusNoContent {
		e.t.Fatalf("commit: status %d: %s", r.status, r.body)
	}
}

// commitError commits and requires an error answer with status and code
// whose message contains substr.
func (e *env) commitError(u *user, puts []api.Entry, deletes []string, status int, code, substr string) api.Error {
	e.t.Helper()
	r := e.commit(u, puts, deletes)
	if r.status != status {
		e.t.Fatalf("commit: status %d, want %d; body %s", r.status, status, r.body)
	}
	ae := r.apiError(e.t)
	if ae.Code != code || !strings.Contains(ae.Error, substr) {
		e.t.Fatalf("commit: %+v, want code %q containing %q", ae, code, substr)
	}
	return ae
}

// newEntry returns a valid entry under parent.
func newEntry(parent, kind string) api.Entry {
	return api.Entry{
		ID: randHex16(), Parent: parent, Kind: kind, NameTag: randBytes(NameTagSize),
		WrappedKey: randBytes(WrappedKeySize), Meta: randBytes(100),
	}
}

// node is a fake storage node identity.
type node struct {
	ident *identity.Identity
	addr  string
}

func newNode(t testing.TB, addr string) *node {
	t.Helper()
	ident, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return &node{ident: ident, addr: addr}
}

func (n *node) id() identity.ID { return n.ident.ID() }

func (n *node) checkIn(at time.Time, capacity, used int64) api.CheckIn {
	ci := api.CheckIn{Address: n.addr, Capacity: capacity, Used: used, Time: at.Unix()}
	api.SignCheckIn(&ci, n.ident)
	return ci
}

// startNodes creates and checks in count nodes with 1 GiB free each.
func (e *env) startNodes(count int) []*node {
	e.t.Helper()
	nodes := make([]*node, count)
	for i := range nodes {
		nodes[i] = newNode(e.t, "127.0.0.1:"+strconv.Itoa(7000+i))
		var resp api.CheckInResponse
		e.call("POST", "/nodes/checkin", "", nodes[i].checkIn(e.clock.Now(), 1<<30, 0), http.StatusOK, &resp)
		if resp.Coordinator != e.id.ID() {
			e.t.Fatalf("check-in answered coordinator %s, want %s", resp.Coordinator.Short(), e.id.ID().Short())
		}
	}
	return nodes
}

func nodeByID(nodes []*node, id identity.ID) *node {
	for _, n := range nodes {
		if n.id() == id {
			return n
		}
	}
	return nil
}

// segmentRequest declares a segment of size ciphertext bytes with random piece IDs.
func segmentRequest(index int, size int64, k, n int) api.SegmentRequest {
	req := api.SegmentRequest{Index: index, Size: size, PieceSize: (size + int64(k) - 1) / int64(k), Pieces: make([]piece.ID, n)}
	for j := range req.Pieces {
		req.Pieces[j] = piece.Sum(randBytes(32))
	}
	return req
}

// receipts signs a receipt for each order, by the node it names.
func receipts(t testing.TB, nodes []*node, orders []api.PieceOrder) [][]byte {
	t.Helper()
	out := make([][]byte, len(orders))
	for i, po := range orders {
		o, err := order.Parse(po.Order)
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		nd := nodeByID(nodes, po.Node)
		if nd == nil {
			t.Fatalf("order %d names unknown node %s", i, po.Node.Short())
		}
		rc := order.Receipt{Piece: o.Piece, Size: o.Size, Serial: o.Serial, StoredAt: time.Now().Truncate(time.Second)}
		out[i] = rc.Sign(nd.ident)
	}
	return out
}

// upload creates an object, declares and commits one segment per size,
// commits the object and returns its ID.
func (e *env) upload(u *user, nodes []*node, sizes ...int64) string {
	e.t.Helper()
	var oc api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &oc)
	var total int64
	for i, size := range sizes {
		var so api.SegmentOrders
		e.call("POST", "/objects/"+oc.Object+"/segments", u.token(), segmentRequest(i, size, oc.Scheme.K, oc.Scheme.N), http.StatusOK, &so)
		e.call("POST", "/objects/"+oc.Object+"/segments/"+strconv.Itoa(i)+"/commit", u.token(),
			api.SegmentCommit{Receipts: receipts(e.t, nodes, so.Orders)}, http.StatusNoContent, nil)
		total += size
	}
	e.call("POST", "/objects/"+oc.Object+"/commit", u.token(), api.ObjectCommit{Segments: len(sizes), Size: total}, http.StatusNoContent, nil)
	return oc.Object
}

// testLogger logs warnings and errors to t when -v is set, and nowhere
// otherwise (nor for fuzz targets, whose *F must not log while fuzzing).
func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.T); !ok || !testing.Verbose() {
		return quietLogger()
	}
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// Set moves the clock to t.
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// totpEpoch is a fixed time 10 s into a TOTP step, so that tests do not
// depend on where the wall clock is within a step.
var totpEpoch = time.Unix(1_800_000_010, 0)

// codeAt returns the TOTP code of secret at t.
func codeAt(secret []byte, t time.Time) string {
	return hotp(secret, uint64(totpStep(t)), TOTPDigits)
}
