package coordinator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/journal"
)

// benchCall serves one request straight through the handler.
func benchCall(b *testing.B, h http.Handler, method, path, tok string, body []byte, want int) {
	req := httptest.NewRequest(method, api.Prefix+path, bytes.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body.Bytes())
	}
}

// BenchmarkDeclareSegment measures a segment declaration: placement over
// 24 online nodes, a database write and 6 signed PUT orders. Bytes are
// the segment's ciphertext, so MB/s is the upload rate one core can
// authorise.
func BenchmarkDeclareSegment(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.SegmentSize = DefaultSegmentSize })
	e.startNodes(24)
	u := e.signup("bench@example.org")
	var oc api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &oc)
	size := e.c.maxSegmentCiphertext()
	body, _ := json.Marshal(segmentRequest(0, size, 4, 6))
	h := e.c.Handler()
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		benchCall(b, h, "POST", "/objects/"+oc.Object+"/segments", u.token(), body, http.StatusOK)
	}
}

// BenchmarkSegments measures reading 16 segments back with their GET
// orders (16 × 6 signatures). Bytes are the segments' ciphertext.
func BenchmarkSegments(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.SegmentSize = DefaultSegmentSize })
	nodes := e.startNodes(6)
	u := e.signup("bench@example.org")
	size := e.c.maxSegmentCiphertext()
	sizes := make([]int64, 16)
	for i := range sizes {
		sizes[i] = size
	}
	obj := e.upload(u, nodes, sizes...)
	h := e.c.Handler()
	b.SetBytes(16 * size)
	b.ReportAllocs()
	for b.Loop() {
		benchCall(b, h, "GET", "/objects/"+obj+"/segments?count=16", u.token(), nil, http.StatusOK)
	}
}

// BenchmarkCheckIn measures a node check-in (signature check and upsert).
func BenchmarkCheckIn(b *testing.B) {
	e := newEnv(b, nil)
	n := newNode(b, "127.0.0.1:7000")
	body, _ := json.Marshal(n.checkIn(e.clock.Now(), 1<<40, 1<<20))
	h := e.c.Handler()
	b.ReportAllocs()
	for b.Loop() {
		benchCall(b, h, "POST", "/nodes/checkin", "", body, http.StatusOK)
	}
}

// BenchmarkAuthed measures the cheapest authenticated call (session lookup).
func BenchmarkAuthed(b *testing.B) {
	e := newEnv(b, nil)
	u := e.signup("bench@example.org")
	h := e.c.Handler()
	b.ReportAllocs()
	for b.Loop() {
		benchCall(b, h, "GET", "/entries/"+u.root(), u.token(), nil, http.StatusOK)
	}
}

// BenchmarkCommit measures a journal commit of 100 new files: parsing and
// matching the record, 100 entry hashes and validations, and the
// database transaction. Bytes are the request body.
func BenchmarkCommit(b *testing.B) {
	e := newEnv(b, nil)
	u := e.signup("bench@example.org")
	dir := newEntry(u.root(), "folder")
	e.mustCommit(u, []api.Entry{dir}, nil)
	h := e.c.Handler()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		puts := make([]api.Entry, 100)
		for i := range puts {
			puts[i] = newEntry(dir.ID, "file")
		}
		commit := e.commitBody(u, puts, nil)
		body, _ := json.Marshal(commit)
		b.SetBytes(int64(len(body)))
		b.StartTimer()
		benchCall(b, h, "POST", "/journal", u.token(), body, http.StatusNoContent)
		u.seq++
		u.head = journal.Hash(commit.Record)
	}
}

// BenchmarkGetJournal measures reading 100 records of 100 changes each
// (what a device that was offline for a while syncs). Bytes are the
// records' encodings.
func BenchmarkGetJournal(b *testing.B) {
	e := newEnv(b, nil)
	u := e.signup("bench@example.org")
	dir := newEntry(u.root(), "folder")
	e.mustCommit(u, []api.Entry{dir}, nil)
	var size int64
	for range 100 {
		puts := make([]api.Entry, 100)
		for i := range puts {
			puts[i] = newEntry(dir.ID, "file")
		}
		commit := e.commitBody(u, puts, nil)
		e.mustCommit(u, puts, nil)
		size += int64(len(commit.Record))
	}
	h := e.c.Handler()
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		benchCall(b, h, "GET", "/journal?after=2", u.token(), nil, http.StatusOK)
	}
}

// BenchmarkScopedEntry measures GET /entries/{id} by a link session for an
// entry 8 folders below the link's target: the session and link lookups
// and the walk up to the target.
func BenchmarkScopedEntry(b *testing.B) {
	e := newEnv(b, nil)
	u := e.signup("bench@example.org")
	top := newEntry(u.root(), "folder")
	chain := []api.Entry{top}
	for range 8 {
		chain = append(chain, newEntry(chain[len(chain)-1].ID, "folder"))
	}
	e.mustCommit(u, chain, nil)
	l, auth := e.newLink(u, top.ID, nil)
	ls := e.openLink(l.ID, auth, false)
	h := e.c.Handler()
	leaf := chain[len(chain)-1].ID
	b.ReportAllocs()
	for b.Loop() {
		benchCall(b, h, "GET", "/entries/"+leaf, ls.Token, nil, http.StatusOK)
	}
}

// BenchmarkConfine measures the confinement check of a writer record of
// 1000 puts (100 folders of 9 files each, under a folder shared 4 levels
// down). Bytes are the record's.
func BenchmarkConfine(b *testing.B) {
	e := newEnv(b, nil)
	u := e.signup("bench@example.org")
	chain := []api.Entry{newEntry(u.root(), "folder")}
	for range 3 {
		chain = append(chain, newEntry(chain[len(chain)-1].ID, "folder"))
	}
	e.mustCommit(u, chain, nil)
	shared := chain[len(chain)-1]
	var changes []journal.Change
	for range 100 {
		dir := newEntry(shared.ID, "folder")
		changes = append(changes, putChange(b, dir))
		for range 9 {
			changes = append(changes, putChange(b, newEntry(dir.ID, "file")))
		}
	}
	rec := journal.Record{Seq: 2, KeyID: journal.ID{1}, Changes: changes}
	b.SetBytes(int64(len(rec.Seal([32]byte{}))))
	account, root := mustID16(b, u.sess.Account), mustID16(b, shared.ID)
	b.ReportAllocs()
	for b.Loop() {
		if err := e.c.confine(b.Context(), account, root, changes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLinkOpen measures opening a link: the lookups, the verifier
// check and the new session.
func BenchmarkLinkOpen(b *testing.B) {
	e := newEnv(b, nil)
	u := e.signup("bench@example.org")
	dir := newEntry(u.root(), "folder")
	e.mustCommit(u, []api.Entry{dir}, nil)
	l, auth := e.newLink(u, dir.ID, nil)
	body, _ := json.Marshal(api.LinkOpen{Auth: auth})
	h := e.c.Handler()
	b.ReportAllocs()
	for b.Loop() {
		benchCall(b, h, "POST", "/links/"+l.ID+"/open", "", body, http.StatusOK)
	}
}
