package coordinator

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

// linkRequest returns a valid link creation for target, and its auth key.
func linkRequest(target string) (api.LinkCreate, []byte) {
	auth := randBytes(AuthKeySize)
	return api.LinkCreate{
		ID: randHex16(), Target: target, Verifier: Verifier(auth),
		WrappedLinkKey: randBytes(WrappedKeySize), WrappedTargetKey: randBytes(WrappedKeySize),
		OwnerLinkKey: randBytes(WrappedKeySize), OwnerSecret: randBytes(WrappedKeySize),
	}, auth
}

// newLink creates a link of u to target (changed by mod, if not nil) and
// returns it with its auth key.
func (e *env) newLink(u *user, target string, mod func(*api.LinkCreate)) (api.Link, []byte) {
	e.t.Helper()
	req, auth := linkRequest(target)
	if mod != nil {
		mod(&req)
	}
	var l api.Link
	e.call("POST", "/links", u.token(), req, http.StatusOK, &l)
	return l, auth
}

// openLink opens a link session.
func (e *env) openLink(id string, auth []byte, download bool) api.LinkSession {
	e.t.Helper()
	var ls api.LinkSession
	e.call("POST", "/links/"+id+"/open", "", api.LinkOpen{Auth: auth, Download: download}, http.StatusOK, &ls)
	return ls
}

// linkOf returns u's link id as GET /links lists it.
func (e *env) linkOf(u *user, id string) api.Link {
	e.t.Helper()
	var ls api.Links
	e.call("GET", "/links", u.token(), nil, http.StatusOK, &ls)
	for _, l := range ls.Links {
		if l.ID == id {
			return l
		}
	}
	e.t.Fatalf("link %s not listed", id)
	return api.Link{}
}

func TestLinkCreate(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("links@example.org")
	other := e.signup("other@example.org")
	dir := newEntry(u.root(), "folder")
	file := newEntry(dir.ID, "file")
	trashed := newEntry(u.trash(), "folder")
	deep := newEntry(trashed.ID, "file")
	e.mustCommit(u, []api.Entry{dir, file, trashed, deep}, nil)

	req, _ := linkRequest(file.ID)
	req.Expires = e.clock.Now().Add(time.Hour).Unix()
	req.MaxDownloads = 3
	req.KDF = &api.LinkKDF{Salt: randBytes(16), T: 3, M: 65536, P: 4}
	var l api.Link
	e.call("POST", "/links", u.token(), req, http.StatusOK, &l)
	if l.ID != req.ID || l.Target != file.ID || l.Kind != "file" || l.Created != e.clock.Now().Unix() ||
		l.Expires != req.Expires || l.MaxDownloads != 3 || l.Downloads != 0 || l.Revoked != 0 || !l.Password ||
		!bytes.Equal(l.WrappedTargetKey, req.WrappedTargetKey) || !bytes.Equal(l.OwnerLinkKey, req.OwnerLinkKey) ||
		!bytes.Equal(l.OwnerSecret, req.OwnerSecret) {
		t.Fatalf("created link = %+v", l)
	}
	e.expectError("POST", "/links", u.token(), req, http.StatusConflict, api.CodeExists, "already exists")
	e.clock.Advance(time.Second)
	l2, _ := e.newLink(u, dir.ID, nil)
	if l2.Kind != "folder" || l2.Password || l2.Expires != 0 || l2.MaxDownloads != 0 {
		t.Fatalf("second link = %+v", l2)
	}
	var ls api.Links
	e.call("GET", "/links", u.token(), nil, http.StatusOK, &ls)
	if len(ls.Links) != 2 || ls.Links[0].ID != l.ID || ls.Links[1].ID != l2.ID || ls.Links[0].Kind != "file" || ls.Links[1].Kind != "folder" {
		t.Fatalf("links = %+v", ls)
	}
	var none api.Links
	e.call("GET", "/links", other.token(), nil, http.StatusOK, &none)
	if len(none.Links) != 0 {
		t.Fatalf("another account lists %+v", none)
	}
	// API tokens may manage links.
	tokAuth, tokID := randBytes(AuthKeySize), randHex16()
	e.call("POST", "/tokens", u.token(), api.TokenCreate{ID: tokID, Name: "t", AuthKey: tokAuth, WrappedMasterKey: randBytes(WrappedKeySize)}, http.StatusOK, nil)
	var ts api.Session
	e.call("POST", "/token-login", "", api.TokenLogin{ID: tokID, AuthKey: tokAuth}, http.StatusOK, &ts)
	e.call("GET", "/links", ts.Token, nil, http.StatusOK, nil)

	tests := []struct {
		name   string
		mod    func(*api.LinkCreate)
		status int
		code   string
		substr string
	}{
		{"bad id", func(r *api.LinkCreate) { r.ID = "abc" }, 400, api.CodeBadRequest, "id must be 32 hex"},
		{"zero id", func(r *api.LinkCreate) { r.ID = strings.Repeat("0", 32) }, 400, api.CodeBadRequest, "zeros"},
		{"upper id", func(r *api.LinkCreate) { r.ID = strings.ToUpper(randHex16()) }, 400, api.CodeBadRequest, "lowercase"},
		{"no target", func(r *api.LinkCreate) { r.Target = "" }, 400, api.CodeBadRequest, "target must be 32 hex"},
		{"unknown target", func(r *api.LinkCreate) { r.Target = randHex16() }, 404, api.CodeNotFound, "not found"},
		{"another's entry", func(r *api.LinkCreate) { r.Target = other.root() }, 404, api.CodeNotFound, "not found"},
		{"root", func(r *api.LinkCreate) { r.Target = u.root() }, 400, api.CodeBadRequest, "top-level folder"},
		{"trash", func(r *api.LinkCreate) { r.Target = u.trash() }, 400, api.CodeBadRequest, "top-level folder"},
		{"in the trash", func(r *api.LinkCreate) { r.Target = trashed.ID }, 409, api.CodeConflict, "in the trash"},
		{"deep in the trash", func(r *api.LinkCreate) { r.Target = deep.ID }, 409, api.CodeConflict, "in the trash"},
		{"verifier short", func(r *api.LinkCreate) { r.Verifier = randBytes(31) }, 400, api.CodeBadRequest, "verifier must be 32"},
		{"no verifier", func(r *api.LinkCreate) { r.Verifier = nil }, 400, api.CodeBadRequest, "verifier"},
		{"link key", func(r *api.LinkCreate) { r.WrappedLinkKey = randBytes(60) }, 400, api.CodeBadRequest, "wrapped_link_key must be 61"},
		{"target key", func(r *api.LinkCreate) { r.WrappedTargetKey = nil }, 400, api.CodeBadRequest, "wrapped_target_key must be 61"},
		{"owner link key", func(r *api.LinkCreate) { r.OwnerLinkKey = randBytes(62) }, 400, api.CodeBadRequest, "owner_link_key must be 61"},
		{"owner secret", func(r *api.LinkCreate) { r.OwnerSecret = randBytes(1) }, 400, api.CodeBadRequest, "owner_secret must be 61"},
		{"kdf salt", func(r *api.LinkCreate) { r.KDF = &api.LinkKDF{Salt: randBytes(8), T: 3, M: 65536, P: 4} }, 400, api.CodeBadRequest, "salt"},
		{"kdf weak", func(r *api.LinkCreate) { r.KDF = &api.LinkKDF{Salt: randBytes(16), T: 1, M: 1024, P: 1} }, 400, api.CodeBadRequest, "m=1024"},
		{"kdf t", func(r *api.LinkCreate) { r.KDF = &api.LinkKDF{Salt: randBytes(16), T: 0, M: 65536, P: 1} }, 400, api.CodeBadRequest, "t=0"},
		{"kdf huge", func(r *api.LinkCreate) { r.KDF = &api.LinkKDF{Salt: randBytes(16), T: 3, M: 1<<20 + 1, P: 1} }, 400, api.CodeBadRequest, "memory"},
		{"kdf threads", func(r *api.LinkCreate) { r.KDF = &api.LinkKDF{Salt: randBytes(16), T: 3, M: 65536, P: 17} }, 400, api.CodeBadRequest, "p=17"},
		{"expired", func(r *api.LinkCreate) { r.Expires = e.clock.Now().Unix() }, 400, api.CodeBadRequest, "not in the future"},
		{"negative expiry", func(r *api.LinkCreate) { r.Expires = -1 }, 400, api.CodeBadRequest, "expires"},
		{"negative downloads", func(r *api.LinkCreate) { r.MaxDownloads = -1 }, 400, api.CodeBadRequest, "max_downloads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			req, _ := linkRequest(file.ID)
			tt.mod(&req)
			e.expectError("POST", "/links", u.token(), req, tt.status, tt.code, tt.substr)
		})
	}
	e.t = t
	e.call("GET", "/links", u.token(), nil, http.StatusOK, &ls)
	if len(ls.Links) != 2 {
		t.Fatalf("refused links were stored: %+v", ls)
	}
	e.expectError("POST", "/links", "", req, http.StatusUnauthorized, api.CodeUnauthorized, "")
	e.expectError("POST", "/links", u.token(), `{"id":1}`, http.StatusBadRequest, api.CodeBadRequest, "field")

	// The target key can be replaced by the owner only.
	nk := randBytes(WrappedKeySize)
	e.call("PUT", "/links/"+l.ID+"/target-key", u.token(), api.LinkTargetKey{WrappedTargetKey: nk}, http.StatusNoContent, nil)
	if got := e.linkOf(u, l.ID); !bytes.Equal(got.WrappedTargetKey, nk) {
		t.Fatalf("target key not replaced: %+v", got)
	}
	e.expectError("PUT", "/links/"+l.ID+"/target-key", u.token(), api.LinkTargetKey{WrappedTargetKey: nk[:60]}, http.StatusBadRequest, api.CodeBadRequest, "61")
	e.expectError("PUT", "/links/"+l.ID+"/target-key", other.token(), api.LinkTargetKey{WrappedTargetKey: nk}, http.StatusNotFound, api.CodeNotFound, "link not found")
	e.expectError("PUT", "/links/"+randHex16()+"/target-key", u.token(), api.LinkTargetKey{WrappedTargetKey: nk}, http.StatusNotFound, api.CodeNotFound, "")
	e.expectError("PUT", "/links/xyz/target-key", u.token(), api.LinkTargetKey{WrappedTargetKey: nk}, http.StatusBadRequest, api.CodeBadRequest, "link ID")

	// Revoking: the owner's only, and kept in the list.
	e.expectError("DELETE", "/links/"+l.ID, other.token(), nil, http.StatusNotFound, api.CodeNotFound, "")
	e.expectError("DELETE", "/links/"+randHex16(), u.token(), nil, http.StatusNotFound, api.CodeNotFound, "")
	e.call("DELETE", "/links/"+l.ID, u.token(), nil, http.StatusNoContent, nil)
	if got := e.linkOf(u, l.ID); got.Revoked != e.clock.Now().Unix() {
		t.Fatalf("revoked link = %+v", got)
	}
	// Deleting the target: listed with no kind.
	e.mustCommit(u, nil, []string{file.ID})
	if got := e.linkOf(u, l.ID); got.Kind != "" {
		t.Fatalf("link to a deleted file has kind %q", got.Kind)
	}
}

func TestLinkOpen(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	u := e.signup("open@example.org")
	tr := e.buildTree(u, nodes)

	// Without a password.
	l, auth := e.newLink(u, tr.shared.ID, nil)
	var pre api.LinkPrelude
	e.call("GET", "/links/"+l.ID+"/prelude", "", nil, http.StatusOK, &pre)
	if pre.Password || pre.KDF != nil {
		t.Fatalf("prelude = %+v", pre)
	}
	ls := e.openLink(l.ID, auth, false)
	if ls.Token == "" || ls.Owner != u.sess.Account || ls.Target != tr.shared.ID || ls.Kind != "folder" ||
		ls.Expires != e.clock.Now().Add(LinkSessionTTL).Unix() || len(ls.WrappedLinkKey) != WrappedKeySize ||
		len(ls.WrappedTargetKey) != WrappedKeySize {
		t.Fatalf("link session = %+v", ls)
	}
	var got api.Entry
	e.call("GET", "/entries/"+tr.shared.ID, ls.Token, nil, http.StatusOK, &got)
	if got.ID != tr.shared.ID {
		t.Fatalf("entry %+v", got)
	}
	// The session lasts 12 hours.
	e.clock.Advance(LinkSessionTTL)
	e.expectError("GET", "/entries/"+tr.shared.ID, ls.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "")

	// With a password and an expiry: the KDF comes in the prelude, the
	// session ends with the link.
	kdf := &api.LinkKDF{Salt: randBytes(16), T: 2, M: 19456, P: 1}
	exp := e.clock.Now().Add(time.Hour)
	pl, pauth := e.newLink(u, tr.file.ID, func(r *api.LinkCreate) { r.KDF = kdf; r.Expires = exp.Unix() })
	e.call("GET", "/links/"+pl.ID+"/prelude", "", nil, http.StatusOK, &pre)
	if !pre.Password || pre.KDF == nil || !bytes.Equal(pre.KDF.Salt, kdf.Salt) || pre.KDF.T != 2 || pre.KDF.M != 19456 || pre.KDF.P != 1 {
		t.Fatalf("prelude = %+v", pre)
	}
	ps := e.openLink(pl.ID, pauth, false)
	if ps.Expires != exp.Unix() || ps.Kind != "file" {
		t.Fatalf("session of an expiring link = %+v", ps)
	}
	e.call("GET", "/entries/"+tr.file.ID, ps.Token, nil, http.StatusOK, nil)
	e.clock.Advance(30 * time.Minute)
	e.call("GET", "/entries/"+tr.file.ID, ps.Token, nil, http.StatusOK, nil)

	// Wrong auth keys.
	ae := e.expectError("POST", "/links/"+pl.ID+"/open", "", api.LinkOpen{Auth: randBytes(32)}, http.StatusUnauthorized, api.CodeLinkAuth, "wrong link password")
	if !strings.Contains(ae.Hint, "password") {
		t.Fatalf("hint %q", ae.Hint)
	}
	ae = e.expectError("POST", "/links/"+l.ID+"/open", "", api.LinkOpen{Auth: randBytes(32)}, http.StatusUnauthorized, api.CodeLinkAuth, "")
	if !strings.Contains(ae.Hint, "damaged") {
		t.Fatalf("hint %q", ae.Hint)
	}
	e.expectError("POST", "/links/"+l.ID+"/open", "", api.LinkOpen{Auth: auth[:31]}, http.StatusUnauthorized, api.CodeLinkAuth, "")
	e.expectError("POST", "/links/"+l.ID+"/open", "", api.LinkOpen{}, http.StatusUnauthorized, api.CodeLinkAuth, "")
	// The verifier is not the auth key.
	e.expectError("POST", "/links/"+l.ID+"/open", "", api.LinkOpen{Auth: Verifier(auth)}, http.StatusUnauthorized, api.CodeLinkAuth, "")
	// Unknown and malformed IDs.
	e.expectError("GET", "/links/"+randHex16()+"/prelude", "", nil, http.StatusNotFound, api.CodeNotFound, "no such link")
	e.expectError("POST", "/links/"+randHex16()+"/open", "", api.LinkOpen{Auth: auth}, http.StatusNotFound, api.CodeNotFound, "no such link")
	e.expectError("GET", "/links/"+strings.Repeat("0", 32)+"/prelude", "", nil, http.StatusBadRequest, api.CodeBadRequest, "link ID")
	e.expectError("POST", "/links/"+l.ID+"/open", "", "", http.StatusBadRequest, api.CodeBadRequest, "empty")
	e.expectError("POST", "/links/"+l.ID+"/open", "", `{"auth":"!!"}`, http.StatusBadRequest, api.CodeBadRequest, "base64")

	// Expired: prelude, open and open sessions answer 410 link_expired.
	e.clock.Advance(30 * time.Minute)
	e.expectError("GET", "/links/"+pl.ID+"/prelude", "", nil, http.StatusGone, api.CodeLinkExpired, "expired")
	e.expectError("POST", "/links/"+pl.ID+"/open", "", api.LinkOpen{Auth: pauth}, http.StatusGone, api.CodeLinkExpired, "expired")
	// The session ended with the link.
	e.expectError("GET", "/entries/"+tr.file.ID, ps.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "expired")

	// Revoked: 410 link_revoked, and open sessions end at once.
	ls = e.openLink(l.ID, auth, false)
	e.call("GET", "/entries/"+tr.sub.ID, ls.Token, nil, http.StatusOK, nil)
	e.call("DELETE", "/links/"+l.ID, u.token(), nil, http.StatusNoContent, nil)
	e.expectError("GET", "/entries/"+tr.sub.ID, ls.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
	e.expectError("GET", "/objects/"+tr.fileObj+"/segments", ls.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
	e.expectError("GET", "/links/"+l.ID+"/prelude", "", nil, http.StatusGone, api.CodeLinkRevoked, "revoked")
	e.expectError("POST", "/links/"+l.ID+"/open", "", api.LinkOpen{Auth: auth}, http.StatusGone, api.CodeLinkRevoked, "revoked")
	// Revoking again is fine and keeps the first time.
	e.clock.Advance(time.Minute)
	e.call("DELETE", "/links/"+l.ID, u.token(), nil, http.StatusNoContent, nil)
	if got := e.linkOf(u, l.ID); got.Revoked != e.clock.Now().Add(-time.Minute).Unix() {
		t.Fatalf("revoked at %d", got.Revoked)
	}

	// Gone: the target deleted.
	gl, gauth := e.newLink(u, tr.leaf.ID, nil)
	gs := e.openLink(gl.ID, gauth, false)
	e.mustCommit(u, nil, []string{tr.leaf.ID})
	e.expectError("GET", "/links/"+gl.ID+"/prelude", "", nil, http.StatusGone, api.CodeLinkGone, "deleted")
	e.expectError("POST", "/links/"+gl.ID+"/open", "", api.LinkOpen{Auth: gauth}, http.StatusGone, api.CodeLinkGone, "deleted")
	e.expectError("GET", "/entries/"+tr.leaf.ID, gs.Token, nil, http.StatusNotFound, api.CodeNotFound, "")

	// The owner changing the password ends every session of the account,
	// link sessions included.
	ol, oauth := e.newLink(u, tr.sub.ID, nil)
	os := e.openLink(ol.ID, oauth, false)
	newAuth := randBytes(AuthKeySize)
	e.call("POST", "/account/password", u.token(), api.PasswordChange{
		AuthKey: u.authKey, KDF: api.KDF{Alg: "argon2id", Salt: randBytes(16), Time: 3, MemoryKiB: 65536, Threads: 4},
		NewAuthKey: newAuth, WrappedMasterKey: randBytes(WrappedKeySize),
	}, http.StatusNoContent, nil)
	e.expectError("GET", "/entries/"+tr.sub.ID, os.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
}

func TestLinkDownloads(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	u := e.signup("dl@example.org")
	tr := e.buildTree(u, nodes)

	// Opened with download=true: counted at once, up to the limit.
	l, auth := e.newLink(u, tr.file.ID, func(r *api.LinkCreate) { r.MaxDownloads = 2 })
	s1 := e.openLink(l.ID, auth, true)
	e.openLink(l.ID, auth, true)
	if got := e.linkOf(u, l.ID); got.Downloads != 2 {
		t.Fatalf("downloads %d, want 2", got.Downloads)
	}
	e.expectError("POST", "/links/"+l.ID+"/open", "", api.LinkOpen{Auth: auth, Download: true}, http.StatusGone, api.CodeLinkExhausted, "download limit")
	e.expectError("POST", "/links/"+l.ID+"/open", "", api.LinkOpen{Auth: auth}, http.StatusGone, api.CodeLinkExhausted, "download limit")
	e.expectError("GET", "/links/"+l.ID+"/prelude", "", nil, http.StatusGone, api.CodeLinkExhausted, "")
	if got := e.linkOf(u, l.ID); got.Downloads != 2 {
		t.Fatalf("a refused open counted: %d", got.Downloads)
	}
	// A session counted at open fetches orders without counting again.
	for range 3 {
		e.call("GET", "/objects/"+tr.fileObj+"/segments", s1.Token, nil, http.StatusOK, nil)
	}
	if got := e.linkOf(u, l.ID); got.Downloads != 2 {
		t.Fatalf("downloads %d after fetches of a counted session", got.Downloads)
	}

	// Opened without download: counted when it first asks for GET
	// orders, once per session.
	m, mauth := e.newLink(u, tr.shared.ID, func(r *api.LinkCreate) { r.MaxDownloads = 2 })
	a := e.openLink(m.ID, mauth, false)
	b := e.openLink(m.ID, mauth, false)
	c := e.openLink(m.ID, mauth, false)
	// Browsing is not downloading.
	e.call("GET", "/entries/"+tr.sub.ID+"/children", a.Token, nil, http.StatusOK, nil)
	if got := e.linkOf(u, m.ID); got.Downloads != 0 {
		t.Fatalf("browsing counted: %d", got.Downloads)
	}
	for range 3 {
		e.call("GET", "/objects/"+tr.fileObj+"/segments", a.Token, nil, http.StatusOK, nil)
	}
	if got := e.linkOf(u, m.ID); got.Downloads != 1 {
		t.Fatalf("downloads %d, want 1 after one session's fetches", got.Downloads)
	}
	// Out of scope fetches do not count.
	e.expectError("GET", "/objects/"+tr.sibObj+"/segments", b.Token, nil, http.StatusForbidden, api.CodeOutOfScope, "")
	if got := e.linkOf(u, m.ID); got.Downloads != 1 {
		t.Fatalf("an out-of-scope fetch counted: %d", got.Downloads)
	}
	e.call("GET", "/objects/"+tr.fileObj+"/segments", b.Token, nil, http.StatusOK, nil)
	// The third session would exceed the limit.
	e.expectError("GET", "/objects/"+tr.fileObj+"/segments", c.Token, nil, http.StatusGone, api.CodeLinkExhausted, "download limit")
	if got := e.linkOf(u, m.ID); got.Downloads != 2 {
		t.Fatalf("downloads %d, want 2", got.Downloads)
	}
	// Counted sessions keep working.
	e.call("GET", "/objects/"+tr.fileObj+"/segments", a.Token, nil, http.StatusOK, nil)
	e.call("GET", "/objects/"+tr.fileObj+"/segments", b.Token, nil, http.StatusOK, nil)

	// Without a limit, every session counts once.
	n, nauth := e.newLink(u, tr.file.ID, nil)
	for range 3 {
		s := e.openLink(n.ID, nauth, true)
		e.call("GET", "/objects/"+tr.fileObj+"/segments", s.Token, nil, http.StatusOK, nil)
	}
	if got := e.linkOf(u, n.ID); got.Downloads != 3 {
		t.Fatalf("downloads %d, want 3", got.Downloads)
	}
}

func TestLinkRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("rl@example.org")
	dir := newEntry(u.root(), "folder")
	e.mustCommit(u, []api.Entry{dir}, nil)
	l, auth := e.newLink(u, dir.ID, nil)
	other, oauth := e.newLink(u, dir.ID, nil)
	for range maxLinkFailures {
		e.expectError("POST", "/links/"+l.ID+"/open", "", api.LinkOpen{Auth: randBytes(32)}, http.StatusUnauthorized, api.CodeLinkAuth, "")
	}
	// Now even the right key must wait.
	r := e.do("POST", "/links/"+l.ID+"/open", "", api.LinkOpen{Auth: auth})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d after %d failures: %s", r.status, maxLinkFailures, r.body)
	}
	if ae := r.apiError(t); ae.Code != api.CodeTooMany || ae.RetryAfter < 1 || ae.RetryAfter > 60 || r.header.Get("Retry-After") == "" {
		t.Fatalf("429 = %+v %v", ae, r.header)
	}
	// Other links are not affected.
	e.openLink(other.ID, oauth, false)
	// A minute later the link opens again.
	e.clock.Advance(linkFailureWindow)
	e.openLink(l.ID, auth, false)
	// A success does not forgive the failures around it.
	for i := range maxLinkFailures {
		if i == maxLinkFailures/2 {
			e.openLink(l.ID, auth, false)
		}
		e.expectError("POST", "/links/"+l.ID+"/open", "", api.LinkOpen{Auth: randBytes(32)}, http.StatusUnauthorized, api.CodeLinkAuth, "")
	}
	e.expectError("POST", "/links/"+l.ID+"/open", "", api.LinkOpen{Auth: auth}, http.StatusTooManyRequests, api.CodeTooMany, "")
}
