package client

import (
	"context"
	"fmt"
	"time"
)

// Version describes one version of a file.
type Version struct {
	// N is 0 for the current content, 1 for the one it replaced, and so on.
	N       int
	Size    int64
	ModTime time.Time
	// Replaced is when a newer version replaced this one (zero for N=0).
	Replaced time.Time
}

// Versions lists the versions of the file at p, the current one first.
// A file keeps at most MaxVersions older versions; read one with
// ReadVersion.
func (c *Client) Versions(ctx context.Context, p string) ([]Version, error) {
	if v, inner, ok, err := c.route(ctx, p); ok {
		if err != nil {
			return nil, err
		}
		return v.Versions(ctx, inner)
	}
	parts, err := splitPath(p)
	if err != nil {
		return nil, err
	}
	if err := c.sync(ctx); err != nil {
		return nil, err
	}
	n, err := c.resolve(ctx, parts, false)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, fmt.Errorf("%s: %w: folders have no versions", joinPath(parts), ErrIsFolder)
	}
	out := make([]Version, 0, len(n.meta.Versions)+1)
	out = append(out, Version{N: 0, Size: n.meta.Size, ModTime: n.meta.ModTime})
	for i, v := range n.meta.Versions {
		out = append(out, Version{N: i + 1, Size: v.Size, ModTime: v.ModTime, Replaced: v.Replaced})
	}
	return out, nil
}
