package coordinator

import (
	"context"
	"errors"
	"net/http"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// MaxSealedShare is the largest sealed share (spec §11.2) the coordinator
// stores: a payload of at most 471 bytes sealed with HPKE needs far less.
const MaxSealedShare = 4096

// Hint of a write key that cannot be used for a share.
const writeKeyHint = "grant a write key for the folder in a journal record (op 3) first"

// shareNotFound answers a share that does not exist or is not the caller's
// to see, alike.
func shareNotFound() *httpError { return notFound("share not found") }

// checkShareLevel validates the level, write key and sealed share of a
// share of folder root of account: a read-write share names a write key
// granted for root and still active; a read-only share names none.
func (c *Coordinator) checkShareLevel(ctx context.Context, account, root metadb.ID16, write bool, keyID string, sealed []byte) (metadb.ID16, error) {
	var key metadb.ID16
	switch {
	case len(sealed) == 0:
		return key, badRequest("sealed is empty")
	case len(sealed) > MaxSealedShare:
		return key, badRequest("sealed is %d bytes, at most %d allowed", len(sealed), MaxSealedShare)
	case !write && keyID != "":
		return key, badRequest("key_id must be empty for a read-only share")
	case !write:
		return key, nil
	case keyID == "":
		return key, badRequest("key_id is required for a read-write share")
	}
	key, herr := parseID16(keyID, "key_id")
	if herr != nil {
		return key, herr
	}
	wk, err := c.db.WriteKey(ctx, account, key)
	switch {
	case errors.Is(err, metadb.ErrNotFound):
		return key, conflict("write key "+keyID+" was not granted in the journal", writeKeyHint)
	case err != nil:
		return key, err
	case !wk.Active:
		return key, conflict("write key "+keyID+" was revoked", writeKeyHint)
	case wk.Root != root:
		return key, conflict("write key "+keyID+" was granted for another folder", writeKeyHint)
	}
	return key, nil
}

// apiShare describes share sh with its owner's and recipient's e-mails.
func apiShare(sh metadb.Share, ownerEmail, recipientEmail string) api.Share {
	return api.Share{
		ID: hexID(sh.ID), Owner: hexID(sh.Owner), OwnerEmail: ownerEmail,
		Root: hexID(sh.Root), Recipient: hexID(sh.Recipient), RecipientEmail: recipientEmail,
		Write: sh.Write, KeyID: hexID(sh.KeyID), Epoch: sh.Epoch, Sealed: sh.Sealed,
		Created: sh.Created.Unix(), Updated: sh.Updated.Unix(),
	}
}

// emailCache looks accounts' e-mails up once each.
type emailCache struct {
	c *Coordinator
	m map[metadb.ID16]string
}

func (c *Coordinator) emails() *emailCache {
	return &emailCache{c: c, m: make(map[metadb.ID16]string)}
}

// of returns the e-mail of account id ("" for an account that is gone).
func (e *emailCache) of(ctx context.Context, id metadb.ID16) (string, error) {
	if m, ok := e.m[id]; ok {
		return m, nil
	}
	a, err := e.c.db.AccountByID(ctx, id)
	if err != nil && !errors.Is(err, metadb.ErrNotFound) {
		return "", err
	}
	e.m[id] = a.Email
	return a.Email, nil
}

// share describes sh with the e-mails of its owner and recipient.
func (e *emailCache) share(ctx context.Context, sh metadb.Share) (api.Share, error) {
	owner, err := e.of(ctx, sh.Owner)
	if err != nil {
		return api.Share{}, err
	}
	recipient, err := e.of(ctx, sh.Recipient)
	if err != nil {
		return api.Share{}, err
	}
	return apiShare(sh, owner, recipient), nil
}

// answerShares answers a list of shares with the e-mails of their owners
// and recipients.
func (c *Coordinator) answerShares(w http.ResponseWriter, r *http.Request, shares []metadb.Share) {
	emails := c.emails()
	out := api.Shares{Shares: make([]api.Share, len(shares))}
	for i, sh := range shares {
		a, err := emails.share(r.Context(), sh)
		if err != nil {
			c.fail(w, r, err, "account")
			return
		}
		out.Shares[i] = a
	}
	writeJSON(w, out)
}

// handleCreateShare answers POST /shares: a folder of the caller shared
// with another account (spec §11), by a sealed share the coordinator
// cannot open.
func (c *Coordinator) handleCreateShare(w http.ResponseWriter, r *http.Request, s session) {
	var req api.ShareCreate
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	now := c.now()
	sh := metadb.Share{Owner: s.account, Write: req.Write, Epoch: req.Epoch, Sealed: req.Sealed, Created: now, Updated: now}
	var herr *httpError
	if sh.ID, herr = parseID16(req.ID, "id"); herr == nil {
		if sh.Root, herr = parseID16(req.Root, "root"); herr == nil {
			sh.Recipient, herr = parseID16(req.Recipient, "recipient")
		}
	}
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if sh.Recipient == s.account {
		c.fail(w, r, badRequest("recipient is the caller's own account"), "")
		return
	}
	ctx := r.Context()
	root, err := c.checkTarget(ctx, s, sh.Root, "the shared folder")
	if err != nil {
		c.fail(w, r, err, "entry")
		return
	}
	if root.Kind != metadb.KindFolder {
		c.fail(w, r, badRequest("only folders can be shared; share a file with a link"), "")
		return
	}
	recipient, err := c.db.AccountByID(ctx, sh.Recipient)
	if errors.Is(err, metadb.ErrNotFound) {
		c.fail(w, r, &httpError{http.StatusNotFound, api.Error{
			Error: "no account with this ID on this coordinator", Code: api.CodeNotFound,
			Hint: "the recipient must have an account on the same coordinator",
		}}, "")
		return
	}
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	if sh.KeyID, err = c.checkShareLevel(ctx, s.account, sh.Root, req.Write, req.KeyID, req.Sealed); err != nil {
		c.fail(w, r, err, "write key")
		return
	}
	owner, err := c.db.AccountByID(ctx, s.account)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	if err := c.db.CreateShare(ctx, sh); err != nil {
		if errors.Is(err, metadb.ErrExists) {
			writeError(w, http.StatusConflict, api.Error{
				Error: "the folder is already shared with this account (or the share ID is taken)", Code: api.CodeExists,
				Hint: "change the existing share instead",
			})
			return
		}
		c.fail(w, r, err, "share")
		return
	}
	c.log.Info("share created", "account", hexID(s.account), "share", hexID(sh.ID), "write", sh.Write)
	writeJSON(w, apiShare(sh, owner.Email, recipient.Email))
}

// handleShares answers GET /shares: the caller's shares.
func (c *Coordinator) handleShares(w http.ResponseWriter, r *http.Request, s session) {
	shares, err := c.db.SharesByOwner(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "share")
		return
	}
	c.answerShares(w, r, shares)
}

// handleIncomingShares answers GET /shares/incoming: the shares made to the caller.
func (c *Coordinator) handleIncomingShares(w http.ResponseWriter, r *http.Request, s session) {
	shares, err := c.db.SharesByRecipient(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "share")
		return
	}
	c.answerShares(w, r, shares)
}

// ownShare loads share {id} of the request, which must be the caller's.
func (c *Coordinator) ownShare(r *http.Request, s session) (metadb.Share, error) {
	id, herr := parseID16(r.PathValue("id"), "share ID")
	if herr != nil {
		return metadb.Share{}, herr
	}
	sh, err := c.db.Share(r.Context(), id)
	if errors.Is(err, metadb.ErrNotFound) || (err == nil && sh.Owner != s.account) {
		return sh, shareNotFound()
	}
	return sh, err
}

// handleUpdateShare answers PUT /shares/{id}: a new level, write key and
// sealed share (after a key rotation, spec §11.4). Open sessions of the
// share take the new level at their next request.
func (c *Coordinator) handleUpdateShare(w http.ResponseWriter, r *http.Request, s session) {
	var req api.ShareUpdate
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	sh, err := c.ownShare(r, s)
	if err != nil {
		c.fail(w, r, err, "share")
		return
	}
	key, err := c.checkShareLevel(r.Context(), s.account, sh.Root, req.Write, req.KeyID, req.Sealed)
	if err != nil {
		c.fail(w, r, err, "write key")
		return
	}
	sh.Write, sh.KeyID, sh.Epoch, sh.Sealed, sh.Updated = req.Write, key, req.Epoch, req.Sealed, c.now()
	if err := c.db.UpdateShare(r.Context(), s.account, sh); err != nil {
		c.fail(w, r, err, "share")
		return
	}
	out, err := c.emails().share(r.Context(), sh)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	c.log.Info("share updated", "account", hexID(s.account), "share", hexID(sh.ID), "write", sh.Write, "epoch", sh.Epoch)
	writeJSON(w, out)
}

// handleDeleteShare answers DELETE /shares/{id}: the share and its
// sessions end.
func (c *Coordinator) handleDeleteShare(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := parseID16(r.PathValue("id"), "share ID")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if err := c.db.DeleteShare(r.Context(), s.account, id); err != nil {
		c.fail(w, r, err, "share")
		return
	}
	c.log.Info("share revoked", "account", hexID(s.account), "share", hexID(id))
	w.WriteHeader(http.StatusNoContent)
}

// handleShareSession answers POST /shares/{id}/session: for the share's
// recipient, a session of the owner's account scoped to the shared folder,
// read-write if the share is.
func (c *Coordinator) handleShareSession(w http.ResponseWriter, r *http.Request, s session) {
	var req struct{}
	if herr := decode(w, r, &req, true); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	id, herr := parseID16(r.PathValue("id"), "share ID")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	sh, err := c.db.Share(r.Context(), id)
	if errors.Is(err, metadb.ErrNotFound) || (err == nil && sh.Recipient != s.account) {
		err = shareNotFound()
	}
	if err != nil {
		c.fail(w, r, err, "share")
		return
	}
	if _, err := c.db.Entry(r.Context(), sh.Owner, sh.Root); err != nil {
		if errors.Is(err, metadb.ErrNotFound) {
			err = &httpError{http.StatusNotFound, api.Error{
				Error: "the shared folder no longer exists", Code: api.CodeNotFound,
				Hint: "its owner deleted it",
			}}
		}
		c.fail(w, r, err, "entry")
		return
	}
	st := metadb.Session{Account: sh.Owner, Expires: c.now().Add(c.sessionTTL), Root: sh.Root, Write: sh.Write, Share: sh.ID, Opener: s.account}
	token, err := c.newSession(r.Context(), &st)
	if err != nil {
		c.fail(w, r, err, "session")
		return
	}
	writeJSON(w, api.ShareSession{Token: token, Expires: st.Expires.Unix(), Write: st.Write})
}
