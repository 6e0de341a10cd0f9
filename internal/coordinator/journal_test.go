package coordinator

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/journal"
)

// head reads the account's journal head from the database.
func (e *env) head(u *user) (uint64, [32]byte) {
	e.t.Helper()
	seq, h, err := e.db.JournalHead(e.t.Context(), mustID16(e.t, u.sess.Account))
	if err != nil {
		e.t.Fatal(err)
	}
	return seq, h
}

// replay applies the account's whole journal, as a client does, and
// returns the resulting state.
func (e *env) replay(u *user) *journal.State {
	e.t.Helper()
	var jr api.JournalRecords
	e.call("GET", "/journal?after=0", u.token(), nil, http.StatusOK, &jr)
	st := journal.NewState()
	for _, rec := range jr.Records {
		if err := st.Apply(rec, u.jkey); err != nil {
			e.t.Fatalf("replay: %v", err)
		}
	}
	if st.Seq != jr.Latest {
		e.t.Fatalf("replayed to seq %d, latest %d", st.Seq, jr.Latest)
	}
	return st
}

// checkEntry requires that the stored entry id has the parent and hash the
// journal state records.
func (e *env) checkStored(u *user, st *journal.State, id string) {
	e.t.Helper()
	var got api.Entry
	e.call("GET", "/entries/"+id, u.token(), nil, http.StatusOK, &got)
	h, err := journal.EntryHash(got)
	if err != nil {
		e.t.Fatal(err)
	}
	want, ok := st.Entries[jid(e.t, id)]
	if !ok || want.Hash != h || want.Parent != jid(e.t, got.Parent) {
		e.t.Fatalf("entry %s as stored (%+v) does not match the journal (%+v, %v)", id, got, want, ok)
	}
}

func TestJournalCommit(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	u := e.signup("j@example.org")
	tok := u.token()

	// A folder and a file with three objects (current content and two
	// versions), in one record. The objects' order is kept as sent.
	objs := []string{e.upload(u, nodes, 100), e.upload(u, nodes, 200), e.upload(u, nodes, 300)}
	slices.Sort(objs)
	objs[0], objs[2] = objs[2], objs[0]
	dir := newEntry(u.root(), "folder")
	file := newEntry(dir.ID, "file")
	file.Objects = objs
	e.mustCommit(u, []api.Entry{dir, file}, nil)
	var got api.Entry
	e.call("GET", "/entries/"+file.ID, tok, nil, http.StatusOK, &got)
	if !slices.Equal(got.Objects, objs) {
		t.Fatalf("objects %v, sent %v", got.Objects, objs)
	}
	st := e.replay(u)
	if st.Seq != 2 || len(st.Entries) != 4 {
		t.Fatalf("state after one commit: seq %d, %d entries", st.Seq, len(st.Entries))
	}
	for _, id := range []string{u.root(), u.trash(), dir.ID, file.ID} {
		e.checkStored(u, st, id)
	}
	var usage api.Usage
	e.call("GET", "/usage", tok, nil, http.StatusOK, &usage)
	if usage.Used != 600 || usage.Files != 1 || usage.Folders != 1 || usage.Quota != 0 {
		t.Fatalf("usage = %+v", usage)
	}

	// Move and rename the file into a new folder, dropping its oldest
	// version: the dropped object is deleted and its pieces queued.
	dir2 := newEntry(u.root(), "folder")
	moved := file
	moved.Parent, moved.NameTag, moved.Objects = dir2.ID, randBytes(NameTagSize), objs[:2]
	e.mustCommit(u, []api.Entry{dir2, moved}, nil)
	e.expectError("GET", "/objects/"+objs[2], tok, nil, http.StatusNotFound, api.CodeNotFound, "object not found")
	ids, err := e.db.NodesWithDeletions(t.Context())
	if err != nil || len(ids) != 6 {
		t.Fatalf("%d nodes with deletions, want 6 (%v)", len(ids), err)
	}
	var ch api.Children
	e.call("GET", "/entries/"+dir.ID+"/children", tok, nil, http.StatusOK, &ch)
	if len(ch.Entries) != 0 {
		t.Fatalf("old folder still lists %+v", ch.Entries)
	}
	e.call("GET", "/entries/"+dir2.ID+"/children", tok, nil, http.StatusOK, &ch)
	if len(ch.Entries) != 1 || ch.Entries[0].ID != file.ID {
		t.Fatalf("new folder lists %+v", ch.Entries)
	}

	// The root folder may be put again (new metadata); a top-level
	// folder may not be added.
	root := u.sess.Root
	root.Meta = randBytes(80)
	root.Created, root.Updated = 0, 0
	e.mustCommit(u, []api.Entry{root}, nil)
	e.call("GET", "/entries/"+u.root(), tok, nil, http.StatusOK, &got)
	if !bytes.Equal(got.Meta, root.Meta) {
		t.Fatal("root metadata not replaced")
	}
	e.commitError(u, []api.Entry{topFolder()}, nil, http.StatusBadRequest, api.CodeBadRequest, "only the root and trash")
	trash := u.sess.Trash
	trash.Parent, trash.NameTag = u.root(), randBytes(NameTagSize)
	e.commitError(u, []api.Entry{trash}, nil, http.StatusBadRequest, api.CodeBadRequest, "puts[0].parent must be empty: a top-level folder")

	// Delete the folder and its file in one record, the file first.
	e.mustCommit(u, nil, []string{file.ID, dir2.ID})
	e.expectError("GET", "/entries/"+dir2.ID, tok, nil, http.StatusNotFound, api.CodeNotFound, "")
	e.call("GET", "/usage", tok, nil, http.StatusOK, &usage)
	if usage.Used != 0 || usage.Files != 0 || usage.Folders != 1 {
		t.Fatalf("usage after deletes = %+v", usage)
	}
	st = e.replay(u)
	if st.Seq != 5 || len(st.Entries) != 3 {
		t.Fatalf("state: seq %d, %d entries", st.Seq, len(st.Entries))
	}
	for id := range st.Entries {
		e.checkStored(u, st, id.String())
	}
	if seq, h := e.head(u); seq != u.seq || h != u.head {
		t.Fatalf("head %d %x, client holds %d %x", seq, h, u.seq, u.head)
	}
	e.expectError("POST", "/journal", "", e.commitBody(u, []api.Entry{newEntry(u.root(), "file")}, nil), http.StatusUnauthorized, api.CodeUnauthorized, "")
}

// TestJournalStale checks that a record that does not follow the latest
// one is refused as "stale", with nothing stored, and that a client that
// syncs can then commit.
func TestJournalStale(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("stale@example.org")
	e.mustCommit(u, []api.Entry{newEntry(u.root(), "folder")}, nil)
	other := *u // a second device, in sync for now

	f := newEntry(u.root(), "file")
	tests := []struct {
		name string
		seq  uint64
		prev [32]byte
	}{
		{"replayed seq", u.seq, u.head},
		{"seq gap", u.seq + 2, u.head},
		{"wrong prev", u.seq + 1, [32]byte{1}},
		{"seq 1", 1, [32]byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			body := api.JournalCommit{Record: sealRecord(t, u.jkey, tt.seq, tt.prev, []api.Entry{f}, nil), Puts: []api.Entry{f}}
			ae := e.expectError("POST", "/journal", u.token(), body, http.StatusConflict, api.CodeStale, "does not follow the latest record")
			if ae.Hint != staleHint {
				t.Fatalf("hint %q", ae.Hint)
			}
			if seq, h := e.head(u); seq != u.seq || h != u.head {
				t.Fatal("a stale commit moved the journal")
			}
			e.expectError("GET", "/entries/"+f.ID, u.token(), nil, http.StatusNotFound, api.CodeNotFound, "")
		})
	}
	e.t = t

	// Two devices: the first commits; the second's commit is stale until
	// it syncs.
	e.mustCommit(u, []api.Entry{f}, nil)
	g := newEntry(u.root(), "file")
	e.commitError(&other, []api.Entry{g}, nil, http.StatusConflict, api.CodeStale, "")
	var jr api.JournalRecords
	e.call("GET", "/journal?after="+strconv.FormatUint(other.seq, 10), other.token(), nil, http.StatusOK, &jr)
	if len(jr.Records) != 1 || jr.Latest != u.seq {
		t.Fatalf("sync = %d records, latest %d", len(jr.Records), jr.Latest)
	}
	other.seq, other.head = jr.Latest, journal.Hash(jr.Records[0])
	e.mustCommit(&other, []api.Entry{g}, nil)
	u.seq, u.head = other.seq, other.head
	st := e.replay(u)
	for _, id := range []string{f.ID, g.ID} {
		e.checkStored(u, st, id)
	}
}

// TestJournalMismatch checks that a commit whose record does not describe
// exactly the entries sent is refused, with nothing stored.
func TestJournalMismatch(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	u := e.signup("mismatch@example.org")
	dir := newEntry(u.root(), "folder")
	old := newEntry(dir.ID, "file")
	e.mustCommit(u, []api.Entry{dir, old}, nil)
	o1, o2 := e.upload(u, nodes, 100), e.upload(u, nodes, 100)

	f := newEntry(dir.ID, "file")
	f.Objects = []string{o1, o2}
	with := func(mod func(*api.Entry)) api.Entry {
		x := f
		mod(&x)
		return x
	}
	tests := []struct {
		name       string
		recPuts    []api.Entry // what the record says
		recDeletes []string
		puts       []api.Entry // what is sent
		deletes    []string
		substr     string
	}{
		{"other entry", []api.Entry{with(func(x *api.Entry) { x.ID = randHex16() })}, nil, []api.Entry{f}, nil, "is not a change of the record"},
		{"other meta", []api.Entry{with(func(x *api.Entry) { x.Meta = randBytes(100) })}, nil, []api.Entry{f}, nil, "does not match the entry sent"},
		{"other wrapped key", []api.Entry{with(func(x *api.Entry) { x.WrappedKey = randBytes(WrappedKeySize) })}, nil, []api.Entry{f}, nil, "does not match"},
		{"other name tag", []api.Entry{with(func(x *api.Entry) { x.NameTag = randBytes(NameTagSize) })}, nil, []api.Entry{f}, nil, "does not match"},
		{"other kind", []api.Entry{with(func(x *api.Entry) { x.Kind = "folder"; x.Objects = nil })}, nil, []api.Entry{with(func(x *api.Entry) { x.Objects = nil })}, nil, "does not match"},
		{"objects reordered", []api.Entry{with(func(x *api.Entry) { x.Objects = []string{o2, o1} })}, nil, []api.Entry{f}, nil, "does not match"},
		{"object dropped", []api.Entry{with(func(x *api.Entry) { x.Objects = []string{o1} })}, nil, []api.Entry{f}, nil, "does not match"},
		{"other parent", []api.Entry{with(func(x *api.Entry) { x.Parent = u.root() })}, nil, []api.Entry{f}, nil, "under parent"},
		{"record has more", []api.Entry{f, newEntry(dir.ID, "file")}, nil, []api.Entry{f}, nil, "the record has 2 changes, but 1 puts"},
		{"record has less", []api.Entry{f}, nil, []api.Entry{f, newEntry(dir.ID, "file")}, nil, "the record has 1 changes, but 2 puts"},
		{"unrecorded delete", []api.Entry{f}, nil, []api.Entry{f}, []string{old.ID}, "the record has 1 changes, but 1 puts and 1 deletes"},
		{"delete sent as put", nil, []string{f.ID}, []api.Entry{f}, nil, "is sent as a put"},
		{"put sent as delete", []api.Entry{old}, nil, nil, []string{old.ID}, "is sent as a delete"},
		{"other delete", nil, []string{dir.ID}, nil, []string{old.ID}, "is not a change of the record"},
		{"put sent twice", []api.Entry{with(func(x *api.Entry) { x.Objects = nil }), with(func(x *api.Entry) { x.ID = randHex16(); x.Objects = nil })}, nil, []api.Entry{with(func(x *api.Entry) { x.Objects = nil }), with(func(x *api.Entry) { x.Objects = nil })}, nil, "sent twice"},
		{"entry changed twice", []api.Entry{old, old}, nil, []api.Entry{old, old}, nil, "changes " + old.ID + " twice"},
		{"put and delete", []api.Entry{old}, []string{old.ID}, []api.Entry{old}, []string{old.ID}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			body := api.JournalCommit{
				Record: sealRecord(t, u.jkey, u.seq+1, u.head, tt.recPuts, tt.recDeletes),
				Puts:   tt.puts, Deletes: tt.deletes,
			}
			e.expectError("POST", "/journal", u.token(), body, http.StatusBadRequest, api.CodeBadRequest, tt.substr)
			if seq, h := e.head(u); seq != u.seq || h != u.head {
				t.Fatal("a refused commit moved the journal")
			}
			e.expectError("GET", "/entries/"+f.ID, u.token(), nil, http.StatusNotFound, api.CodeNotFound, "")
			e.call("GET", "/entries/"+old.ID, u.token(), nil, http.StatusOK, nil)
		})
	}
	e.t = t
	// Malformed records.
	good := e.commitBody(u, []api.Entry{f}, nil)
	for name, rec := range map[string][]byte{
		"empty":     nil,
		"truncated": good.Record[:len(good.Record)-1],
		"version":   append([]byte{2}, good.Record[1:]...),
		"trailing":  append(append([]byte{}, good.Record...), 0),
	} {
		t.Run("malformed "+name, func(t *testing.T) {
			e.t = t
			body := good
			body.Record = rec
			e.expectError("POST", "/journal", u.token(), body, http.StatusBadRequest, api.CodeBadRequest, "record: journal: malformed record")
		})
	}
	e.t = t
	// Nothing was stored along the way: the same objects and names still
	// commit, as the next record.
	e.mustCommit(u, []api.Entry{f}, nil)
	st := e.replay(u)
	e.checkStored(u, st, f.ID)
}

// TestJournalConflicts checks the database's refusals: each is answered
// with its code, nothing is stored, and the next commit follows on.
func TestJournalConflicts(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	u := e.signup("conflict@example.org")
	dir := newEntry(u.root(), "folder")
	file := newEntry(dir.ID, "file")
	e.mustCommit(u, []api.Entry{dir, file}, nil)
	var pending api.ObjectCreated
	e.call("POST", "/objects", u.token(), nil, http.StatusOK, &pending)
	committed := e.upload(u, nodes, 100)

	sameName := newEntry(dir.ID, "file")
	sameName.NameTag = file.NameTag
	underFile := newEntry(file.ID, "file")
	asFolder := file
	asFolder.Kind = "folder"
	withPending := newEntry(dir.ID, "file")
	withPending.Objects = []string{pending.Object}
	withUnknown := newEntry(dir.ID, "file")
	withUnknown.Objects = []string{randHex16()}
	first, second := newEntry(dir.ID, "file"), newEntry(dir.ID, "file")
	first.Objects = []string{committed}
	tests := []struct {
		name    string
		puts    []api.Entry
		deletes []string
		status  int
		code    string
		substr  string
	}{
		{"name taken", []api.Entry{sameName}, nil, 409, api.CodeExists, "an entry with this name already exists in the folder"},
		{"name taken in one record", []api.Entry{second, with(second, func(x *api.Entry) { x.ID = randHex16() })}, nil, 409, api.CodeExists, "already exists"},
		{"missing parent", []api.Entry{newEntry(randHex16(), "file")}, nil, 404, api.CodeNotFound, "does not exist"},
		{"missing delete", nil, []string{randHex16()}, 404, api.CodeNotFound, "does not exist"},
		{"parent is a file", []api.Entry{underFile}, nil, 409, api.CodeConflict, "the change conflicts with the tree"},
		{"folder not empty", nil, []string{dir.ID}, 409, api.CodeConflict, "conflicts with the tree"},
		{"folder before its file", nil, []string{dir.ID, file.ID}, 409, api.CodeConflict, "conflicts with the tree"},
		{"kind change", []api.Entry{asFolder}, nil, 409, api.CodeConflict, "conflicts with the tree"},
		{"delete root", nil, []string{u.root()}, 409, api.CodeConflict, "conflicts with the tree"},
		{"delete trash", nil, []string{u.trash()}, 409, api.CodeConflict, "conflicts with the tree"},
		{"pending object", []api.Entry{withPending}, nil, 409, api.CodeConflict, "conflicts with the tree"},
		{"unknown object", []api.Entry{withUnknown}, nil, 409, api.CodeConflict, "conflicts with the tree"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			ae := e.commitError(u, tt.puts, tt.deletes, tt.status, tt.code, tt.substr)
			if ae.Hint == "" {
				t.Fatalf("no hint: %+v", ae)
			}
			if seq, h := e.head(u); seq != u.seq || h != u.head {
				t.Fatal("a refused commit moved the journal")
			}
		})
	}
	e.t = t
	e.call("GET", "/entries/"+file.ID, u.token(), nil, http.StatusOK, nil)
	// An object referenced by one entry cannot be given to another.
	e.mustCommit(u, []api.Entry{first}, nil)
	second.Objects = first.Objects
	e.commitError(u, []api.Entry{second}, nil, 409, api.CodeConflict, "conflicts with the tree")
	e.mustCommit(u, nil, []string{file.ID, first.ID, dir.ID})
	st := e.replay(u)
	if len(st.Entries) != 2 {
		t.Fatalf("%d entries left, want the two top-level folders", len(st.Entries))
	}
}

func with(x api.Entry, mod func(*api.Entry)) api.Entry {
	mod(&x)
	return x
}

func TestGetJournal(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("get@example.org")
	dir := newEntry(u.root(), "folder")
	e.mustCommit(u, []api.Entry{dir}, nil)
	var sent [][]byte
	for range 5 {
		body := e.commitBody(u, []api.Entry{newEntry(dir.ID, "file")}, nil)
		e.call("POST", "/journal", u.token(), body, http.StatusNoContent, nil)
		u.seq++
		u.head = journal.Hash(body.Record)
		sent = append(sent, body.Record)
	}
	var jr api.JournalRecords
	e.call("GET", "/journal?after=2&limit=2", u.token(), nil, http.StatusOK, &jr)
	if jr.Latest != 7 || len(jr.Records) != 2 || !bytes.Equal(jr.Records[0], sent[0]) || !bytes.Equal(jr.Records[1], sent[1]) {
		t.Fatalf("page = %d records, latest %d", len(jr.Records), jr.Latest)
	}
	e.call("GET", "/journal?after=6", u.token(), nil, http.StatusOK, &jr)
	if jr.Latest != 7 || len(jr.Records) != 1 || !bytes.Equal(jr.Records[0], sent[4]) {
		t.Fatalf("tail = %d records, latest %d", len(jr.Records), jr.Latest)
	}
	e.call("GET", "/journal?after=7", u.token(), nil, http.StatusOK, &jr)
	if jr.Latest != 7 || len(jr.Records) != 0 || jr.Records == nil {
		t.Fatalf("past the end = %+v", jr)
	}
	e.call("GET", "/journal?after=100", u.token(), nil, http.StatusOK, &jr)
	if jr.Latest != 7 || len(jr.Records) != 0 {
		t.Fatalf("far past the end = %+v", jr)
	}
	e.call("GET", "/journal?limit="+strconv.Itoa(MaxJournalLimit), u.token(), nil, http.StatusOK, &jr)
	if len(jr.Records) != 7 {
		t.Fatalf("%d records, want 7", len(jr.Records))
	}
	for _, q := range []string{"after=-1", "after=x", "after=01", "after=18446744073709551616", "limit=0", "limit=10001", "limit=1.5", "limit=+5"} {
		e.expectError("GET", "/journal?"+q, u.token(), nil, http.StatusBadRequest, api.CodeBadRequest, strings.SplitN(q, "=", 2)[0])
	}
	e.expectError("GET", "/journal", "", nil, http.StatusUnauthorized, api.CodeUnauthorized, "")

	// An answer carries a bounded number of bytes, and at least one record:
	// the client pages on.
	defer func(old int) { maxJournalBytes = old }(maxJournalBytes)
	maxJournalBytes = 2*len(sent[0]) + 1
	e.call("GET", "/journal?after=2", u.token(), nil, http.StatusOK, &jr)
	if len(jr.Records) != 2 || jr.Latest != 7 {
		t.Fatalf("bounded page = %d records, latest %d", len(jr.Records), jr.Latest)
	}
	maxJournalBytes = 1
	e.call("GET", "/journal?after=0", u.token(), nil, http.StatusOK, &jr)
	if len(jr.Records) != 1 {
		t.Fatalf("tiny budget = %d records, want 1", len(jr.Records))
	}
	// A client paging with that budget still replays everything.
	st := journal.NewState()
	for after := uint64(0); after < 7; {
		e.call("GET", "/journal?after="+strconv.FormatUint(after, 10), u.token(), nil, http.StatusOK, &jr)
		for _, rec := range jr.Records {
			if err := st.Apply(rec, u.jkey); err != nil {
				t.Fatal(err)
			}
		}
		if st.Seq == after {
			t.Fatal("no progress")
		}
		after = st.Seq
	}
	if len(st.Entries) != 8 {
		t.Fatalf("%d entries replayed, want 8", len(st.Entries))
	}
}

// TestCommitBodyLimit checks that a commit may be larger than other
// requests, up to its own limit.
func TestCommitBodyLimit(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("big@example.org")
	var puts []api.Entry
	for range 16 {
		x := newEntry(u.root(), "file")
		x.Meta = randBytes(MaxMetaSize)
		puts = append(puts, x)
	}
	e.mustCommit(u, puts, nil) // ~1.4 MiB of JSON, more than maxBody
	// A larger body is refused from its length, before it is read.
	req := httptest.NewRequest("POST", api.Prefix+"/journal", bytes.NewReader(make([]byte, maxCommitBody+1)))
	req.Header.Set("Authorization", "Bearer "+u.token())
	rec := httptest.NewRecorder()
	e.c.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "larger than 16777216 bytes") {
		t.Fatalf("oversized commit: %d %s", rec.Code, rec.Body.Bytes())
	}
}
