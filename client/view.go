package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/journal"
)

// A view is a Client for one subtree of another account's tree: a link's
// target, or a folder shared with this account. It reads with a session
// scoped to that subtree and the keys the link or share carries, and has no
// journal: each entry is authenticated by its own AEAD and the associated
// data that binds it to its owner, its ID and its parent (see
// docs/threat-model.md for what that does not cover). A read-write share's
// view commits writer records (spec §9) under the share's write key.
type view struct {
	root  *node
	write bool
	keyID journal.ID
	wkey  [32]byte
	// what names the view in errors ("the link", "the folder alice@… shared").
	what string
	// ownPool is set when the view's node connections are its own (a
	// link's), not its account client's.
	ownPool bool
}

// newView makes a client for a subtree of owner's tree, reached with the
// scoped session token, that shares parent's options and connections.
func newView(o Options, nodes *nodePool, server, token string, owner [16]byte) (*Client, error) {
	co, err := newCoord(server, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	co.token = token
	o.StateDir = "" // a view keeps no journal state
	c := &Client{opts: o, coord: co, account: owner, nodes: nodes, view: &view{}}
	c.t.js = journal.NewState()
	c.t.nodes = make(map[journal.ID]*node)
	c.t.dirs = make(map[journal.ID]map[string]*node)
	return c, nil
}

// openViewRoot fetches the view's top entry id and opens it with key.
func (c *Client) openViewRoot(ctx context.Context, id [16]byte, key keys.Key) (*node, error) {
	var e api.Entry
	if err := c.coord.call(ctx, http.MethodGet, "/entries/"+hex.EncodeToString(id[:]), nil, &e); err != nil {
		return nil, fmt.Errorf("read %s: %w", c.view.what, err)
	}
	if e.ID != hex.EncodeToString(id[:]) {
		return nil, tampered("the coordinator answered another entry than %s", c.view.what)
	}
	pid, err := parseID16(e.Parent)
	if err != nil {
		return nil, tampered("%s has no valid parent: %v", c.view.what, err)
	}
	h, err := journal.EntryHash(e)
	if err != nil {
		return nil, tampered("%s: %v", c.view.what, err)
	}
	if e.Kind != keys.KindFolder && e.Kind != keys.KindFile {
		return nil, tampered("%s has unknown kind %q", c.view.what, e.Kind)
	}
	n := &node{id: id, parent: pid, kind: e.Kind, key: key, raw: e, hash: h}
	plain, err := keys.OpenMeta(key, e.Meta, c.account[:], id[:], pid[:], e.Kind)
	if err != nil {
		return nil, tampered("metadata of %s: %v", c.view.what, err)
	}
	if err := json.Unmarshal(plain, &n.meta); err != nil {
		return nil, tampered("metadata of %s is not valid: %v", c.view.what, err)
	}
	if n.meta.Trashed != nil {
		return nil, withHint(fmt.Errorf("%s: %w", c.view.what, ErrNotFound), "its owner moved it to the trash")
	}
	if err := checkName(n.meta.Name); err != nil {
		return nil, tampered("%s: %v", c.view.what, err)
	}
	if err := c.checkMeta(n, nil); err != nil {
		return nil, tampered("%s: %v", c.view.what, err)
	}
	objs := objectsOf(&n.meta)
	if len(objs) != len(e.Objects) {
		return nil, tampered("%s lists %d stored objects, its metadata %d", c.view.what, len(e.Objects), len(objs))
	}
	for i := range objs {
		if objs[i] != e.Objects[i] {
			return nil, tampered("%s points at another stored object than its metadata", c.view.what)
		}
	}
	c.view.root = n
	c.t.root = n
	c.t.nodes[journal.ID(id)] = n
	return n, nil
}

// viewListing builds the listing of folder dir in a view: every child the
// coordinator lists must open under dir's key.
func (c *Client) viewListing(ctx context.Context, dir *node) error {
	var ch api.Children
	if err := c.coord.call(ctx, http.MethodGet, "/entries/"+hex.EncodeToString(dir.id[:])+"/children", nil, &ch); err != nil {
		return fmt.Errorf("list folder %x: %w", dir.id, err)
	}
	d := make(map[string]*node, len(ch.Entries))
	opened := make([]*node, 0, len(ch.Entries))
	for _, e := range ch.Entries {
		n, err := c.openEntry(e, dir)
		if err != nil {
			return err
		}
		if d[n.lkey] != nil {
			return tampered("two entries named %q in one folder", n.meta.Name)
		}
		d[n.lkey] = n
		opened = append(opened, n)
	}
	c.t.mu.Lock()
	for _, n := range opened {
		c.t.nodes[journal.ID(n.id)] = n
	}
	c.t.dirs[journal.ID(dir.id)] = d
	c.t.mu.Unlock()
	return nil
}

// viewAncestor is isAncestor in a view, by the entries it has opened
// (every folder on a resolved path is).
func (c *Client) viewAncestor(a, b [16]byte) bool {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	cur := b
	for range len(c.t.nodes) + 1 {
		if cur == a {
			return true
		}
		n := c.t.nodes[journal.ID(cur)]
		if n == nil || cur == c.view.root.id {
			return false
		}
		cur = n.parent
	}
	return true
}

// errNoTrash is a removal in a view, where there is no trash.
var errNoTrash = errors.New("no trash in a shared folder")

// viewWritable fails unless the view may be changed.
func (c *Client) viewWritable() error {
	if c.view.write {
		return nil
	}
	return withHint(fmt.Errorf("%w: %s is read-only", ErrReadOnly, c.view.what),
		"ask its owner for write access (`nuage share PATH EMAIL --write`)")
}

// viewDeleteTree adds to tx the deletion of n and everything below it,
// children first, as a view must (it has no trash).
func (c *Client) viewDeleteTree(tx *txn, n *node) error {
	if n.isDir() {
		kids, err := c.kids(tx.ctx, n, true)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := c.viewDeleteTree(tx, k); err != nil {
				return err
			}
		}
	}
	if tx.changes() >= journal.MaxChanges {
		return fmt.Errorf("removing more than %d entries at once in a shared folder is not supported; remove sub-folders first", journal.MaxChanges)
	}
	tx.del(journal.ID(n.id))
	return nil
}

// commitView commits tx as a writer record (spec §9) following the
// coordinator's head. A stale answer clears the cached listings and
// returns errStale, so that the ops are built again on fresh listings.
func (c *Client) commitView(tx *txn) error {
	if err := c.viewWritable(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	var head api.JournalHead
	if err := c.coord.call(ctx, http.MethodGet, "/journal/head", nil, &head); err != nil {
		return fmt.Errorf("read the shared folder's journal head: %w", err)
	}
	rec := journal.Record{Seq: head.Seq + 1, Time: time.Now(), KeyID: c.view.keyID}
	if len(head.Head) != len(rec.Prev) && head.Seq != 0 {
		return tampered("the journal head is %d bytes", len(head.Head))
	}
	copy(rec.Prev[:], head.Head)
	req := api.JournalCommit{Puts: make([]api.Entry, 0, len(tx.puts)), Deletes: make([]string, 0, len(tx.dels))}
	for _, n := range tx.puts {
		rec.Changes = append(rec.Changes, journal.Change{Op: journal.Put, Entry: journal.ID(n.id), Parent: journal.ID(n.parent), Hash: n.hash})
		req.Puts = append(req.Puts, n.raw)
	}
	for _, id := range tx.dels {
		rec.Changes = append(rec.Changes, journal.Change{Op: journal.Delete, Entry: id})
		req.Deletes = append(req.Deletes, id.String())
	}
	req.Record = rec.Seal(c.view.wkey)
	err := c.coord.call(ctx, http.MethodPost, "/journal", req, nil)
	c.t.mu.Lock()
	c.t.dirs = make(map[journal.ID]map[string]*node)
	c.t.mu.Unlock()
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict && ae.Code == api.CodeStale {
		return errStale
	}
	if !isTransient(err) {
		return commitError(err)
	}
	// The answer was lost: the record is stored if the head is now it.
	if c.coord.call(ctx, http.MethodGet, "/journal/head", nil, &head) == nil && bytes.Equal(head.Head, hashOf(req.Record)) {
		return nil
	}
	return fmt.Errorf("commit the change: %w", err)
}

func hashOf(record []byte) []byte {
	h := journal.Hash(record)
	return h[:]
}
