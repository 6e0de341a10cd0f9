package coordinator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// Links (spec §10).
const (
	// VerifierSize is the size of a link's verifier (HMAC-SHA-256).
	VerifierSize = 32
	// LinkSessionTTL is the longest a link session lasts (never beyond the
	// link's expiry).
	LinkSessionTTL = 12 * time.Hour
	// maxLinkFailures wrong auth keys per link in linkFailureWindow.
	maxLinkFailures   = 10
	linkFailureWindow = time.Minute
)

// Answers about a link that exists but cannot be opened (410 Gone).
func linkRevoked() *httpError {
	return &httpError{http.StatusGone, api.Error{
		Error: "the link was revoked by its owner", Code: api.CodeLinkRevoked,
		Hint: "ask the owner for a new link",
	}}
}

func linkExpired() *httpError {
	return &httpError{http.StatusGone, api.Error{
		Error: "the link has expired", Code: api.CodeLinkExpired,
		Hint: "ask the owner for a new link",
	}}
}

func linkGone() *httpError {
	return &httpError{http.StatusGone, api.Error{
		Error: "the file or folder of the link was deleted", Code: api.CodeLinkGone,
		Hint: "ask the owner whether it moved to another link",
	}}
}

func linkExhausted() *httpError {
	return &httpError{http.StatusGone, api.Error{
		Error: "the link has reached its download limit", Code: api.CodeLinkExhausted,
		Hint: "ask the owner for a new link",
	}}
}

// linkNotFound answers an unknown link ID.
func linkNotFound() *httpError {
	return &httpError{http.StatusNotFound, api.Error{
		Error: "no such link", Code: api.CodeNotFound,
		Hint: "check that the link was copied in full",
	}}
}

// liveLink checks that link l can be opened now: not revoked, not
// expired, its target still there, its download limit not reached (spec
// §10, in that order). It returns the target entry.
func (c *Coordinator) liveLink(ctx context.Context, l metadb.Link) (metadb.Entry, error) {
	switch {
	case !l.Revoked.IsZero():
		return metadb.Entry{}, linkRevoked()
	case !l.Expires.IsZero() && !c.now().Before(l.Expires):
		return metadb.Entry{}, linkExpired()
	}
	target, err := c.db.Entry(ctx, l.Account, l.Target)
	if errors.Is(err, metadb.ErrNotFound) {
		return target, linkGone()
	}
	if err != nil {
		return target, err
	}
	if l.MaxDownloads > 0 && l.Downloads >= l.MaxDownloads {
		return target, linkExhausted()
	}
	return target, nil
}

// checkTarget checks that id is an entry of the caller that may be linked
// or shared: it exists, it is not a top-level folder and it is not in the
// trash.
func (c *Coordinator) checkTarget(ctx context.Context, s session, id metadb.ID16, what string) (metadb.Entry, error) {
	e, err := c.db.Entry(ctx, s.account, id)
	if errors.Is(err, metadb.ErrNotFound) {
		return e, notFound(what + " not found")
	}
	if err != nil {
		return e, err
	}
	if e.Parent == (metadb.ID16{}) {
		return e, badRequest("%s is a top-level folder (the root or the trash), which cannot be linked or shared", what)
	}
	anc, err := c.db.Ancestors(ctx, s.account, id, MaxScopeDepth)
	switch {
	case errors.Is(err, metadb.ErrConflict):
		return e, conflict(fmt.Sprintf("%s is more than %d folders deep", what, MaxScopeDepth), "move it higher up the tree")
	case err != nil:
		return e, err
	}
	acct, err := c.db.AccountByID(ctx, s.account)
	if err != nil {
		return e, err
	}
	if len(anc) > 0 && anc[len(anc)-1] == acct.TrashEntry {
		return e, conflict(what+" is in the trash", "restore it from the trash first")
	}
	return e, nil
}

// checkLinkKDF applies to a link's password parameters the bounds of an
// account's (spec §2): clients refuse any others.
func checkLinkKDF(k *api.LinkKDF) ([]byte, *httpError) {
	if k == nil {
		return nil, nil
	}
	if err := (keys.KDF{Salt: k.Salt, Time: k.T, MemoryKiB: k.M, Threads: k.P}).Validate(); err != nil {
		return nil, badRequest("kdf: %v", err)
	}
	b, err := json.Marshal(k)
	if err != nil {
		return nil, badRequest("kdf: %v", err)
	}
	return b, nil
}

// checkLinkCreate validates POST /links but for its target.
func (c *Coordinator) checkLinkCreate(req api.LinkCreate, account metadb.ID16) (metadb.Link, *httpError) {
	l := metadb.Link{Account: account, Created: c.now()}
	var herr *httpError
	if l.ID, herr = parseID16(req.ID, "id"); herr != nil {
		return l, herr
	}
	if l.Target, herr = parseID16(req.Target, "target"); herr != nil {
		return l, herr
	}
	switch {
	case req.Expires < 0:
		return l, badRequest("expires must be a Unix time in seconds, or 0 for none")
	case req.Expires > 0 && req.Expires <= l.Created.Unix():
		return l, badRequest("expires is not in the future")
	case req.MaxDownloads < 0:
		return l, badRequest("max_downloads must not be negative (0: unlimited)")
	case len(req.Verifier) != VerifierSize:
		return l, badRequest("verifier must be %d bytes, got %d", VerifierSize, len(req.Verifier))
	}
	for _, w := range []struct {
		name string
		b    []byte
	}{
		{"wrapped_link_key", req.WrappedLinkKey},
		{"wrapped_target_key", req.WrappedTargetKey},
		{"owner_link_key", req.OwnerLinkKey},
		{"owner_secret", req.OwnerSecret},
	} {
		if len(w.b) != WrappedKeySize {
			return l, badRequest("%s must be %d bytes, got %d", w.name, WrappedKeySize, len(w.b))
		}
	}
	if l.KDF, herr = checkLinkKDF(req.KDF); herr != nil {
		return l, herr
	}
	if req.Expires > 0 {
		l.Expires = time.Unix(req.Expires, 0)
	}
	l.MaxDownloads = req.MaxDownloads
	l.Verifier = req.Verifier
	l.WrappedLinkKey, l.WrappedTargetKey = req.WrappedLinkKey, req.WrappedTargetKey
	l.OwnerLinkKey, l.OwnerSecret = req.OwnerLinkKey, req.OwnerSecret
	return l, nil
}

// apiLink describes link l, whose target has kind, to its owner.
func apiLink(l metadb.Link, kind metadb.Kind) api.Link {
	out := api.Link{
		ID: hexID(l.ID), Target: hexID(l.Target), Kind: string(kind),
		Created: l.Created.Unix(), MaxDownloads: l.MaxDownloads, Downloads: l.Downloads,
		Password:         l.KDF != nil,
		WrappedTargetKey: l.WrappedTargetKey, OwnerLinkKey: l.OwnerLinkKey, OwnerSecret: l.OwnerSecret,
	}
	if !l.Expires.IsZero() {
		out.Expires = l.Expires.Unix()
	}
	if !l.Revoked.IsZero() {
		out.Revoked = l.Revoked.Unix()
	}
	return out
}

// handleCreateLink answers POST /links: a link to an entry of the caller
// (spec §10). The coordinator stores the verifier of the link's auth key
// and four wraps it cannot open.
func (c *Coordinator) handleCreateLink(w http.ResponseWriter, r *http.Request, s session) {
	var req api.LinkCreate
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	l, herr := c.checkLinkCreate(req, s.account)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	target, err := c.checkTarget(r.Context(), s, l.Target, "the link's target")
	if err != nil {
		c.fail(w, r, err, "entry")
		return
	}
	if err := c.db.CreateLink(r.Context(), l); err != nil {
		if errors.Is(err, metadb.ErrExists) {
			writeError(w, http.StatusConflict, api.Error{
				Error: "a link with this ID already exists", Code: api.CodeExists,
				Hint: "create the link again: a new one gets a new random ID",
			})
			return
		}
		c.fail(w, r, err, "link")
		return
	}
	c.log.Info("link created", "account", hexID(s.account), "link", hexID(l.ID))
	writeJSON(w, apiLink(l, target.Kind))
}

// handleLinks answers GET /links: the caller's links, revoked ones
// included, each with the kind of its target ("" once it is deleted).
func (c *Coordinator) handleLinks(w http.ResponseWriter, r *http.Request, s session) {
	ls, err := c.db.Links(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "link")
		return
	}
	kinds := make(map[metadb.ID16]metadb.Kind)
	out := api.Links{Links: make([]api.Link, len(ls))}
	for i, l := range ls {
		kind, ok := kinds[l.Target]
		if !ok {
			e, err := c.db.Entry(r.Context(), s.account, l.Target)
			if err != nil && !errors.Is(err, metadb.ErrNotFound) {
				c.fail(w, r, err, "entry")
				return
			}
			kind = e.Kind
			kinds[l.Target] = kind
		}
		out.Links[i] = apiLink(l, kind)
	}
	writeJSON(w, out)
}

// handleRevokeLink answers DELETE /links/{id}: the link is kept, revoked,
// and its sessions end.
func (c *Coordinator) handleRevokeLink(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := parseID16(r.PathValue("id"), "link ID")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if err := c.db.RevokeLink(r.Context(), s.account, id, c.now()); err != nil {
		c.fail(w, r, err, "link")
		return
	}
	c.log.Info("link revoked", "account", hexID(s.account), "link", hexID(id))
	w.WriteHeader(http.StatusNoContent)
}

// handleLinkTargetKey answers PUT /links/{id}/target-key: the owner
// rewraps the target's rotated key under the link key (spec §11.4).
func (c *Coordinator) handleLinkTargetKey(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := parseID16(r.PathValue("id"), "link ID")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	var req api.LinkTargetKey
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if len(req.WrappedTargetKey) != WrappedKeySize {
		c.fail(w, r, badRequest("wrapped_target_key must be %d bytes, got %d", WrappedKeySize, len(req.WrappedTargetKey)), "")
		return
	}
	if err := c.db.SetLinkTargetKey(r.Context(), s.account, id, req.WrappedTargetKey); err != nil {
		c.fail(w, r, err, "link")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// publicLink looks up the link of the request's {id} for the calls
// without authentication, and checks it can be opened.
func (c *Coordinator) publicLink(r *http.Request) (metadb.Link, metadb.Entry, error) {
	id, herr := parseID16(r.PathValue("id"), "link ID")
	if herr != nil {
		return metadb.Link{}, metadb.Entry{}, herr
	}
	l, err := c.db.Link(r.Context(), id)
	if errors.Is(err, metadb.ErrNotFound) {
		return l, metadb.Entry{}, linkNotFound()
	}
	if err != nil {
		return l, metadb.Entry{}, err
	}
	target, err := c.liveLink(r.Context(), l)
	return l, target, err
}

// handleLinkPrelude answers GET /links/{id}/prelude, without
// authentication: whether the link has a password, and its KDF parameters.
func (c *Coordinator) handleLinkPrelude(w http.ResponseWriter, r *http.Request) {
	l, _, err := c.publicLink(r)
	if err != nil {
		c.fail(w, r, err, "link")
		return
	}
	out := api.LinkPrelude{Password: l.KDF != nil}
	if l.KDF != nil {
		var k api.LinkKDF
		if err := json.Unmarshal(l.KDF, &k); err != nil {
			c.fail(w, r, fmt.Errorf("link %x: stored KDF: %w", l.ID, err), "link")
			return
		}
		out.KDF = &k
	}
	writeJSON(w, out)
}

// handleLinkOpen answers POST /links/{id}/open, without authentication:
// a proof of the link's auth key (checked in constant time against the
// verifier, and rate-limited per link) opens a read-only session scoped
// to the link's target, counted as a download at once if asked.
func (c *Coordinator) handleLinkOpen(w http.ResponseWriter, r *http.Request) {
	var req api.LinkOpen
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	l, target, err := c.publicLink(r)
	if err != nil {
		c.fail(w, r, err, "link")
		return
	}
	now, key := c.now(), "link:"+hexID(l.ID)
	if wait := c.limitLink.blocked(key, now); wait > 0 {
		c.fail(w, r, tooMany(wait, "check the link's password, then wait before trying again"), "")
		return
	}
	if !c.proves(req.Auth, l.Verifier, true) {
		c.limitLink.add(key, now)
		hint := "the link is damaged: copy it again in full"
		if l.KDF != nil {
			hint = "check the link's password; if it is right, the link is damaged: copy it again in full"
		}
		writeError(w, http.StatusUnauthorized, api.Error{
			Error: "wrong link password or damaged link", Code: api.CodeLinkAuth, Hint: hint,
		})
		return
	}
	// Failures stay counted after a success: whoever holds the link and
	// guesses its password gets no more attempts because someone else
	// opened it meanwhile.
	expires := now.Add(LinkSessionTTL)
	if !l.Expires.IsZero() && l.Expires.Before(expires) {
		expires = l.Expires
	}
	st := metadb.Session{Account: l.Account, Expires: expires, Root: l.Target, Link: l.ID}
	token, err := c.newSession(r.Context(), &st)
	if err != nil {
		c.fail(w, r, err, "session")
		return
	}
	if req.Download {
		if err := c.countDownload(r.Context(), session{tokenHash: st.TokenHash, link: l.ID}); err != nil {
			if derr := c.db.DeleteSession(r.Context(), st.TokenHash); derr != nil && !errors.Is(derr, metadb.ErrNotFound) {
				c.log.Error("delete refused link session", "link", hexID(l.ID), "err", derr)
			}
			c.fail(w, r, err, "link")
			return
		}
	}
	writeJSON(w, api.LinkSession{
		Token: token, Expires: expires.Unix(),
		Owner: hexID(l.Account), Target: hexID(l.Target), Kind: string(target.Kind),
		WrappedLinkKey: l.WrappedLinkKey, WrappedTargetKey: l.WrappedTargetKey,
	})
}

// newSession stores st under a new random bearer token (sessionTokenSize
// bytes), setting st.TokenHash, and returns the token.
func (c *Coordinator) newSession(ctx context.Context, st *metadb.Session) (string, error) {
	raw := make([]byte, sessionTokenSize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("session token: %w", err)
	}
	st.TokenHash = sha256.Sum256(raw)
	if err := c.db.CreateSession(ctx, *st); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}
