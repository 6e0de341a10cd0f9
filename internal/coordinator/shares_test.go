package coordinator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/journal"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// share shares folder root of owner with recipient, read-write if key is
// not zero, and returns the share.
func (e *env) share(owner, recipient *user, root string, key journal.ID) api.Share {
	e.t.Helper()
	req := api.ShareCreate{ID: randHex16(), Root: root, Recipient: recipient.sess.Account, Epoch: 1, Sealed: randBytes(400)}
	if key != (journal.ID{}) {
		req.Write, req.KeyID = true, key.String()
	}
	var sh api.Share
	e.call("POST", "/shares", owner.token(), req, http.StatusOK, &sh)
	return sh
}

// shareSession opens recipient's session for share id.
func (e *env) shareSession(recipient *user, id string) api.ShareSession {
	e.t.Helper()
	var ss api.ShareSession
	e.call("POST", "/shares/"+id+"/session", recipient.token(), nil, http.StatusOK, &ss)
	return ss
}

func TestShares(t *testing.T) {
	e := newEnv(t, nil)
	owner := e.signup("owner@example.org")
	bob := e.signup("bob@example.org")
	carol := e.signup("carol@example.org")
	dir := newEntry(owner.root(), "folder")
	sub := newEntry(dir.ID, "folder")
	file := newEntry(dir.ID, "file")
	other := newEntry(owner.root(), "folder")
	trashed := newEntry(owner.trash(), "folder")
	e.mustCommit(owner, []api.Entry{dir, sub, file, other, trashed}, nil)
	key := e.grant(owner, dir.ID)
	otherKey := e.grant(owner, other.ID)
	revoked := e.grant(owner, dir.ID)
	if r := e.post(owner, owner.token(), e.ownerBody(owner, []journal.Change{{Op: journal.Revoke, Entry: revoked}}, nil, nil)); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}

	// A read-write share to bob, a read-only one to carol.
	req := api.ShareCreate{ID: randHex16(), Root: dir.ID, Recipient: bob.sess.Account, Write: true, KeyID: key.String(), Epoch: 7, Sealed: randBytes(500)}
	var sh api.Share
	e.call("POST", "/shares", owner.token(), req, http.StatusOK, &sh)
	now := e.clock.Now().Unix()
	if sh.ID != req.ID || sh.Owner != owner.sess.Account || sh.OwnerEmail != owner.email || sh.Root != dir.ID ||
		sh.Recipient != bob.sess.Account || sh.RecipientEmail != bob.email || !sh.Write || sh.KeyID != key.String() ||
		sh.Epoch != 7 || !bytes.Equal(sh.Sealed, req.Sealed) || sh.Created != now || sh.Updated != now {
		t.Fatalf("share = %+v", sh)
	}
	e.clock.Advance(time.Second)
	ro := e.share(owner, carol, dir.ID, journal.ID{})
	if ro.Write || ro.KeyID != "" {
		t.Fatalf("read-only share = %+v", ro)
	}
	e.expectError("POST", "/shares", owner.token(), req, http.StatusConflict, api.CodeExists, "already shared")
	dup := req
	dup.ID = randHex16()
	e.expectError("POST", "/shares", owner.token(), dup, http.StatusConflict, api.CodeExists, "already shared")

	// Each case starts from a valid read-only share of sub with carol.
	rw := func(r *api.ShareCreate, k string) { r.Root, r.Write, r.KeyID = dir.ID, true, k }
	tests := []struct {
		name   string
		mod    func(*api.ShareCreate)
		status int
		code   string
		substr string
	}{
		{"bad id", func(r *api.ShareCreate) { r.ID = "x" }, 400, api.CodeBadRequest, "id must be 32 hex"},
		{"bad root", func(r *api.ShareCreate) { r.Root = "" }, 400, api.CodeBadRequest, "root must be 32 hex"},
		{"bad recipient", func(r *api.ShareCreate) { r.Recipient = strings.Repeat("0", 32) }, 400, api.CodeBadRequest, "recipient must not be all zeros"},
		{"self", func(r *api.ShareCreate) { r.Recipient = owner.sess.Account }, 400, api.CodeBadRequest, "own account"},
		{"unknown recipient", func(r *api.ShareCreate) { r.Recipient = randHex16() }, 404, api.CodeNotFound, "no account with this ID"},
		{"unknown folder", func(r *api.ShareCreate) { r.Root = randHex16() }, 404, api.CodeNotFound, "not found"},
		{"another's folder", func(r *api.ShareCreate) { r.Root = bob.root() }, 404, api.CodeNotFound, "not found"},
		{"a file", func(r *api.ShareCreate) { r.Root = file.ID }, 400, api.CodeBadRequest, "only folders"},
		{"root", func(r *api.ShareCreate) { r.Root = owner.root() }, 400, api.CodeBadRequest, "top-level"},
		{"trash", func(r *api.ShareCreate) { r.Root = owner.trash() }, 400, api.CodeBadRequest, "top-level"},
		{"in the trash", func(r *api.ShareCreate) { r.Root = trashed.ID }, 409, api.CodeConflict, "in the trash"},
		{"no sealed", func(r *api.ShareCreate) { r.Sealed = nil }, 400, api.CodeBadRequest, "sealed is empty"},
		{"big sealed", func(r *api.ShareCreate) { r.Sealed = make([]byte, MaxSealedShare+1) }, 400, api.CodeBadRequest, "at most 4096"},
		{"read with key", func(r *api.ShareCreate) { r.KeyID = key.String() }, 400, api.CodeBadRequest, "key_id must be empty"},
		{"write without key", func(r *api.ShareCreate) { rw(r, "") }, 400, api.CodeBadRequest, "key_id is required"},
		{"bad key", func(r *api.ShareCreate) { rw(r, "abc") }, 400, api.CodeBadRequest, "key_id must be 32 hex"},
		{"key never granted", func(r *api.ShareCreate) { rw(r, randHex16()) }, 409, api.CodeConflict, "was not granted"},
		{"key of another folder", func(r *api.ShareCreate) { rw(r, otherKey.String()) }, 409, api.CodeConflict, "another folder"},
		{"key of the parent folder", func(r *api.ShareCreate) { rw(r, key.String()); r.Root = sub.ID }, 409, api.CodeConflict, "another folder"},
		{"revoked key", func(r *api.ShareCreate) { rw(r, revoked.String()) }, 409, api.CodeConflict, "revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			r := api.ShareCreate{ID: randHex16(), Root: sub.ID, Recipient: carol.sess.Account, Epoch: 1, Sealed: randBytes(300)}
			tt.mod(&r)
			e.expectError("POST", "/shares", owner.token(), r, tt.status, tt.code, tt.substr)
		})
	}
	e.t = t

	// Listings: the owner's, and each recipient's incoming.
	var out, in api.Shares
	e.call("GET", "/shares", owner.token(), nil, http.StatusOK, &out)
	if len(out.Shares) != 2 || out.Shares[0].ID != sh.ID || out.Shares[1].ID != ro.ID ||
		out.Shares[0].RecipientEmail != bob.email || out.Shares[1].RecipientEmail != carol.email || out.Shares[1].OwnerEmail != owner.email {
		t.Fatalf("owner's shares = %+v", out)
	}
	e.call("GET", "/shares/incoming", bob.token(), nil, http.StatusOK, &in)
	if len(in.Shares) != 1 || in.Shares[0].ID != sh.ID || in.Shares[0].OwnerEmail != owner.email || !bytes.Equal(in.Shares[0].Sealed, req.Sealed) {
		t.Fatalf("bob's incoming = %+v", in)
	}
	e.call("GET", "/shares", bob.token(), nil, http.StatusOK, &out)
	if len(out.Shares) != 0 {
		t.Fatalf("bob owns %+v", out)
	}
	e.call("GET", "/shares/incoming", owner.token(), nil, http.StatusOK, &in)
	if len(in.Shares) != 0 {
		t.Fatalf("owner's incoming %+v", in)
	}

	// Sessions: the recipient's only.
	ss := e.shareSession(bob, sh.ID)
	if !ss.Write || ss.Expires != e.clock.Now().Add(DefaultSessionTTL).Unix() {
		t.Fatalf("share session = %+v", ss)
	}
	raw, err := base64.RawURLEncoding.DecodeString(ss.Token)
	if err != nil || len(raw) != sessionTokenSize {
		t.Fatalf("share session token %q", ss.Token)
	}
	st, err := e.db.SessionByToken(t.Context(), sha256.Sum256(raw))
	if err != nil || st.Account != mustID16(t, owner.sess.Account) || st.Root != mustID16(t, dir.ID) || !st.Write ||
		st.Share != mustID16(t, sh.ID) || st.Link != (metadb.ID16{}) {
		t.Fatalf("stored share session = %+v, %v", st, err)
	}
	e.expectError("POST", "/shares/"+sh.ID+"/session", carol.token(), nil, http.StatusNotFound, api.CodeNotFound, "share not found")
	e.expectError("POST", "/shares/"+sh.ID+"/session", owner.token(), nil, http.StatusNotFound, api.CodeNotFound, "share not found")
	e.expectError("POST", "/shares/"+randHex16()+"/session", bob.token(), nil, http.StatusNotFound, api.CodeNotFound, "share not found")
	e.expectError("POST", "/shares/zz/session", bob.token(), nil, http.StatusBadRequest, api.CodeBadRequest, "share ID")
	e.expectError("POST", "/shares/"+sh.ID+"/session", bob.token(), `{"x":1}`, http.StatusBadRequest, api.CodeBadRequest, "unknown field")
	cs := e.shareSession(carol, ro.ID)
	if cs.Write {
		t.Fatal("read-only share gave a read-write session")
	}

	// Updates: the owner's only, with the same checks.
	up := api.ShareUpdate{Epoch: 8, Sealed: randBytes(450)}
	var got api.Share
	e.clock.Advance(10 * time.Second)
	e.call("PUT", "/shares/"+sh.ID, owner.token(), up, http.StatusOK, &got)
	if got.Write || got.KeyID != "" || got.Epoch != 8 || !bytes.Equal(got.Sealed, up.Sealed) || got.Updated != e.clock.Now().Unix() ||
		got.Created != sh.Created || got.RecipientEmail != bob.email || got.OwnerEmail != owner.email {
		t.Fatalf("updated share = %+v", got)
	}
	e.expectError("PUT", "/shares/"+sh.ID, bob.token(), up, http.StatusNotFound, api.CodeNotFound, "share not found")
	e.expectError("PUT", "/shares/"+randHex16(), owner.token(), up, http.StatusNotFound, api.CodeNotFound, "share not found")
	e.expectError("PUT", "/shares/"+sh.ID, owner.token(), api.ShareUpdate{Write: true, KeyID: otherKey.String(), Sealed: randBytes(10)},
		http.StatusConflict, api.CodeConflict, "another folder")
	e.expectError("PUT", "/shares/"+sh.ID, owner.token(), api.ShareUpdate{Write: true, Sealed: randBytes(10)},
		http.StatusBadRequest, api.CodeBadRequest, "key_id is required")
	e.expectError("PUT", "/shares/"+sh.ID, owner.token(), api.ShareUpdate{KeyID: key.String(), Sealed: randBytes(10)},
		http.StatusBadRequest, api.CodeBadRequest, "must be empty")
	e.expectError("PUT", "/shares/"+sh.ID, owner.token(), api.ShareUpdate{}, http.StatusBadRequest, api.CodeBadRequest, "sealed is empty")
	e.call("PUT", "/shares/"+sh.ID, owner.token(), api.ShareUpdate{Write: true, KeyID: key.String(), Epoch: 9, Sealed: randBytes(10)}, http.StatusOK, &got)
	if !got.Write || got.KeyID != key.String() || got.Epoch != 9 {
		t.Fatalf("upgraded share = %+v", got)
	}

	// Revoking: the owner's only; it ends the share's sessions, not others.
	e.expectError("DELETE", "/shares/"+sh.ID, bob.token(), nil, http.StatusNotFound, api.CodeNotFound, "")
	e.call("GET", "/entries/"+dir.ID, ss.Token, nil, http.StatusOK, nil)
	e.call("DELETE", "/shares/"+sh.ID, owner.token(), nil, http.StatusNoContent, nil)
	e.expectError("GET", "/entries/"+dir.ID, ss.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
	e.call("GET", "/entries/"+dir.ID, cs.Token, nil, http.StatusOK, nil)
	e.expectError("DELETE", "/shares/"+sh.ID, owner.token(), nil, http.StatusNotFound, api.CodeNotFound, "")
	e.call("GET", "/shares/incoming", bob.token(), nil, http.StatusOK, &in)
	if len(in.Shares) != 0 {
		t.Fatalf("revoked share still incoming: %+v", in)
	}

	// A share whose folder was deleted opens no session.
	e.mustCommit(owner, nil, []string{sub.ID})
	gone := e.share(owner, bob, other.ID, journal.ID{})
	e.mustCommit(owner, nil, []string{other.ID})
	e.expectError("POST", "/shares/"+gone.ID+"/session", bob.token(), nil, http.StatusNotFound, api.CodeNotFound, "no longer exists")

	// Without a session: 401.
	e.expectError("GET", "/shares", "", nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
	e.expectError("POST", "/shares", "", req, http.StatusUnauthorized, api.CodeUnauthorized, "")
}

func TestAccountKeys(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.signup("alice@example.org")
	bob := e.signup("bob@example.org")
	var k api.AccountKeys
	e.call("GET", "/accounts/keys?email=%20BOB@Example.org", alice.token(), nil, http.StatusOK, &k)
	if k.Account != bob.sess.Account || k.Email != bob.email || !bytes.Equal(k.PublicKey, bob.sess.PublicKey) ||
		!bytes.Equal(k.SigningKey, bob.sess.SigningKey) || len(k.SigningKey) != SigningKeySize {
		t.Fatalf("keys by e-mail = %+v", k)
	}
	var k2 api.AccountKeys
	e.call("GET", "/accounts/"+bob.sess.Account+"/keys", alice.token(), nil, http.StatusOK, &k2)
	if k2.Account != k.Account || k2.Email != k.Email || !bytes.Equal(k2.PublicKey, k.PublicKey) || !bytes.Equal(k2.SigningKey, k.SigningKey) {
		t.Fatalf("keys by ID = %+v, by e-mail %+v", k2, k)
	}
	ae := e.expectError("GET", "/accounts/keys?email=nobody@example.org", alice.token(), nil, http.StatusNotFound, api.CodeNotFound,
		"no account with this e-mail on this coordinator")
	if !strings.Contains(ae.Hint, "no account with this e-mail on this coordinator") {
		t.Fatal("no hint")
	}
	e.expectError("GET", "/accounts/"+randHex16()+"/keys", alice.token(), nil, http.StatusNotFound, api.CodeNotFound, "no account with this ID")
	e.expectError("GET", "/accounts/keys?email=nobody", alice.token(), nil, http.StatusBadRequest, api.CodeBadRequest, "name@domain")
	e.expectError("GET", "/accounts/keys", alice.token(), nil, http.StatusBadRequest, api.CodeBadRequest, "email parameter is required")
	e.expectError("GET", "/accounts/XYZ/keys", alice.token(), nil, http.StatusBadRequest, api.CodeBadRequest, "account ID")
	e.expectError("GET", "/accounts/keys?email=bob@example.org", "", nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
}

func TestSigningKey(t *testing.T) {
	e := newEnv(t, nil)
	// An account created before signing keys existed.
	req, auth, _ := signupRequest(t, "old@example.org")
	req.SigningKey, req.WrappedSigningKey = randBytes(SigningKeySize), randBytes(WrappedKeySize)
	su, herr := e.c.checkSignup(req)
	if herr != nil {
		t.Fatal(herr)
	}
	su.acct.SigningKey, su.acct.WrappedSigningKey = nil, nil
	if err := e.db.CreateAccount(context.Background(), su.acct, su.root, su.trash, su.first); err != nil {
		t.Fatal(err)
	}
	var s api.Session
	e.call("POST", "/login", "", api.LoginRequest{Email: "old@example.org", AuthKey: auth}, http.StatusOK, &s)
	if s.SigningKey != nil || s.WrappedSigningKey != nil {
		t.Fatalf("session of an account without a signing key = %+v", s)
	}
	other := e.signup("other@example.org")
	var k api.AccountKeys
	e.call("GET", "/accounts/keys?email=old@example.org", other.token(), nil, http.StatusOK, &k)
	if k.SigningKey != nil || !bytes.Equal(k.PublicKey, req.PublicKey) {
		t.Fatalf("keys = %+v", k)
	}

	e.expectError("POST", "/account/signing-key", s.Token, api.SigningKeySet{SigningKey: randBytes(31), WrappedSigningKey: randBytes(WrappedKeySize)},
		http.StatusBadRequest, api.CodeBadRequest, "signing_key must be 32")
	e.expectError("POST", "/account/signing-key", s.Token, api.SigningKeySet{SigningKey: randBytes(32), WrappedSigningKey: randBytes(62)},
		http.StatusBadRequest, api.CodeBadRequest, "wrapped_signing_key must be 61")
	e.expectError("POST", "/account/signing-key", "", api.SigningKeySet{}, http.StatusUnauthorized, api.CodeUnauthorized, "")
	set := api.SigningKeySet{SigningKey: randBytes(SigningKeySize), WrappedSigningKey: randBytes(WrappedKeySize)}
	// An API token may set it.
	tokAuth, tokID := randBytes(AuthKeySize), randHex16()
	e.call("POST", "/tokens", s.Token, api.TokenCreate{ID: tokID, Name: "t", AuthKey: tokAuth, WrappedMasterKey: randBytes(WrappedKeySize)}, http.StatusOK, nil)
	var ts api.Session
	e.call("POST", "/token-login", "", api.TokenLogin{ID: tokID, AuthKey: tokAuth}, http.StatusOK, &ts)
	e.call("POST", "/account/signing-key", ts.Token, set, http.StatusNoContent, nil)
	var a api.Session
	e.call("GET", "/account", s.Token, nil, http.StatusOK, &a)
	if !bytes.Equal(a.SigningKey, set.SigningKey) || !bytes.Equal(a.WrappedSigningKey, set.WrappedSigningKey) {
		t.Fatalf("account after setting = %+v", a)
	}
	e.call("GET", "/accounts/"+s.Account+"/keys", other.token(), nil, http.StatusOK, &k)
	if !bytes.Equal(k.SigningKey, set.SigningKey) {
		t.Fatalf("keys after setting = %+v", k)
	}
	// Never replaced.
	e.expectError("POST", "/account/signing-key", s.Token, api.SigningKeySet{SigningKey: randBytes(32), WrappedSigningKey: randBytes(61)},
		http.StatusConflict, api.CodeExists, "already has a signing key")
	e.call("GET", "/account", s.Token, nil, http.StatusOK, &a)
	if !bytes.Equal(a.SigningKey, set.SigningKey) {
		t.Fatal("signing key replaced")
	}
	// An account created with one cannot set another.
	e.expectError("POST", "/account/signing-key", other.token(), set, http.StatusConflict, api.CodeExists, "")
}

// TestShareSessionOpener: a share session belongs to the recipient who
// opened it: ending the owner's sessions (a password change) leaves it,
// ending the recipient's ends it.
func TestShareSessionOpener(t *testing.T) {
	e := newEnv(t, nil)
	owner := e.signup("owner@example.org")
	bob := e.signup("bob@example.org")
	dir := newEntry(owner.root(), "folder")
	e.mustCommit(owner, []api.Entry{dir}, nil)
	sh := e.share(owner, bob, dir.ID, journal.ID{})
	ss := e.shareSession(bob, sh.ID)
	e.call("GET", "/entries/"+dir.ID, ss.Token, nil, http.StatusOK, nil)
	if _, err := e.db.DeleteSessions(t.Context(), metadb.ID16(jid(t, owner.sess.Account)), [32]byte{}); err != nil {
		t.Fatal(err)
	}
	e.call("GET", "/entries/"+dir.ID, ss.Token, nil, http.StatusOK, nil)
	if _, err := e.db.DeleteSessions(t.Context(), metadb.ID16(jid(t, bob.sess.Account)), [32]byte{}); err != nil {
		t.Fatal(err)
	}
	e.expectError("GET", "/entries/"+dir.ID, ss.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
}
