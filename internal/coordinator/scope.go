package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/journal"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// MaxScopeDepth is how many folders the coordinator walks up from an entry
// to decide whether it lies in a scoped session's subtree (spec §8): an
// entry deeper than that below the session's root is out of scope.
const MaxScopeDepth = 256

// Hints of out_of_scope answers.
const (
	linkScopeHint  = "a link opens only what it points to; log in to the owner's account for anything else"
	shareScopeHint = "a share opens only the shared folder; log in to your own account for anything else"
	readOnlyHint   = "the share is read-only: ask its owner to share the folder read-write"
)

// outOfScope is the 403 answer to a scoped session asking for what,
// something outside its subtree or that no scoped session may do.
func outOfScope(s session, what string) *httpError {
	msg, hint := what+" is out of scope for a link session: it reaches only the linked entry and what is below it", linkScopeHint
	if s.share != (metadb.ID16{}) {
		msg, hint = what+" is out of scope for a share session: it reaches only the shared folder and what is below it", shareScopeHint
	}
	return &httpError{http.StatusForbidden, api.Error{Error: msg, Code: api.CodeOutOfScope, Hint: hint}}
}

// readOnly is the 403 answer to a read-only scoped session that tries to write.
func readOnly(s session) *httpError {
	if s.share == (metadb.ID16{}) {
		return &httpError{http.StatusForbidden, api.Error{
			Error: "a link session is read-only: it cannot upload or change anything",
			Code:  api.CodeOutOfScope, Hint: linkScopeHint,
		}}
	}
	return &httpError{http.StatusForbidden, api.Error{
		Error: "this share is read-only: its session cannot upload or change anything",
		Code:  api.CodeOutOfScope, Hint: readOnlyHint,
	}}
}

// writer wraps h so that it runs for full sessions and read-write share
// sessions (uploads, the journal head); a read-only scoped session is
// answered 403 out_of_scope.
func (c *Coordinator) writer(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return c.scoped(func(w http.ResponseWriter, r *http.Request, s session) {
		if s.scoped() && !s.write {
			c.fail(w, r, readOnly(s), "")
			return
		}
		h(w, r, s)
	})
}

// checkLinkSession checks, on each request of a link session, that its
// link still stands: a revoked or deleted link ends the session (401, also
// ensured by the database deleting the link's sessions) and an expired one
// answers 410 link_expired.
func (c *Coordinator) checkLinkSession(r *http.Request, s *session) error {
	l, err := c.db.Link(r.Context(), s.link)
	if err != nil && !errors.Is(err, metadb.ErrNotFound) {
		return err
	}
	if err != nil || l.Account != s.account || l.Target != s.root || !l.Revoked.IsZero() {
		return &httpError{http.StatusUnauthorized, api.Error{
			Error: "the link of this session was revoked", Code: api.CodeUnauthorized,
			Hint: "ask the link's owner for a new link",
		}}
	}
	if !l.Expires.IsZero() && !c.now().Before(l.Expires) {
		return linkExpired()
	}
	return nil
}

// checkShareSession checks, on each request of a share session, that its
// share still stands (a revoked share ends the session) and takes the
// share's current level and write key, which its owner may have changed
// since the session opened.
func (c *Coordinator) checkShareSession(r *http.Request, s *session) error {
	sh, err := c.db.Share(r.Context(), s.share)
	if err != nil && !errors.Is(err, metadb.ErrNotFound) {
		return err
	}
	if err != nil || sh.Owner != s.account || sh.Root != s.root {
		return &httpError{http.StatusUnauthorized, api.Error{
			Error: "the share of this session was revoked", Code: api.CodeUnauthorized,
			Hint: "ask the folder's owner to share it again",
		}}
	}
	s.write, s.shareKey = sh.Write, sh.KeyID
	return nil
}

// inScope checks that entry id of the session's account is the session's
// root or below it: nil for a full session, metadb.ErrNotFound (wrapped)
// for an entry the account does not have, and 403 out_of_scope for one
// outside the subtree (or deeper than MaxScopeDepth below its top).
func (c *Coordinator) inScope(ctx context.Context, s session, id metadb.ID16) error {
	if !s.scoped() || id == s.root {
		return nil
	}
	anc, err := c.db.Ancestors(ctx, s.account, id, MaxScopeDepth)
	switch {
	case errors.Is(err, metadb.ErrConflict):
		return outOfScope(s, "an entry this deep")
	case err != nil:
		return err
	}
	for _, a := range anc {
		if a == s.root {
			return nil
		}
	}
	return outOfScope(s, "entry "+hexID(id))
}

// objectInScope checks that a scoped session may read object: an entry of
// its subtree references it (as content or an older version).
func (c *Coordinator) objectInScope(ctx context.Context, s session, object metadb.ID16) error {
	if !s.scoped() {
		return nil
	}
	ids, err := c.db.EntriesWithObject(ctx, s.account, object)
	if err != nil {
		return err
	}
	for _, id := range ids {
		err := c.inScope(ctx, s, id)
		var he *httpError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &he), errors.Is(err, metadb.ErrNotFound):
			// Out of scope, or deleted meanwhile: try the next entry.
		default:
			return err
		}
	}
	return outOfScope(s, "object "+hexID(object))
}

// countDownload counts a link session as a download of its link the first
// time it asks for GET orders (spec §10), unless it was counted when it
// opened. A link whose download limit is reached answers 410 link_exhausted.
func (c *Coordinator) countDownload(ctx context.Context, s session) error {
	if s.link == (metadb.ID16{}) || s.downloaded {
		return nil
	}
	switch err := c.db.MarkDownloaded(ctx, s.tokenHash); {
	case errors.Is(err, metadb.ErrConflict):
		return linkExhausted()
	case errors.Is(err, metadb.ErrNotFound):
		return &httpError{http.StatusUnauthorized, api.Error{
			Error: "session expired or revoked", Code: api.CodeUnauthorized, Hint: "open the link again",
		}}
	default:
		return err
	}
}

// overlayEntry is where a change of a writer record leaves an entry.
type overlayEntry struct {
	parent  metadb.ID16
	deleted bool
}

// subtree decides, for a writer record, which entries are inside the
// shared folder root: in the database's state at the head the record
// follows, with the record's earlier changes applied over it.
type subtree struct {
	ctx     context.Context
	db      metadb.DB
	account metadb.ID16
	root    metadb.ID16
	overlay map[metadb.ID16]overlayEntry
	// ancestors caches the database's Ancestors answers (nil slice and
	// the error for entries it refused).
	ancestors map[metadb.ID16]ancestry
}

type ancestry struct {
	ids []metadb.ID16
	err error
}

// dbAncestors returns the database's ancestors of id (cached).
func (t *subtree) dbAncestors(id metadb.ID16) ([]metadb.ID16, error) {
	if a, ok := t.ancestors[id]; ok {
		return a.ids, a.err
	}
	ids, err := t.db.Ancestors(t.ctx, t.account, id, MaxScopeDepth)
	if err != nil && !errors.Is(err, metadb.ErrNotFound) && !errors.Is(err, metadb.ErrConflict) {
		return nil, err // not cached: the request fails
	}
	t.ancestors[id] = ancestry{ids, err}
	return ids, err
}

// exists reports whether entry id exists in the state.
func (t *subtree) exists(id metadb.ID16) (bool, error) {
	if o, ok := t.overlay[id]; ok {
		return !o.deleted, nil
	}
	_, err := t.dbAncestors(id)
	switch {
	case err == nil, errors.Is(err, metadb.ErrConflict):
		return true, nil
	case errors.Is(err, metadb.ErrNotFound):
		return false, nil
	}
	return false, err
}

// within reports whether id is the root or an entry below it in the state.
// Entries the record changed are followed through the overlay; the others
// through the database, up to the first ancestor the record changed.
func (t *subtree) within(id metadb.ID16) (bool, error) {
	cur := id
	for range MaxScopeDepth + len(t.overlay) + 2 {
		switch {
		case cur == t.root:
			return true, nil
		case cur == (metadb.ID16{}):
			return false, nil
		}
		if o, ok := t.overlay[cur]; ok {
			if o.deleted {
				return false, nil
			}
			cur = o.parent
			continue
		}
		anc, err := t.dbAncestors(cur)
		switch {
		case errors.Is(err, metadb.ErrNotFound), errors.Is(err, metadb.ErrConflict):
			return false, nil
		case err != nil:
			return false, err
		}
		next := metadb.ID16{}
		for _, a := range anc {
			if a == t.root {
				return true, nil
			}
			if _, changed := t.overlay[a]; changed {
				next = a
				break
			}
		}
		if next == (metadb.ID16{}) {
			return false, nil // the top of the tree, and no root on the way
		}
		cur = next
	}
	return false, nil // a cycle the record made, or too deep
}

// confine checks that every change of a writer record stays strictly
// inside the shared folder root (spec §9): no change names the root
// itself; a put's parent is the root or below it, as the record's changes
// apply in order; an entry that already exists is already below the root
// (nothing is moved in from outside); a delete names an existing entry
// below the root. The state is the database's, which the caller checked
// is at the head the record follows.
func (c *Coordinator) confine(ctx context.Context, account, root metadb.ID16, changes []journal.Change) error {
	t := &subtree{
		ctx: ctx, db: c.db, account: account, root: root,
		overlay:   make(map[metadb.ID16]overlayEntry, len(changes)),
		ancestors: make(map[metadb.ID16]ancestry),
	}
	refuse := func(format string, args ...any) error {
		return &httpError{http.StatusForbidden, api.Error{
			Error: "the writer record reaches outside the shared folder: " + fmt.Sprintf(format, args...),
			Code:  api.CodeOutOfScope, Hint: shareScopeHint,
		}}
	}
	for _, ch := range changes {
		id := metadb.ID16(ch.Entry)
		if id == root {
			return refuse("it changes the shared folder %s itself", hexID(id))
		}
		exists, err := t.exists(id)
		if err != nil {
			return err
		}
		inside := false
		if exists {
			if inside, err = t.within(id); err != nil {
				return err
			}
		}
		switch ch.Op {
		case journal.Put:
			if exists && !inside {
				return refuse("it moves entry %s in from outside", hexID(id))
			}
			parent := metadb.ID16(ch.Parent)
			ok, err := t.within(parent)
			if err != nil {
				return err
			}
			if !ok {
				return refuse("it puts entry %s under %s, which is not in the shared folder", hexID(id), hexID(parent))
			}
			t.overlay[id] = overlayEntry{parent: parent}
		case journal.Delete:
			if !inside {
				return refuse("it deletes entry %s, which is not in the shared folder", hexID(id))
			}
			t.overlay[id] = overlayEntry{deleted: true}
		default:
			return badRequest("a writer record may only put and delete entries, not op %d", ch.Op)
		}
	}
	return nil
}
