package client

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"path"

	"github.com/nuage-storage/nuage/internal/api"
)

// Walk calls fn for the file or folder at p, then, for a folder, for
// everything below it, depth first in name order, each folder before its
// contents. If fn returns fs.SkipDir for a folder, its contents are
// skipped; for a file, the rest of its folder is. fs.SkipAll stops the
// walk without error; any other error stops it and is returned.
func (c *Client) Walk(ctx context.Context, p string, fn func(Entry) error) error {
	if v, inner, ok, err := c.route(ctx, p); ok {
		if errors.Is(err, errVirtual) {
			return c.virtualWalk(ctx, p, fn)
		}
		if err != nil {
			return err
		}
		return v.Walk(ctx, inner, func(e Entry) error { return fn(rebase(e, p)) })
	}
	parts, err := splitPath(p)
	if err != nil {
		return err
	}
	if err := c.sync(ctx); err != nil {
		return err
	}
	n, err := c.resolve(ctx, parts, false)
	if err != nil {
		return err
	}
	err = c.walk(ctx, n, joinPath(parts), fn)
	if errors.Is(err, fs.SkipDir) || errors.Is(err, fs.SkipAll) {
		return nil
	}
	return err
}

func (c *Client) walk(ctx context.Context, n *node, p string, fn func(Entry) error) error {
	if err := fn(n.entry(p)); err != nil {
		if n.isDir() && errors.Is(err, fs.SkipDir) {
			return nil
		}
		return err
	}
	if !n.isDir() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	kids, err := c.kids(ctx, n, false)
	if err != nil {
		return err
	}
	for _, k := range kids {
		err := c.walk(ctx, k, path.Join(p, k.meta.Name), fn)
		if errors.Is(err, fs.SkipDir) && !k.isDir() {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// DiskUsage counts what is at p: the files and folders below it (p itself
// counts if it is a file) and the plaintext bytes of their current
// versions.
type DiskUsage struct {
	Files, Folders, Bytes int64
}

// DiskUsage adds up the file or folder at p and everything below it.
func (c *Client) DiskUsage(ctx context.Context, p string) (DiskUsage, error) {
	var du DiskUsage
	first := true
	err := c.Walk(ctx, p, func(e Entry) error {
		switch {
		case first && e.IsDir:
		case e.IsDir:
			du.Folders++
		default:
			du.Files++
			du.Bytes += e.Size
		}
		first = false
		return nil
	})
	return du, err
}

// Quota is what the account stores on the coordinator.
type Quota struct {
	// Used is the ciphertext bytes stored, counting every version and
	// the trash; Quota the most the account may store (0: no limit).
	Used, Quota int64
	Files       int64
	Folders     int64
}

// Quota asks the coordinator what the account stores and may store.
func (c *Client) Quota(ctx context.Context) (Quota, error) {
	var u api.Usage
	if err := c.coord.call(ctx, http.MethodGet, "/usage", nil, &u); err != nil {
		return Quota{}, err
	}
	return Quota{Used: u.Used, Quota: u.Quota, Files: u.Files, Folders: u.Folders}, nil
}
