package coordinator

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/journal"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// putChange is the journal change that puts entry p.
func putChange(t testing.TB, p api.Entry) journal.Change {
	t.Helper()
	h, err := journal.EntryHash(p)
	if err != nil {
		t.Fatalf("entry hash: %v", err)
	}
	return journal.Change{Op: journal.Put, Entry: jid(t, p.ID), Parent: jid(t, p.Parent), Hash: h}
}

// deleteChange is the journal change that deletes entry id.
func deleteChange(t testing.TB, id string) journal.Change {
	return journal.Change{Op: journal.Delete, Entry: jid(t, id)}
}

// ownerBody builds u's next owner record of changes, sent with puts and deletes.
func (e *env) ownerBody(u *user, changes []journal.Change, puts []api.Entry, deletes []string) api.JournalCommit {
	rec := journal.Record{Seq: u.seq + 1, Prev: u.head, Time: time.Unix(1_700_000_000, 0), Changes: changes}
	return api.JournalCommit{Record: rec.Seal(u.jkey), Puts: puts, Deletes: deletes}
}

// writerBody builds the next writer record of u's journal under write key
// keyID, sealed with the write key derived from u's journal key.
func (e *env) writerBody(u *user, keyID journal.ID, changes []journal.Change, puts []api.Entry, deletes []string) api.JournalCommit {
	rec := journal.Record{Seq: u.seq + 1, Prev: u.head, Time: time.Unix(1_700_000_000, 0), KeyID: keyID, Changes: changes}
	return api.JournalCommit{Record: rec.Seal(journal.WriteKey(u.jkey, keyID)), Puts: puts, Deletes: deletes}
}

// post sends a journal commit of u's account with token and, when it is
// accepted, advances u's journal state.
func (e *env) post(u *user, token string, body api.JournalCommit) response {
	e.t.Helper()
	r := e.do("POST", "/journal", token, body)
	if r.status == http.StatusNoContent {
		u.seq++
		u.head = journal.Hash(body.Record)
	}
	return r
}

// grant commits an owner record granting a new write key for folder and
// returns the key ID.
func (e *env) grant(u *user, folder string) journal.ID {
	e.t.Helper()
	var key journal.ID
	copy(key[:], randBytes(16))
	body := e.ownerBody(u, []journal.Change{{Op: journal.Grant, Entry: key, Parent: jid(e.t, folder)}}, nil, nil)
	if r := e.post(u, u.token(), body); r.status != http.StatusNoContent {
		e.t.Fatalf("grant: status %d: %s", r.status, r.body)
	}
	return key
}

// tree is an account's test tree:
//
//	/shared/sub/file (with an object)
//	/shared/leaf (inline file)
//	/sibling/sibFile (with an object)
//	trash/trashed
type tree struct {
	shared, sub, file, leaf, sibling, sibFile, trashed api.Entry
	fileObj, sibObj                                    string
}

func (e *env) buildTree(u *user, nodes []*node) tree {
	e.t.Helper()
	var t tree
	t.fileObj = e.upload(u, nodes, 1000)
	t.sibObj = e.upload(u, nodes, 2000)
	t.shared = newEntry(u.root(), "folder")
	t.sub = newEntry(t.shared.ID, "folder")
	t.file = newEntry(t.sub.ID, "file")
	t.file.Objects = []string{t.fileObj}
	t.leaf = newEntry(t.shared.ID, "file")
	t.sibling = newEntry(u.root(), "folder")
	t.sibFile = newEntry(t.sibling.ID, "file")
	t.sibFile.Objects = []string{t.sibObj}
	t.trashed = newEntry(u.trash(), "file")
	e.mustCommit(u, []api.Entry{t.shared, t.sub, t.file, t.leaf, t.sibling, t.sibFile, t.trashed}, nil)
	return t
}

// checkConfined requires that a scoped session with token reads the
// subtree of tr.shared and nothing else of u's account.
func (e *env) checkConfined(u *user, tr tree, token string) {
	e.t.Helper()
	for _, id := range []string{tr.shared.ID, tr.sub.ID, tr.file.ID, tr.leaf.ID} {
		var got api.Entry
		e.call("GET", "/entries/"+id, token, nil, http.StatusOK, &got)
		if got.ID != id {
			e.t.Fatalf("GET /entries/%s answered %s", id, got.ID)
		}
	}
	for _, id := range []string{tr.shared.ID, tr.sub.ID} {
		var ch api.Children
		e.call("GET", "/entries/"+id+"/children", token, nil, http.StatusOK, &ch)
		if len(ch.Entries) == 0 || ch.Seq != u.seq {
			e.t.Fatalf("children of %s = %+v", id, ch)
		}
	}
	var segs api.Segments
	e.call("GET", "/objects/"+tr.fileObj+"/segments", token, nil, http.StatusOK, &segs)
	if len(segs.Segments) != 1 || len(segs.Segments[0].Pieces) == 0 {
		e.t.Fatalf("segments of the subtree's object = %+v", segs)
	}
	// The parent, a sibling folder and its file, the root, the trash and
	// what is in it: out of scope.
	for _, id := range []string{u.root(), tr.sibling.ID, tr.sibFile.ID, u.trash(), tr.trashed.ID} {
		ae := e.expectError("GET", "/entries/"+id, token, nil, http.StatusForbidden, api.CodeOutOfScope, "out of scope")
		if ae.Hint == "" {
			e.t.Fatalf("out_of_scope without a hint: %+v", ae)
		}
	}
	for _, id := range []string{u.root(), tr.sibling.ID, u.trash()} {
		e.expectError("GET", "/entries/"+id+"/children", token, nil, http.StatusForbidden, api.CodeOutOfScope, "out of scope")
	}
	// An unknown entry is still a 404.
	e.expectError("GET", "/entries/"+randHex16(), token, nil, http.StatusNotFound, api.CodeNotFound, "")
	e.expectError("GET", "/objects/"+tr.sibObj+"/segments", token, nil, http.StatusForbidden, api.CodeOutOfScope, "object")
	// Nothing else of the account.
	for _, c := range []struct{ method, path string }{
		{"GET", "/journal"}, {"GET", "/journal?after=0"}, {"GET", "/usage"}, {"GET", "/tokens"},
		{"GET", "/links"}, {"GET", "/shares"}, {"GET", "/shares/incoming"}, {"GET", "/account"},
		{"GET", "/accounts/keys?email=" + u.email}, {"GET", "/accounts/" + u.sess.Account + "/keys"},
		{"POST", "/shares/" + randHex16() + "/session"}, {"DELETE", "/links/" + randHex16()},
		{"DELETE", "/shares/" + randHex16()}, {"POST", "/account/signing-key"},
	} {
		e.expectError(c.method, c.path, token, nil, http.StatusForbidden, api.CodeOutOfScope, "")
	}
	e.expectError("POST", "/links", token, api.LinkCreate{}, http.StatusForbidden, api.CodeOutOfScope, "")
	e.expectError("POST", "/shares", token, api.ShareCreate{}, http.StatusForbidden, api.CodeOutOfScope, "")
	e.expectError("POST", "/tokens", token, api.TokenCreate{}, http.StatusForbidden, api.CodeOutOfScope, "")
	e.expectError("POST", "/account/password", token, api.PasswordChange{}, http.StatusForbidden, api.CodeOutOfScope, "")
	// No owner record, even one inside the subtree.
	in := newEntry(tr.shared.ID, "folder")
	before, _ := e.head(u)
	r := e.do("POST", "/journal", token, e.commitBody(u, []api.Entry{in}, nil))
	if r.status != http.StatusForbidden || r.apiError(e.t).Code != api.CodeOutOfScope {
		e.t.Fatalf("owner record from a scoped session: %d %s", r.status, r.body)
	}
	if after, _ := e.head(u); after != before {
		e.t.Fatal("a refused record changed the journal")
	}
}

// checkReadOnly requires that a read-only scoped session cannot write.
func (e *env) checkReadOnly(token string, objectID string) {
	e.t.Helper()
	e.expectError("POST", "/objects", token, nil, http.StatusForbidden, api.CodeOutOfScope, "read-only")
	e.expectError("GET", "/objects/"+objectID, token, nil, http.StatusForbidden, api.CodeOutOfScope, "read-only")
	e.expectError("DELETE", "/objects/"+objectID, token, nil, http.StatusForbidden, api.CodeOutOfScope, "read-only")
	e.expectError("POST", "/objects/"+objectID+"/commit", token, api.ObjectCommit{Segments: 1, Size: 1}, http.StatusForbidden, api.CodeOutOfScope, "read-only")
	e.expectError("GET", "/journal/head", token, nil, http.StatusForbidden, api.CodeOutOfScope, "read-only")
}

func TestScopedSessionsConfined(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	owner := e.signup("owner@example.org")
	friend := e.signup("friend@example.org")
	tr := e.buildTree(owner, nodes)

	// A link session to the shared folder.
	l, auth := e.newLink(owner, tr.shared.ID, nil)
	ls := e.openLink(l.ID, auth, false)
	if ls.Owner != owner.sess.Account || ls.Target != tr.shared.ID || ls.Kind != "folder" {
		t.Fatalf("link session = %+v", ls)
	}
	e.checkConfined(owner, tr, ls.Token)
	e.checkReadOnly(ls.Token, tr.fileObj)

	// A read-only share session of the same folder.
	sh := e.share(owner, friend, tr.shared.ID, journal.ID{})
	ss := e.shareSession(friend, sh.ID)
	if ss.Write {
		t.Fatal("read-only share answered a read-write session")
	}
	e.checkConfined(owner, tr, ss.Token)
	e.checkReadOnly(ss.Token, tr.fileObj)

	// A writer record from a read-only share session is refused.
	key := e.grant(owner, tr.shared.ID)
	in := newEntry(tr.shared.ID, "folder")
	r := e.post(owner, ss.Token, e.writerBody(owner, key, []journal.Change{putChange(t, in)}, []api.Entry{in}, nil))
	if r.status != http.StatusForbidden || !bytes.Contains(r.body, []byte("read-only")) {
		t.Fatalf("writer record from a read-only share: %d %s", r.status, r.body)
	}

	// A link or share to a file: the file only.
	fl, fauth := e.newLink(owner, tr.file.ID, nil)
	fs := e.openLink(fl.ID, fauth, false)
	if fs.Kind != "file" {
		t.Fatalf("kind %q", fs.Kind)
	}
	e.call("GET", "/entries/"+tr.file.ID, fs.Token, nil, http.StatusOK, nil)
	e.call("GET", "/objects/"+tr.fileObj+"/segments", fs.Token, nil, http.StatusOK, nil)
	e.expectError("GET", "/entries/"+tr.sub.ID, fs.Token, nil, http.StatusForbidden, api.CodeOutOfScope, "")
	e.expectError("GET", "/entries/"+tr.leaf.ID, fs.Token, nil, http.StatusForbidden, api.CodeOutOfScope, "")

	// The friend's own full session is not affected by the share.
	e.call("GET", "/entries/"+friend.root(), friend.token(), nil, http.StatusOK, nil)
	e.expectError("GET", "/entries/"+tr.shared.ID, friend.token(), nil, http.StatusNotFound, api.CodeNotFound, "")

	// Logging out ends a scoped session.
	e.call("POST", "/logout", ls.Token, nil, http.StatusNoContent, nil)
	e.expectError("GET", "/entries/"+tr.shared.ID, ls.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
}

func TestWriteShare(t *testing.T) {
	e := newEnv(t, nil)
	nodes := e.startNodes(6)
	owner := e.signup("owner@example.org")
	friend := e.signup("friend@example.org")
	tr := e.buildTree(owner, nodes)
	key := e.grant(owner, tr.shared.ID)
	sh := e.share(owner, friend, tr.shared.ID, key)
	ss := e.shareSession(friend, sh.ID)
	if !ss.Write {
		t.Fatal("read-write share answered a read-only session")
	}
	e.checkConfined(owner, tr, ss.Token)

	// The head of the journal.
	var h api.JournalHead
	e.call("GET", "/journal/head", ss.Token, nil, http.StatusOK, &h)
	if h.Seq != owner.seq || !bytes.Equal(h.Head, owner.head[:]) {
		t.Fatalf("head = %+v, want %d %x", h, owner.seq, owner.head)
	}
	var full api.JournalHead
	e.call("GET", "/journal/head", owner.token(), nil, http.StatusOK, &full)
	if full.Seq != h.Seq || !bytes.Equal(full.Head, h.Head) {
		t.Fatalf("owner's head %+v, share's %+v", full, h)
	}

	// Uploads count against the owner's account.
	var oc api.ObjectCreated
	e.call("POST", "/objects", ss.Token, nil, http.StatusOK, &oc)
	var so api.SegmentOrders
	e.call("POST", "/objects/"+oc.Object+"/segments", ss.Token, segmentRequest(0, 500, oc.Scheme.K, oc.Scheme.N), http.StatusOK, &so)
	e.call("POST", "/objects/"+oc.Object+"/segments/0/commit", ss.Token, api.SegmentCommit{Receipts: receipts(t, nodes, so.Orders)}, http.StatusNoContent, nil)
	e.call("POST", "/objects/"+oc.Object+"/commit", ss.Token, api.ObjectCommit{Segments: 1, Size: 500}, http.StatusNoContent, nil)
	var st api.ObjectStatus
	e.call("GET", "/objects/"+oc.Object, owner.token(), nil, http.StatusOK, &st)
	if st.State != "committed" {
		t.Fatalf("the share's upload is not the owner's: %+v", st)
	}

	// A writer record inside the folder: a new folder, a file in it
	// referencing the upload, a file moved within the folder, a delete.
	dir := newEntry(tr.shared.ID, "folder")
	file := newEntry(dir.ID, "file")
	file.Objects = []string{oc.Object}
	moved := tr.leaf
	moved.Parent = tr.sub.ID
	moved.Meta = randBytes(90)
	body := e.writerBody(owner, key,
		[]journal.Change{putChange(t, dir), putChange(t, file), putChange(t, moved), deleteChange(t, tr.file.ID)},
		[]api.Entry{dir, file, moved}, []string{tr.file.ID})
	if r := e.post(owner, ss.Token, body); r.status != http.StatusNoContent {
		t.Fatalf("writer record: %d %s", r.status, r.body)
	}
	// The owner's client verifies it like any record.
	st8 := e.replay(owner)
	for _, id := range []string{dir.ID, file.ID, moved.ID} {
		e.checkStored(owner, st8, id)
	}
	if _, ok := st8.Entries[jid(t, tr.file.ID)]; ok {
		t.Fatal("deleted entry still in the journal state")
	}
	e.expectError("GET", "/entries/"+tr.file.ID, owner.token(), nil, http.StatusNotFound, api.CodeNotFound, "")

	// Records that reach outside change nothing.
	outside := func(name string, changes []journal.Change, puts []api.Entry, deletes []string, substr string) {
		t.Helper()
		seq, head := e.head(owner)
		r := e.post(owner, ss.Token, e.writerBody(owner, key, changes, puts, deletes))
		if r.status != http.StatusForbidden {
			t.Fatalf("%s: status %d: %s", name, r.status, r.body)
		}
		ae := r.apiError(t)
		if ae.Code != api.CodeOutOfScope || !bytes.Contains([]byte(ae.Error), []byte(substr)) {
			t.Fatalf("%s: %+v, want out_of_scope with %q", name, ae, substr)
		}
		if s2, h2 := e.head(owner); s2 != seq || h2 != head {
			t.Fatalf("%s: the journal moved", name)
		}
	}
	inSibling := newEntry(tr.sibling.ID, "file")
	outside("put in a sibling", []journal.Change{putChange(t, inSibling)}, []api.Entry{inSibling}, nil, "not in the shared folder")
	inRoot := newEntry(owner.root(), "folder")
	outside("put in the root", []journal.Change{putChange(t, inRoot)}, []api.Entry{inRoot}, nil, "not in the shared folder")
	okDir := newEntry(tr.shared.ID, "folder")
	outside("one good put, one bad", []journal.Change{putChange(t, okDir), putChange(t, inSibling)}, []api.Entry{okDir, inSibling}, nil, "not in the shared folder")
	movedIn := tr.sibFile
	movedIn.Parent = tr.shared.ID
	outside("move in from outside", []journal.Change{putChange(t, movedIn)}, []api.Entry{movedIn}, nil, "from outside")
	movedOut := moved
	movedOut.Parent = tr.sibling.ID
	outside("move out", []journal.Change{putChange(t, movedOut)}, []api.Entry{movedOut}, nil, "not in the shared folder")
	outside("delete outside", []journal.Change{deleteChange(t, tr.sibFile.ID)}, nil, []string{tr.sibFile.ID}, "not in the shared folder")
	outside("delete trash", []journal.Change{deleteChange(t, tr.trashed.ID)}, nil, []string{tr.trashed.ID}, "not in the shared folder")
	rootAgain := tr.shared
	rootAgain.Meta = randBytes(70)
	outside("put the shared folder", []journal.Change{putChange(t, rootAgain)}, []api.Entry{rootAgain}, nil, "shared folder")
	outside("delete the shared folder", []journal.Change{deleteChange(t, tr.shared.ID)}, nil, []string{tr.shared.ID}, "shared folder")
	// A put under a folder the record deleted before: outside (nowhere).
	under := newEntry(tr.sub.ID, "file")
	outside("put under a folder deleted earlier", []journal.Change{deleteChange(t, tr.sub.ID), putChange(t, under)},
		[]api.Entry{under}, []string{tr.sub.ID}, "not in the shared folder")

	// A parent created earlier in the same record is inside.
	d1 := newEntry(tr.shared.ID, "folder")
	d2 := newEntry(d1.ID, "folder")
	d3 := newEntry(d2.ID, "file")
	if r := e.post(owner, ss.Token, e.writerBody(owner, key, []journal.Change{putChange(t, d1), putChange(t, d2), putChange(t, d3)},
		[]api.Entry{d3, d2, d1}, nil)); r.status != http.StatusNoContent {
		t.Fatalf("nested puts: %d %s", r.status, r.body)
	}

	// Not following the head: stale.
	owner.seq--
	old := e.writerBody(owner, key, []journal.Change{putChange(t, okDir)}, []api.Entry{okDir}, nil)
	owner.seq++
	e.t = t
	ae := e.expectError("POST", "/journal", ss.Token, old, http.StatusConflict, api.CodeStale, "does not follow")
	if ae.Hint != staleHint {
		t.Fatalf("hint %q", ae.Hint)
	}
	// Another key than the share's: refused, even if active.
	other := e.grant(owner, tr.shared.ID)
	e.expectError("POST", "/journal", ss.Token, e.writerBody(owner, other, []journal.Change{putChange(t, okDir)}, []api.Entry{okDir}, nil), http.StatusForbidden, api.CodeOutOfScope, "not the share's current write key")
	// An owner record from the read-write session: refused.
	e.expectError("POST", "/journal", ss.Token, e.commitBody(owner, []api.Entry{okDir}, nil), http.StatusForbidden, api.CodeOutOfScope, "owner record")
	// A writer record from a full session: refused.
	e.expectError("POST", "/journal", owner.token(), e.writerBody(owner, key, []journal.Change{putChange(t, okDir)}, []api.Entry{okDir}, nil),
		http.StatusBadRequest, api.CodeBadRequest, "writer record")
	e.expectError("POST", "/journal", friend.token(), e.writerBody(owner, key, []journal.Change{putChange(t, okDir)}, []api.Entry{okDir}, nil),
		http.StatusBadRequest, api.CodeBadRequest, "writer record")

	// The owner revokes the key (op 4) and grants another for the share:
	// until the share names the new key, writing fails.
	rot := e.ownerBody(owner, []journal.Change{{Op: journal.Revoke, Entry: key}}, nil, nil)
	if r := e.post(owner, owner.token(), rot); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	e.expectError("POST", "/journal", ss.Token, e.writerBody(owner, key, []journal.Change{putChange(t, okDir)}, []api.Entry{okDir}, nil),
		http.StatusForbidden, api.CodeOutOfScope, "not active")
	fresh := e.grant(owner, tr.shared.ID)
	var up api.Share
	e.call("PUT", "/shares/"+sh.ID, owner.token(), api.ShareUpdate{Write: true, KeyID: fresh.String(), Epoch: 2, Sealed: randBytes(300)}, http.StatusOK, &up)
	if r := e.post(owner, ss.Token, e.writerBody(owner, fresh, []journal.Change{putChange(t, okDir)}, []api.Entry{okDir}, nil)); r.status != http.StatusNoContent {
		t.Fatalf("writer record under the new key: %d %s", r.status, r.body)
	}
	e.replay(owner)

	// Downgraded to read-only: the open session loses write access at once.
	var down api.Share
	e.call("PUT", "/shares/"+sh.ID, owner.token(), api.ShareUpdate{Epoch: 3, Sealed: randBytes(300)}, http.StatusOK, &down)
	if down.Write || down.KeyID != "" || down.Epoch != 3 {
		t.Fatalf("downgraded share = %+v", down)
	}
	e.checkReadOnly(ss.Token, oc.Object)
	late := newEntry(tr.shared.ID, "file")
	e.expectError("POST", "/journal", ss.Token, e.writerBody(owner, fresh, []journal.Change{putChange(t, late)}, []api.Entry{late}, nil),
		http.StatusForbidden, api.CodeOutOfScope, "read-only")
	e.call("GET", "/entries/"+tr.shared.ID, ss.Token, nil, http.StatusOK, nil)

	// Revoked: the session ends.
	e.call("DELETE", "/shares/"+sh.ID, owner.token(), nil, http.StatusNoContent, nil)
	e.expectError("GET", "/entries/"+tr.shared.ID, ss.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
	e.expectError("POST", "/shares/"+sh.ID+"/session", friend.token(), nil, http.StatusNotFound, api.CodeNotFound, "share not found")
}

func TestKeyChanges(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("keys@example.org")
	dir := newEntry(u.root(), "folder")
	file := newEntry(dir.ID, "file")
	e.mustCommit(u, []api.Entry{dir, file}, nil)
	newKey := func() journal.ID {
		var k journal.ID
		copy(k[:], randBytes(16))
		return k
	}
	grant := func(folder string) journal.Change {
		return journal.Change{Op: journal.Grant, Entry: newKey(), Parent: jid(t, folder)}
	}
	refused := func(name string, changes []journal.Change, puts []api.Entry, deletes []string, status int, code, substr string) {
		t.Helper()
		seq, _ := e.head(u)
		r := e.post(u, u.token(), e.ownerBody(u, changes, puts, deletes))
		if r.status != status {
			t.Fatalf("%s: status %d, want %d: %s", name, r.status, status, r.body)
		}
		if ae := r.apiError(t); ae.Code != code || !bytes.Contains([]byte(ae.Error), []byte(substr)) {
			t.Fatalf("%s: %+v, want %s with %q", name, ae, code, substr)
		}
		if s2, _ := e.head(u); s2 != seq {
			t.Fatalf("%s: the journal moved", name)
		}
	}
	refused("grant for the root", []journal.Change{grant(u.root())}, nil, nil, http.StatusBadRequest, api.CodeBadRequest, "top-level")
	refused("grant for the trash", []journal.Change{grant(u.trash())}, nil, nil, http.StatusBadRequest, api.CodeBadRequest, "top-level")
	refused("grant for a file", []journal.Change{grant(file.ID)}, nil, nil, http.StatusBadRequest, api.CodeBadRequest, "is a file")
	refused("grant for nothing", []journal.Change{grant(randHex16())}, nil, nil, http.StatusNotFound, api.CodeNotFound, "does not exist")
	refused("grant for a folder deleted before", []journal.Change{deleteChange(t, file.ID), deleteChange(t, dir.ID), grant(dir.ID)},
		nil, []string{file.ID, dir.ID}, http.StatusNotFound, api.CodeNotFound, "does not exist")
	later := newEntry(u.root(), "folder")
	refused("grant before the folder's put", []journal.Change{grant(later.ID), putChange(t, later)}, []api.Entry{later}, nil,
		http.StatusNotFound, api.CodeNotFound, "does not exist")
	refused("revoke of a key never granted", []journal.Change{{Op: journal.Revoke, Entry: newKey()}}, nil, nil,
		http.StatusNotFound, api.CodeNotFound, "never granted")

	// A grant for a folder put earlier in the record, and one for an
	// existing folder, with the record's puts.
	g1, g2 := grant(later.ID), grant(dir.ID)
	if r := e.post(u, u.token(), e.ownerBody(u, []journal.Change{putChange(t, later), g1, g2}, []api.Entry{later}, nil)); r.status != http.StatusNoContent {
		t.Fatalf("grants: %d %s", r.status, r.body)
	}
	for _, g := range []journal.Change{g1, g2} {
		wk, err := e.db.WriteKey(t.Context(), mustID16(t, u.sess.Account), [16]byte(g.Entry))
		if err != nil || !wk.Active || wk.Root != [16]byte(g.Parent) {
			t.Fatalf("write key %s = %+v, %v", g.Entry, wk, err)
		}
	}
	st := e.replay(u)
	if st.WriteKeys[g1.Entry] != g1.Parent || st.WriteKeys[g2.Entry] != g2.Parent {
		t.Fatalf("journal state keys %v", st.WriteKeys)
	}
	// A key ID is granted once, ever.
	again := g1
	again.Parent = jid(t, dir.ID)
	refused("grant again", []journal.Change{again}, nil, nil, http.StatusConflict, api.CodeExists, "granted before")
	// Revoke, then revoke again.
	if r := e.post(u, u.token(), e.ownerBody(u, []journal.Change{{Op: journal.Revoke, Entry: g1.Entry}}, nil, nil)); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	refused("revoke again", []journal.Change{{Op: journal.Revoke, Entry: g1.Entry}}, nil, nil, http.StatusConflict, api.CodeConflict, "already revoked")
	refused("grant a revoked key", []journal.Change{{Op: journal.Grant, Entry: g1.Entry, Parent: g1.Parent}}, nil, nil,
		http.StatusConflict, api.CodeExists, "granted before")
	// A key change does not need a sent entry, but entries sent must
	// still match the record.
	extra := newEntry(u.root(), "folder")
	refused("grant with an unrecorded put", []journal.Change{grant(dir.ID)}, []api.Entry{extra}, nil,
		http.StatusBadRequest, api.CodeBadRequest, "1 puts")
	st = e.replay(u)
	if _, ok := st.WriteKeys[g1.Entry]; ok || len(st.WriteKeys) != 1 {
		t.Fatalf("journal state keys after revoke %v", st.WriteKeys)
	}
}

// rawSession stores st under a new bearer token of n random bytes and
// returns the token.
func (e *env) rawSession(st metadb.Session, n int) string {
	e.t.Helper()
	raw := randBytes(n)
	st.TokenHash = sha256.Sum256(raw)
	if err := e.db.CreateSession(e.t.Context(), st); err != nil {
		e.t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// TestScopedSessionChecks covers the per-request checks of scoped sessions
// against states the API itself does not produce: a session that outlives
// its link's expiry, one whose scope names nothing or disagrees with its
// link or share.
func TestScopedSessionChecks(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("checks@example.org")
	friend := e.signup("friend@example.org")
	dir := newEntry(u.root(), "folder")
	other := newEntry(u.root(), "folder")
	e.mustCommit(u, []api.Entry{dir, other}, nil)
	acct, root := mustID16(t, u.sess.Account), mustID16(t, dir.ID)
	far := e.clock.Now().Add(24 * time.Hour)

	l, _ := e.newLink(u, dir.ID, func(r *api.LinkCreate) { r.Expires = e.clock.Now().Add(time.Hour).Unix() })
	lid := mustID16(t, l.ID)
	long := e.rawSession(metadb.Session{Account: acct, Expires: far, Root: root, Link: lid}, sessionTokenSize)
	e.call("GET", "/entries/"+dir.ID, long, nil, http.StatusOK, nil)
	e.clock.Advance(time.Hour)
	e.expectError("GET", "/entries/"+dir.ID, long, nil, http.StatusGone, api.CodeLinkExpired, "expired")

	// A link session whose root is not the link's target.
	n, _ := e.newLink(u, dir.ID, nil)
	moved := e.rawSession(metadb.Session{Account: acct, Expires: far, Root: mustID16(t, other.ID), Link: mustID16(t, n.ID)}, sessionTokenSize)
	e.expectError("GET", "/entries/"+other.ID, moved, nil, http.StatusUnauthorized, api.CodeUnauthorized, "revoked")

	sh := e.share(u, friend, dir.ID, journal.ID{})
	wrong := e.rawSession(metadb.Session{Account: acct, Expires: far, Root: mustID16(t, other.ID), Share: mustID16(t, sh.ID)}, sessionTokenSize)
	e.expectError("GET", "/entries/"+other.ID, wrong, nil, http.StatusUnauthorized, api.CodeUnauthorized, "share of this session was revoked")
	// A scope that names neither a link nor a share is not honoured.
	bare := e.rawSession(metadb.Session{Account: acct, Expires: far, Root: root}, sessionTokenSize)
	e.expectError("GET", "/entries/"+dir.ID, bare, nil, http.StatusInternalServerError, api.CodeInternal, "")
	// Nor is a scope on an API-token session.
	tokID := mustID16(t, randHex16())
	raw := append(tokID[:], randBytes(sessionTokenSize)...)
	if err := e.db.CreateSession(t.Context(), metadb.Session{TokenHash: sha256.Sum256(raw), Account: acct, Expires: far, Root: root, Link: lid}); err != nil {
		t.Fatal(err)
	}
	e.expectError("GET", "/entries/"+dir.ID, base64.RawURLEncoding.EncodeToString(raw), nil, http.StatusUnauthorized, api.CodeUnauthorized, "invalid session token")
}
