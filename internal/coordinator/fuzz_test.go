package coordinator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nuage-storage/nuage/internal/api"
)

// FuzzHandlers feeds arbitrary bodies to every POST endpoint, with a valid
// session, and requires an answer that is neither a 5xx nor a panic, with
// a JSON api.Error body for every failure.
func FuzzHandlers(f *testing.F) {
	e := newEnv(f, nil)
	nodes := e.startNodes(6)
	u := e.signup("fuzz@example.org")
	var oc api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &oc)
	seg := segmentRequest(0, 1000, 4, 6)
	var so api.SegmentOrders
	e.call("POST", "/objects/"+oc.Object+"/segments", u.token(), seg, http.StatusOK, &so)
	rs := receipts(f, nodes, so.Orders)

	paths := []string{
		"/prelogin", "/signup", "/login", "/entries", "/objects",
		"/objects/" + oc.Object + "/segments",
		"/objects/" + oc.Object + "/segments/0/commit",
		"/objects/" + oc.Object + "/commit",
		"/nodes/checkin",
	}
	seed := func(path int, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(path), b)
	}
	sr, _ := signupRequest("seed@example.org")
	seed(0, api.PreloginRequest{Email: "fuzz@example.org"})
	seed(1, sr)
	seed(2, api.LoginRequest{Email: "fuzz@example.org", AuthKey: u.authKey})
	seed(3, newEntry(u.root(), "folder"))
	seed(4, struct{}{})
	seed(5, seg)
	seed(6, api.SegmentCommit{Receipts: rs})
	seed(7, api.ObjectCommit{Segments: 1, Size: 1000})
	seed(8, nodes[0].checkIn(e.clock.Now(), 1<<30, 0))
	f.Add(uint8(1), []byte(`{"root":{"meta":"AA==","kind":"folder"},"kdf":{"m":4294967295,"t":4294967295,"p":255}}`))
	f.Add(uint8(5), []byte(`{"index":9223372036854775807,"size":9223372036854775807,"piece_size":-1,"pieces":[]}`))
	f.Add(uint8(6), []byte(`{"receipts":[null,"",""]}`))
	f.Add(uint8(7), []byte(`{"segments":-1,"size":-9223372036854775808}`))
	f.Add(uint8(8), []byte(`{"address":"[::1]:1","time":-9223372036854775808}`))
	f.Add(uint8(3), []byte(`{"id":"","parent":null}`))

	h := e.c.Handler()
	tok := u.token()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest("POST", api.Prefix+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q: status %d: %s", path, body, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			var ae api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || ae.Error == "" || ae.Code == "" {
				t.Fatalf("POST %s: status %d with body %q", path, rec.Code, rec.Body.Bytes())
			}
		}
	})
}
