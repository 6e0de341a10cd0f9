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
	inline := newEntry(dir.ID, "file")
	e.mustCommit(u, []api.Entry{dir, inline}, nil)
	var got api.Entry
	e.call("GET", "/entries/"+dir.ID, tok, nil, http.StatusOK, &got)
	if got.ID != dir.ID || got.Parent != u.root() || got.Kind != "folder" || !bytes.Equal(got.NameTag, dir.NameTag) ||
		!bytes.Equal(got.WrappedKey, dir.WrappedKey) || !bytes.Equal(got.Meta, dir.Meta) || got.Created != e.clock.Now().Unix() ||
		len(got.Objects) != 0 {
		t.Fatalf("entry = %+v", got)
	}
	e.call("GET", "/entries/"+inline.ID, tok, nil, http.StatusOK, &got)
	if got.ID != inline.ID || got.Parent != dir.ID || got.Kind != "file" || len(got.Objects) != 0 {
		t.Fatalf("entry = %+v", got)
	}

	var ch api.Children
	e.call("GET", "/entries/"+u.root()+"/children", tok, nil, http.StatusOK, &ch)
	if len(ch.Entries) != 1 || ch.Entries[0].ID != dir.ID {
		t.Fatalf("root children = %+v", ch)
	}
	e.call("GET", "/entries/"+u.trash()+"/children", tok, nil, http.StatusOK, &ch)
	if len(ch.Entries) != 0 {
		t.Fatalf("trash children = %+v", ch)
	}
	e.call("GET", "/entries/"+inline.ID+"/children", tok, nil, http.StatusOK, &ch)
	if len(ch.Entries) != 0 {
		t.Fatalf("a file has children: %+v", ch)
	}
	got = api.Entry{}
	e.call("GET", "/entries/"+u.trash(), tok, nil, http.StatusOK, &got)
	if got.ID != u.trash() || got.Parent != "" || got.Kind != "folder" {
		t.Fatalf("trash = %+v", got)
	}

	e.expectError("GET", "/entries/"+randHex16(), tok, nil, http.StatusNotFound, api.CodeNotFound, "entry not found")
	e.expectError("GET", "/entries/"+randHex16()+"/children", tok, nil, http.StatusNotFound, api.CodeNotFound, "not found")
	e.expectError("GET", "/entries/xyz", tok, nil, http.StatusBadRequest, api.CodeBadRequest, "entry ID")

	// Every tree change is a journal commit: the old calls are gone.
	e.expectError("POST", "/entries", tok, newEntry(u.root(), "file"), http.StatusNotFound, api.CodeNotFound, "no such call")
	e.expectError("DELETE", "/entries/"+inline.ID, tok, nil, http.StatusNotFound, api.CodeNotFound, "no such call")

	// Without a session nothing is served.
	e.expectError("GET", "/entries/"+u.root(), "", nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
	e.expectError("GET", "/entries/"+u.root()+"/children", "", nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
}

func TestEntryValidation(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("v@example.org")
	tests := []struct {
		name   string
		mod    func(*api.Entry)
		substr string
	}{
		{"no id", func(x *api.Entry) { x.ID = "" }, "puts[0].id"},
		{"bad id", func(x *api.Entry) { x.ID = strings.Repeat("g", 32) }, "puts[0].id"},
		{"zero id", func(x *api.Entry) { x.ID = strings.Repeat("0", 32) }, "puts[0].id must not be all zeros"},
		{"bad parent", func(x *api.Entry) { x.Parent = "00" }, "puts[0].parent"},
		{"self parent", func(x *api.Entry) { x.Parent = x.ID }, "differ"},
		{"kind", func(x *api.Entry) { x.Kind = "dir" }, "puts[0].kind"},
		{"no kind", func(x *api.Entry) { x.Kind = "" }, "puts[0].kind"},
		{"name tag short", func(x *api.Entry) { x.NameTag = randBytes(15) }, "puts[0].name_tag"},
		{"name tag missing", func(x *api.Entry) { x.NameTag = nil }, "puts[0].name_tag"},
		{"wrapped key", func(x *api.Entry) { x.WrappedKey = randBytes(32) }, "puts[0].wrapped_key"},
		{"meta empty", func(x *api.Entry) { x.Meta = []byte{} }, "puts[0].meta is empty"},
		{"meta big", func(x *api.Entry) { x.Meta = make([]byte, MaxMetaSize+1) }, "puts[0].meta"},
		{"folder objects", func(x *api.Entry) { x.Kind = "folder"; x.Objects = []string{randHex16()} }, "empty for a folder"},
		{"bad object", func(x *api.Entry) { x.Objects = []string{"abc"} }, "puts[0].objects[0]"},
		{"upper object", func(x *api.Entry) { x.Objects = []string{strings.ToUpper(randHex16())} }, "lowercase"},
		{"repeated object", func(x *api.Entry) { o := randHex16(); x.Objects = []string{randHex16(), o, o} }, "objects[2] repeats objects[1]"},
		{"too many objects", func(x *api.Entry) {
			for range MaxObjects + 1 {
				x.Objects = append(x.Objects, randHex16())
			}
		}, "12 objects, at most 11"},
		{"parentless", func(x *api.Entry) { x.Parent = ""; x.Kind = "folder"; x.NameTag = nil }, "only the root and trash folders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newEntry(u.root(), "file")
			tt.mod(&x)
			e.t = t
			// Entries are validated before they are matched with the
			// record, which may be any well-formed one.
			body := api.JournalCommit{Puts: []api.Entry{x}, Record: sealRecord(t, u.jkey, u.seq+1, u.head, []api.Entry{newEntry(u.root(), "file")}, nil)}
			e.expectError("POST", "/journal", u.token(), body, http.StatusBadRequest, api.CodeBadRequest, tt.substr)
		})
	}
	e.t = t
	badDelete := api.JournalCommit{Record: sealRecord(t, u.jkey, u.seq+1, u.head, nil, []string{randHex16()}), Deletes: []string{"zz"}}
	e.expectError("POST", "/journal", u.token(), badDelete, http.StatusBadRequest, api.CodeBadRequest, "deletes[0] must be 32 hex")
	// Two puts may not reference one object.
	f1, f2 := newEntry(u.root(), "file"), newEntry(u.root(), "file")
	f1.Objects = []string{randHex16()}
	f2.Objects = f1.Objects
	e.commitError(u, []api.Entry{f1, f2}, nil, http.StatusBadRequest, api.CodeBadRequest, "puts[1] references object")
	// The largest metadata is accepted.
	max := newEntry(u.root(), "file")
	max.Meta = make([]byte, MaxMetaSize)
	e.mustCommit(u, []api.Entry{max}, nil)
}

// TestAccountIsolation checks that one account can neither see nor touch
// another's entries and objects.
func TestAccountIsolation(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	a := e.signup("a@example.org")
	b := e.signup("b@example.org")

	dirA := newEntry(a.root(), "folder")
	e.mustCommit(a, []api.Entry{dirA}, nil)
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
	e.commitError(b, nil, []string{dirA.ID}, 404, api.CodeNotFound, "does not exist")
	e.commitError(b, []api.Entry{newEntry(dirA.ID, "file")}, nil, 404, api.CodeNotFound, "does not exist")
	// B cannot move A's folder into its tree, nor put A's root.
	moved := dirA
	moved.Parent = b.root()
	if r := e.commit(b, []api.Entry{moved}, nil); r.status < 400 {
		t.Fatalf("B moved A's folder: %d %s", r.status, r.body)
	}
	rootA := a.sess.Root
	e.commitError(b, []api.Entry{rootA}, nil, 400, api.CodeBadRequest, "only the root and trash")
	// B cannot adopt A's committed object in its own tree.
	f := newEntry(b.root(), "file")
	f.Objects = []string{objA}
	e.commitError(b, []api.Entry{f}, nil, 409, api.CodeConflict, "")
	e.expectError("GET", "/objects/"+objA, tb, nil, 404, api.CodeNotFound, "")
	e.expectError("GET", "/objects/"+objA+"/segments", tb, nil, 404, api.CodeNotFound, "")
	e.expectError("DELETE", "/objects/"+objA, tb, nil, 404, api.CodeNotFound, "")
	e.expectError("POST", "/objects/"+pendingA.Object+"/segments", tb, segmentRequest(1, 1000, 4, 6), 404, api.CodeNotFound, "")
	e.expectError("POST", "/objects/"+pendingA.Object+"/segments/0/commit", tb,
		api.SegmentCommit{Receipts: receipts(t, nodes, so.Orders)}, 404, api.CodeNotFound, "")
	e.expectError("POST", "/objects/"+pendingA.Object+"/commit", tb, api.ObjectCommit{Segments: 1, Size: 1000}, 404, api.CodeNotFound, "")
	e.expectError("DELETE", "/objects/"+pendingA.Object, tb, nil, 404, api.CodeNotFound, "")
	// B's journal holds only its own record 1.
	var jr api.JournalRecords
	e.call("GET", "/journal", tb, nil, 200, &jr)
	if jr.Latest != 1 || len(jr.Records) != 1 {
		t.Fatalf("B's journal = %d records, latest %d", len(jr.Records), jr.Latest)
	}

	// A still has everything.
	e.call("GET", "/entries/"+dirA.ID, a.token(), nil, 200, nil)
	e.call("POST", "/objects/"+pendingA.Object+"/segments/0/commit", a.token(),
		api.SegmentCommit{Receipts: receipts(t, nodes, so.Orders)}, http.StatusNoContent, nil)
	var usage api.Usage
	e.call("GET", "/usage", a.token(), nil, 200, &usage)
	if usage.Used != 1000 || usage.Folders != 1 || usage.Files != 0 {
		t.Fatalf("A's usage = %+v, want 1000 bytes and 1 folder", usage)
	}
	e.call("GET", "/usage", tb, nil, 200, &usage)
	if usage.Used != 0 || usage.Folders != 0 {
		t.Fatalf("B's usage = %+v, want nothing", usage)
	}
}
