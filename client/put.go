package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// PutOptions describe a file being stored.
type PutOptions struct {
	ModTime time.Time
	Mode    fs.FileMode
	// Progress, if set, is called with the number of plaintext bytes
	// stored since the last call. It is called from several goroutines.
	Progress func(n int64)
	// Overwrite replaces an existing file; its content is kept as the
	// newest older version (see Versions; at most MaxVersions are kept).
	Overwrite bool
	// Resume, if set, makes the upload resumable (see ResumeState).
	Resume *ResumeState
}

// Put stores size bytes read from r as the file at remote path p. The
// parent folder must exist and the name must be free (ErrExists) unless
// po.Overwrite is set and it names a file. Many Puts may run at once:
// their changes to the tree are committed together.
func (c *Client) Put(ctx context.Context, p string, r io.Reader, size int64, po *PutOptions) (Entry, error) {
	if v, inner, ok, err := c.route(ctx, p); ok {
		if err != nil {
			return Entry{}, err
		}
		e, err := v.Put(ctx, inner, r, size, po)
		return rebase(e, p), err
	}
	if po == nil {
		po = &PutOptions{}
	}
	if size < 0 {
		return Entry{}, fmt.Errorf("put %s: negative size %d", p, size)
	}
	parts, err := splitPath(p)
	if err != nil {
		return Entry{}, err
	}
	if len(parts) == 0 {
		return Entry{}, fmt.Errorf("put /: %w", ErrIsFolder)
	}
	clean := joinPath(parts)
	dir, name := parts[:len(parts)-1], parts[len(parts)-1]
	// Fail before uploading anything if the name cannot be used.
	if err := c.syncForWrite(ctx); err != nil {
		return Entry{}, err
	}
	parent, err := c.resolveFolder(ctx, dir, false)
	if err != nil {
		return Entry{}, err
	}
	if ex, err := c.child(ctx, parent, name, false); err != nil {
		return Entry{}, err
	} else if err := putTarget(ex, clean, po.Overwrite); err != nil {
		return Entry{}, err
	}

	info, err := c.serverInfo(ctx)
	if err != nil {
		return Entry{}, err
	}
	mtime := po.ModTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	m := meta{Name: name, Size: size, ModTime: mtime.UTC(), Mode: uint32(po.Mode.Perm())}
	if m.Mode == 0 {
		m.Mode = 0o644
	}
	if size <= info.InlineMax {
		data := make([]byte, size)
		if _, err := io.ReadFull(r, data); err != nil {
			return Entry{}, fmt.Errorf("put %s: read: %w", clean, shortRead(err))
		}
		if err := expectEOF(r); err != nil {
			return Entry{}, fmt.Errorf("put %s: %w", clean, err)
		}
		m.Inline = data
		if po.Progress != nil {
			po.Progress(size)
		}
	} else {
		ct, err := c.upload(ctx, r, size, po.Progress, po.Resume)
		if err != nil {
			return Entry{}, fmt.Errorf("put %s: %w", clean, err)
		}
		m.Content = ct
	}

	var out Entry
	err = c.submit(ctx, func(tx *txn) error {
		parent, err := c.resolveFolder(tx.ctx, dir, true)
		if err != nil {
			return err
		}
		ex, err := c.child(tx.ctx, parent, name, true)
		if err != nil {
			return err
		}
		if err := putTarget(ex, clean, po.Overwrite); err != nil {
			return err
		}
		var n *node
		if ex == nil {
			n, err = c.newEntry(parent, keys.KindFile, &m)
		} else {
			n, err = c.overwrite(ex, parent, m)
		}
		if err != nil {
			return err
		}
		tx.put(n)
		out = n.entry(clean)
		return nil
	})
	if err != nil {
		// The stored object is referenced by nothing: drop it, unless
		// the failure may be temporary and a resumable put can reuse it.
		if m.Content != nil && (po.Resume == nil || definitive(err)) {
			c.abandon(m.Content.Object)
		}
		return Entry{}, fmt.Errorf("put %s: %w", clean, err)
	}
	return out, nil
}

// putTarget checks what a put to clean would replace.
func putTarget(ex *node, clean string, overwrite bool) error {
	switch {
	case ex == nil:
		return nil
	case ex.isDir():
		return withHint(fmt.Errorf("%s: %w", clean, ErrIsFolder), "put the file inside the folder: give the folder as the destination")
	case !overwrite:
		return withHint(fmt.Errorf("%s: %w", clean, ErrExists), "pass --overwrite to replace it (the old content is kept as a version)")
	}
	return nil
}

// definitive reports an error after which retrying the same put cannot succeed.
func definitive(err error) bool {
	for _, e := range []error{ErrExists, ErrIsFolder, ErrNotFolder, ErrNotFound, ErrBadPath, ErrTampered} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// overwrite returns file ex (in parent) with new content m: ex's current
// content becomes its newest older version. At most MaxVersions are kept,
// and fewer if the metadata would grow past what the coordinator stores;
// the coordinator deletes the objects of dropped versions.
func (c *Client) overwrite(ex, parent *node, m meta) (*node, error) {
	old := ex.meta
	vs := make([]version, 0, len(old.Versions)+1)
	vs = append(vs, version{Size: old.Size, ModTime: old.ModTime, Content: old.Content, Inline: old.Inline, Replaced: now()})
	vs = append(vs, old.Versions...)
	if len(vs) > MaxVersions {
		vs = vs[:MaxVersions]
	}
	for {
		m.Versions = vs
		n, err := c.reseal(ex, parent, &m)
		if !errors.Is(err, errMetaTooBig) || len(vs) == 0 {
			return n, err
		}
		vs = vs[:len(vs)-1]
	}
}
