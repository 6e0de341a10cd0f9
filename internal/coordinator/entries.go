package coordinator

import (
	"errors"
	"net/http"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// apiEntry converts a stored entry to its wire form.
func apiEntry(e metadb.Entry) api.Entry {
	a := api.Entry{
		ID:         hexID(e.ID),
		Parent:     hexID(e.Parent),
		Kind:       string(e.Kind),
		NameTag:    e.NameTag,
		WrappedKey: e.WrappedKey,
		Meta:       e.Meta,
		Object:     hexID(e.Object),
	}
	if !e.Created.IsZero() {
		a.Created = e.Created.Unix()
	}
	if !e.Updated.IsZero() {
		a.Updated = e.Updated.Unix()
	}
	return a
}

// checkEntry validates an entry sent by account: the root folder (no
// parent, no name tag) when root is set, any other entry otherwise.
// Created and Updated are set by the coordinator; the client's are ignored.
func (c *Coordinator) checkEntry(a api.Entry, account metadb.ID16, root bool) (metadb.Entry, *httpError) {
	field := "entry"
	if root {
		field = "root"
	}
	id, herr := parseID16(a.ID, field+".id")
	if herr != nil {
		return metadb.Entry{}, herr
	}
	now := c.now()
	e := metadb.Entry{
		ID:         id,
		Account:    account,
		Kind:       metadb.Kind(a.Kind),
		NameTag:    a.NameTag,
		WrappedKey: a.WrappedKey,
		Meta:       a.Meta,
		Created:    now,
		Updated:    now,
	}
	switch e.Kind {
	case metadb.KindFolder, metadb.KindFile:
	default:
		return e, badRequest("%s.kind must be %q or %q, not %q", field, metadb.KindFolder, metadb.KindFile, a.Kind)
	}
	if root {
		switch {
		case e.Kind != metadb.KindFolder:
			return e, badRequest("root.kind must be %q", metadb.KindFolder)
		case a.Parent != "":
			return e, badRequest("root.parent must be empty: the root folder has no parent")
		case len(a.NameTag) != 0:
			return e, badRequest("root.name_tag must be empty: the root folder has no name")
		case a.Object != "":
			return e, badRequest("root.object must be empty: a folder has no object")
		}
	} else {
		if a.Parent == "" {
			return e, badRequest("entry.parent is required")
		}
		if e.Parent, herr = parseID16(a.Parent, "entry.parent"); herr != nil {
			return e, herr
		}
		if e.Parent == e.ID {
			return e, badRequest("entry.parent must differ from entry.id")
		}
		if len(a.NameTag) != NameTagSize {
			return e, badRequest("entry.name_tag must be %d bytes, got %d", NameTagSize, len(a.NameTag))
		}
		if a.Object != "" {
			if e.Kind != metadb.KindFile {
				return e, badRequest("entry.object must be empty for a folder")
			}
			if e.Object, herr = parseID16(a.Object, "entry.object"); herr != nil {
				return e, herr
			}
		}
	}
	if len(a.WrappedKey) != WrappedKeySize {
		return e, badRequest("%s.wrapped_key must be %d bytes, got %d", field, WrappedKeySize, len(a.WrappedKey))
	}
	if len(a.Meta) == 0 {
		return e, badRequest("%s.meta is empty", field)
	}
	if len(a.Meta) > MaxMetaSize {
		return e, badRequest("%s.meta is %d bytes, at most %d allowed", field, len(a.Meta), MaxMetaSize)
	}
	return e, nil
}

func (c *Coordinator) handleGetEntry(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := parseID16(r.PathValue("id"), "entry ID")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	e, err := c.db.Entry(r.Context(), s.account, id)
	if err != nil {
		c.fail(w, r, err, "entry")
		return
	}
	writeJSON(w, apiEntry(e))
}

func (c *Coordinator) handleChildren(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := parseID16(r.PathValue("id"), "entry ID")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	// Look the folder up first so that an unknown (or another account's)
	// folder is a 404 rather than an empty list.
	if _, err := c.db.Entry(r.Context(), s.account, id); err != nil {
		c.fail(w, r, err, "folder")
		return
	}
	children, err := c.db.Children(r.Context(), s.account, id)
	if err != nil {
		c.fail(w, r, err, "folder")
		return
	}
	out := api.Children{Entries: make([]api.Entry, len(children))}
	for i, e := range children {
		out.Entries[i] = apiEntry(e)
	}
	writeJSON(w, out)
}

func (c *Coordinator) handleCreateEntry(w http.ResponseWriter, r *http.Request, s session) {
	var req api.Entry
	if herr := decode(w, r, &req, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	e, herr := c.checkEntry(req, s.account, false)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	parent, err := c.db.Entry(r.Context(), s.account, e.Parent)
	if errors.Is(err, metadb.ErrNotFound) {
		c.fail(w, r, notFound("parent folder not found"), "")
		return
	}
	if err != nil {
		c.fail(w, r, err, "parent folder")
		return
	}
	if parent.Kind != metadb.KindFolder {
		c.fail(w, r, conflict("the parent is a file, not a folder", ""), "")
		return
	}
	switch err := c.db.CreateEntry(r.Context(), e); {
	case err == nil:
	case errors.Is(err, metadb.ErrExists):
		writeError(w, http.StatusConflict, api.Error{
			Error: "an entry with this name already exists in the folder", Code: api.CodeExists,
			Hint: "choose another name or delete the existing entry first",
		})
		return
	case errors.Is(err, metadb.ErrNotFound):
		c.fail(w, r, notFound("parent folder not found"), "")
		return
	case errors.Is(err, metadb.ErrConflict):
		c.fail(w, r, conflict("the entry's object is not a committed upload of this account, or another entry already uses it",
			"upload the file again"), "")
		return
	default:
		c.fail(w, r, err, "entry")
		return
	}
	writeJSON(w, apiEntry(e))
}

func (c *Coordinator) handleDeleteEntry(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := parseID16(r.PathValue("id"), "entry ID")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	acct, err := c.db.AccountByID(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	if id == acct.RootEntry {
		c.fail(w, r, conflict("the root folder cannot be deleted", ""), "")
		return
	}
	switch err := c.db.DeleteEntry(r.Context(), s.account, id); {
	case err == nil:
	case errors.Is(err, metadb.ErrConflict):
		c.fail(w, r, conflict("the folder is not empty", "delete its entries first"), "")
		return
	default:
		c.fail(w, r, err, "entry")
		return
	}
	c.wakeDeletions()
	w.WriteHeader(http.StatusNoContent)
}
