package coordinator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nuage-storage/nuage/internal/api"
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
