package client

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// MaxNameLen is the longest file or folder name, in bytes.
const MaxNameLen = 255

// meta is the plaintext of an entry's encrypted metadata (docs/spec.md §2.2).
type meta struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size,omitempty"`
	ModTime time.Time `json:"mtime,omitzero"`
	Mode    uint32    `json:"mode,omitempty"`
	Content *content  `json:"content,omitempty"`
	Inline  []byte    `json:"inline,omitempty"`
}

// content says where and how a file's bytes are stored.
type content struct {
	Object  string `json:"object"`
	Key     []byte `json:"key"`
	Block   int    `json:"block"`
	Segment int64  `json:"segment"`
	K       int    `json:"k"`
	N       int    `json:"n"`
}

// node is a decrypted entry of the tree.
type node struct {
	id     [16]byte
	parent [16]byte
	kind   string
	key    keys.Key
	meta   meta
	raw    api.Entry
}

func (n *node) isDir() bool { return n.kind == "folder" }

// Entry describes a file or folder.
type Entry struct {
	Path    string
	Name    string
	IsDir   bool
	Size    int64
	ModTime time.Time
	Mode    fs.FileMode
	ID      string
	// Inline reports a tiny file stored inside its metadata.
	Inline bool
	// Object is the stored object's ID ("" for folders and inline files).
	Object string
}

func (n *node) entry(p string) Entry {
	e := Entry{Path: p, Name: n.meta.Name, IsDir: n.isDir(), Size: n.meta.Size,
		ModTime: n.meta.ModTime, Mode: fs.FileMode(n.meta.Mode), ID: hex.EncodeToString(n.id[:])}
	if n.meta.Content != nil {
		e.Object = n.meta.Content.Object
	}
	e.Inline = !e.IsDir && n.meta.Content == nil
	if e.IsDir {
		e.Mode |= fs.ModeDir
	}
	return e
}

func keyObject(id, parent [16]byte) []byte {
	return append(append(make([]byte, 0, 32), id[:]...), parent[:]...)
}

// sealEntry builds the stored form of an entry whose key is wrapped under
// parentKey. object is the stored object's hex ID for files with content.
func (c *Client) sealEntry(id, parent [16]byte, parentNode *node, kind string, m *meta, parentKey keys.Key, object string) (*node, error) {
	key, err := keys.NewKey()
	if err != nil {
		return nil, err
	}
	wrapped, err := keys.Wrap(parentKey, key, keys.PurposeEntryKey, c.account[:], keyObject(id, parent))
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	sealed, err := keys.SealMeta(key, plain, c.account[:], id[:], parent[:], kind)
	if err != nil {
		return nil, err
	}
	raw := api.Entry{ID: hex.EncodeToString(id[:]), Kind: kind, WrappedKey: wrapped, Meta: sealed, Object: object}
	if parentNode != nil {
		raw.Parent = hex.EncodeToString(parent[:])
		raw.NameTag = keys.NameTag(parentKey, m.Name)
	}
	return &node{id: id, parent: parent, kind: kind, key: key, meta: *m, raw: raw}, nil
}

func tampered(format string, args ...any) error {
	return withHint(fmt.Errorf("%w: "+format, append([]any{ErrTampered}, args...)...),
		"the coordinator returned data this account never wrote; do not trust it and report the coordinator")
}

// openEntry authenticates and decrypts an entry that claims to be a child
// of parent (nil for the root, whose key is wrapped under the master key).
func (c *Client) openEntry(e api.Entry, parent *node) (*node, error) {
	id, err := parseID16(e.ID)
	if err != nil {
		return nil, tampered("entry ID: %v", err)
	}
	n := &node{id: id, kind: e.Kind, raw: e}
	wrapKey := c.master
	if parent != nil {
		if e.Parent != hex.EncodeToString(parent.id[:]) {
			return nil, tampered("entry %s listed under the wrong folder", e.ID)
		}
		n.parent = parent.id
		wrapKey = parent.key
	} else if e.Parent != "" {
		return nil, tampered("root folder has a parent")
	}
	if e.Kind != "folder" && e.Kind != "file" {
		return nil, tampered("entry %s has unknown kind %q", e.ID, e.Kind)
	}
	n.key, err = keys.Unwrap(wrapKey, e.WrappedKey, keys.PurposeEntryKey, c.account[:], keyObject(n.id, n.parent))
	if err != nil {
		return nil, tampered("key of entry %s: %v", e.ID, err)
	}
	plain, err := keys.OpenMeta(n.key, e.Meta, c.account[:], n.id[:], n.parent[:], e.Kind)
	if err != nil {
		return nil, tampered("metadata of entry %s: %v", e.ID, err)
	}
	if err := json.Unmarshal(plain, &n.meta); err != nil {
		return nil, tampered("metadata of entry %s is not valid JSON: %v", e.ID, err)
	}
	if parent != nil {
		if subtle.ConstantTimeCompare(e.NameTag, keys.NameTag(parent.key, n.meta.Name)) != 1 {
			return nil, tampered("name tag of entry %s does not match its name", e.ID)
		}
		if err := checkName(n.meta.Name); err != nil {
			return nil, tampered("entry %s: %v", e.ID, err)
		}
	}
	if n.kind == "file" {
		want := ""
		if n.meta.Content != nil {
			want = n.meta.Content.Object
		}
		if e.Object != want {
			return nil, tampered("entry %s points at another stored object than its metadata", e.ID)
		}
	}
	return n, nil
}

func (c *Client) openRoot(e api.Entry) (*node, error) {
	n, err := c.openEntry(e, nil)
	if err != nil {
		return nil, fmt.Errorf("root folder: %w", err)
	}
	if !n.isDir() {
		return nil, tampered("root is not a folder")
	}
	return n, nil
}

// children returns the decrypted children of folder n, sorted by name.
func (c *Client) children(ctx context.Context, n *node) ([]*node, error) {
	var ch api.Children
	if err := c.coord.call(ctx, http.MethodGet, "/entries/"+hex.EncodeToString(n.id[:])+"/children", nil, &ch); err != nil {
		return nil, err
	}
	out := make([]*node, 0, len(ch.Entries))
	seen := make(map[string]bool, len(ch.Entries))
	for _, e := range ch.Entries {
		cn, err := c.openEntry(e, n)
		if err != nil {
			return nil, err
		}
		if seen[cn.meta.Name] {
			return nil, tampered("two entries named %q in one folder", cn.meta.Name)
		}
		seen[cn.meta.Name] = true
		out = append(out, cn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].meta.Name < out[j].meta.Name })
	return out, nil
}

// splitPath validates an absolute remote path and returns its components.
func splitPath(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, withHint(fmt.Errorf("%w: %q is not absolute", ErrBadPath, p), "remote paths start with /, e.g. /photos/a.jpg")
	}
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s == "" {
			continue
		}
		if err := checkName(s); err != nil {
			return nil, withHint(fmt.Errorf("%w: %q: %v", ErrBadPath, p, err), "use names without . or .. components")
		}
		parts = append(parts, s)
	}
	return parts, nil
}

func checkName(s string) error {
	switch {
	case s == "" || s == "." || s == "..":
		return fmt.Errorf("%q is not a valid name", s)
	case len(s) > MaxNameLen:
		return fmt.Errorf("name longer than %d bytes", MaxNameLen)
	case strings.ContainsAny(s, "/\x00"):
		return fmt.Errorf("name %q contains / or NUL", s)
	case !utf8.ValidString(s):
		return fmt.Errorf("name %q is not valid UTF-8", s)
	}
	return nil
}

// CleanPath returns the canonical form of an absolute remote path.
func CleanPath(p string) (string, error) {
	parts, err := splitPath(p)
	if err != nil {
		return "", err
	}
	return "/" + strings.Join(parts, "/"), nil
}

// resolve walks from the root to the node at p.
func (c *Client) resolve(ctx context.Context, p string) (*node, error) {
	parts, err := splitPath(p)
	if err != nil {
		return nil, err
	}
	n := c.root
	for i, name := range parts {
		if !n.isDir() {
			return nil, fmt.Errorf("%s: %w", "/"+strings.Join(parts[:i], "/"), ErrNotFolder)
		}
		kids, err := c.children(ctx, n)
		if err != nil {
			return nil, err
		}
		var next *node
		for _, k := range kids {
			if k.meta.Name == name {
				next = k
				break
			}
		}
		if next == nil {
			return nil, withHint(fmt.Errorf("%s: %w", "/"+strings.Join(parts[:i+1], "/"), ErrNotFound), "list the folder with `nuage ls`")
		}
		n = next
	}
	return n, nil
}

// resolveParent returns the folder that holds p and p's last name.
func (c *Client) resolveParent(ctx context.Context, p string) (*node, string, error) {
	parts, err := splitPath(p)
	if err != nil {
		return nil, "", err
	}
	if len(parts) == 0 {
		return nil, "", fmt.Errorf("%w: the root folder has no parent", ErrBadPath)
	}
	parent, err := c.resolve(ctx, "/"+strings.Join(parts[:len(parts)-1], "/"))
	if err != nil {
		return nil, "", err
	}
	if !parent.isDir() {
		return nil, "", fmt.Errorf("%s: %w", path.Dir("/"+strings.Join(parts, "/")), ErrNotFolder)
	}
	return parent, parts[len(parts)-1], nil
}

// createEntry stores a new child of parent.
func (c *Client) createEntry(ctx context.Context, parent *node, kind string, m *meta, object string) (*node, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	n, err := c.sealEntry(id, parent.id, parent, kind, m, parent.key, object)
	if err != nil {
		return nil, err
	}
	if err := c.coord.call(ctx, http.MethodPost, "/entries", n.raw, nil); err != nil {
		if errors.Is(err, ErrExists) {
			return nil, withHint(fmt.Errorf("%q: %w", m.Name, ErrExists), "choose another name or remove the existing one first")
		}
		return nil, err
	}
	return n, nil
}

// Stat describes the file or folder at p.
func (c *Client) Stat(ctx context.Context, p string) (Entry, error) {
	clean, err := CleanPath(p)
	if err != nil {
		return Entry{}, err
	}
	n, err := c.resolve(ctx, clean)
	if err != nil {
		return Entry{}, err
	}
	return n.entry(clean), nil
}

// List returns the entries of the folder at p (or p itself if it is a file).
func (c *Client) List(ctx context.Context, p string) ([]Entry, error) {
	clean, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	n, err := c.resolve(ctx, clean)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return []Entry{n.entry(clean)}, nil
	}
	kids, err := c.children(ctx, n)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(kids))
	for i, k := range kids {
		out[i] = k.entry(path.Join(clean, k.meta.Name))
	}
	return out, nil
}

// Mkdir creates the folder p. With parents, it creates missing parents
// and does not fail when p already exists as a folder.
func (c *Client) Mkdir(ctx context.Context, p string, parents bool) (Entry, error) {
	parts, err := splitPath(p)
	if err != nil {
		return Entry{}, err
	}
	if len(parts) == 0 {
		if parents {
			return c.root.entry("/"), nil
		}
		return Entry{}, fmt.Errorf("/: %w", ErrExists)
	}
	n := c.root
	for i, name := range parts {
		cur := "/" + strings.Join(parts[:i+1], "/")
		kids, err := c.children(ctx, n)
		if err != nil {
			return Entry{}, err
		}
		var next *node
		for _, k := range kids {
			if k.meta.Name == name {
				next = k
			}
		}
		last := i == len(parts)-1
		switch {
		case next != nil && !next.isDir():
			return Entry{}, fmt.Errorf("%s: %w", cur, ErrNotFolder)
		case next != nil && last && !parents:
			return Entry{}, withHint(fmt.Errorf("%s: %w", cur, ErrExists), "use -p to accept an existing folder")
		case next == nil && !last && !parents:
			return Entry{}, withHint(fmt.Errorf("%s: %w", cur, ErrNotFound), "use -p to create missing parent folders")
		case next == nil:
			next, err = c.createEntry(ctx, n, "folder", &meta{Name: name, ModTime: time.Now().UTC().Truncate(time.Second), Mode: uint32(fs.ModeDir | 0o755)}, "")
			if err != nil {
				return Entry{}, fmt.Errorf("create %s: %w", cur, err)
			}
		}
		n = next
	}
	return n.entry("/" + strings.Join(parts, "/")), nil
}

// Remove deletes the file or folder at p and frees its storage. A
// non-empty folder needs recursive.
func (c *Client) Remove(ctx context.Context, p string, recursive bool) error {
	clean, err := CleanPath(p)
	if err != nil {
		return err
	}
	if clean == "/" {
		return withHint(fmt.Errorf("%w: refusing to remove the root folder", ErrBadPath), "remove its contents instead")
	}
	n, err := c.resolve(ctx, clean)
	if err != nil {
		return err
	}
	return c.removeNode(ctx, n, clean, recursive)
}

func (c *Client) removeNode(ctx context.Context, n *node, p string, recursive bool) error {
	if n.isDir() {
		kids, err := c.children(ctx, n)
		if err != nil {
			return err
		}
		if len(kids) > 0 && !recursive {
			return withHint(fmt.Errorf("%s: %w", p, ErrNotEmpty), "use -r to remove it with everything inside")
		}
		for _, k := range kids {
			if err := c.removeNode(ctx, k, path.Join(p, k.meta.Name), true); err != nil {
				return err
			}
		}
	}
	if err := c.coord.call(ctx, http.MethodDelete, "/entries/"+hex.EncodeToString(n.id[:]), nil, nil); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}
