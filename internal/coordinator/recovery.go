package coordinator

import (
	"errors"
	"net/http"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// recoveryHint is the hint of a failed recovery-key proof.
const recoveryHint = "check both; the recovery key is the `nuage-recovery-…` text from `nuage recovery export`"

// handleRecoverySet answers POST /account/recovery: it stores (or
// replaces) the verifier of the recovery key's auth key and the master key
// wrapped under the recovery key (spec §2.3).
func (c *Coordinator) handleRecoverySet(w http.ResponseWriter, r *http.Request, s session) {
	var req api.RecoverySet
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if len(req.AuthKey) != AuthKeySize {
		c.fail(w, r, badRequest("auth_key must be %d bytes, got %d", AuthKeySize, len(req.AuthKey)), "")
		return
	}
	if len(req.WrappedMasterKey) != WrappedKeySize {
		c.fail(w, r, badRequest("wrapped_master_key must be %d bytes, got %d", WrappedKeySize, len(req.WrappedMasterKey)), "")
		return
	}
	if err := c.db.SetRecovery(r.Context(), s.account, Verifier(req.AuthKey), req.WrappedMasterKey); err != nil {
		c.fail(w, r, err, "account")
		return
	}
	c.log.Info("recovery key set", "account", hexID(s.account))
	w.WriteHeader(http.StatusNoContent)
}

// recoveryProof checks a proof of an account's recovery key (and its
// two-factor code, used up when consume is set), with the rate limits of a
// login. It returns the account, or the error to answer: the same 401 for
// an unknown e-mail, an account without a recovery key and a wrong key.
func (c *Coordinator) recoveryProof(r *http.Request, rawEmail string, authKey []byte, code string, consume bool) (metadb.Account, error) {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return metadb.Account{}, badRequest("%v", err)
	}
	now, ip := c.now(), clientIP(r)
	if herr := c.throttle(now, email, ip, "check the e-mail and recovery key, then wait before trying again"); herr != nil {
		return metadb.Account{}, herr
	}
	acct, known, err := c.accountByEmail(r.Context(), email)
	if err != nil {
		return metadb.Account{}, err
	}
	if !c.proves(authKey, acct.RecoveryVerifier, known) {
		c.failed(now, email, ip)
		return metadb.Account{}, &httpError{http.StatusUnauthorized, api.Error{
			Error: "wrong e-mail or recovery key", Code: api.CodeUnauthorized, Hint: recoveryHint,
		}}
	}
	if err := c.checkTOTP(r.Context(), acct, code, now, consume); err != nil {
		if errors.Is(err, errTOTPWrong) {
			c.failed(now, email, ip)
		}
		return metadb.Account{}, err
	}
	return acct, nil
}

// handleRecoveryFetch answers POST /recovery/fetch: the master key wrapped
// under the recovery key, to whoever proves the recovery key (and the
// two-factor code when it is on). The code is checked but not used up: the
// reset that follows presents it again, and fetching opens no session.
func (c *Coordinator) handleRecoveryFetch(w http.ResponseWriter, r *http.Request) {
	var req api.RecoveryFetch
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	acct, err := c.recoveryProof(r, req.Email, req.AuthKey, req.TOTP, false)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	writeJSON(w, api.RecoveryWrap{Account: hexID(acct.ID), WrappedMasterKey: acct.RecoveryWrap})
}

// handleRecoveryReset answers POST /recovery/reset: with a proof of the
// recovery key (and a two-factor code, used up), the new password's KDF
// parameters, verifier and master-key wrap replace the old ones, and a
// session is opened. The recovery key stays valid.
func (c *Coordinator) handleRecoveryReset(w http.ResponseWriter, r *http.Request) {
	var req api.RecoveryReset
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	kdf, herr := checkNewPassword(req.KDF, req.AuthKey, req.WrappedMasterKey)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	acct, err := c.recoveryProof(r, req.Email, req.RecoveryAuthKey, req.TOTP, true)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	c.limitAccount.reset(acct.Email)
	verifier := Verifier(req.AuthKey)
	if err := c.db.SetPassword(r.Context(), acct.ID, kdf, verifier, req.WrappedMasterKey); err != nil {
		c.fail(w, r, err, "account")
		return
	}
	acct.KDF, acct.Verifier, acct.WrappedMasterKey = kdf, verifier, req.WrappedMasterKey
	// The password was lost (or stolen): end every session opened with it.
	ended, err := c.db.DeleteSessions(r.Context(), acct.ID, [32]byte{})
	if err != nil {
		c.fail(w, r, err, "sessions")
		return
	}
	c.log.Info("password reset with the recovery key", "account", hexID(acct.ID), "sessions_ended", ended)
	c.startSession(w, r, acct, nil)
}
