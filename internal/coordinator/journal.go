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

// checkChanges requires that the record's changes are exactly one put per
// entry of puts (same ID and parent, and the entry hash of the entry as
// the coordinator will store and return it) and one delete per ID of
// deletes, in any order, and nothing else (spec §9).
func checkChanges(rec journal.Record, puts []metadb.Entry, deletes []metadb.ID16) *httpError {
	if len(rec.Changes) != len(puts)+len(deletes) {
		return badRequest("the record has %d changes, but %d puts and %d deletes were sent",
			len(rec.Changes), len(puts), len(deletes))
	}
	byID := make(map[journal.ID]int, len(rec.Changes))
	for i, ch := range rec.Changes {
		if _, dup := byID[ch.Entry]; dup {
			return badRequest("the record changes entry %s twice", ch.Entry)
		}
		byID[ch.Entry] = i
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
			return herr
		}
		if ch.Op != journal.Put {
			return badRequest("the record deletes entry %s, but it is sent as a put", ch.Entry)
		}
		if ch.Parent != journal.ID(e.Parent) {
			return badRequest("the record puts entry %s under parent %s, but it is sent under %s",
				ch.Entry, ch.Parent, journal.ID(e.Parent))
		}
		h, err := journal.EntryHash(apiEntry(e))
		if err != nil {
			return badRequest("entry %s: %v", ch.Entry, err)
		}
		if h != ch.Hash {
			return badRequest("the record's hash of entry %s does not match the entry sent", ch.Entry)
		}
	}
	for _, id := range deletes {
		ch, herr := take(id, "delete of entry")
		if herr != nil {
			return herr
		}
		if ch.Op != journal.Delete {
			return badRequest("the record puts entry %s, but it is sent as a delete", ch.Entry)
		}
	}
	return nil
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

// handleCommit answers POST /journal: a sealed record and the entries it
// puts and deletes, applied atomically if the record follows the latest one
// and its changes are exactly the entries sent. The coordinator cannot
// check the record's MAC (it has no key); clients do.
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
	puts, deletes, err := c.checkCommit(r, s, req)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	if herr := checkChanges(rec, puts, deletes); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	jr := metadb.JournalRecord{Seq: rec.Seq, Hash: journal.Hash(req.Record), Data: req.Record, Created: c.now()}
	switch err := c.db.Commit(r.Context(), s.account, jr, rec.Prev, puts, deletes); {
	case err == nil:
	case errors.Is(err, metadb.ErrConflict):
		c.fail(w, r, c.diagnoseConflict(r, s, rec, err), "journal")
		return
	case errors.Is(err, metadb.ErrExists):
		writeError(w, http.StatusConflict, api.Error{
			Error: "an entry with this name already exists in the folder", Code: api.CodeExists,
			Hint: "choose another name, or overwrite the existing entry",
		})
		return
	case errors.Is(err, metadb.ErrNotFound):
		c.fail(w, r, &httpError{http.StatusNotFound, api.Error{
			Error: "a parent folder or an entry to delete does not exist", Code: api.CodeNotFound, Hint: staleHint,
		}}, "")
		return
	default:
		c.fail(w, r, err, "journal")
		return
	}
	c.wakeDeletions()
	w.WriteHeader(http.StatusNoContent)
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
		return &httpError{http.StatusConflict, api.Error{
			Error: fmt.Sprintf("record %d does not follow the latest record of the journal (seq %d)", rec.Seq, seq),
			Code:  api.CodeStale, Hint: staleHint,
		}}
	}
	msg := "the change conflicts with the tree"
	if _, reason, ok := strings.Cut(cerr.Error(), metadb.ErrConflict.Error()+": "); ok && reason != "" {
		msg += ": " + reason
	}
	return conflict(msg, "sync, check the change and retry")
}
