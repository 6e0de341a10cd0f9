package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/nuage-storage/nuage/internal/journal"
)

// TrashItem is an entry in the trash.
type TrashItem struct {
	ID string
	// Path is where the entry was when it was removed (the folder it was
	// in may since have moved: Restore puts it back into that folder).
	Path    string
	Name    string
	IsDir   bool
	Size    int64
	Trashed time.Time
}

// maxTrashDepth bounds how many trashed folders a path is rebuilt through.
const maxTrashDepth = 64

// emptyChunk is how many entries one commit of EmptyTrash deletes.
const emptyChunk = journal.MaxChanges

// toTrash returns n moved into the trash folder, remembering where it was.
func (c *Client) toTrash(n *node) (*node, error) {
	_, trash := c.top()
	m := n.meta
	m.Trashed = &trashed{Parent: hex.EncodeToString(n.parent[:]), Name: n.meta.Name, Time: now()}
	return c.reseal(n, trash, &m)
}

func (c *Client) numChildren(id [16]byte) int {
	if c.view != nil {
		c.t.mu.Lock()
		defer c.t.mu.Unlock()
		return len(c.t.dirs[journal.ID(id)])
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	return c.t.js.NumChildren(journal.ID(id))
}

// Remove moves the file or folder at p to the trash, from where Restore
// brings it back and EmptyTrash deletes it for good. A folder that is not
// empty needs recursive (ErrNotEmpty).
func (c *Client) Remove(ctx context.Context, p string, recursive bool) error {
	if v, inner, ok, err := c.route(ctx, p); ok {
		if err != nil {
			return err
		}
		return v.Remove(ctx, inner, recursive)
	}
	parts, err := splitPath(p)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return withHint(fmt.Errorf("%w: refusing to remove the root folder", ErrBadPath), "remove its contents instead")
	}
	clean := joinPath(parts)
	if err := c.syncForWrite(ctx); err != nil {
		return err
	}
	err = c.submit(ctx, func(tx *txn) error {
		n, err := c.resolve(tx.ctx, parts, true)
		if err != nil {
			return err
		}
		if c.view != nil && n.isDir() {
			if _, err := c.kids(tx.ctx, n, true); err != nil {
				return err
			}
		}
		if n.isDir() && !recursive && c.numChildren(n.id) > 0 {
			return withHint(fmt.Errorf("%s: %w", clean, ErrNotEmpty), "use -r to remove it with everything inside")
		}
		if c.view != nil {
			return c.viewDeleteTree(tx, n)
		}
		t, err := c.toTrash(n)
		if err != nil {
			return err
		}
		tx.put(t)
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove %s: %w", clean, err)
	}
	return nil
}

// Trash lists the entries in the trash, most recently removed first.
func (c *Client) Trash(ctx context.Context) ([]TrashItem, error) {
	if c.view != nil {
		return nil, withHint(errNoTrash, "removals in a shared folder are permanent")
	}
	if err := c.sync(ctx); err != nil {
		return nil, err
	}
	_, trash := c.top()
	kids, err := c.kids(ctx, trash, false)
	if err != nil {
		return nil, err
	}
	out := make([]TrashItem, 0, len(kids))
	for _, k := range kids {
		p, err := c.originalPath(ctx, k, false)
		if err != nil {
			return nil, err
		}
		out = append(out, TrashItem{ID: hex.EncodeToString(k.id[:]), Path: p, Name: k.meta.Trashed.Name,
			IsDir: k.isDir(), Size: k.meta.Size, Trashed: k.meta.Trashed.Time})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Trashed.Equal(out[j].Trashed) {
			return out[i].Trashed.After(out[j].Trashed)
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// originalPath is where trash item it was removed from. If the folder it
// was in no longer exists, it is placed at the root.
func (c *Client) originalPath(ctx context.Context, it *node, locked bool) (string, error) {
	pid, _ := parseID16(it.meta.Trashed.Parent) // checked when opened
	dir, _, known, err := c.folderPath(ctx, pid, locked, 0)
	if err != nil {
		return "", err
	}
	if !known {
		dir = "/"
	}
	return path.Join(dir, it.meta.Trashed.Name), nil
}

// folderPath returns the path of entry id: live if it is in the tree,
// or the path it had if it (or a folder above it) is in the trash; known
// is false if it no longer exists.
func (c *Client) folderPath(ctx context.Context, id [16]byte, locked bool, depth int) (p string, live, known bool, err error) {
	if depth > maxTrashDepth {
		return "", false, false, nil
	}
	nodes, err := c.nodeByID(ctx, id, locked)
	if errors.Is(err, ErrNotFound) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, err
	}
	names := make([]string, 0, len(nodes))
	if nodes[0].id == c.rootID {
		for _, n := range nodes[1:] {
			names = append(names, n.meta.Name)
		}
		return joinPath(names), true, true, nil
	}
	// In the trash: nodes[1] is the trashed folder above id.
	it := nodes[1]
	pid, _ := parseID16(it.meta.Trashed.Parent)
	base, _, known, err := c.folderPath(ctx, pid, locked, depth+1)
	if err != nil || !known {
		return "", false, known, err
	}
	names = append(names, it.meta.Trashed.Name)
	for _, n := range nodes[2:] {
		names = append(names, n.meta.Name)
	}
	return path.Join(append([]string{base}, names...)...), false, true, nil
}

// Restore moves an entry out of the trash, back into the folder it was in
// (recreating the folders of its old path if that folder is gone or in the
// trash). pathOrID is the entry's ID or the path it had (the most recently
// removed if several had it). A name taken in the destination fails with
// ErrExists unless overwrite, which moves the existing file to the trash.
func (c *Client) Restore(ctx context.Context, pathOrID string, overwrite bool) (Entry, error) {
	if c.view != nil {
		return Entry{}, withHint(errNoTrash, "removals in a shared folder are permanent")
	}
	if err := c.sync(ctx); err != nil {
		return Entry{}, err
	}
	var out Entry
	err := c.submit(ctx, func(tx *txn) error {
		_, trash := c.top()
		items, err := c.kids(tx.ctx, trash, true)
		if err != nil {
			return err
		}
		var item *node
		if id, err := parseID16(pathOrID); err == nil {
			for _, k := range items {
				if k.id == id {
					item = k
				}
			}
		} else {
			clean, err := CleanPath(pathOrID)
			if err != nil {
				return err
			}
			for _, k := range items {
				p, err := c.originalPath(tx.ctx, k, true)
				if err != nil {
					return err
				}
				if p == clean && (item == nil || k.meta.Trashed.Time.After(item.meta.Trashed.Time)) {
					item = k
				}
			}
		}
		if item == nil {
			return withHint(fmt.Errorf("%s: %w in the trash", pathOrID, ErrNotFound), "list the trash with `nuage trash ls`")
		}
		name := item.meta.Trashed.Name
		pid, _ := parseID16(item.meta.Trashed.Parent)
		dir, live, known, err := c.folderPath(tx.ctx, pid, true, 0)
		if err != nil {
			return err
		}
		var tp *node
		if live {
			nodes, err := c.nodeByID(tx.ctx, pid, true)
			if err != nil {
				return err
			}
			tp = nodes[len(nodes)-1]
		} else {
			if !known {
				dir = "/"
			}
			parts, err := splitPath(dir)
			if err != nil {
				return err
			}
			if tp, err = c.mkdirs(tx, parts, true, false); err != nil {
				return err
			}
		}
		clean := path.Join(dir, name)
		if err := c.replaceTarget(tx, tp, name, item, clean, overwrite); err != nil {
			return err
		}
		m := item.meta
		m.Name, m.Trashed = name, nil
		n, err := c.reseal(item, tp, &m)
		if err != nil {
			return err
		}
		tx.put(n)
		out = n.entry(clean)
		return nil
	})
	if err != nil {
		return Entry{}, fmt.Errorf("restore %s: %w", pathOrID, err)
	}
	return out, nil
}

// trashContents lists up to limit entries under the trash folder,
// every entry after all the entries below it.
func (c *Client) trashContents(limit int) []journal.ID {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	js := c.t.js
	type frame struct {
		id       journal.ID
		expanded bool
	}
	var out []journal.ID
	stack := []frame{}
	for _, id := range js.Children(journal.ID(c.trashID)) {
		stack = append(stack, frame{id: id})
	}
	for len(stack) > 0 && len(out) < limit {
		f := &stack[len(stack)-1]
		if f.expanded {
			out = append(out, f.id)
			stack = stack[:len(stack)-1]
			continue
		}
		f.expanded = true
		for _, k := range js.Children(f.id) {
			stack = append(stack, frame{id: k})
		}
	}
	return out
}

// EmptyTrash deletes everything in the trash for good and frees the
// storage it used. It returns how many files and folders it deleted.
func (c *Client) EmptyTrash(ctx context.Context) (int, error) {
	if c.view != nil {
		return 0, withHint(errNoTrash, "removals in a shared folder are permanent")
	}
	if err := c.sync(ctx); err != nil {
		return 0, err
	}
	total := 0
	for {
		var n int
		err := c.submit(ctx, func(tx *txn) error {
			ids := c.trashContents(emptyChunk)
			for _, id := range ids {
				tx.del(id)
			}
			n = len(ids)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("empty the trash: %w", err)
		}
		if n == 0 {
			return total, nil
		}
		total += n
	}
}
