package coordinator

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// MaxObjects is the most objects an entry may reference: a file's current
// content and its older versions (spec §2.2 keeps at most 10).
const MaxObjects = 11

// apiEntry converts a stored entry to its wire form.
func apiEntry(e metadb.Entry) api.Entry {
	a := api.Entry{
		ID:         hexID(e.ID),
		Parent:     hexID(e.Parent),
		Kind:       string(e.Kind),
		NameTag:    e.NameTag,
		WrappedKey: e.WrappedKey,
		Meta:       e.Meta,
	}
	if len(e.Objects) > 0 {
		a.Objects = make([]string, len(e.Objects))
		for i, o := range e.Objects {
			a.Objects[i] = hexID(o)
		}
	}
	if !e.Created.IsZero() {
		a.Created = e.Created.Unix()
	}
	if !e.Updated.IsZero() {
		a.Updated = e.Updated.Unix()
	}
	return a
}

// checkEntry validates an entry sent by account; field names it in
// errors. A top-level folder (top: the root or the trash) has no parent,
// no name tag and no objects; any other entry has a parent and a name tag.
// Created and Updated are set by the coordinator; the client's are ignored.
func (c *Coordinator) checkEntry(a api.Entry, account metadb.ID16, field string, top bool) (metadb.Entry, *httpError) {
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
	if top {
		switch {
		case e.Kind != metadb.KindFolder:
			return e, badRequest("%s.kind must be %q", field, metadb.KindFolder)
		case a.Parent != "":
			return e, badRequest("%s.parent must be empty: a top-level folder has no parent", field)
		case len(a.NameTag) != 0:
			return e, badRequest("%s.name_tag must be empty: a top-level folder has no name", field)
		}
	} else {
		if a.Parent == "" {
			return e, badRequest("%s.parent is required", field)
		}
		if e.Parent, herr = parseID16(a.Parent, field+".parent"); herr != nil {
			return e, herr
		}
		if e.Parent == e.ID {
			return e, badRequest("%s.parent must differ from its id", field)
		}
		if len(a.NameTag) != NameTagSize {
			return e, badRequest("%s.name_tag must be %d bytes, got %d", field, NameTagSize, len(a.NameTag))
		}
	}
	if len(a.Objects) > 0 {
		switch {
		case e.Kind != metadb.KindFile:
			return e, badRequest("%s.objects must be empty for a folder", field)
		case len(a.Objects) > MaxObjects:
			return e, badRequest("%s.objects lists %d objects, at most %d allowed", field, len(a.Objects), MaxObjects)
		}
		e.Objects = make([]metadb.ID16, len(a.Objects))
		for i, o := range a.Objects {
			if e.Objects[i], herr = parseID16(o, fmt.Sprintf("%s.objects[%d]", field, i)); herr != nil {
				return e, herr
			}
			if j := slices.Index(e.Objects[:i], e.Objects[i]); j >= 0 {
				return e, badRequest("%s.objects[%d] repeats objects[%d]", field, i, j)
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

// handleGetEntry answers GET /entries/{id}; a scoped session reaches only
// its root and the entries below it.
func (c *Coordinator) handleGetEntry(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := parseID16(r.PathValue("id"), "entry ID")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	e, err := c.db.Entry(r.Context(), s.account, id)
	if err == nil {
		err = c.inScope(r.Context(), s, id)
	}
	if err != nil {
		c.fail(w, r, err, "entry")
		return
	}
	writeJSON(w, apiEntry(e))
}

// handleChildren answers GET /entries/{id}/children; a scoped session
// lists only its root and the folders below it.
func (c *Coordinator) handleChildren(w http.ResponseWriter, r *http.Request, s session) {
	id, herr := parseID16(r.PathValue("id"), "entry ID")
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	// Look the folder up first so that an unknown (or another account's)
	// folder is a 404 rather than an empty list.
	_, err := c.db.Entry(r.Context(), s.account, id)
	if err == nil {
		err = c.inScope(r.Context(), s, id)
	}
	if err != nil {
		c.fail(w, r, err, "folder")
		return
	}
	children, seq, err := c.db.ChildrenAt(r.Context(), s.account, id)
	if err != nil {
		c.fail(w, r, err, "folder")
		return
	}
	out := api.Children{Entries: make([]api.Entry, len(children)), Seq: seq}
	for i, e := range children {
		out.Entries[i] = apiEntry(e)
	}
	writeJSON(w, out)
}
