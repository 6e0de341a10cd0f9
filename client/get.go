package client

import (
	"context"
	"fmt"
	"io"
)

// Get writes the whole file at remote path p to w. Nothing unauthenticated
// is ever written: each 64 KiB block is verified before it is released, and
// an error means the output must be discarded.
func (c *Client) Get(ctx context.Context, p string, w io.Writer, progress func(int64)) (Entry, error) {
	return c.ReadVersion(ctx, p, 0, 0, -1, w, progress)
}

// ReadRange writes n bytes of the file at p, starting at off, to w. n < 0
// reads to the end. Only the segments covering the range are fetched, and
// only the blocks covering it are decrypted; a small range (at most 4 MiB
// and a quarter of its segment) is read from byte ranges of the pieces
// that hold its blocks, each block authenticated before it is released.
func (c *Client) ReadRange(ctx context.Context, p string, off, n int64, w io.Writer, progress func(int64)) (Entry, error) {
	return c.ReadVersion(ctx, p, 0, off, n, w, progress)
}

// ReadVersion is ReadRange for an older version of the file: 0 is the
// current content, 1 the one it replaced, and so on (see Versions). The
// returned Entry describes the version read (its size and time).
func (c *Client) ReadVersion(ctx context.Context, p string, version int, off, n int64, w io.Writer, progress func(int64)) (Entry, error) {
	if v, inner, ok, err := c.route(ctx, p); ok {
		if err != nil {
			return Entry{}, err
		}
		e, err := v.ReadVersion(ctx, inner, version, off, n, w, progress)
		return rebase(e, p), err
	}
	parts, err := splitPath(p)
	if err != nil {
		return Entry{}, err
	}
	clean := joinPath(parts)
	if err := c.sync(ctx); err != nil {
		return Entry{}, err
	}
	nd, err := c.resolve(ctx, parts, false)
	if err != nil {
		return Entry{}, err
	}
	if nd.isDir() {
		return Entry{}, withHint(fmt.Errorf("%s: %w", clean, ErrIsFolder), "use -r to fetch a folder")
	}
	e := nd.entry(clean)
	d := nd.current()
	if version != 0 {
		if version < 0 || version > len(nd.meta.Versions) {
			return Entry{}, withHint(fmt.Errorf("%s: version %d: %w", clean, version, ErrNotFound),
				fmt.Sprintf("the file has %d older versions; list them with `nuage versions %s`", len(nd.meta.Versions), clean))
		}
		v := nd.meta.Versions[version-1]
		d = data{Size: v.Size, Inline: v.Inline, Content: v.Content}
		e.Size, e.ModTime, e.Inline, e.Object = v.Size, v.ModTime, v.Content == nil, ""
		if v.Content != nil {
			e.Object = v.Content.Object
		}
	}
	if off < 0 || off > d.Size {
		return Entry{}, fmt.Errorf("range start %d is outside the file (%d bytes)", off, d.Size)
	}
	if n < 0 || off+n > d.Size {
		n = d.Size - off
	}
	if err := c.read(ctx, d, off, n, w, progress); err != nil {
		return Entry{}, fmt.Errorf("get %s: %w", clean, err)
	}
	return e, nil
}
