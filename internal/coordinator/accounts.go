package coordinator

import (
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
	"github.com/nuage-storage/nuage/internal/metadb"
)

// Sizes of the account's key material (spec §2).
const (
	AuthKeySize    = 32
	WrappedKeySize = 61 // a version-1 key wrap (spec §2.1)
	NameTagSize    = 16
	MaxMetaSize    = 64 << 10
	MaxEmailLen    = 254
	tokenSize      = 32
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

func (c *Coordinator) handleSignup(w http.ResponseWriter, r *http.Request) {
	var req api.SignupRequest
	if err := decode(w, r, &req, false); err != nil {
		c.fail(w, r, err, "")
		return
	}
	acct, root, herr := c.checkSignup(req)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if err := c.db.CreateAccount(r.Context(), acct, root); err != nil {
		if errors.Is(err, metadb.ErrExists) {
			writeError(w, http.StatusConflict, api.Error{
				Error: "an account with this e-mail already exists", Code: api.CodeExists, Hint: "log in instead",
			})
			return
		}
		c.fail(w, r, err, "account")
		return
	}
	c.log.Info("account created", "account", hexID(acct.ID))
	c.startSession(w, r, acct, root, req.KDF)
}

func (c *Coordinator) checkSignup(req api.SignupRequest) (metadb.Account, metadb.Entry, *httpError) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return metadb.Account{}, metadb.Entry{}, badRequest("%v", err)
	}
	id, herr := parseID16(req.Account, "account")
	if herr != nil {
		return metadb.Account{}, metadb.Entry{}, herr
	}
	if herr := checkKDF(req.KDF); herr != nil {
		return metadb.Account{}, metadb.Entry{}, herr
	}
	if len(req.AuthKey) != AuthKeySize {
		return metadb.Account{}, metadb.Entry{}, badRequest("auth_key must be %d bytes, got %d", AuthKeySize, len(req.AuthKey))
	}
	if len(req.WrappedMasterKey) != WrappedKeySize {
		return metadb.Account{}, metadb.Entry{}, badRequest("wrapped_master_key must be %d bytes, got %d", WrappedKeySize, len(req.WrappedMasterKey))
	}
	root, herr := c.checkEntry(req.Root, id, true)
	if herr != nil {
		return metadb.Account{}, metadb.Entry{}, herr
	}
	kdf, err := json.Marshal(req.KDF)
	if err != nil {
		return metadb.Account{}, metadb.Entry{}, badRequest("kdf: %v", err)
	}
	acct := metadb.Account{
		ID:               id,
		Email:            email,
		KDF:              kdf,
		Verifier:         Verifier(req.AuthKey),
		WrappedMasterKey: req.WrappedMasterKey,
		RootEntry:        root.ID,
		Created:          root.Created,
	}
	return acct, root, nil
}

// startSession creates a session for acct and answers it.
func (c *Coordinator) startSession(w http.ResponseWriter, r *http.Request, acct metadb.Account, root metadb.Entry, kdf api.KDF) {
	raw := make([]byte, tokenSize)
	if _, err := rand.Read(raw); err != nil {
		c.fail(w, r, fmt.Errorf("session token: %w", err), "session")
		return
	}
	s := metadb.Session{TokenHash: sha256.Sum256(raw), Account: acct.ID, Expires: c.now().Add(c.sessionTTL)}
	if err := c.db.CreateSession(r.Context(), s); err != nil {
		c.fail(w, r, err, "session")
		return
	}
	writeJSON(w, api.Session{
		Token:            base64.RawURLEncoding.EncodeToString(raw),
		Account:          hexID(acct.ID),
		Email:            acct.Email,
		KDF:              kdf,
		WrappedMasterKey: acct.WrappedMasterKey,
		Root:             apiEntry(root),
		Expires:          s.Expires.Unix(),
	})
}

// clientIP is the host part of the request's remote address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
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
	now := c.now()
	ip := clientIP(r)
	wait := max(c.limitEmail.blocked(email, now), c.limitIP.blocked(ip, now))
	if wait > 0 {
		secs := int((wait + 999_999_999) / 1_000_000_000)
		writeError(w, http.StatusTooManyRequests, api.Error{
			Error:      fmt.Sprintf("too many attempts, retry in %d s", secs),
			Code:       api.CodeTooMany,
			Hint:       "check the e-mail and password, then wait before trying again",
			RetryAfter: secs,
		})
		return
	}
	acct, err := c.db.AccountByEmail(r.Context(), email)
	known := err == nil
	if err != nil && !errors.Is(err, metadb.ErrNotFound) {
		c.fail(w, r, err, "account")
		return
	}
	// Compute and compare a verifier for unknown e-mails too, so both
	// answers cost the same.
	want := acct.Verifier
	if !known {
		want = Verifier(c.secret)
	}
	got := Verifier(req.AuthKey)
	if subtle.ConstantTimeCompare(got, want) != 1 || !known || len(req.AuthKey) != AuthKeySize {
		c.limitEmail.fail(email, now)
		c.limitIP.fail(ip, now)
		writeError(w, http.StatusUnauthorized, api.Error{
			Error: "wrong e-mail or password", Code: api.CodeUnauthorized,
			Hint: "check both; `nuage signup` creates an account",
		})
		return
	}
	c.limitEmail.reset(email)
	var kdf api.KDF
	if err := json.Unmarshal(acct.KDF, &kdf); err != nil {
		c.fail(w, r, fmt.Errorf("account %x: stored KDF: %w", acct.ID, err), "account")
		return
	}
	root, err := c.db.Entry(r.Context(), acct.ID, acct.RootEntry)
	if err != nil {
		c.fail(w, r, fmt.Errorf("account %x: root entry: %w", acct.ID, err), "root folder")
		return
	}
	c.startSession(w, r, acct, root, kdf)
}

func (c *Coordinator) handleLogout(w http.ResponseWriter, r *http.Request, s session) {
	if err := c.db.DeleteSession(r.Context(), s.tokenHash); err != nil && !errors.Is(err, metadb.ErrNotFound) {
		c.fail(w, r, err, "session")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
