package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/journal"
)

// ErrRollback reports a coordinator whose journal is older than one this
// device has already verified: it rolled the account back, or hides
// changes. It matches ErrTampered too.
var ErrRollback = fmt.Errorf("%w: the coordinator rolled this account back to an older state", ErrTampered)

// journalLabel is the HKDF label of the journal key (spec §9).
const journalLabel = "nuage v1 journal"

const (
	// groupChanges and groupBytes bound what one group commit gathers
	// from concurrent callers (one caller's changes always go in whole).
	groupChanges = 500
	groupBytes   = 8 << 20
	// journalPage is how many records one GET /journal asks for.
	journalPage = 1000
	// commitAttempts bounds the retries of a commit that lost a race
	// with another device ("stale"); each waits a random time up to
	// attempt × staleBackoff (at most maxStaleBackoff), so that the device
	// that keeps winning lets the other one in.
	commitAttempts  = 32
	staleBackoff    = 2 * time.Millisecond
	maxStaleBackoff = 100 * time.Millisecond
	// commitTimeout bounds one POST /journal; callers' contexts do not
	// apply, since a commit carries several callers' changes.
	commitTimeout = 2 * time.Minute
	// saveEvery throttles writing the journal state to disk; a state that
	// is older than the coordinator's only costs a longer replay.
	saveEvery = time.Second
	// listingAttempts bounds the retries of a read that raced with
	// changes to the tree.
	listingAttempts = 20
)

// tree is the client's verified view of the account: the journal state
// and the decrypted entries that match it.
type tree struct {
	// jmu is held by whatever moves the journal forward (a sync or a
	// commit) for the whole exchange with the coordinator.
	jmu sync.Mutex
	// freshAt is when the state was last known to match the
	// coordinator's latest record (guarded by jmu).
	freshAt time.Time
	// watch, if set, is the record of a commit whose answer was lost:
	// a sync that applies it sets watchSeen (both guarded by jmu and mu).
	watch     *[32]byte
	watchSeen bool

	// mu guards the fields below; it is never held during I/O.
	mu          sync.Mutex
	js          *journal.State
	root, trash *node
	// nodes holds decrypted entries whose hash is the journal's.
	nodes map[journal.ID]*node
	// dirs holds complete listings of folders, by lkey; every node in
	// a listing is in nodes.
	dirs       map[journal.ID]map[string]*node
	topChecked bool
	dirty      bool
	savedAt    time.Time

	saveMu sync.Mutex // serialises writes of the state file

	// Group commit: callers queue ops, one goroutine commits them.
	cmu     sync.Mutex
	queue   []*op
	running bool
	cwg     sync.WaitGroup
}

// top returns the root and trash folders.
func (c *Client) top() (root, trash *node) {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	return c.t.root, c.t.trash
}

// statePath is the file of the account's journal state ("" if none).
func (c *Client) statePath() string {
	if c.opts.StateDir == "" {
		return ""
	}
	return filepath.Join(c.opts.StateDir, "journal-"+hex.EncodeToString(c.account[:])+".bin")
}

// loadJournalState reads the saved journal state: the state encoding
// followed by its SHA-256. A missing or damaged file means replaying the
// journal from record 1, which detects everything but a rollback to
// before what the file recorded.
func (c *Client) loadJournalState() *journal.State {
	p := c.statePath()
	if p == "" {
		return journal.NewState()
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.opts.Logger.Warn("cannot read the saved journal state; replaying the journal", "file", p, "err", err)
		}
		return journal.NewState()
	}
	var s journal.State
	if len(b) < sha256.Size {
		err = errors.New("too short")
	} else if sum := sha256.Sum256(b[:len(b)-sha256.Size]); !bytes.Equal(sum[:], b[len(b)-sha256.Size:]) {
		err = errors.New("checksum mismatch")
	} else {
		err = s.UnmarshalBinary(b[:len(b)-sha256.Size])
	}
	if err != nil {
		c.opts.Logger.Warn("the saved journal state is damaged; replaying the journal", "file", p, "err", err)
		return journal.NewState()
	}
	return &s
}

// saveState writes the journal state if it changed, at most every
// saveEvery unless force. Failures are logged: the state can be replayed.
func (c *Client) saveState(force bool) {
	p := c.statePath()
	if p == "" {
		return
	}
	t := &c.t
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	if !t.dirty || (!force && time.Since(t.savedAt) < saveEvery) {
		t.mu.Unlock()
		return
	}
	b, err := t.js.MarshalBinary()
	t.dirty, t.savedAt = false, time.Now()
	t.mu.Unlock()
	if err == nil {
		sum := sha256.Sum256(b)
		err = writeFileAtomic(p, append(b, sum[:]...))
	}
	if err != nil {
		c.opts.Logger.Warn("cannot save the journal state", "file", p, "err", err)
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
	}
}

// writeFileAtomic replaces p with b (mode 0600) so that a crash leaves
// either the old or the new file.
func writeFileAtomic(p string, b []byte) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".journal-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	ok = true
	return os.Rename(tmp, p)
}

// sync brings the journal state up to the coordinator's latest record,
// verifying each record, unless the state was known current after the
// operation calling it started (a sync or commit by another goroutine).
func (c *Client) sync(ctx context.Context) error {
	if c.view != nil {
		// A view has no journal to tell what changed: each operation
		// reads the listings afresh.
		c.t.mu.Lock()
		c.t.dirs = make(map[journal.ID]map[string]*node)
		c.t.mu.Unlock()
		return nil
	}
	start := time.Now()
	c.t.jmu.Lock()
	defer c.t.jmu.Unlock()
	if c.t.freshAt.After(start) {
		return nil
	}
	return c.syncLocked(ctx)
}

// syncForWrite is the sync before a change to the tree. A change is
// checked against the coordinator's latest state when it is committed
// (the commit fails as stale otherwise), so this sync only lets it fail
// early: it is skipped while a group commit is running, which lets the
// change join the next group instead of waiting behind this one.
func (c *Client) syncForWrite(ctx context.Context) error {
	if c.view != nil {
		return c.viewWritable()
	}
	c.t.cmu.Lock()
	busy := c.t.running
	c.t.cmu.Unlock()
	if busy {
		return nil
	}
	return c.sync(ctx)
}

// syncLocked is sync for a caller that holds jmu.
func (c *Client) syncLocked(ctx context.Context) error {
	if c.view != nil {
		return nil
	}
	return c.syncUpToLocked(ctx, math.MaxUint64)
}

// syncUpToLocked is syncLocked that stops at record upTo: a listing the
// coordinator took at record upTo is checked against the state at exactly
// that record, however many commits land meanwhile.
func (c *Client) syncUpToLocked(ctx context.Context, upTo uint64) error {
	t := &c.t
	for {
		t.mu.Lock()
		after := t.js.Seq
		t.mu.Unlock()
		if after >= upTo {
			return nil
		}
		limit := uint64(journalPage)
		if upTo != math.MaxUint64 {
			limit = min(limit, upTo-after)
		}
		var jr api.JournalRecords
		if err := c.coord.call(ctx, http.MethodGet, fmt.Sprintf("/journal?after=%d&limit=%d", after, limit), nil, &jr); err != nil {
			return fmt.Errorf("read the account's journal: %w", err)
		}
		t.mu.Lock()
		if err := t.js.CheckLatest(jr.Latest); err != nil {
			seen := t.js.Seq
			t.mu.Unlock()
			c.opts.Logger.Error("ROLLBACK: the coordinator serves an older tree than this device has verified",
				"latest", jr.Latest, "verified", seen, "server", c.coord.base)
			return withHint(fmt.Errorf("%w: its journal ends at record %d, this device has verified record %d", ErrRollback, jr.Latest, seen),
				"the coordinator lost or is hiding changes made to this account: do not trust it, and report it to its operator")
		}
		if upTo != math.MaxUint64 && jr.Latest < upTo {
			t.mu.Unlock()
			return tampered("the coordinator listed a folder at journal record %d but its journal ends at %d", upTo, jr.Latest)
		}
		for _, rec := range jr.Records {
			if t.js.Seq >= upTo {
				break
			}
			if err := c.applyLocked(rec, nil); err != nil {
				seq := t.js.Seq
				t.mu.Unlock()
				return tampered("journal record %d: %v", seq+1, err)
			}
		}
		seq := t.js.Seq
		t.mu.Unlock()
		if seq >= min(jr.Latest, upTo) {
			break
		}
		if len(jr.Records) == 0 {
			return tampered("the coordinator says the journal has %d records but serves none after %d", jr.Latest, seq)
		}
	}
	if err := c.checkTop(ctx); err != nil {
		return err
	}
	t.freshAt = time.Now()
	c.saveState(false)
	return nil
}

// applyLocked applies an encoded record to the journal state (t.mu held)
// and updates the caches: nodes from own (the entries of this client's
// own commit) replace the old ones, and the listings they change are
// edited; anything else a record changes is dropped from the caches.
func (c *Client) applyLocked(encoded []byte, own map[journal.ID]*node) error {
	t := &c.t
	r, err := journal.Parse(encoded)
	if err != nil {
		return err
	}
	olds := make(map[journal.ID]journal.EntryState, len(r.Changes))
	for _, ch := range r.Changes {
		if e, ok := t.js.Entries[ch.Entry]; ok {
			olds[ch.Entry] = e
		}
	}
	if err := t.js.Apply(encoded, c.jkey); err != nil {
		return err
	}
	if t.watch != nil && *t.watch == t.js.Head {
		t.watchSeen = true
	}
	for _, ch := range r.Changes {
		if ch.Op == journal.Grant || ch.Op == journal.Revoke {
			continue // write keys: no entry changes
		}
		id := ch.Entry
		if old, ok := olds[id]; ok && old.Parent != (journal.ID{}) {
			if d := t.dirs[old.Parent]; d != nil {
				if on := t.nodes[id]; on != nil {
					if d[on.lkey] == on {
						delete(d, on.lkey)
					}
				} else {
					delete(t.dirs, old.Parent)
				}
			}
		}
		delete(t.nodes, id)
		if ch.Op == journal.Delete {
			delete(t.dirs, id)
			continue
		}
		n := own[id]
		if n != nil && n.hash == ch.Hash {
			t.nodes[id] = n
		} else {
			n = nil
		}
		if ch.Parent != (journal.ID{}) {
			if d := t.dirs[ch.Parent]; d != nil {
				if n != nil {
					d[n.lkey] = n
				} else {
					delete(t.dirs, ch.Parent)
				}
			}
		}
	}
	t.dirty = true
	return nil
}

// checkTop checks the root and trash folders against the journal (jmu
// held): both must be the account's two top-level entries, with the hash
// the journal records. A folder the journal records differently is
// fetched again and checked.
func (c *Client) checkTop(ctx context.Context) error {
	t := &c.t
	t.mu.Lock()
	var stale []*node
	for _, n := range []*node{t.root, t.trash} {
		e, ok := t.js.Entries[journal.ID(n.id)]
		if !ok || e.Parent != (journal.ID{}) {
			t.mu.Unlock()
			return tampered("the top-level folder %x named at login is not in this account's journal", n.id)
		}
		if e.Hash != n.hash {
			stale = append(stale, n)
		}
	}
	if !t.topChecked {
		top := 0
		for _, e := range t.js.Entries {
			if e.Parent == (journal.ID{}) {
				top++
			}
		}
		if top != 2 {
			t.mu.Unlock()
			return tampered("the journal has %d top-level folders, want the root and the trash", top)
		}
		t.topChecked = true
	}
	t.mu.Unlock()
	for _, n := range stale {
		var e api.Entry
		if err := c.coord.call(ctx, http.MethodGet, "/entries/"+hex.EncodeToString(n.id[:]), nil, &e); err != nil {
			return fmt.Errorf("read a top-level folder: %w", err)
		}
		want := trashName
		if n.id == c.rootID {
			want = ""
		}
		fresh, err := c.openTop(e, want)
		if err != nil {
			return err
		}
		t.mu.Lock()
		if st := t.js.Entries[journal.ID(n.id)]; st.Hash != fresh.hash {
			t.mu.Unlock()
			return tampered("top-level folder %s differs from the version this account wrote", e.ID)
		}
		t.nodes[journal.ID(n.id)] = fresh
		if n.id == c.rootID {
			t.root = fresh
		} else {
			t.trash = fresh
		}
		t.mu.Unlock()
	}
	return nil
}

// openTop opens a top-level folder (the root if name is "", the trash if
// it is trashName) as the coordinator returned it.
func (c *Client) openTop(e api.Entry, name string) (*node, error) {
	what := "root"
	if name == trashName {
		what = "trash"
	}
	n, err := c.openEntry(e, nil)
	if err != nil {
		return nil, fmt.Errorf("%s folder: %w", what, err)
	}
	if !n.isDir() || n.meta.Name != name {
		return nil, tampered("the coordinator's %s folder is another folder of this account", what)
	}
	return n, nil
}

// syncTo brings the state to record upTo (not beyond); locked says
// whether the caller holds jmu.
func (c *Client) syncTo(ctx context.Context, upTo uint64, locked bool) error {
	if locked {
		return c.syncUpToLocked(ctx, upTo)
	}
	c.t.jmu.Lock()
	defer c.t.jmu.Unlock()
	return c.syncUpToLocked(ctx, upTo)
}

// resync brings the state forward after a read that did not match it: the
// coordinator may simply be ahead. It reports whether the state moved
// past seq.
func (c *Client) resync(ctx context.Context, seq uint64, locked bool) (bool, error) {
	var err error
	if locked {
		err = c.syncLocked(ctx)
	} else {
		c.t.jmu.Lock()
		err = c.syncLocked(ctx)
		c.t.jmu.Unlock()
	}
	if err != nil {
		return false, err
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	return c.t.js.Seq != seq, nil
}

// child returns the child of folder dir named name, or nil if there is
// none. locked says whether the caller holds jmu (a commit's build).
func (c *Client) child(ctx context.Context, dir *node, name string, locked bool) (*node, error) {
	key := nameKey(name)
	if dir.id == c.trashID {
		return nil, fmt.Errorf("%w: the trash is not reached by path", ErrBadPath)
	}
	for range listingAttempts {
		c.t.mu.Lock()
		if d := c.t.dirs[journal.ID(dir.id)]; d != nil {
			n := d[key]
			c.t.mu.Unlock()
			return n, nil
		}
		c.t.mu.Unlock()
		if err := c.loadListing(ctx, dir, locked); err != nil {
			return nil, err
		}
	}
	return nil, errBusy
}

var errBusy = withHint(errors.New("the tree changed too often while it was read"), "retry")

// listingPause waits a short random time before a read that raced with
// another device's commits is retried, so that it can fall between them.
func listingPause(ctx context.Context, seq uint64) {
	d := time.Duration(1+seq%7) * time.Millisecond
	t := time.NewTimer(d + rand.N(20*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// kids returns the children of folder dir, sorted by name.
func (c *Client) kids(ctx context.Context, dir *node, locked bool) ([]*node, error) {
	for range listingAttempts {
		c.t.mu.Lock()
		if d := c.t.dirs[journal.ID(dir.id)]; d != nil {
			out := make([]*node, 0, len(d))
			for _, n := range d {
				out = append(out, n)
			}
			c.t.mu.Unlock()
			sortByName(out)
			return out, nil
		}
		c.t.mu.Unlock()
		if err := c.loadListing(ctx, dir, locked); err != nil {
			return nil, err
		}
	}
	return nil, errBusy
}

// loadListing builds the verified listing of folder dir. If every child
// the journal places under dir is already decrypted, nothing is fetched;
// otherwise the coordinator's listing must hold exactly the journal's
// children with their recorded hashes, and the new ones are decrypted.
func (c *Client) loadListing(ctx context.Context, dir *node, locked bool) error {
	if c.view != nil {
		return c.viewListing(ctx, dir)
	}
	t := &c.t
	did := journal.ID(dir.id)
	for range listingAttempts {
		t.mu.Lock()
		if t.dirs[did] != nil {
			t.mu.Unlock()
			return nil
		}
		if t.cachedListingLocked(dir) {
			err := t.buildListingLocked(dir)
			t.mu.Unlock()
			return err
		}
		seq := t.js.Seq
		t.mu.Unlock()

		var ch api.Children
		if err := c.coord.call(ctx, http.MethodGet, "/entries/"+hex.EncodeToString(dir.id[:])+"/children", nil, &ch); err != nil {
			return fmt.Errorf("list folder %x: %w", dir.id, err)
		}
		// The listing is the folder after journal record ch.Seq: bring the
		// state to exactly that record and compare. A state already past
		// it (this client committed meanwhile) needs a fresher listing.
		// A listing older than a record the coordinator had already
		// served before it was asked is a rollback: the records are
		// committed, so any later snapshot includes them.
		if ch.Seq < seq {
			return withHint(fmt.Errorf("%w: the coordinator listed a folder as it was at journal record %d, but this device had already verified record %d", ErrRollback, ch.Seq, seq),
				"the coordinator is serving an old copy of the tree: do not trust it, and report it to its operator")
		}
		if ch.Seq > seq {
			if err := c.syncTo(ctx, ch.Seq, locked); err != nil {
				return err
			}
		}
		t.mu.Lock()
		if t.js.Seq != ch.Seq {
			seq = t.js.Seq
			t.mu.Unlock()
			listingPause(ctx, seq)
			continue
		}
		seq = ch.Seq
		diffs, toOpen := t.diffListingLocked(dir, ch.Entries)
		t.mu.Unlock()
		if len(diffs) > 0 {
			return tampered("the listing of folder %x differs from this account's journal: %s", dir.id, strings.Join(diffs, "; "))
		}
		opened := make([]*node, 0, len(toOpen))
		for _, e := range toOpen {
			n, err := c.openEntry(e, dir)
			if err != nil {
				return err
			}
			opened = append(opened, n)
		}
		t.mu.Lock()
		if t.js.Seq != seq {
			t.mu.Unlock()
			continue
		}
		for _, n := range opened {
			t.nodes[journal.ID(n.id)] = n
		}
		err := t.buildListingLocked(dir)
		t.mu.Unlock()
		return err
	}
	return errBusy
}

// cachedListingLocked reports whether every child of dir is decrypted.
func (t *tree) cachedListingLocked(dir *node) bool {
	for _, id := range t.js.Children(journal.ID(dir.id)) {
		if n := t.nodes[id]; n == nil || n.hash != t.js.Entries[id].Hash {
			return false
		}
	}
	return true
}

// buildListingLocked builds dir's listing from decrypted nodes, all of
// which must be present.
func (t *tree) buildListingLocked(dir *node) error {
	ids := t.js.Children(journal.ID(dir.id))
	d := make(map[string]*node, len(ids))
	for _, id := range ids {
		n := t.nodes[id]
		if n == nil {
			return fmt.Errorf("internal error: entry %s of folder %x is not decrypted", id, dir.id)
		}
		if d[n.lkey] != nil {
			return tampered("two entries named %q in one folder", n.meta.Name)
		}
		d[n.lkey] = n
	}
	t.dirs[journal.ID(dir.id)] = d
	return nil
}

// diffListingLocked compares a listing of dir from the coordinator with
// the journal. It returns the differences (empty if none) and the entries
// that need decrypting.
func (t *tree) diffListingLocked(dir *node, entries []api.Entry) (diffs []string, toOpen []api.Entry) {
	const maxDiffs = 5
	add := func(format string, args ...any) {
		if len(diffs) < maxDiffs {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	did := journal.ID(dir.id)
	seen := make(map[journal.ID]bool, len(entries))
	for _, e := range entries {
		id, err := parseID16(e.ID)
		if err != nil {
			add("an entry with a malformed ID %q", e.ID)
			continue
		}
		jid := journal.ID(id)
		if seen[jid] {
			add("entry %s is listed twice", e.ID)
			continue
		}
		seen[jid] = true
		st, ok := t.js.Entries[jid]
		if !ok || st.Parent != did {
			add("unexpected entry %s", e.ID)
			continue
		}
		h, err := journal.EntryHash(e)
		if err != nil || h != st.Hash {
			add("entry %s differs from the version this account wrote", e.ID)
			continue
		}
		if n := t.nodes[jid]; n == nil || n.hash != h {
			toOpen = append(toOpen, e)
		}
	}
	if len(seen) != t.js.NumChildren(did) || len(diffs) > 0 {
		for _, id := range t.js.Children(did) {
			if !seen[id] {
				add("entry %s is missing", id)
			}
		}
	}
	return diffs, toOpen
}

// errMoved reports an entry that is no longer where the caller looked for
// it: this client's own view moved on, nothing was tampered with.
var errMoved = errors.New("entry moved")

// getEntry returns the verified, decrypted entry id, a child of parent
// (errMoved if the journal now places it elsewhere).
func (c *Client) getEntry(ctx context.Context, id [16]byte, parent *node, locked bool) (*node, error) {
	t := &c.t
	jid := journal.ID(id)
	for range listingAttempts {
		t.mu.Lock()
		st, ok := t.js.Entries[jid]
		switch {
		case !ok:
			t.mu.Unlock()
			return nil, fmt.Errorf("entry %x: %w", id, ErrNotFound)
		case st.Parent != journal.ID(parent.id):
			t.mu.Unlock()
			return nil, errMoved
		}
		if n := t.nodes[jid]; n != nil && n.hash == st.Hash {
			t.mu.Unlock()
			return n, nil
		}
		seq := t.js.Seq
		t.mu.Unlock()
		var e api.Entry
		if err := c.coord.call(ctx, http.MethodGet, "/entries/"+hex.EncodeToString(id[:]), nil, &e); err != nil {
			return nil, fmt.Errorf("read entry %x: %w", id, err)
		}
		h, herr := journal.EntryHash(e)
		t.mu.Lock()
		if t.js.Seq != seq {
			t.mu.Unlock()
			continue
		}
		// The hash covers the parent, so a match places it right too.
		match := herr == nil && e.ID == hex.EncodeToString(id[:]) && h == st.Hash
		t.mu.Unlock()
		if !match {
			moved, err := c.resync(ctx, seq, locked)
			if err != nil {
				return nil, err
			}
			if moved {
				continue
			}
			return nil, tampered("entry %x differs from the version this account wrote", id)
		}
		n, err := c.openEntry(e, parent)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		if st := t.js.Entries[jid]; st.Hash == n.hash {
			t.nodes[jid] = n
		}
		t.mu.Unlock()
		return n, nil
	}
	return nil, errBusy
}

// chain returns the IDs from id up to its top-level folder (id first), by
// the journal.
func (c *Client) chain(id [16]byte) ([]journal.ID, error) {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	var out []journal.ID
	cur := journal.ID(id)
	for range len(c.t.js.Entries) + 1 {
		e, ok := c.t.js.Entries[cur]
		if !ok {
			return nil, fmt.Errorf("entry %s: %w", cur, ErrNotFound)
		}
		out = append(out, cur)
		if e.Parent == (journal.ID{}) {
			return out, nil
		}
		cur = e.Parent
	}
	return nil, fmt.Errorf("internal error: the journal has a cycle at %x", id)
}

// nodeByID returns the verified, decrypted entry id and the nodes from its
// top-level folder down to it (top first, id last).
func (c *Client) nodeByID(ctx context.Context, id [16]byte, locked bool) ([]*node, error) {
	for range listingAttempts {
		out, err := c.nodeChain(ctx, id, locked)
		if !errors.Is(err, errMoved) {
			return out, err
		}
	}
	return nil, errBusy
}

func (c *Client) nodeChain(ctx context.Context, id [16]byte, locked bool) ([]*node, error) {
	ids, err := c.chain(id)
	if err != nil {
		return nil, err
	}
	root, trash := c.top()
	var cur *node
	switch [16]byte(ids[len(ids)-1]) {
	case root.id:
		cur = root
	case trash.id:
		cur = trash
	default:
		return nil, tampered("entry %x hangs from an unknown top-level folder", id)
	}
	out := []*node{cur}
	for i := len(ids) - 2; i >= 0; i-- {
		if cur, err = c.getEntry(ctx, [16]byte(ids[i]), cur, locked); err != nil {
			return nil, err
		}
		out = append(out, cur)
	}
	return out, nil
}

// op is one caller's change to the tree, queued for the group commit.
type op struct {
	ctx context.Context
	// build adds the op's changes to tx. It runs in the committer with
	// jmu held, against the current tree, and again after a stale
	// commit, so it must read everything it depends on afresh.
	build func(tx *txn) error
	done  chan error
}

// txn collects the changes of one op, or of a group of ops.
type txn struct {
	ctx     context.Context
	puts    []*node
	dels    []journal.ID
	touched map[journal.ID]bool // entries put or deleted
	deleted map[journal.ID]bool
	claims  map[claim]bool      // names taken in folders
	uses    map[journal.ID]bool // folders entries are put into
	fresh   map[journal.ID]bool // folders this op creates (no children yet)
	size    int
	// keyops are write-key grants and revokes (spec §9 ops 3 and 4).
	keyops []journal.Change
}

// grant adds a grant of write key keyID for folder root.
func (tx *txn) grant(keyID, root journal.ID) {
	tx.keyops = append(tx.keyops, journal.Change{Op: journal.Grant, Entry: keyID, Parent: root})
	tx.touched[keyID] = true
	tx.uses[root] = true
	tx.size += 40
}

// revoke adds the revocation of write key keyID.
func (tx *txn) revoke(keyID journal.ID) {
	tx.keyops = append(tx.keyops, journal.Change{Op: journal.Revoke, Entry: keyID})
	tx.touched[keyID] = true
	tx.size += 40
}

type claim struct {
	parent journal.ID
	key    string
}

func newTxn(ctx context.Context) *txn {
	return &txn{ctx: ctx, touched: map[journal.ID]bool{}, deleted: map[journal.ID]bool{},
		claims: map[claim]bool{}, uses: map[journal.ID]bool{}, fresh: map[journal.ID]bool{}}
}

func (tx *txn) put(n *node) {
	tx.puts = append(tx.puts, n)
	tx.touched[journal.ID(n.id)] = true
	tx.uses[journal.ID(n.parent)] = true
	tx.claims[claim{journal.ID(n.parent), n.lkey}] = true
	tx.size += len(n.raw.Meta) + len(n.raw.WrappedKey) + len(n.raw.NameTag) + 40*(len(n.raw.Objects)+3)
}

func (tx *txn) del(id journal.ID) {
	tx.dels = append(tx.dels, id)
	tx.touched[id] = true
	tx.deleted[id] = true
	tx.size += 40
}

func (tx *txn) changes() int { return len(tx.puts) + len(tx.dels) + len(tx.keyops) }

// conflicts reports whether o cannot join tx's commit: it changes an
// entry tx changes, takes a name tx takes, or puts into a folder tx
// deletes (or the reverse). Such an op waits for the next commit, and then
// sees the outcome of this one.
func (tx *txn) conflicts(o *txn) bool {
	for id := range o.touched {
		if tx.touched[id] || tx.uses[id] && o.deleted[id] {
			return true
		}
	}
	for id := range o.uses {
		if tx.deleted[id] {
			return true
		}
	}
	for cl := range o.claims {
		if tx.claims[cl] {
			return true
		}
	}
	return false
}

func (tx *txn) merge(o *txn) {
	tx.puts = append(tx.puts, o.puts...)
	tx.dels = append(tx.dels, o.dels...)
	tx.keyops = append(tx.keyops, o.keyops...)
	for _, m := range [][2]map[journal.ID]bool{{tx.touched, o.touched}, {tx.deleted, o.deleted}, {tx.uses, o.uses}} {
		for k := range m[1] {
			m[0][k] = true
		}
	}
	for k := range o.claims {
		tx.claims[k] = true
	}
	tx.size += o.size
}

// submit queues a change and waits until it is committed (nil) or refused.
// A change still queued when ctx ends is dropped; one already being
// committed is waited for, since its outcome is not known yet.
func (c *Client) submit(ctx context.Context, build func(tx *txn) error) error {
	t := &c.t
	o := &op{ctx: ctx, build: build, done: make(chan error, 1)}
	t.cmu.Lock()
	t.queue = append(t.queue, o)
	if !t.running {
		t.running = true
		t.cwg.Add(1)
		go c.commitLoop()
	}
	t.cmu.Unlock()
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		t.cmu.Lock()
		if i := slices.Index(t.queue, o); i >= 0 {
			t.queue = slices.Delete(t.queue, i, i+1)
			t.cmu.Unlock()
			return ctx.Err()
		}
		t.cmu.Unlock()
		return <-o.done
	}
}

// commitLoop commits queued ops in groups until the queue is empty.
func (c *Client) commitLoop() {
	t := &c.t
	defer t.cwg.Done()
	var carry []*op
	for {
		t.cmu.Lock()
		ops := append(carry, t.queue...)
		t.queue = nil
		if len(ops) == 0 {
			t.running = false
			t.cmu.Unlock()
			return
		}
		t.cmu.Unlock()
		t.jmu.Lock()
		carry = c.roundLocked(ops, 0)
		t.jmu.Unlock()
	}
}

var errStale = errors.New("stale journal")

// roundLocked builds one group commit from ops (at most max of them if
// max > 0) and commits it, finishing every op it includes or refuses. It
// returns the ops left for the next round. jmu is held.
func (c *Client) roundLocked(ops []*op, max int) (later []*op) {
	for attempt := 0; ; attempt++ {
		b := newTxn(context.Background())
		var in []*op
		later = nil
		for _, o := range ops {
			if err := o.ctx.Err(); err != nil {
				o.done <- err
				continue
			}
			if len(in) > 0 && ((max > 0 && len(in) >= max) || b.changes() >= groupChanges || b.size >= groupBytes) {
				later = append(later, o)
				continue
			}
			sub := newTxn(o.ctx)
			err := o.build(sub)
			switch {
			case err != nil:
				o.done <- err
			case sub.changes() == 0:
				o.done <- nil
			case sub.changes() > journal.MaxChanges:
				o.done <- fmt.Errorf("one change of %d entries is more than a record holds (%d)", sub.changes(), journal.MaxChanges)
			case len(in) > 0 && (b.conflicts(sub) || b.changes()+sub.changes() > journal.MaxChanges):
				later = append(later, o)
			default:
				b.merge(sub)
				in = append(in, o)
			}
		}
		if len(in) == 0 {
			return later
		}
		err := c.commitLocked(b)
		switch {
		case err == nil:
			for _, o := range in {
				o.done <- nil
			}
			return later
		case errors.Is(err, errStale) && attempt < commitAttempts:
			ops = append(in, later...)
			time.Sleep(rand.N(min(time.Duration(attempt+1)*staleBackoff, maxStaleBackoff)))
			continue
		case errors.Is(err, errStale):
			err = withHint(errors.New("another device kept changing the tree; nothing was changed"), "retry")
		case len(in) > 1 && !isTransient(err):
			// One change was refused: find it by committing each alone.
			for _, o := range in {
				if rest := c.roundLocked([]*op{o}, 1); len(rest) > 0 {
					later = append(later, rest...)
				}
			}
			return later
		}
		for _, o := range in {
			o.done <- err
		}
		return later
	}
}

// isTransient reports an error that says nothing about the changes (the
// coordinator could not be reached, or failed).
func isTransient(err error) bool {
	var ae *APIError
	return !errors.As(err, &ae) || ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
}

// commitLocked seals tx's changes as the next record and commits them
// (jmu held). A stale answer syncs and returns errStale; an answer lost in
// transit is resolved by syncing: if the record arrived, it counts.
func (c *Client) commitLocked(tx *txn) error {
	if c.view != nil {
		return c.commitView(tx)
	}
	t := &c.t
	t.mu.Lock()
	rec := journal.Record{Seq: t.js.Seq + 1, Prev: t.js.Head, Time: time.Now()}
	t.mu.Unlock()
	req := api.JournalCommit{Puts: make([]api.Entry, 0, len(tx.puts)), Deletes: make([]string, 0, len(tx.dels))}
	own := make(map[journal.ID]*node, len(tx.puts))
	// Revokes first, grants last (spec §11.4); Apply checks them in order.
	for _, k := range tx.keyops {
		if k.Op == journal.Revoke {
			rec.Changes = append(rec.Changes, k)
		}
	}
	for _, n := range tx.puts {
		rec.Changes = append(rec.Changes, journal.Change{Op: journal.Put, Entry: journal.ID(n.id), Parent: journal.ID(n.parent), Hash: n.hash})
		req.Puts = append(req.Puts, n.raw)
		own[journal.ID(n.id)] = n
	}
	for _, id := range tx.dels {
		rec.Changes = append(rec.Changes, journal.Change{Op: journal.Delete, Entry: id})
		req.Deletes = append(req.Deletes, id.String())
	}
	for _, k := range tx.keyops {
		if k.Op == journal.Grant {
			rec.Changes = append(rec.Changes, k)
		}
	}
	req.Record = rec.Seal(c.jkey)
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	err := c.coord.call(ctx, http.MethodPost, "/journal", req, nil)
	if err == nil {
		t.mu.Lock()
		err = c.applyLocked(req.Record, own)
		t.mu.Unlock()
		if err != nil {
			return fmt.Errorf("internal error: this client's own record does not apply: %w", err)
		}
		t.freshAt = time.Now()
		c.saveState(false)
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict && ae.Code == api.CodeStale {
		if err := c.syncLocked(ctx); err != nil {
			return err
		}
		return errStale
	}
	if !isTransient(err) {
		return commitError(err)
	}
	// The answer was lost or the coordinator failed: the record may have
	// been stored. If a sync finds it, the commit happened.
	head := journal.Hash(req.Record)
	t.mu.Lock()
	t.watch, t.watchSeen = &head, false
	t.mu.Unlock()
	serr := c.syncLocked(ctx)
	t.mu.Lock()
	seen := t.watchSeen
	t.watch, t.watchSeen = nil, false
	t.mu.Unlock()
	if seen {
		return nil
	}
	if serr != nil {
		return fmt.Errorf("commit the change: %w (and the journal could not be read to learn whether it was stored: %v)", err, serr)
	}
	return fmt.Errorf("commit the change: %w", err)
}

// commitError explains a refused commit.
func commitError(err error) error {
	var ae *APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Code == api.CodeExists:
			return withHint(fmt.Errorf("an entry with this name already exists: %w", err), "choose another name or pass --overwrite")
		case ae.Code == api.CodeQuotaExceeded:
			return err
		}
	}
	return fmt.Errorf("commit the change: %w", err)
}

// keyForJournal derives the journal key from the master key.
func keyForJournal(master keys.Key) [32]byte { return keys.Derive(master, nil, journalLabel) }
