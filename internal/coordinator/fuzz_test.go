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
// password session (or, for odd selectors, an API-token session), and
// requires an answer that is neither a 5xx nor a panic, with a JSON
// api.Error body for every failure.
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
	dir := newEntry(u.root(), "folder")
	e.mustCommit(u, []api.Entry{dir}, nil)
	tokAuth := randBytes(AuthKeySize)
	tokID := randHex16()
	e.call("POST", "/tokens", u.token(), api.TokenCreate{ID: tokID, Name: "fuzz", AuthKey: tokAuth, WrappedMasterKey: randBytes(WrappedKeySize)}, http.StatusOK, nil)
	var ts api.Session
	e.call("POST", "/token-login", "", api.TokenLogin{ID: tokID, AuthKey: tokAuth}, http.StatusOK, &ts)

	paths := []string{
		"/prelogin", "/signup", "/login", "/journal", "/objects",
		"/objects/" + oc.Object + "/segments",
		"/objects/" + oc.Object + "/segments/0/commit",
		"/objects/" + oc.Object + "/commit",
		"/nodes/checkin",
		"/token-login", "/recovery/fetch", "/recovery/reset",
		"/account/password", "/account/recovery", "/account/totp", "/account/totp/disable",
		"/tokens",
	}
	seed := func(path int, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(path), b)
	}
	sr, _, _ := signupRequest(f, "seed@example.org")
	seed(0, api.PreloginRequest{Email: "fuzz@example.org"})
	seed(1, sr)
	seed(2, api.LoginRequest{Email: "fuzz@example.org", AuthKey: u.authKey, TOTP: "123456"})
	seed(3, e.commitBody(u, []api.Entry{newEntry(u.root(), "folder"), newEntry(dir.ID, "file")}, nil))
	seed(3, e.commitBody(u, []api.Entry{u.sess.Root}, []string{dir.ID}))
	seed(3, e.commitBody(u, nil, []string{dir.ID}))
	seed(4, struct{}{})
	seed(5, seg)
	seed(6, api.SegmentCommit{Receipts: rs})
	seed(7, api.ObjectCommit{Segments: 1, Size: 1000})
	seed(8, nodes[0].checkIn(e.clock.Now(), 1<<30, 0))
	seed(9, api.TokenLogin{ID: tokID, AuthKey: tokAuth})
	seed(10, api.RecoveryFetch{Email: u.email, AuthKey: randBytes(AuthKeySize), TOTP: "000000"})
	seed(11, api.RecoveryReset{Email: u.email, RecoveryAuthKey: randBytes(AuthKeySize), KDF: sr.KDF, AuthKey: randBytes(AuthKeySize), WrappedMasterKey: randBytes(WrappedKeySize)})
	seed(12, api.PasswordChange{AuthKey: randBytes(AuthKeySize), KDF: sr.KDF, NewAuthKey: randBytes(AuthKeySize), WrappedMasterKey: randBytes(WrappedKeySize)})
	seed(13, api.RecoverySet{AuthKey: randBytes(AuthKeySize), WrappedMasterKey: randBytes(WrappedKeySize)})
	seed(14, api.TOTPEnable{Secret: randBytes(TOTPSecretSize), Code: "123456"})
	seed(15, api.TOTPDisable{Code: "123456"})
	seed(16, api.TokenCreate{ID: randHex16(), Name: "laptop", AuthKey: randBytes(AuthKeySize), WrappedMasterKey: randBytes(WrappedKeySize)})
	f.Add(uint8(1), []byte(`{"root":{"meta":"AA==","kind":"folder"},"kdf":{"m":4294967295,"t":4294967295,"p":255}}`))
	f.Add(uint8(5), []byte(`{"index":9223372036854775807,"size":9223372036854775807,"piece_size":-1,"pieces":[]}`))
	f.Add(uint8(6), []byte(`{"receipts":[null,"",""]}`))
	f.Add(uint8(7), []byte(`{"segments":-1,"size":-9223372036854775808}`))
	f.Add(uint8(8), []byte(`{"address":"[::1]:1","time":-9223372036854775808}`))
	f.Add(uint8(3), []byte(`{"record":"AQ==","puts":[{"id":"","parent":null}]}`))
	f.Add(uint8(3), []byte(`{"record":null,"puts":[{"objects":["00"]}],"deletes":[""]}`))
	f.Add(uint8(16), []byte(`{"name":"\u0000","id":"`+randHex16()+`"}`))

	h := e.c.Handler()
	toks := []string{u.token(), ts.Token}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest("POST", api.Prefix+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+toks[int(which)/len(paths)%2])
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
