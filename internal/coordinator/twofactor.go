package coordinator

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// checkTOTP checks the two-factor code of a login-like call for acct. It
// returns nil when the account has no TOTP secret or code is valid for a
// step within ±1 of now that was not used yet; errTOTPRequired when the
// code is missing; errTOTPWrong when it is wrong or was used. With consume
// set the step is recorded as used (metadb.UseTOTPStep), so the code works
// once; without, the code is only checked.
func (c *Coordinator) checkTOTP(ctx context.Context, acct metadb.Account, code string, now time.Time, consume bool) error {
	if len(acct.TOTPSecret) == 0 {
		return nil
	}
	if code == "" {
		return errTOTPRequired
	}
	for _, step := range totpMatch(acct.TOTPSecret, code, now) {
		if step <= acct.TOTPLastStep {
			continue
		}
		if !consume {
			return nil
		}
		err := c.db.UseTOTPStep(ctx, acct.ID, step)
		if errors.Is(err, metadb.ErrConflict) {
			return errTOTPWrong // used meanwhile by a concurrent call
		}
		return err
	}
	return errTOTPWrong
}

// handleTOTPEnable answers POST /account/totp: a new secret and a current
// code proving the user's authenticator holds it. The code's step is used.
func (c *Coordinator) handleTOTPEnable(w http.ResponseWriter, r *http.Request, s session) {
	var req api.TOTPEnable
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if len(req.Secret) != TOTPSecretSize {
		c.fail(w, r, badRequest("secret must be %d bytes, got %d", TOTPSecretSize, len(req.Secret)), "")
		return
	}
	if !validTOTPCode(req.Code) {
		c.fail(w, r, badRequest("code must be %d digits", TOTPDigits), "")
		return
	}
	acct, err := c.db.AccountByID(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	if len(acct.TOTPSecret) > 0 {
		c.fail(w, r, conflict("two-factor login is already on", "turn it off first with `nuage 2fa disable`"), "")
		return
	}
	steps := totpMatch(req.Secret, req.Code, c.now())
	if len(steps) == 0 {
		c.fail(w, r, &httpError{http.StatusBadRequest, api.Error{
			Error: "the code does not match the secret", Code: api.CodeBadRequest,
			Hint: "enter the code your authenticator app shows now, and check its clock",
		}}, "")
		return
	}
	if err := c.db.SetTOTP(r.Context(), acct.ID, req.Secret); err != nil {
		c.fail(w, r, err, "account")
		return
	}
	if err := c.db.UseTOTPStep(r.Context(), acct.ID, steps[len(steps)-1]); err != nil {
		c.fail(w, r, err, "account")
		return
	}
	c.log.Info("two-factor login enabled", "account", hexID(acct.ID))
	w.WriteHeader(http.StatusNoContent)
}

// handleTOTPDisable answers POST /account/totp/disable: a current code
// (used up, and counted as a failure when wrong) turns two-factor login off.
func (c *Coordinator) handleTOTPDisable(w http.ResponseWriter, r *http.Request, s session) {
	var req api.TOTPDisable
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	acct, err := c.db.AccountByID(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	if len(acct.TOTPSecret) == 0 {
		c.fail(w, r, conflict("two-factor login is off", ""), "")
		return
	}
	now, ip := c.now(), clientIP(r)
	if herr := c.throttle(now, acct.Email, ip, "wait for a new code, then try again"); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if err := c.checkTOTP(r.Context(), acct, req.Code, now, true); err != nil {
		if errors.Is(err, errTOTPWrong) {
			c.failed(now, acct.Email, ip)
		}
		c.fail(w, r, err, "account")
		return
	}
	c.limitAccount.reset(acct.Email)
	if err := c.db.SetTOTP(r.Context(), acct.ID, nil); err != nil {
		c.fail(w, r, err, "account")
		return
	}
	c.log.Info("two-factor login disabled", "account", hexID(acct.ID))
	w.WriteHeader(http.StatusNoContent)
}
