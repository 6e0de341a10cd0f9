package coordinator

import (
	"net/http"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

func TestTOTP(t *testing.T) {
	e := newEnv(t, nil)
	e.clock.Set(totpEpoch)
	u := e.signup("2fa@example.org")
	secret := []byte("nuage test totp key1")
	now := func() time.Time { return e.clock.Now() }
	login := func(code string) api.LoginRequest {
		return api.LoginRequest{Email: u.email, AuthKey: u.authKey, TOTP: code}
	}

	// Enabling needs a 20-byte secret and a current code for it.
	e.expectError("POST", "/account/totp", u.token(), api.TOTPEnable{Secret: secret[:16], Code: codeAt(secret, now())}, 400, api.CodeBadRequest, "secret must be 20 bytes")
	e.expectError("POST", "/account/totp", u.token(), api.TOTPEnable{Secret: secret, Code: "12345"}, 400, api.CodeBadRequest, "code must be 6 digits")
	e.expectError("POST", "/account/totp", u.token(), api.TOTPEnable{Secret: secret, Code: codeAt(secret, now().Add(-2*TOTPPeriod))}, 400, api.CodeBadRequest, "does not match the secret")
	e.expectError("POST", "/account/totp", "", api.TOTPEnable{Secret: secret, Code: codeAt(secret, now())}, 401, api.CodeUnauthorized, "")
	e.call("POST", "/login", "", login(""), http.StatusOK, nil) // still off
	e.call("POST", "/account/totp", u.token(), api.TOTPEnable{Secret: secret, Code: codeAt(secret, now())}, http.StatusNoContent, nil)
	e.expectError("POST", "/account/totp", u.token(), api.TOTPEnable{Secret: randBytes(TOTPSecretSize), Code: "000000"}, 409, api.CodeConflict, "already on")
	var acct api.Session
	e.call("GET", "/account", u.token(), nil, http.StatusOK, &acct)
	if !acct.TOTP {
		t.Fatal("GET /account does not report two-factor login")
	}

	// A missing code is asked for, and is not a failed attempt.
	for range maxEmailFailures + 1 {
		ae := e.expectError("POST", "/login", "", login(""), 401, api.CodeTOTPRequired, "needs a two-factor code")
		if ae.Hint != totpHint {
			t.Fatalf("hint %q", ae.Hint)
		}
	}
	// The code used to enable it is used up.
	e.expectError("POST", "/login", "", login(codeAt(secret, now())), 401, api.CodeUnauthorized, wrongTOTPMsg)
	// A wrong password is refused before the code is looked at.
	e.expectError("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: randBytes(32)}, 401, api.CodeUnauthorized, "wrong e-mail or password")

	// The next step: its code logs in once.
	e.clock.Advance(TOTPPeriod)
	var s api.Session
	e.call("POST", "/login", "", login(codeAt(secret, now())), http.StatusOK, &s)
	if !s.TOTP {
		t.Fatal("session does not report two-factor login")
	}
	e.expectError("POST", "/login", "", login(codeAt(secret, now())), 401, api.CodeUnauthorized, wrongTOTPMsg)
	// One step ahead is accepted (a clock a little fast); after it, the
	// current step's code is too old.
	e.call("POST", "/login", "", login(codeAt(secret, now().Add(TOTPPeriod))), http.StatusOK, nil)
	e.clock.Advance(TOTPPeriod)
	e.expectError("POST", "/login", "", login(codeAt(secret, now())), 401, api.CodeUnauthorized, wrongTOTPMsg)
	// One step behind is accepted (a clock a little slow), two are not.
	e.clock.Advance(2 * TOTPPeriod)
	e.expectError("POST", "/login", "", login(codeAt(secret, now().Add(-2*TOTPPeriod))), 401, api.CodeUnauthorized, wrongTOTPMsg)
	e.call("POST", "/login", "", login(codeAt(secret, now().Add(-TOTPPeriod))), http.StatusOK, nil)
	e.call("POST", "/login", "", login(codeAt(secret, now())), http.StatusOK, nil)
	e.expectError("POST", "/login", "", login("abcdef"), 401, api.CodeUnauthorized, wrongTOTPMsg)

	// Wrong codes count as failed logins.
	e.clock.Advance(failureWindow)
	for range maxEmailFailures {
		e.expectError("POST", "/login", "", login("000000"), 401, api.CodeUnauthorized, wrongTOTPMsg)
	}
	e.expectError("POST", "/login", "", login(codeAt(secret, now())), http.StatusTooManyRequests, api.CodeTooMany, "too many attempts")
	e.clock.Advance(failureWindow)

	// Disabling needs a valid, unused code.
	e.expectError("POST", "/account/totp/disable", u.token(), api.TOTPDisable{}, 401, api.CodeTOTPRequired, "")
	e.expectError("POST", "/account/totp/disable", u.token(), api.TOTPDisable{Code: "000000"}, 401, api.CodeUnauthorized, wrongTOTPMsg)
	e.call("POST", "/login", "", login(codeAt(secret, now())), http.StatusOK, nil)
	e.expectError("POST", "/account/totp/disable", u.token(), api.TOTPDisable{Code: codeAt(secret, now())}, 401, api.CodeUnauthorized, wrongTOTPMsg)
	e.clock.Advance(TOTPPeriod)
	e.call("POST", "/account/totp/disable", u.token(), api.TOTPDisable{Code: codeAt(secret, now())}, http.StatusNoContent, nil)
	e.expectError("POST", "/account/totp/disable", u.token(), api.TOTPDisable{Code: codeAt(secret, now())}, 409, api.CodeConflict, "is off")
	e.call("POST", "/login", "", login(""), http.StatusOK, &s)
	if s.TOTP {
		t.Fatal("session reports two-factor login after it was disabled")
	}
	// Enabled again, the step used last is usable again with the new secret.
	secret2 := []byte("nuage test totp key2")
	e.call("POST", "/account/totp", u.token(), api.TOTPEnable{Secret: secret2, Code: codeAt(secret2, now())}, http.StatusNoContent, nil)
	e.clock.Advance(TOTPPeriod)
	e.expectError("POST", "/login", "", login(codeAt(secret, now())), 401, api.CodeUnauthorized, wrongTOTPMsg)
	e.call("POST", "/login", "", login(codeAt(secret2, now())), http.StatusOK, nil)
}

// TestTOTPDisableRateLimit checks that wrong codes to turn two-factor
// login off are rate limited.
func TestTOTPDisableRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	e.clock.Set(totpEpoch)
	u := e.signup("2fa-rate@example.org")
	secret := []byte("nuage test totp key1")
	e.call("POST", "/account/totp", u.token(), api.TOTPEnable{Secret: secret, Code: codeAt(secret, e.clock.Now())}, http.StatusNoContent, nil)
	e.clock.Advance(TOTPPeriod)
	for range maxEmailFailures {
		e.expectError("POST", "/account/totp/disable", u.token(), api.TOTPDisable{Code: "000000"}, 401, api.CodeUnauthorized, wrongTOTPMsg)
	}
	e.expectError("POST", "/account/totp/disable", u.token(), api.TOTPDisable{Code: codeAt(secret, e.clock.Now())}, 429, api.CodeTooMany, "retry in")
	e.clock.Advance(failureWindow)
	e.call("POST", "/account/totp/disable", u.token(), api.TOTPDisable{Code: codeAt(secret, e.clock.Now())}, http.StatusNoContent, nil)
}
