package coordinator

import (
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// Limits of API tokens.
const (
	MaxTokenName = 64  // characters
	MaxTokens    = 100 // per account
)

// checkTokenName requires 1..MaxTokenName printable characters without
// leading or trailing spaces.
func checkTokenName(name string) *httpError {
	n := utf8.RuneCountInString(name)
	switch {
	case !utf8.ValidString(name):
		return badRequest("name is not valid UTF-8")
	case n == 0:
		return badRequest("name is empty")
	case n > MaxTokenName:
		return badRequest("name has %d characters, at most %d allowed", n, MaxTokenName)
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return badRequest("name must be printable characters")
	case strings.TrimSpace(name) != name:
		return badRequest("name must not start or end with a space")
	}
	return nil
}

func apiToken(t metadb.Token) api.Token {
	out := api.Token{ID: hexID(t.ID), Name: t.Name, Created: t.Created.Unix()}
	if !t.LastUsed.IsZero() {
		out.LastUsed = t.LastUsed.Unix()
	}
	return out
}

// handleCreateToken answers POST /tokens: it registers an API token (the
// verifier of its auth key and the master key wrapped for it, spec §2.3).
func (c *Coordinator) handleCreateToken(w http.ResponseWriter, r *http.Request, s session) {
	var req api.TokenCreate
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	id, herr := parseID16(req.ID, "id")
	if herr == nil {
		herr = checkTokenName(req.Name)
	}
	if herr == nil && len(req.AuthKey) != AuthKeySize {
		herr = badRequest("auth_key must be %d bytes, got %d", AuthKeySize, len(req.AuthKey))
	}
	if herr == nil && len(req.WrappedMasterKey) != WrappedKeySize {
		herr = badRequest("wrapped_master_key must be %d bytes, got %d", WrappedKeySize, len(req.WrappedMasterKey))
	}
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	have, err := c.db.Tokens(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "token")
		return
	}
	if len(have) >= MaxTokens {
		c.fail(w, r, conflict("the account has the most API tokens allowed", "revoke unused ones with `nuage token revoke`"), "")
		return
	}
	t := metadb.Token{
		ID: id, Account: s.account, Name: req.Name,
		Verifier: Verifier(req.AuthKey), WrappedMasterKey: req.WrappedMasterKey, Created: c.now(),
	}
	if err := c.db.CreateToken(r.Context(), t); err != nil {
		if errors.Is(err, metadb.ErrExists) {
			writeError(w, http.StatusConflict, api.Error{
				Error: "an API token with this name already exists", Code: api.CodeExists,
				Hint: "choose another name, or revoke the old token first",
			})
			return
		}
		c.fail(w, r, err, "token")
		return
	}
	c.log.Info("API token created", "account", hexID(s.account), "token", hexID(id))
	writeJSON(w, apiToken(t))
}

// handleTokens answers GET /tokens, oldest first.
func (c *Coordinator) handleTokens(w http.ResponseWriter, r *http.Request, s session) {
	ts, err := c.db.Tokens(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "token")
		return
	}
	out := api.Tokens{Tokens: make([]api.Token, len(ts))}
	for i, t := range ts {
		out.Tokens[i] = apiToken(t)
	}
	writeJSON(w, out)
}

// handleDeleteToken answers DELETE /tokens/{id}. The sessions opened with
// the token end with it (see authed).
func (c *Coordinator) handleDeleteToken(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := parseID16(r.PathValue("id"), "token ID")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if err := c.db.DeleteToken(r.Context(), s.account, id); err != nil {
		c.fail(w, r, err, "token")
		return
	}
	c.log.Info("API token revoked", "account", hexID(s.account), "token", hexID(id))
	w.WriteHeader(http.StatusNoContent)
}

// handleTokenLogin answers POST /token-login: a proof of an API token's
// secret opens a session whose master key is the token's wrap. It is rate
// limited like a login, per token and per client IP.
func (c *Coordinator) handleTokenLogin(w http.ResponseWriter, r *http.Request) {
	var req api.TokenLogin
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	id, herr := parseID16(req.ID, "id")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	now, ip, key := c.now(), clientIP(r), tokenKey(req.ID)
	if herr := c.throttle(now, key, ip, "check the token, then wait before trying again"); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	t, err := c.db.Token(r.Context(), id)
	known := err == nil
	if err != nil && !errors.Is(err, metadb.ErrNotFound) {
		c.fail(w, r, err, "token")
		return
	}
	if !c.proves(req.AuthKey, t.Verifier, known) {
		c.failed(now, key, ip)
		writeError(w, http.StatusUnauthorized, api.Error{
			Error: "wrong or revoked API token", Code: api.CodeUnauthorized, Hint: tokenHint,
		})
		return
	}
	c.limitAccount.reset(key)
	acct, err := c.db.AccountByID(r.Context(), t.Account)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	if err := c.db.TouchToken(r.Context(), id, now); err != nil {
		c.fail(w, r, err, "token")
		return
	}
	t.LastUsed = now
	c.startSession(w, r, acct, &t)
}
