package coordinator

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/internal/api"
)

func TestEntries(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("e@example.org")
	tok := u.token()

	dir := newEntry(u.root(), "folder")
	var got api.Entry
	e.call("POST", "/entries", tok, dir, http.StatusOK, &got)
	if got.ID != dir.ID || got.Parent != u.root() || got.Kind != "folder" || !bytes.Equal(got.NameTag, dir.NameTag) ||
		!bytes.Equal(got.WrappedKey, dir.WrappedKey) || !bytes.Equal(got.Meta, dir.Meta) || got.Created != e.clock.Now().Unix() {
		t.Fatalf("created entry = %+v", got)
	}
	inline := newEntry(dir.ID, "file")
	e.call("POST", "/entries", tok, inline, http.StatusOK, nil)
	e.call("GET", "/entries/"+inline.ID, tok, nil, http.StatusOK, &got)
	if got.ID != inline.ID || got.Parent != dir.ID || got.Kind != "file" || got.Object != "" {
		t.Fatalf("entry = %+v", got)
	}

	var ch api.Children
	e.call("GET", "/entries/"+u.root()+"/children", tok, nil, http.StatusOK, &ch)
	if len(ch.Entries) != 1 || ch.Entries[0].ID != dir.ID {
		t.Fatalf("root children = %+v", ch)
	}
	e.call("GET", "/entries/"+inline.ID+"/children", tok, nil, http.StatusOK, &ch)
	if len(ch.Entries) != 0 {
		t.Fatalf("a file has children: %+v", ch)
	}

	// Same name tag in the same folder.
	same := newEntry(dir.ID, "file")
	same.NameTag = inline.NameTag
	e.expectError("POST", "/entries", tok, same, http.StatusConflict, api.CodeExists, "an entry with this name already exists in the folder")
	// The same name in another folder is fine.
	same.Parent = u.root()
	e.call("POST", "/entries", tok, same, http.StatusOK, nil)
	// Same ID.
	clash := newEntry(u.root(), "folder")
	clash.ID = dir.ID
	e.expectError("POST", "/entries", tok, clash, http.StatusConflict, api.CodeExists, "already exists")

	e.expectError("POST", "/entries", tok, newEntry(randHex16(), "file"), http.StatusNotFound, api.CodeNotFound, "parent folder not found")
	e.expectError("POST", "/entries", tok, newEntry(inline.ID, "file"), http.StatusConflict, api.CodeConflict, "parent is a file")
	e.expectError("GET", "/entries/"+randHex16(), tok, nil, http.StatusNotFound, api.CodeNotFound, "entry not found")
	e.expectError("GET", "/entries/"+randHex16()+"/children", tok, nil, http.StatusNotFound, api.CodeNotFound, "not found")
	e.expectError("GET", "/entries/xyz", tok, nil, http.StatusBadRequest, api.CodeBadRequest, "entry ID")

	// An object that is not committed cannot be referenced.
	var oc api.ObjectCreated
	e.call("POST", "/objects", tok, nil, http.StatusOK, &oc)
	f := newEntry(dir.ID, "file")
	f.Object = oc.Object
	e.expectError("POST", "/entries", tok, f, http.StatusConflict, api.CodeConflict, "not a committed upload")

	// Deleting.
	e.expectError("DELETE", "/entries/"+dir.ID, tok, nil, http.StatusConflict, api.CodeConflict, "not empty")
	e.expectError("DELETE", "/entries/"+u.root(), tok, nil, http.StatusConflict, api.CodeConflict, "root folder")
	e.call("DELETE", "/entries/"+inline.ID, tok, nil, http.StatusNoContent, nil)
	e.call("DELETE", "/entries/"+dir.ID, tok, nil, http.StatusNoContent, nil)
	e.expectError("DELETE", "/entries/"+dir.ID, tok, nil, http.StatusNotFound, api.CodeNotFound, "not found")
	e.expectError("GET", "/entries/"+dir.ID, tok, nil, http.StatusNotFound, api.CodeNotFound, "not found")

	// Without a session nothing is served.
	e.expectError("GET", "/entries/"+u.root(), "", nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
	e.expectError("POST", "/entries", "", newEntry(u.root(), "file"), http.StatusUnauthorized, api.CodeUnauthorized, "")
	e.expectError("DELETE", "/entries/"+same.ID, "", nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
}

func TestEntryValidation(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("v@example.org")
	tests := []struct {
		name   string
		mod    func(*api.Entry)
		substr string
	}{
		{"no id", func(x *api.Entry) { x.ID = "" }, "entry.id"},
		{"bad id", func(x *api.Entry) { x.ID = strings.Repeat("g", 32) }, "entry.id"},
		{"no parent", func(x *api.Entry) { x.Parent = "" }, "entry.parent is required"},
		{"bad parent", func(x *api.Entry) { x.Parent = "00" }, "entry.parent"},
		{"self parent", func(x *api.Entry) { x.Parent = x.ID }, "differ"},
		{"kind", func(x *api.Entry) { x.Kind = "dir" }, "entry.kind"},
		{"no kind", func(x *api.Entry) { x.Kind = "" }, "entry.kind"},
		{"name tag short", func(x *api.Entry) { x.NameTag = randBytes(15) }, "entry.name_tag"},
		{"name tag missing", func(x *api.Entry) { x.NameTag = nil }, "entry.name_tag"},
		{"wrapped key", func(x *api.Entry) { x.WrappedKey = randBytes(32) }, "entry.wrapped_key"},
		{"meta empty", func(x *api.Entry) { x.Meta = []byte{} }, "entry.meta is empty"},
		{"meta big", func(x *api.Entry) { x.Meta = make([]byte, MaxMetaSize+1) }, "entry.meta"},
		{"folder object", func(x *api.Entry) { x.Kind = "folder"; x.Object = randHex16() }, "empty for a folder"},
		{"bad object", func(x *api.Entry) { x.Object = "abc" }, "entry.object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newEntry(u.root(), "file")
			tt.mod(&x)
			e.t = t
			e.expectError("POST", "/entries", u.token(), x, http.StatusBadRequest, api.CodeBadRequest, tt.substr)
		})
	}
	e.t = t
	max := newEntry(u.root(), "file")
	max.Meta = make([]byte, MaxMetaSize)
	e.call("POST", "/entries", u.token(), max, http.StatusOK, nil)
}

// TestAccountIsolation checks that one account can neither see nor touch
// another's entries and objects.
func TestAccountIsolation(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	a := e.signup("a@example.org")
	b := e.signup("b@example.org")

	dirA := newEntry(a.root(), "folder")
	e.call("POST", "/entries", a.token(), dirA, http.StatusOK, nil)
	objA := e.upload(a, nodes, 1000)
	var pendingA api.ObjectCreated
	e.call("POST", "/objects", a.token(), nil, http.StatusOK, &pendingA)
	var so api.SegmentOrders
	seg := segmentRequest(0, 1000, 4, 6)
	e.call("POST", "/objects/"+pendingA.Object+"/segments", a.token(), seg, http.StatusOK, &so)

	tb := b.token()
	e.expectError("GET", "/entries/"+dirA.ID, tb, nil, 404, api.CodeNotFound, "")
	e.expectError("GET", "/entries/"+a.root(), tb, nil, 404, api.CodeNotFound, "")
	e.expectError("GET", "/entries/"+a.root()+"/children", tb, nil, 404, api.CodeNotFound, "")
	e.expectError("DELETE", "/entries/"+dirA.ID, tb, nil, 404, api.CodeNotFound, "")
	e.expectError("POST", "/entries", tb, newEntry(dirA.ID, "file"), 404, api.CodeNotFound, "parent folder not found")
	// B cannot adopt A's committed object in its own tree.
	f := newEntry(b.root(), "file")
	f.Object = objA
	e.expectError("POST", "/entries", tb, f, 409, api.CodeConflict, "")
	e.expectError("GET", "/objects/"+objA+"/segments", tb, nil, 404, api.CodeNotFound, "")
	e.expectError("DELETE", "/objects/"+objA, tb, nil, 404, api.CodeNotFound, "")
	e.expectError("POST", "/objects/"+pendingA.Object+"/segments", tb, segmentRequest(1, 1000, 4, 6), 404, api.CodeNotFound, "")
	e.expectError("POST", "/objects/"+pendingA.Object+"/segments/0/commit", tb,
		api.SegmentCommit{Receipts: receipts(t, nodes, so.Orders)}, 404, api.CodeNotFound, "")
	e.expectError("POST", "/objects/"+pendingA.Object+"/commit", tb, api.ObjectCommit{Segments: 1, Size: 1000}, 404, api.CodeNotFound, "")
	e.expectError("DELETE", "/objects/"+pendingA.Object, tb, nil, 404, api.CodeNotFound, "")

	// A still has everything.
	e.call("GET", "/entries/"+dirA.ID, a.token(), nil, 200, nil)
	e.call("POST", "/objects/"+pendingA.Object+"/segments/0/commit", a.token(),
		api.SegmentCommit{Receipts: receipts(t, nodes, so.Orders)}, http.StatusNoContent, nil)
	var usage api.Usage
	e.call("GET", "/usage", a.token(), nil, 200, &usage)
	if usage.Used != 1000 {
		t.Fatalf("A uses %d, want 1000", usage.Used)
	}
	e.call("GET", "/usage", tb, nil, 200, &usage)
	if usage.Used != 0 {
		t.Fatalf("B uses %d, want 0", usage.Used)
	}
}
