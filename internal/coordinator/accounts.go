package coordinator

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/journal"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// Sizes of the account's key material (spec §2).
const (
	AuthKeySize    = 32
	WrappedKeySize = 61 // a version-1 key wrap (spec §2.1)
	PublicKeySize  = 32 // an X25519 public key (spec §2.3)
	SigningKeySize = 32 // an Ed25519 public key (spec §2.3)
	NameTagSize    = 16
	MaxMetaSize    = 64 << 10
	MaxEmailLen    = 254
)

// Bearer token sizes: a password session's is random; an API-token
// session's is the token ID followed by as many random bytes.
const (
	sessionTokenSize = 32
	tokenSessionSize = 16 + sessionTokenSize
)

// Hints of 401 answers.
const (
	tokenHint    = "create a new token with `nuage token create` and set NUAGE_TOKEN"
	totpHint     = "pass the code from your authenticator app (--totp or NUAGE_TOTP)"
	wrongTOTPMsg = "wrong or already used two-factor code"
)

// Answers for two-factor codes. A missing code is not a failed attempt; a
// wrong or reused one is.
var (
	errTOTPRequired = &httpError{http.StatusUnauthorized, api.Error{
		Error: "this account needs a two-factor code", Code: api.CodeTOTPRequired, Hint: totpHint}}
	errTOTPWrong = &httpError{http.StatusUnauthorized, api.Error{
		Error: wrongTOTPMsg, Code: api.CodeUnauthorized,
		Hint: "wait for the next code of your authenticator app and check its clock"}}
)

// KDFAlg is the only password hash accounts may use (spec §2).
const KDFAlg = "argon2id"

var verifierLabel = []byte("nuage v1 verifier")

// Verifier returns what the coordinator stores for an auth key:
// HMAC-SHA-256(key = auth key, "nuage v1 verifier") (spec §2).
func Verifier(authKey []byte) []byte {
	m := hmac.New(sha256.New, authKey)
	m.Write(verifierLabel)
	return m.Sum(nil)
}

// NormalizeEmail trims and lower-cases an e-mail address and checks that it
// looks like one: an '@' with text on both sides, no spaces or control
// characters, valid UTF-8, at most 254 bytes.
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	switch at := strings.LastIndexByte(e, '@'); {
	case e == "":
		return "", errors.New("e-mail is empty")
	case len(e) > MaxEmailLen:
		return "", fmt.Errorf("e-mail is longer than %d bytes", MaxEmailLen)
	case !utf8.ValidString(e):
		return "", errors.New("e-mail is not valid UTF-8")
	case at <= 0 || at == len(e)-1:
		return "", errors.New("e-mail must look like name@domain")
	case strings.IndexFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "", errors.New("e-mail must not contain spaces or control characters")
	}
	return e, nil
}

// checkKDF applies the same bounds as every client (keys.KDF.Validate), so
// the coordinator never stores parameters a client would refuse.
func checkKDF(k api.KDF) *httpError {
	if k.Alg != KDFAlg {
		return badRequest("kdf.alg must be %q, not %q", KDFAlg, k.Alg)
	}
	if err := (keys.KDF{Salt: k.Salt, Time: k.Time, MemoryKiB: k.MemoryKiB, Threads: k.Threads}).Validate(); err != nil {
		return badRequest("kdf: %v", err)
	}
	return nil
}

// fakeKDF is the deterministic answer to a prelogin for an unknown e-mail,
// so that prelogin does not reveal which e-mails have accounts.
func (c *Coordinator) fakeKDF(email string) api.KDF {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte("nuage v1 fake prelogin salt\x00"))
	m.Write([]byte(email))
	return api.KDF{Alg: KDFAlg, Salt: m.Sum(nil)[:keys.SaltSize], Time: keys.DefaultTime, MemoryKiB: keys.DefaultMemoryKiB, Threads: keys.DefaultThreads}
}

func (c *Coordinator) handlePrelogin(w http.ResponseWriter, r *http.Request) {
	var req api.PreloginRequest
	if err := decode(w, r, &req, false); err != nil {
		c.fail(w, r, err, "")
		return
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		c.fail(w, r, badRequest("%v", err), "")
		return
	}
	acct, err := c.db.AccountByEmail(r.Context(), email)
	if errors.Is(err, metadb.ErrNotFound) {
		writeJSON(w, api.PreloginResponse{KDF: c.fakeKDF(email)})
		return
	}
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	var kdf api.KDF
	if err := json.Unmarshal(acct.KDF, &kdf); err != nil {
		c.fail(w, r, fmt.Errorf("account %x: stored KDF: %w", acct.ID, err), "account")
		return
	}
	writeJSON(w, api.PreloginResponse{KDF: kdf})
}

// signup is a checked sign-up request, ready to store.
type signup struct {
	acct  metadb.Account
	root  metadb.Entry
	trash metadb.Entry
	first metadb.JournalRecord
}

func (c *Coordinator) handleSignup(w http.ResponseWriter, r *http.Request) {
	now, ip := c.now(), clientIP(r)
	if wait := c.limitSignup.blocked(ip, now); wait > 0 {
		c.fail(w, r, tooMany(wait, fmt.Sprintf("an address may sign up at most %d times an hour", maxSignupsPerIP)), "")
		return
	}
	var req api.SignupRequest
	if err := decode(w, r, &req, false); err != nil {
		c.fail(w, r, err, "")
		return
	}
	su, herr := c.checkSignup(req)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	err := c.db.CreateAccount(r.Context(), su.acct, su.root, su.trash, su.first)
	if err == nil || errors.Is(err, metadb.ErrExists) {
		// Both count: account spam, and probing which e-mails exist.
		c.limitSignup.add(ip, now)
	}
	if err != nil {
		if errors.Is(err, metadb.ErrExists) {
			writeError(w, http.StatusConflict, api.Error{
				Error: "an account with this e-mail already exists", Code: api.CodeExists, Hint: "log in instead",
			})
			return
		}
		c.fail(w, r, err, "account")
		return
	}
	c.log.Info("account created", "account", hexID(su.acct.ID))
	c.startSession(w, r, su.acct, nil)
}

// checkSignup validates a sign-up: the account's key material, its two
// top-level folders, and journal record 1, which must put exactly those
// two folders with their entry hashes (spec §9).
func (c *Coordinator) checkSignup(req api.SignupRequest) (signup, *httpError) {
	var su signup
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return su, badRequest("%v", err)
	}
	id, herr := parseID16(req.Account, "account")
	if herr != nil {
		return su, herr
	}
	if herr := checkKDF(req.KDF); herr != nil {
		return su, herr
	}
	switch {
	case len(req.AuthKey) != AuthKeySize:
		return su, badRequest("auth_key must be %d bytes, got %d", AuthKeySize, len(req.AuthKey))
	case len(req.WrappedMasterKey) != WrappedKeySize:
		return su, badRequest("wrapped_master_key must be %d bytes, got %d", WrappedKeySize, len(req.WrappedMasterKey))
	case len(req.PublicKey) != PublicKeySize:
		return su, badRequest("public_key must be %d bytes (X25519), got %d", PublicKeySize, len(req.PublicKey))
	case len(req.WrappedPrivateKey) != WrappedKeySize:
		return su, badRequest("wrapped_private_key must be %d bytes, got %d", WrappedKeySize, len(req.WrappedPrivateKey))
	}
	if herr := checkSigningKey(req.SigningKey, req.WrappedSigningKey); herr != nil {
		return su, herr
	}
	if su.root, herr = c.checkEntry(req.Root, id, "root", true); herr != nil {
		return su, herr
	}
	if su.trash, herr = c.checkEntry(req.Trash, id, "trash", true); herr != nil {
		return su, herr
	}
	if su.root.ID == su.trash.ID {
		return su, badRequest("root.id and trash.id must differ")
	}
	rec, err := journal.Parse(req.Journal)
	if err != nil {
		return su, badRequest("%v", err) // "journal: malformed record: …"
	}
	if rec.Seq != 1 {
		return su, badRequest("journal must be record 1, got seq %d", rec.Seq)
	}
	if rec.Writer() {
		return su, badRequest("journal must be an owner record (version 1), not a writer record")
	}
	kc, herr := checkChanges(rec, []metadb.Entry{su.root, su.trash}, nil)
	if herr != nil {
		herr.body.Error = "journal: " + herr.body.Error
		return su, herr
	}
	if len(kc.grants)+len(kc.revokes) > 0 {
		return su, badRequest("journal: record 1 must not grant or revoke write keys")
	}
	kdf, err := json.Marshal(req.KDF)
	if err != nil {
		return su, badRequest("kdf: %v", err)
	}
	now := c.now()
	su.acct = metadb.Account{
		ID:                id,
		Email:             email,
		KDF:               kdf,
		Verifier:          Verifier(req.AuthKey),
		WrappedMasterKey:  req.WrappedMasterKey,
		RootEntry:         su.root.ID,
		TrashEntry:        su.trash.ID,
		PublicKey:         req.PublicKey,
		WrappedPrivateKey: req.WrappedPrivateKey,
		SigningKey:        req.SigningKey,
		WrappedSigningKey: req.WrappedSigningKey,
		Created:           now,
	}
	su.first = metadb.JournalRecord{Seq: 1, Hash: journal.Hash(req.Journal), Data: req.Journal, Created: now}
	return su, nil
}

// sessionInfo describes acct as a session answer, without the bearer
// token and its expiry. For a session opened with API token tok, the
// master key is the one wrapped for the token.
func (c *Coordinator) sessionInfo(ctx context.Context, acct metadb.Account, tok *metadb.Token) (api.Session, error) {
	var kdf api.KDF
	if err := json.Unmarshal(acct.KDF, &kdf); err != nil {
		return api.Session{}, fmt.Errorf("account %x: stored KDF: %w", acct.ID, err)
	}
	root, err := c.db.Entry(ctx, acct.ID, acct.RootEntry)
	if err != nil {
		return api.Session{}, fmt.Errorf("account %x: root folder: %w", acct.ID, err)
	}
	trash, err := c.db.Entry(ctx, acct.ID, acct.TrashEntry)
	if err != nil {
		return api.Session{}, fmt.Errorf("account %x: trash folder: %w", acct.ID, err)
	}
	out := api.Session{
		Account:           hexID(acct.ID),
		Email:             acct.Email,
		KDF:               kdf,
		WrappedMasterKey:  acct.WrappedMasterKey,
		Root:              apiEntry(root),
		Trash:             apiEntry(trash),
		PublicKey:         acct.PublicKey,
		WrappedPrivateKey: acct.WrappedPrivateKey,
		SigningKey:        acct.SigningKey,
		WrappedSigningKey: acct.WrappedSigningKey,
		TOTP:              len(acct.TOTPSecret) > 0,
	}
	if tok != nil {
		out.WrappedMasterKey = tok.WrappedMasterKey
		out.TokenID = hexID(tok.ID)
	}
	return out, nil
}

// startSession opens a session for acct (with API token tok, if not nil)
// and answers it.
func (c *Coordinator) startSession(w http.ResponseWriter, r *http.Request, acct metadb.Account, tok *metadb.Token) {
	out, err := c.sessionInfo(r.Context(), acct, tok)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	raw := make([]byte, 0, tokenSessionSize)
	if tok != nil {
		raw = append(raw, tok.ID[:]...)
	}
	secret := raw[len(raw) : len(raw)+sessionTokenSize]
	if _, err := rand.Read(secret); err != nil {
		c.fail(w, r, fmt.Errorf("session token: %w", err), "session")
		return
	}
	raw = raw[:len(raw)+sessionTokenSize]
	s := metadb.Session{TokenHash: sha256.Sum256(raw), Account: acct.ID, Expires: c.now().Add(c.sessionTTL)}
	if err := c.db.CreateSession(r.Context(), s); err != nil {
		c.fail(w, r, err, "session")
		return
	}
	out.Token = base64.RawURLEncoding.EncodeToString(raw)
	out.Expires = s.Expires.Unix()
	writeJSON(w, out)
}

// clientIP is the host part of the request's remote address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// accountByEmail looks an account up; known is false (and err nil) when
// there is none.
func (c *Coordinator) accountByEmail(ctx context.Context, email string) (acct metadb.Account, known bool, err error) {
	acct, err = c.db.AccountByEmail(ctx, email)
	if errors.Is(err, metadb.ErrNotFound) {
		return metadb.Account{}, false, nil
	}
	return acct, err == nil, err
}

// proves reports whether key is a proof of the secret whose stored
// verifier is want. When there is no such secret (!known, or want empty)
// it still computes and compares a verifier, so that both answers take
// the same time, and answers false.
func (c *Coordinator) proves(key, want []byte, known bool) bool {
	if !known || len(want) == 0 {
		want, known = Verifier(c.secret), false
	}
	got := Verifier(key)
	return subtle.ConstantTimeCompare(got, want) == 1 && known && len(key) == AuthKeySize
}

func (c *Coordinator) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req api.LoginRequest
	if err := decode(w, r, &req, false); err != nil {
		c.fail(w, r, err, "")
		return
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		c.fail(w, r, badRequest("%v", err), "")
		return
	}
	now, ip := c.now(), clientIP(r)
	if herr := c.throttle(now, email, ip, "check the e-mail and password, then wait before trying again"); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	acct, known, err := c.accountByEmail(r.Context(), email)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	if !c.proves(req.AuthKey, acct.Verifier, known) {
		c.failed(now, email, ip)
		writeError(w, http.StatusUnauthorized, api.Error{
			Error: "wrong e-mail or password", Code: api.CodeUnauthorized,
			Hint: "check both; `nuage signup` creates an account",
		})
		return
	}
	if err := c.checkTOTP(r.Context(), acct, req.TOTP, now, true); err != nil {
		if errors.Is(err, errTOTPWrong) {
			c.failed(now, email, ip)
		}
		c.fail(w, r, err, "account")
		return
	}
	c.limitAccount.reset(email)
	c.startSession(w, r, acct, nil)
}

func (c *Coordinator) handleLogout(w http.ResponseWriter, r *http.Request, s session) {
	if err := c.db.DeleteSession(r.Context(), s.tokenHash); err != nil && !errors.Is(err, metadb.ErrNotFound) {
		c.fail(w, r, err, "session")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleAccount answers GET /account: the session's account as a session
// answer without a bearer token.
func (c *Coordinator) handleAccount(w http.ResponseWriter, r *http.Request, s session) {
	acct, err := c.db.AccountByID(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	out, err := c.sessionInfo(r.Context(), acct, s.token)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	out.Expires = s.expires.Unix()
	writeJSON(w, out)
}

// checkNewPassword validates the new password material of a password
// change or recovery reset and returns the KDF parameters to store.
func checkNewPassword(kdf api.KDF, authKey, wrappedMasterKey []byte) ([]byte, *httpError) {
	if herr := checkKDF(kdf); herr != nil {
		return nil, herr
	}
	if len(authKey) != AuthKeySize {
		return nil, badRequest("the new auth key must be %d bytes, got %d", AuthKeySize, len(authKey))
	}
	if len(wrappedMasterKey) != WrappedKeySize {
		return nil, badRequest("wrapped_master_key must be %d bytes, got %d", WrappedKeySize, len(wrappedMasterKey))
	}
	b, err := json.Marshal(kdf)
	if err != nil {
		return nil, badRequest("kdf: %v", err)
	}
	return b, nil
}

// handlePasswordChange answers POST /account/password: proof of the
// current password, then the new KDF parameters, verifier and master-key
// wrap replace the old ones. Sessions stay open.
func (c *Coordinator) handlePasswordChange(w http.ResponseWriter, r *http.Request, s session) {
	var req api.PasswordChange
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	kdf, herr := checkNewPassword(req.KDF, req.NewAuthKey, req.WrappedMasterKey)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	acct, err := c.db.AccountByID(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	now, ip := c.now(), clientIP(r)
	if herr := c.throttle(now, acct.Email, ip, "check the current password, then wait before trying again"); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if !c.proves(req.AuthKey, acct.Verifier, true) {
		c.failed(now, acct.Email, ip)
		writeError(w, http.StatusUnauthorized, api.Error{
			Error: "wrong current password", Code: api.CodeUnauthorized, Hint: "check the current password and try again",
		})
		return
	}
	c.limitAccount.reset(acct.Email)
	if err := c.db.SetPassword(r.Context(), acct.ID, kdf, Verifier(req.NewAuthKey), req.WrappedMasterKey); err != nil {
		c.fail(w, r, err, "account")
		return
	}
	// Whoever learned the old password may hold a session: end every
	// session but the one that changed it.
	ended, err := c.db.DeleteSessions(r.Context(), acct.ID, s.tokenHash)
	if err != nil {
		c.fail(w, r, err, "sessions")
		return
	}
	c.log.Info("password changed", "account", hexID(acct.ID), "sessions_ended", ended)
	w.WriteHeader(http.StatusNoContent)
}

// checkSigningKey checks the sizes of an Ed25519 public key and its
// wrapped seed (spec §2.3).
func checkSigningKey(pub, wrapped []byte) *httpError {
	switch {
	case len(pub) != SigningKeySize:
		return badRequest("signing_key must be %d bytes (Ed25519), got %d", SigningKeySize, len(pub))
	case len(wrapped) != WrappedKeySize:
		return badRequest("wrapped_signing_key must be %d bytes, got %d", WrappedKeySize, len(wrapped))
	}
	return nil
}

// handleSetSigningKey answers POST /account/signing-key: an account
// created before signing keys existed sets its Ed25519 key pair, once
// (409 exists if it has one: a key is never replaced this way).
func (c *Coordinator) handleSetSigningKey(w http.ResponseWriter, r *http.Request, s session) {
	var req api.SigningKeySet
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if herr := checkSigningKey(req.SigningKey, req.WrappedSigningKey); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if err := c.db.SetSigningKey(r.Context(), s.account, req.SigningKey, req.WrappedSigningKey); err != nil {
		if errors.Is(err, metadb.ErrExists) {
			writeError(w, http.StatusConflict, api.Error{
				Error: "the account already has a signing key", Code: api.CodeExists,
				Hint: "log in again to get it",
			})
			return
		}
		c.fail(w, r, err, "account")
		return
	}
	c.log.Info("signing key set", "account", hexID(s.account))
	w.WriteHeader(http.StatusNoContent)
}

// accountKeys answers an account's public keys.
func accountKeys(a metadb.Account) api.AccountKeys {
	return api.AccountKeys{Account: hexID(a.ID), Email: a.Email, PublicKey: a.PublicKey, SigningKey: a.SigningKey}
}

// noSuchAccount answers a key lookup for an account that does not exist.
func noSuchAccount(what string) *httpError {
	return &httpError{http.StatusNotFound, api.Error{
		Error: "no account with this " + what + " on this coordinator", Code: api.CodeNotFound,
		Hint: "no account with this " + what + " on this coordinator: check it, or ask the person to sign up here first",
	}}
}

// handleAccountKeysByEmail answers GET /accounts/keys?email=E: the
// account's ID, e-mail and public keys, for sharing (spec §11.1).
func (c *Coordinator) handleAccountKeysByEmail(w http.ResponseWriter, r *http.Request, s session) {
	q := r.URL.Query()
	if !q.Has("email") {
		c.fail(w, r, badRequest("the email parameter is required"), "")
		return
	}
	email, err := NormalizeEmail(q.Get("email"))
	if err != nil {
		c.fail(w, r, badRequest("%v", err), "")
		return
	}
	a, err := c.db.AccountByEmail(r.Context(), email)
	if errors.Is(err, metadb.ErrNotFound) {
		err = noSuchAccount("e-mail")
	}
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	writeJSON(w, accountKeys(a))
}

// handleAccountKeysByID answers GET /accounts/{id}/keys.
func (c *Coordinator) handleAccountKeysByID(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := parseID16(r.PathValue("id"), "account ID")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	a, err := c.db.AccountByID(r.Context(), id)
	if errors.Is(err, metadb.ErrNotFound) {
		err = noSuchAccount("ID")
	}
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	writeJSON(w, accountKeys(a))
}
