package coordinator

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/nuage-storage/nuage/internal/api"
)

func TestRecovery(t *testing.T) {
	e := newEnv(t, nil)
	e.clock.Set(totpEpoch)
	u := e.signup("rec@example.org")
	recKey := randBytes(AuthKeySize)
	recWrap := randBytes(WrappedKeySize)
	fetch := func(email string, key []byte, code string) api.RecoveryFetch {
		return api.RecoveryFetch{Email: email, AuthKey: key, TOTP: code}
	}

	// No recovery key yet: the same answer as a wrong key or an unknown e-mail.
	none := e.expectError("POST", "/recovery/fetch", "", fetch(u.email, recKey, ""), 401, api.CodeUnauthorized, "wrong e-mail or recovery key")

	for name, req := range map[string]api.RecoverySet{
		"short key":  {AuthKey: recKey[:31], WrappedMasterKey: recWrap},
		"no wrap":    {AuthKey: recKey},
		"long wrap":  {AuthKey: recKey, WrappedMasterKey: randBytes(62)},
		"empty body": {},
	} {
		t.Run(name, func(t *testing.T) {
			e.t = t
			e.expectError("POST", "/account/recovery", u.token(), req, 400, api.CodeBadRequest, "")
		})
	}
	e.t = t
	e.expectError("POST", "/account/recovery", "", api.RecoverySet{AuthKey: recKey, WrappedMasterKey: recWrap}, 401, api.CodeUnauthorized, "")
	// The first key set is replaced by the second.
	first := randBytes(AuthKeySize)
	e.call("POST", "/account/recovery", u.token(), api.RecoverySet{AuthKey: first, WrappedMasterKey: randBytes(WrappedKeySize)}, http.StatusNoContent, nil)
	e.call("POST", "/recovery/fetch", "", fetch(u.email, first, ""), http.StatusOK, nil)
	e.call("POST", "/account/recovery", u.token(), api.RecoverySet{AuthKey: recKey, WrappedMasterKey: recWrap}, http.StatusNoContent, nil)

	var rw api.RecoveryWrap
	e.call("POST", "/recovery/fetch", "", fetch(" REC@example.org", recKey, ""), http.StatusOK, &rw)
	if rw.Account != u.sess.Account || !bytes.Equal(rw.WrappedMasterKey, recWrap) {
		t.Fatalf("recovery wrap = %+v", rw)
	}
	wrong := e.expectError("POST", "/recovery/fetch", "", fetch(u.email, first, ""), 401, api.CodeUnauthorized, "wrong e-mail or recovery key")
	unknown := e.expectError("POST", "/recovery/fetch", "", fetch("nobody@example.org", recKey, ""), 401, api.CodeUnauthorized, "wrong e-mail or recovery key")
	short := e.expectError("POST", "/recovery/fetch", "", fetch(u.email, recKey[:16], ""), 401, api.CodeUnauthorized, "wrong e-mail or recovery key")
	if wrong != unknown || wrong != none || wrong != short {
		t.Fatalf("answers differ: wrong %+v, unknown %+v, none %+v, short %+v", wrong, unknown, none, short)
	}
	e.expectError("POST", "/recovery/fetch", "", fetch("not an e-mail", recKey, ""), 400, api.CodeBadRequest, "e-mail")

	// Reset: the new password material is checked first, then the key.
	newKDF := api.KDF{Alg: "argon2id", Salt: randBytes(16), Time: 4, MemoryKiB: 65536, Threads: 1}
	newAuth, newWrap := randBytes(AuthKeySize), randBytes(WrappedKeySize)
	reset := api.RecoveryReset{Email: u.email, RecoveryAuthKey: recKey, KDF: newKDF, AuthKey: newAuth, WrappedMasterKey: newWrap}
	bad := reset
	bad.KDF.MemoryKiB = 1
	e.expectError("POST", "/recovery/reset", "", bad, 400, api.CodeBadRequest, "kdf")
	bad = reset
	bad.AuthKey = nil
	e.expectError("POST", "/recovery/reset", "", bad, 400, api.CodeBadRequest, "auth key")
	bad = reset
	bad.RecoveryAuthKey = first
	e.expectError("POST", "/recovery/reset", "", bad, 401, api.CodeUnauthorized, "wrong e-mail or recovery key")
	bad.Email = "nobody@example.org"
	e.expectError("POST", "/recovery/reset", "", bad, 401, api.CodeUnauthorized, "wrong e-mail or recovery key")
	// Nothing changed.
	e.call("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: u.authKey}, http.StatusOK, nil)

	var s api.Session
	e.call("POST", "/recovery/reset", "", reset, http.StatusOK, &s)
	if s.Token == "" || s.Account != u.sess.Account || !bytes.Equal(s.WrappedMasterKey, newWrap) || s.KDF.Time != 4 || s.Root.ID != u.root() {
		t.Fatalf("session after reset = %+v", s)
	}
	e.call("GET", "/usage", s.Token, nil, http.StatusOK, nil)
	// Every session opened before the reset has ended.
	e.expectError("GET", "/usage", u.token(), nil, 401, api.CodeUnauthorized, "")
	e.expectError("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: u.authKey}, 401, api.CodeUnauthorized, "wrong")
	e.call("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: newAuth}, http.StatusOK, nil)
	// The recovery key still works.
	e.call("POST", "/recovery/fetch", "", fetch(u.email, recKey, ""), http.StatusOK, &rw)
	if !bytes.Equal(rw.WrappedMasterKey, recWrap) {
		t.Fatal("the recovery wrap changed with the password")
	}

	// With two-factor login on, fetch and reset need a code: fetch only
	// checks it, reset uses it up.
	secret := []byte("nuage test totp key3")
	e.call("POST", "/account/totp", s.Token, api.TOTPEnable{Secret: secret, Code: codeAt(secret, e.clock.Now())}, http.StatusNoContent, nil)
	e.clock.Advance(TOTPPeriod)
	code := codeAt(secret, e.clock.Now())
	e.expectError("POST", "/recovery/fetch", "", fetch(u.email, recKey, ""), 401, api.CodeTOTPRequired, "")
	e.expectError("POST", "/recovery/fetch", "", fetch(u.email, recKey, "000000"), 401, api.CodeUnauthorized, wrongTOTPMsg)
	e.expectError("POST", "/recovery/fetch", "", fetch(u.email, recKey, codeAt(secret, e.clock.Now().Add(-TOTPPeriod))), 401, api.CodeUnauthorized, wrongTOTPMsg)
	// A wrong key with a right code is still a wrong key.
	e.expectError("POST", "/recovery/fetch", "", fetch(u.email, first, code), 401, api.CodeUnauthorized, "wrong e-mail or recovery key")
	e.call("POST", "/recovery/fetch", "", fetch(u.email, recKey, code), http.StatusOK, nil)
	e.call("POST", "/recovery/fetch", "", fetch(u.email, recKey, code), http.StatusOK, nil)
	reset.AuthKey, reset.TOTP = randBytes(AuthKeySize), ""
	e.expectError("POST", "/recovery/reset", "", reset, 401, api.CodeTOTPRequired, "")
	reset.TOTP = code
	e.call("POST", "/recovery/reset", "", reset, http.StatusOK, &s)
	if !s.TOTP {
		t.Fatal("reset session does not report two-factor login")
	}
	e.expectError("POST", "/recovery/reset", "", reset, 401, api.CodeUnauthorized, wrongTOTPMsg)
	e.expectError("POST", "/recovery/fetch", "", fetch(u.email, recKey, code), 401, api.CodeUnauthorized, wrongTOTPMsg)
}

func TestRecoveryRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("recrate@example.org")
	recKey := randBytes(AuthKeySize)
	e.call("POST", "/account/recovery", u.token(), api.RecoverySet{AuthKey: recKey, WrappedMasterKey: randBytes(WrappedKeySize)}, http.StatusNoContent, nil)
	for range maxEmailFailures {
		e.expectError("POST", "/recovery/fetch", "", api.RecoveryFetch{Email: u.email, AuthKey: randBytes(AuthKeySize)}, 401, api.CodeUnauthorized, "wrong")
	}
	good := api.RecoveryFetch{Email: u.email, AuthKey: recKey}
	e.expectError("POST", "/recovery/fetch", "", good, http.StatusTooManyRequests, api.CodeTooMany, "too many attempts, retry in 900 s")
	reset := api.RecoveryReset{Email: u.email, RecoveryAuthKey: recKey, KDF: u.sess.KDF, AuthKey: randBytes(AuthKeySize), WrappedMasterKey: randBytes(WrappedKeySize)}
	e.expectError("POST", "/recovery/reset", "", reset, http.StatusTooManyRequests, api.CodeTooMany, "too many attempts")
	// The account's password login waits too: the guesses were at this account.
	e.expectError("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: u.authKey}, http.StatusTooManyRequests, api.CodeTooMany, "")
	e.clock.Advance(failureWindow)
	e.call("POST", "/recovery/fetch", "", good, http.StatusOK, nil)

	// Per IP, over many e-mails.
	e.clock.Advance(failureWindow)
	for i := range maxIPFailures {
		e.expectError("POST", "/recovery/fetch", "", api.RecoveryFetch{Email: "r" + string(rune('a'+i)) + "@example.org", AuthKey: recKey}, 401, api.CodeUnauthorized, "wrong")
	}
	e.expectError("POST", "/recovery/fetch", "", good, http.StatusTooManyRequests, api.CodeTooMany, "")
}
