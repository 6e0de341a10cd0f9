package coordinator

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

// testToken is a test API token: what `nuage token create` registers.
type testToken struct {
	create api.TokenCreate
	info   api.Token
}

func (e *env) createToken(u *user, name string) testToken {
	e.t.Helper()
	tc := api.TokenCreate{ID: randHex16(), Name: name, AuthKey: randBytes(AuthKeySize), WrappedMasterKey: randBytes(WrappedKeySize)}
	var info api.Token
	e.call("POST", "/tokens", u.token(), tc, http.StatusOK, &info)
	return testToken{tc, info}
}

func (e *env) tokenLogin(tt testToken) api.Session {
	e.t.Helper()
	var s api.Session
	e.call("POST", "/token-login", "", api.TokenLogin{ID: tt.create.ID, AuthKey: tt.create.AuthKey}, http.StatusOK, &s)
	return s
}

func TestTokens(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("tok@example.org")
	valid := func() api.TokenCreate {
		return api.TokenCreate{ID: randHex16(), Name: "laptop", AuthKey: randBytes(AuthKeySize), WrappedMasterKey: randBytes(WrappedKeySize)}
	}
	tests := []struct {
		name   string
		mod    func(*api.TokenCreate)
		substr string
	}{
		{"bad id", func(c *api.TokenCreate) { c.ID = "xyz" }, "id must be 32 hex"},
		{"zero id", func(c *api.TokenCreate) { c.ID = strings.Repeat("0", 32) }, "zeros"},
		{"empty name", func(c *api.TokenCreate) { c.Name = "" }, "name is empty"},
		{"long name", func(c *api.TokenCreate) { c.Name = strings.Repeat("é", MaxTokenName+1) }, "65 characters"},
		{"control", func(c *api.TokenCreate) { c.Name = "a\nb" }, "printable"},
		{"leading space", func(c *api.TokenCreate) { c.Name = " ci" }, "space"},
		{"auth key", func(c *api.TokenCreate) { c.AuthKey = c.AuthKey[:31] }, "auth_key"},
		{"wrap", func(c *api.TokenCreate) { c.WrappedMasterKey = nil }, "wrapped_master_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			c := valid()
			tt.mod(&c)
			e.expectError("POST", "/tokens", u.token(), c, 400, api.CodeBadRequest, tt.substr)
		})
	}
	e.t = t
	long := valid()
	long.Name = strings.Repeat("é", MaxTokenName)
	e.call("POST", "/tokens", u.token(), long, http.StatusOK, nil)

	e.clock.Advance(time.Second)
	ci := e.createToken(u, "ci server")
	if ci.info.ID != ci.create.ID || ci.info.Name != "ci server" || ci.info.Created != e.clock.Now().Unix() || ci.info.LastUsed != 0 {
		t.Fatalf("created token = %+v", ci.info)
	}
	dupName := valid()
	dupName.Name = "ci server"
	e.expectError("POST", "/tokens", u.token(), dupName, 409, api.CodeExists, "already exists")
	dupID := valid()
	dupID.ID = ci.create.ID
	e.expectError("POST", "/tokens", u.token(), dupID, 409, api.CodeExists, "already exists")
	// Another account may use the same name.
	v := e.signup("other@example.org")
	e.createToken(v, "ci server")

	// Token login: the token's wrap, the token's ID, and a bearer that is
	// the token ID and a secret.
	e.clock.Advance(time.Minute)
	s := e.tokenLogin(ci)
	raw, err := base64.RawURLEncoding.DecodeString(s.Token)
	if err != nil || len(raw) != tokenSessionSize || s.TokenID != ci.create.ID || !bytes.Equal(s.WrappedMasterKey, ci.create.WrappedMasterKey) ||
		s.Account != u.sess.Account || s.Root.ID != u.root() || s.Trash.ID != u.trash() || !bytes.Equal(s.PublicKey, u.sess.PublicKey) {
		t.Fatalf("token session = %+v (%d-byte bearer)", s, len(raw))
	}
	var list api.Tokens
	e.call("GET", "/tokens", u.token(), nil, http.StatusOK, &list)
	if len(list.Tokens) != 2 || list.Tokens[0].Name != long.Name || list.Tokens[1].ID != ci.create.ID || list.Tokens[1].LastUsed != e.clock.Now().Unix() {
		t.Fatalf("tokens = %+v", list)
	}
	wrong := e.expectError("POST", "/token-login", "", api.TokenLogin{ID: ci.create.ID, AuthKey: randBytes(AuthKeySize)}, 401, api.CodeUnauthorized, "wrong or revoked API token")
	unknown := e.expectError("POST", "/token-login", "", api.TokenLogin{ID: randHex16(), AuthKey: ci.create.AuthKey}, 401, api.CodeUnauthorized, "wrong or revoked API token")
	if wrong != unknown || wrong.Hint != tokenHint {
		t.Fatalf("wrong key %+v, unknown token %+v", wrong, unknown)
	}
	e.expectError("POST", "/token-login", "", api.TokenLogin{ID: "nope", AuthKey: ci.create.AuthKey}, 400, api.CodeBadRequest, "id")

	// A token session reads and writes the tree...
	var acct api.Session
	e.call("GET", "/account", s.Token, nil, http.StatusOK, &acct)
	if acct.Token != "" || acct.TokenID != ci.create.ID || !bytes.Equal(acct.WrappedMasterKey, ci.create.WrappedMasterKey) {
		t.Fatalf("GET /account with a token = %+v", acct)
	}
	e.call("GET", "/tokens", s.Token, nil, http.StatusOK, &list)
	headless := *u
	headless.sess = s
	e.mustCommit(&headless, []api.Entry{newEntry(u.root(), "folder")}, nil)
	u.seq, u.head = headless.seq, headless.head
	// ...but cannot change the password, the recovery key, two-factor
	// login or tokens.
	for _, call := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/account/password", api.PasswordChange{AuthKey: u.authKey, KDF: u.sess.KDF, NewAuthKey: randBytes(32), WrappedMasterKey: randBytes(WrappedKeySize)}},
		{"POST", "/account/recovery", api.RecoverySet{AuthKey: randBytes(32), WrappedMasterKey: randBytes(WrappedKeySize)}},
		{"POST", "/account/totp", api.TOTPEnable{Secret: randBytes(TOTPSecretSize), Code: "123456"}},
		{"POST", "/account/totp/disable", api.TOTPDisable{Code: "123456"}},
		{"POST", "/tokens", valid()},
		{"DELETE", "/tokens/" + ci.create.ID, nil},
	} {
		ae := e.expectError(call.method, call.path, s.Token, call.body, 401, api.CodeUnauthorized, "an API token cannot change")
		if ae.Hint != "log in with the password" {
			t.Fatalf("%s %s: hint %q", call.method, call.path, ae.Hint)
		}
	}
	e.call("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: u.authKey}, http.StatusOK, nil) // password unchanged

	// A forged bearer: another token's ID in front of this session's secret.
	other := e.createToken(u, "other")
	otherID := mustID16(t, other.create.ID)
	forged := append(otherID[:], raw[16:]...)
	e.expectError("GET", "/account", base64.RawURLEncoding.EncodeToString(forged), nil, 401, api.CodeUnauthorized, "session expired")

	// Revoking ends the token's sessions at once, and its logins.
	s2 := e.tokenLogin(ci)
	e.expectError("DELETE", "/tokens/"+ci.create.ID, v.token(), nil, 404, api.CodeNotFound, "token not found")
	e.call("DELETE", "/tokens/"+ci.create.ID, u.token(), nil, http.StatusNoContent, nil)
	for _, tok := range []string{s.Token, s2.Token} {
		ae := e.expectError("GET", "/entries/"+u.root(), tok, nil, 401, api.CodeUnauthorized, "revoked")
		if ae.Hint != tokenHint {
			t.Fatalf("hint %q", ae.Hint)
		}
	}
	e.expectError("POST", "/token-login", "", api.TokenLogin{ID: ci.create.ID, AuthKey: ci.create.AuthKey}, 401, api.CodeUnauthorized, "wrong or revoked")
	e.expectError("DELETE", "/tokens/"+ci.create.ID, u.token(), nil, 404, api.CodeNotFound, "token not found")
	e.expectError("DELETE", "/tokens/xyz", u.token(), nil, 400, api.CodeBadRequest, "token ID")
	// The other token's session is untouched.
	e.call("GET", "/entries/"+u.root(), e.tokenLogin(other).Token, nil, http.StatusOK, nil)
	e.call("GET", "/tokens", u.token(), nil, http.StatusOK, &list)
	if len(list.Tokens) != 2 || list.Tokens[1].ID != other.create.ID {
		t.Fatalf("tokens after revoke = %+v", list)
	}
	e.expectError("GET", "/tokens", "", nil, 401, api.CodeUnauthorized, "")
}

func TestTokenLimits(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("many@example.org")
	for i := range MaxTokens {
		e.createToken(u, "t"+strconv.Itoa(i))
	}
	e.expectError("POST", "/tokens", u.token(), api.TokenCreate{ID: randHex16(), Name: "one more", AuthKey: randBytes(32), WrappedMasterKey: randBytes(WrappedKeySize)},
		409, api.CodeConflict, "most API tokens")

	// Token logins are rate limited per token and per IP.
	var list api.Tokens
	e.call("GET", "/tokens", u.token(), nil, http.StatusOK, &list)
	id := list.Tokens[0].ID
	for range maxEmailFailures {
		e.expectError("POST", "/token-login", "", api.TokenLogin{ID: id, AuthKey: randBytes(32)}, 401, api.CodeUnauthorized, "wrong")
	}
	e.expectError("POST", "/token-login", "", api.TokenLogin{ID: id, AuthKey: randBytes(32)}, 429, api.CodeTooMany, "retry in 900 s")
	// Another token is not blocked by this one's count, nor is the password.
	e.expectError("POST", "/token-login", "", api.TokenLogin{ID: list.Tokens[1].ID, AuthKey: randBytes(32)}, 401, api.CodeUnauthorized, "wrong")
	e.call("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: u.authKey}, http.StatusOK, nil)
	e.clock.Advance(failureWindow)
	for i := range maxIPFailures {
		e.expectError("POST", "/token-login", "", api.TokenLogin{ID: list.Tokens[i].ID, AuthKey: randBytes(32)}, 401, api.CodeUnauthorized, "wrong")
	}
	e.expectError("POST", "/token-login", "", api.TokenLogin{ID: list.Tokens[50].ID, AuthKey: randBytes(32)}, 429, api.CodeTooMany, "")
	e.expectError("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: u.authKey}, 429, api.CodeTooMany, "")
}
