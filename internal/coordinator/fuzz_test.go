package coordinator

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/journal"
)

// FuzzHandlers feeds arbitrary bodies to every endpoint that reads one,
// with a valid session chosen by the selector: a password session, an
// API-token session, a link session or a read-write share session. It
// requires an answer that is neither a 5xx nor a panic, with a JSON
// api.Error body for every failure.
func FuzzHandlers(f *testing.F) {
	e := newEnv(f, nil)
	nodes := e.startNodes(6)
	u := e.signup("fuzz@example.org")
	friend := e.signup("friend@example.org")
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
	key := e.grant(u, dir.ID)
	lnk, linkAuth := e.newLink(u, dir.ID, nil)
	ls := e.openLink(lnk.ID, linkAuth, false)
	sh := e.share(u, friend, dir.ID, key)
	ss := e.shareSession(friend, sh.ID)

	paths := []struct{ method, path string }{
		{"POST", "/prelogin"}, {"POST", "/signup"}, {"POST", "/login"}, {"POST", "/journal"}, {"POST", "/objects"},
		{"POST", "/objects/" + oc.Object + "/segments"},
		{"POST", "/objects/" + oc.Object + "/segments/0/commit"},
		{"POST", "/objects/" + oc.Object + "/commit"},
		{"POST", "/nodes/checkin"},
		{"POST", "/token-login"}, {"POST", "/recovery/fetch"}, {"POST", "/recovery/reset"},
		{"POST", "/account/password"}, {"POST", "/account/recovery"}, {"POST", "/account/totp"}, {"POST", "/account/totp/disable"},
		{"POST", "/tokens"},
		{"POST", "/links"}, {"POST", "/links/" + lnk.ID + "/open"}, {"PUT", "/links/" + lnk.ID + "/target-key"},
		{"POST", "/shares"}, {"PUT", "/shares/" + sh.ID}, {"POST", "/shares/" + sh.ID + "/session"},
		{"POST", "/account/signing-key"},
	}
	seed := func(path int, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(path), b)
	}
	// seedAs seeds path with the session of index tok (0 password, 1 API
	// token, 2 link, 3 read-write share).
	seedAs := func(path, tok int, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(path+tok*len(paths)), b)
	}
	sr, _, _ := signupRequest(f, "seed@example.org")
	seed(0, api.PreloginRequest{Email: "fuzz@example.org"})
	seed(1, sr)
	seed(2, api.LoginRequest{Email: "fuzz@example.org", AuthKey: u.authKey, TOTP: "123456"})
	seed(3, e.commitBody(u, []api.Entry{newEntry(u.root(), "folder"), newEntry(dir.ID, "file")}, nil))
	seed(3, e.commitBody(u, []api.Entry{u.sess.Root}, []string{dir.ID}))
	seed(3, e.commitBody(u, nil, []string{dir.ID}))
	seed(3, e.ownerBody(u, []journal.Change{{Op: journal.Grant, Entry: journal.ID{1}, Parent: jid(f, dir.ID)}, {Op: journal.Revoke, Entry: key}}, nil, nil))
	in := newEntry(dir.ID, "folder")
	out := newEntry(u.root(), "file")
	seedAs(3, 3, e.writerBody(u, key, []journal.Change{putChange(f, in)}, []api.Entry{in}, nil))
	seedAs(3, 3, e.writerBody(u, key, []journal.Change{putChange(f, in), putChange(f, out), deleteChange(f, dir.ID)}, []api.Entry{in, out}, []string{dir.ID}))
	seedAs(3, 2, e.writerBody(u, key, []journal.Change{putChange(f, in)}, []api.Entry{in}, nil))
	seed(4, struct{}{})
	seedAs(4, 3, struct{}{})
	seed(5, seg)
	seedAs(5, 3, seg)
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
	lr, _ := linkRequest(dir.ID)
	seed(17, lr)
	lr.KDF = &api.LinkKDF{Salt: randBytes(16), T: 3, M: 65536, P: 4}
	lr.Expires, lr.MaxDownloads = e.clock.Now().Unix()+60, 1
	seed(17, lr)
	seed(18, api.LinkOpen{Auth: linkAuth, Download: true})
	seed(18, api.LinkOpen{Auth: randBytes(AuthKeySize)})
	seed(19, api.LinkTargetKey{WrappedTargetKey: randBytes(WrappedKeySize)})
	seed(20, api.ShareCreate{ID: randHex16(), Root: dir.ID, Recipient: friend.sess.Account, Write: true, KeyID: key.String(), Epoch: 1, Sealed: randBytes(300)})
	seed(21, api.ShareUpdate{Write: true, KeyID: key.String(), Epoch: 2, Sealed: randBytes(300)})
	seed(21, api.ShareUpdate{Epoch: 3, Sealed: randBytes(1)})
	seed(22, struct{}{})
	seed(23, api.SigningKeySet{SigningKey: randBytes(SigningKeySize), WrappedSigningKey: randBytes(WrappedKeySize)})
	f.Add(uint8(1), []byte(`{"root":{"meta":"AA==","kind":"folder"},"kdf":{"m":4294967295,"t":4294967295,"p":255}}`))
	f.Add(uint8(5), []byte(`{"index":9223372036854775807,"size":9223372036854775807,"piece_size":-1,"pieces":[]}`))
	f.Add(uint8(6), []byte(`{"receipts":[null,"",""]}`))
	f.Add(uint8(7), []byte(`{"segments":-1,"size":-9223372036854775808}`))
	f.Add(uint8(8), []byte(`{"address":"[::1]:1","time":-9223372036854775808}`))
	f.Add(uint8(3), []byte(`{"record":"AQ==","puts":[{"id":"","parent":null}]}`))
	f.Add(uint8(3), []byte(`{"record":null,"puts":[{"objects":["00"]}],"deletes":[""]}`))
	f.Add(uint8(16), []byte(`{"name":"\u0000","id":"`+randHex16()+`"}`))
	f.Add(uint8(17), []byte(`{"id":"`+randHex16()+`","target":"`+dir.ID+`","expires":-9223372036854775808,"max_downloads":-1,"kdf":{"t":4294967295}}`))
	f.Add(uint8(18), []byte(`{"auth":null,"download":"yes"}`))
	f.Add(uint8(20), []byte(`{"id":"`+randHex16()+`","root":"`+dir.ID+`","recipient":"`+u.sess.Account+`","epoch":-1}`))

	h := e.c.Handler()
	toks := []string{u.token(), ts.Token, ls.Token, ss.Token}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		p := paths[int(which)%len(paths)]
		req := httptest.NewRequest(p.method, api.Prefix+p.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+toks[int(which)/len(paths)%len(toks)])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: status %d: %s", p.method, p.path, body, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			var ae api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || ae.Error == "" || ae.Code == "" {
				t.Fatalf("%s %s: status %d with body %q", p.method, p.path, rec.Code, rec.Body.Bytes())
			}
		}
	})
}

// FuzzLinkPage requests the link page of arbitrary IDs: the answer is a
// page (200, 404 or 410) under the strict content security policy that
// never echoes markup from the request.
func FuzzLinkPage(f *testing.F) {
	e := newEnv(f, nil)
	u := e.signup("page@example.org")
	dir := newEntry(u.root(), "folder")
	e.mustCommit(u, []api.Entry{dir}, nil)
	l, _ := e.newLink(u, dir.ID, nil)
	revoked, _ := e.newLink(u, dir.ID, nil)
	e.call("DELETE", "/links/"+revoked.ID, u.token(), nil, http.StatusNoContent, nil)
	for _, s := range []string{l.ID, revoked.ID, randHex16(), strings.Repeat("0", 32), "", "<script>alert(1)</script>", `"'&<>`, "%00", strings.ToUpper(l.ID)} {
		f.Add(s)
	}
	h := e.c.Handler()
	f.Fuzz(func(t *testing.T, id string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = "/l/" + id
		req.URL.RawPath = ""
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.String()
		switch rec.Code {
		case http.StatusOK, http.StatusNotFound, http.StatusGone:
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			return // the mux cleans paths such as /l/a/../b
		default:
			t.Fatalf("GET /l/%q: status %d: %s", id, rec.Code, body)
		}
		if rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			if rec.Code == http.StatusNotFound {
				return // not a /l/{id} path: the API's JSON 404
			}
			t.Fatalf("GET /l/%q: content type %q", id, rec.Header().Get("Content-Type"))
		}
		if rec.Header().Get("Content-Security-Policy") != linkPageCSP {
			t.Fatalf("GET /l/%q: CSP %q", id, rec.Header().Get("Content-Security-Policy"))
		}
		// The ID the mux matched is shown once, escaped as html/template
		// escapes text.
		var esc bytes.Buffer
		if err := template.Must(template.New("").Parse("{{.}}")).Execute(&esc, req.PathValue("id")); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(body, "<p class=\"note\">Link "+esc.String()+"</p>") {
			t.Fatalf("GET /l/%q: the page does not show the ID escaped as %q:\n%s", id, esc.String(), body)
		}
		if strings.Contains(strings.ToLower(body), "<script") {
			t.Fatalf("GET /l/%q: the page has a script:\n%s", id, body)
		}
	})
}
