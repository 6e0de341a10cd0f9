package coordinator

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/journal"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// Limits of GET /journal.
const (
	DefaultJournalLimit = 1000
	MaxJournalLimit     = 10000
	// journalPage is how many records one database query reads.
	journalPage = 256
)

// maxJournalBytes is how many record bytes one GET /journal answer carries
// at most (always at least one record): the client pages on with after.
// A variable so that tests can lower it.
var maxJournalBytes = 8 << 20

// staleHint is the hint of a journal commit that does not follow the latest record.
const staleHint = "another device changed the tree; sync and retry"

// keyChanges are the write-key changes of a record (spec §9 ops 3 and 4).
type keyChanges struct {
	grants  []metadb.WriteKey
	revokes []metadb.ID16
}

// checkChanges requires that the record's changes are exactly one put per
// entry of puts (same ID and parent, and the entry hash of the entry as
// the coordinator will store and return it) and one delete per ID of
// deletes, in any order, besides the write-key grants and revokes it
// returns, and nothing else (spec §9). It checks no ID is changed twice.
func checkChanges(rec journal.Record, puts []metadb.Entry, deletes []metadb.ID16) (keyChanges, *httpError) {
	var kc keyChanges
	byID := make(map[journal.ID]int, len(rec.Changes))
	for i, ch := range rec.Changes {
		if _, dup := byID[ch.Entry]; dup {
			return kc, badRequest("the record changes entry or key %s twice", ch.Entry)
		}
		switch ch.Op {
		case journal.Grant:
			kc.grants = append(kc.grants, metadb.WriteKey{ID: metadb.ID16(ch.Entry), Root: metadb.ID16(ch.Parent), Active: true})
			continue // not an entry: not matched with puts and deletes
		case journal.Revoke:
			kc.revokes = append(kc.revokes, metadb.ID16(ch.Entry))
			continue
		}
		byID[ch.Entry] = i
	}
	if len(byID) != len(puts)+len(deletes) {
		what := "changes"
		if len(byID) != len(rec.Changes) {
			what = "changes to entries"
		}
		return kc, badRequest("the record has %d %s, but %d puts and %d deletes were sent",
			len(byID), what, len(puts), len(deletes))
	}
	// take finds the change of id and removes it, so that each change
	// matches one entry sent.
	take := func(id metadb.ID16, what string) (journal.Change, *httpError) {
		i, ok := byID[journal.ID(id)]
		if !ok {
			return journal.Change{}, badRequest("%s %s is not a change of the record, or is sent twice", what, hexID(id))
		}
		delete(byID, journal.ID(id))
		return rec.Changes[i], nil
	}
	for _, e := range puts {
		ch, herr := take(e.ID, "put of entry")
		if herr != nil {
			return kc, herr
		}
		if ch.Op != journal.Put {
			return kc, badRequest("the record deletes entry %s, but it is sent as a put", ch.Entry)
		}
		if ch.Parent != journal.ID(e.Parent) {
			return kc, badRequest("the record puts entry %s under parent %s, but it is sent under %s",
				ch.Entry, ch.Parent, journal.ID(e.Parent))
		}
		h, err := journal.EntryHash(apiEntry(e))
		if err != nil {
			return kc, badRequest("entry %s: %v", ch.Entry, err)
		}
		if h != ch.Hash {
			return kc, badRequest("the record's hash of entry %s does not match the entry sent", ch.Entry)
		}
	}
	for _, id := range deletes {
		ch, herr := take(id, "delete of entry")
		if herr != nil {
			return kc, herr
		}
		if ch.Op != journal.Delete {
			return kc, badRequest("the record puts entry %s, but it is sent as a delete", ch.Entry)
		}
	}
	return kc, nil
}

// handleGetJournal answers GET /journal?after=N&limit=M: the records
// after seq N, in order, and the latest seq. Records are read before the
// latest seq, so Latest is never below the last record returned.
func (c *Coordinator) handleGetJournal(w http.ResponseWriter, r *http.Request, s session) {
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != v {
			c.fail(w, r, badRequest("after must be a non-negative integer"), "")
			return
		}
		after = n
	}
	limit := DefaultJournalLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxJournalLimit || strconv.Itoa(n) != v {
			c.fail(w, r, badRequest("limit must be between 1 and %d", MaxJournalLimit), "")
			return
		}
		limit = n
	}
	// The head is read first: records are append-only, so every record up
	// to it is there to be read below, and a commit landing meanwhile
	// (beyond the head) is left for the next call. Reading the head last
	// could announce a record this answer does not carry.
	latest, _, err := c.db.JournalHead(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "journal")
		return
	}
	out := api.JournalRecords{Records: make([][]byte, 0, min(limit, journalPage))}
	size := 0
read:
	for len(out.Records) < limit {
		n := min(limit-len(out.Records), journalPage)
		recs, err := c.db.Journal(r.Context(), s.account, after, n)
		if err != nil {
			c.fail(w, r, err, "journal")
			return
		}
		for _, rc := range recs {
			if rc.Seq > latest || (len(out.Records) > 0 && size+len(rc.Data) > maxJournalBytes) {
				break read
			}
			out.Records = append(out.Records, rc.Data)
			size += len(rc.Data)
			after = rc.Seq
		}
		if len(recs) < n {
			break
		}
	}
	out.Latest = latest
	writeJSON(w, out)
}

// handleJournalHead answers GET /journal/head: the latest seq and its
// hash, for full sessions and read-write share sessions (which write a
// record after it without reading the journal, spec §11.3).
func (c *Coordinator) handleJournalHead(w http.ResponseWriter, r *http.Request, s session) {
	seq, head, err := c.db.JournalHead(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "journal")
		return
	}
	out := api.JournalHead{Seq: seq}
	if seq > 0 {
		out.Head = head[:]
	}
	writeJSON(w, out)
}

// handleCommit answers POST /journal: a sealed record and the entries it
// puts and deletes, applied atomically if the record follows the latest one
// and its changes are exactly the entries sent. The coordinator cannot
// check the record's MAC (it has no key); clients do.
//
// An owner record (version 1) comes only from a full session; its write-key
// grants and revokes are applied with it. A writer record (version 2)
// comes only from a read-write share session, names the share's current
// write key, and stays inside the shared folder (spec §9).
func (c *Coordinator) handleCommit(w http.ResponseWriter, r *http.Request, s session) {
	var req api.JournalCommit
	if herr := decodeLimit(w, r, &req, false, maxCommitBody); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	rec, err := journal.Parse(req.Record)
	if err != nil {
		c.fail(w, r, badRequest("record: %v", err), "")
		return
	}
	isWriter := rec.Writer()
	switch {
	case isWriter && !s.scoped():
		c.fail(w, r, badRequest("a writer record (version 2) is committed through a read-write share session; the owner commits owner records (version 1)"), "")
		return
	case isWriter && !s.write:
		c.fail(w, r, readOnly(s), "")
		return
	case !isWriter && s.scoped():
		if !s.write {
			c.fail(w, r, readOnly(s), "")
			return
		}
		c.fail(w, r, outOfScope(s, "an owner record (version 1)"), "")
		return
	}
	puts, deletes, err := c.checkCommit(r, s, req)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	kc, herr := checkChanges(rec, puts, deletes)
	if herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if isWriter {
		err = c.checkWriterRecord(r, s, rec, kc)
	} else {
		err = c.checkKeyChanges(r, s, rec, kc, puts)
	}
	if err != nil {
		c.fail(w, r, err, "journal")
		return
	}
	jr := metadb.JournalRecord{
		Seq: rec.Seq, Hash: journal.Hash(req.Record), Data: req.Record, Created: c.now(),
		Grants: kc.grants, Revokes: kc.revokes,
	}
	switch err := c.db.Commit(r.Context(), s.account, jr, rec.Prev, puts, deletes); {
	case err == nil:
	case errors.Is(err, metadb.ErrConflict):
		c.fail(w, r, c.diagnoseConflict(r, s, rec, err), "journal")
		return
	case errors.Is(err, metadb.ErrExists):
		msg := "an entry with this name already exists in the folder"
		if len(kc.grants) > 0 {
			msg += ", or a write key granted was granted before"
		}
		writeError(w, http.StatusConflict, api.Error{
			Error: msg, Code: api.CodeExists,
			Hint: "choose another name, or overwrite the existing entry",
		})
		return
	case errors.Is(err, metadb.ErrNotFound):
		msg := "a parent folder or an entry to delete does not exist"
		if len(kc.revokes) > 0 {
			msg += ", or a write key revoked is not active"
		}
		c.fail(w, r, &httpError{http.StatusNotFound, api.Error{
			Error: msg, Code: api.CodeNotFound, Hint: staleHint,
		}}, "")
		return
	default:
		c.fail(w, r, err, "journal")
		return
	}
	c.wakeDeletions()
	w.WriteHeader(http.StatusNoContent)
}

// checkKeyChanges checks the write-key changes of an owner record against
// the database (spec §9), as the record's changes apply in order: a grant
// names a key ID never granted before and a folder of the account that is
// not top-level and exists at that point (in the database and not deleted
// by an earlier change, or put by an earlier change); a revoke names an
// active key. Commit checks the keys again in its transaction.
func (c *Coordinator) checkKeyChanges(r *http.Request, s session, rec journal.Record, kc keyChanges, puts []metadb.Entry) error {
	if len(kc.grants)+len(kc.revokes) == 0 {
		return nil
	}
	ctx := r.Context()
	put := make(map[metadb.ID16]*metadb.Entry, len(puts))
	for i := range puts {
		put[puts[i].ID] = &puts[i]
	}
	// changed holds the entries the record changed so far: the put entry,
	// or nil for a deleted one.
	changed := make(map[metadb.ID16]*metadb.Entry)
	for _, ch := range rec.Changes {
		id := metadb.ID16(ch.Entry)
		switch ch.Op {
		case journal.Put:
			changed[id] = put[id]
		case journal.Delete:
			changed[id] = nil
		case journal.Grant:
			switch _, err := c.db.WriteKey(ctx, s.account, id); {
			case err == nil:
				return &httpError{http.StatusConflict, api.Error{
					Error: "write key " + hexID(id) + " was granted before", Code: api.CodeExists,
					Hint: "grant a new random key ID",
				}}
			case !errors.Is(err, metadb.ErrNotFound):
				return err
			}
			root := metadb.ID16(ch.Parent)
			folder, ok := changed[root]
			if !ok {
				e, err := c.db.Entry(ctx, s.account, root)
				switch {
				case errors.Is(err, metadb.ErrNotFound):
				case err != nil:
					return err
				default:
					folder = &e
				}
			}
			switch {
			case folder == nil:
				return notFound("the folder " + hexID(root) + " of a write-key grant does not exist")
			case folder.Kind != metadb.KindFolder:
				return badRequest("a write key is granted for %s, which is a file", hexID(root))
			case folder.Parent == (metadb.ID16{}):
				return badRequest("a write key cannot be granted for a top-level folder (the root or the trash)")
			}
		case journal.Revoke:
			wk, err := c.db.WriteKey(ctx, s.account, id)
			switch {
			case errors.Is(err, metadb.ErrNotFound):
				return notFound("write key " + hexID(id) + " was never granted")
			case err != nil:
				return err
			case !wk.Active:
				return conflict("write key "+hexID(id)+" is already revoked", "sync and retry")
			}
		}
	}
	return nil
}

// checkWriterRecord checks a writer record from a read-write share
// session (spec §9, §11.3): it names the share's current write key, still
// active and granted for the shared folder; it follows the latest record
// (409 stale otherwise), and each of its changes stays inside the shared
// folder in the database's state at that record.
func (c *Coordinator) checkWriterRecord(r *http.Request, s session, rec journal.Record, kc keyChanges) error {
	if len(kc.grants)+len(kc.revokes) > 0 {
		return badRequest("a writer record may only put and delete entries, not grant or revoke write keys")
	}
	ctx := r.Context()
	key := metadb.ID16(rec.KeyID)
	if key != s.shareKey {
		return &httpError{http.StatusForbidden, api.Error{
			Error: "the record's write key is not the share's current write key", Code: api.CodeOutOfScope,
			Hint: "the owner changed the share's keys: read the share again (`nuage share list --incoming`)",
		}}
	}
	wk, err := c.db.WriteKey(ctx, s.account, key)
	if err != nil && !errors.Is(err, metadb.ErrNotFound) {
		return err
	}
	if err != nil || !wk.Active || wk.Root != s.root {
		return &httpError{http.StatusForbidden, api.Error{
			Error: "the share's write key is not active for the shared folder", Code: api.CodeOutOfScope,
			Hint: "ask the folder's owner to open the share's write access again",
		}}
	}
	seq, head, err := c.db.JournalHead(ctx, s.account)
	if err != nil {
		return err
	}
	if rec.Seq != seq+1 || rec.Prev != head {
		return stale(rec.Seq, seq)
	}
	return c.confine(ctx, s.account, s.root, rec.Changes)
}

// stale answers a record that does not follow the latest record, seq.
func stale(recSeq, seq uint64) *httpError {
	return &httpError{http.StatusConflict, api.Error{
		Error: fmt.Sprintf("record %d does not follow the latest record of the journal (seq %d)", recSeq, seq),
		Code:  api.CodeStale, Hint: staleHint,
	}}
}

// checkCommit validates the entries of a commit: each put like any entry,
// the account's root and trash folders as top-level folders (they stay
// parentless, and no other entry may be), each delete an ID, and no object
// referenced twice.
func (c *Coordinator) checkCommit(r *http.Request, s session, req api.JournalCommit) ([]metadb.Entry, []metadb.ID16, error) {
	puts := make([]metadb.Entry, len(req.Puts))
	if len(req.Puts) > 0 {
		acct, err := c.db.AccountByID(r.Context(), s.account)
		if err != nil {
			return nil, nil, err
		}
		objects := make(map[metadb.ID16]int)
		for i, a := range req.Puts {
			field := fmt.Sprintf("puts[%d]", i)
			top := a.ID == hexID(acct.RootEntry) || a.ID == hexID(acct.TrashEntry)
			if !top && a.Parent == "" {
				return nil, nil, badRequest("%s.parent is required: only the root and trash folders have none", field)
			}
			e, herr := c.checkEntry(a, s.account, field, top)
			if herr != nil {
				return nil, nil, herr
			}
			for _, o := range e.Objects {
				if j, dup := objects[o]; dup {
					return nil, nil, badRequest("%s references object %s, as puts[%d] does", field, hexID(o), j)
				}
				objects[o] = i
			}
			puts[i] = e
		}
	}
	deletes := make([]metadb.ID16, len(req.Deletes))
	for i, d := range req.Deletes {
		id, herr := parseID16(d, fmt.Sprintf("deletes[%d]", i))
		if herr != nil {
			return nil, nil, herr
		}
		deletes[i] = id
	}
	return puts, deletes, nil
}

// diagnoseConflict explains a commit the database refused with
// ErrConflict: a record that does not follow the latest one is "stale"
// (the client syncs and retries); anything else is a conflict with the
// tree, with the database's reason.
func (c *Coordinator) diagnoseConflict(r *http.Request, s session, rec journal.Record, cerr error) error {
	seq, head, err := c.db.JournalHead(r.Context(), s.account)
	if err != nil {
		return err
	}
	if rec.Seq != seq+1 || rec.Prev != head {
		return stale(rec.Seq, seq)
	}
	msg := "the change conflicts with the tree"
	if _, reason, ok := strings.Cut(cerr.Error(), metadb.ErrConflict.Error()+": "); ok && reason != "" {
		msg += ": " + reason
	}
	return conflict(msg, "sync, check the change and retry")
}
