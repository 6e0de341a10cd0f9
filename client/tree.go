package client

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/journal"
)

// MaxNameLen is the longest file or folder name, in bytes.
const MaxNameLen = 255

// MaxVersions is how many older versions of a file are kept (spec §2.2).
const MaxVersions = 10

// maxMeta is the largest sealed metadata the coordinator stores.
const maxMeta = 64 << 10

// errMetaTooBig reports metadata larger than the coordinator stores.
var errMetaTooBig = errors.New("metadata too large")

// trashName is the sealed name of the trash folder; the root's is "".
// The two top-level folders are told apart by it, so a coordinator cannot
// swap them.
const trashName = "trash"

// b64 is a []byte written in JSON as unpadded base64url (spec: b64).
type b64 []byte

// MarshalJSON writes b as an unpadded base64url string.
func (b b64) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.RawURLEncoding.EncodeToString(b))
}

// UnmarshalJSON reads an unpadded base64url string; padding and the
// standard alphabet are refused. An empty string gives an empty, non-nil
// slice, so "inline":"" (an empty file) is told apart from no inline data.
func (b *b64) UnmarshalJSON(d []byte) error {
	if string(d) == "null" {
		*b = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(d, &s); err != nil {
		return err
	}
	x, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("base64url: %w", err)
	}
	*b = x
	return nil
}

// meta is the plaintext of an entry's encrypted metadata (docs/spec.md §2.2).
type meta struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size,omitzero"`
	ModTime  time.Time `json:"mtime,omitzero"`
	Mode     uint32    `json:"mode,omitzero"` // permission bits
	Content  *content  `json:"content,omitempty"`
	Inline   b64       `json:"inline,omitzero"`
	Versions []version `json:"versions,omitempty"` // newest first
	Trashed  *trashed  `json:"trashed,omitempty"`
}

// content says where and how a file's bytes are stored.
type content struct {
	Object  string `json:"object"`
	Key     b64    `json:"key"`
	Block   int    `json:"block"`
	Segment int64  `json:"segment"`
	K       int    `json:"k"`
	N       int    `json:"n"`
}

// version is an older version of a file.
type version struct {
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"mtime"`
	Content  *content  `json:"content,omitempty"`
	Inline   b64       `json:"inline,omitzero"`
	Replaced time.Time `json:"replaced"`
}

// trashed says where an entry in the trash came from.
type trashed struct {
	Parent string    `json:"parent"` // hex ID of the folder it was in
	Name   string    `json:"name"`
	Time   time.Time `json:"time"`
}

// node is a decrypted, authenticated entry of the tree.
type node struct {
	id     [16]byte
	parent [16]byte // zero for the top-level folders
	kind   string
	key    keys.Key
	meta   meta
	raw    api.Entry
	hash   [32]byte // journal.EntryHash(raw)
	// lkey is the node's key in its folder's listing: NFC(name), or the
	// entry ID in the trash (where names repeat).
	lkey string
}

func (n *node) isDir() bool { return n.kind == keys.KindFolder }

// current returns the node's current content.
func (n *node) current() data {
	return data{Size: n.meta.Size, Inline: n.meta.Inline, Content: n.meta.Content}
}

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
	// Versions is how many older versions of the file are kept.
	Versions int
}

func (n *node) entry(p string) Entry {
	e := Entry{Path: p, Name: n.meta.Name, IsDir: n.isDir(), Size: n.meta.Size,
		ModTime: n.meta.ModTime, Mode: fs.FileMode(n.meta.Mode).Perm(), ID: hex.EncodeToString(n.id[:]),
		Versions: len(n.meta.Versions)}
	if n.meta.Content != nil {
		e.Object = n.meta.Content.Object
	}
	e.Inline = !e.IsDir && n.meta.Content == nil
	if e.IsDir {
		e.Mode |= fs.ModeDir
	}
	return e
}

// nameKey is the key of a name in a folder listing: names that differ only
// in Unicode normalisation get the same name tag, so they are one name.
func nameKey(name string) string { return norm.NFC.String(name) }

func newID() ([16]byte, error) {
	var id [16]byte
	_, err := rand.Read(id[:])
	return id, err
}

// objectsOf lists the objects a file's metadata references: the current
// content first, then the older versions', newest first.
func objectsOf(m *meta) []string {
	var out []string
	if m.Content != nil {
		out = append(out, m.Content.Object)
	}
	for _, v := range m.Versions {
		if v.Content != nil {
			out = append(out, v.Content.Object)
		}
	}
	return out
}

// seal builds the stored form of entry id with key, under parent (nil for
// a top-level folder, whose key is wrapped under the master key). wrapped
// is the entry key already wrapped for this parent, or nil to wrap it.
func (c *Client) seal(id [16]byte, parent *node, kind string, key keys.Key, m *meta, wrapped []byte) (*node, error) {
	wrapKey := c.master
	var pid [16]byte
	if parent != nil {
		wrapKey, pid = parent.key, parent.id
	}
	if wrapped == nil {
		var err error
		if wrapped, err = keys.Wrap(wrapKey, key, keys.PurposeEntryKey, c.account[:], keys.EntryObject(id[:], pid[:])); err != nil {
			return nil, err
		}
	}
	plain, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	sealed, err := keys.SealMeta(key, plain, c.account[:], id[:], pid[:], kind)
	if err != nil {
		return nil, err
	}
	if len(sealed) > maxMeta {
		return nil, fmt.Errorf("%w: metadata of %q is %d bytes, more than the %d the coordinator stores", errMetaTooBig, m.Name, len(sealed), maxMeta)
	}
	n := &node{id: id, parent: pid, kind: kind, key: key, meta: *m,
		raw: api.Entry{ID: hex.EncodeToString(id[:]), Kind: kind, WrappedKey: wrapped, Meta: sealed, Objects: objectsOf(m)}}
	if parent != nil {
		n.raw.Parent = hex.EncodeToString(pid[:])
		n.raw.NameTag, n.lkey = c.nameTag(parent, id, m.Name)
	}
	if n.hash, err = journal.EntryHash(n.raw); err != nil {
		return nil, err
	}
	return n, nil
}

// nameTag returns the name tag of a child of parent and its listing key.
// In the trash the tag is of the entry ID, so equal names can coexist.
func (c *Client) nameTag(parent *node, id [16]byte, name string) ([]byte, string) {
	if parent.id == c.trashID {
		h := hex.EncodeToString(id[:])
		return keys.NameTag(parent.key, h), h
	}
	return keys.NameTag(parent.key, name), nameKey(name)
}

// newEntry builds a new child of parent with a fresh ID and key.
func (c *Client) newEntry(parent *node, kind string, m *meta) (*node, error) {
	id, err := newID()
	if err != nil {
		return nil, err
	}
	key, err := keys.NewKey()
	if err != nil {
		return nil, err
	}
	return c.seal(id, parent, kind, key, m, nil)
}

// reseal stores n again under parent with metadata m, keeping its ID and
// key. A move rewraps the key for the new parent; the entries below n need
// no change, since their keys are wrapped under n's key.
func (c *Client) reseal(n *node, parent *node, m *meta) (*node, error) {
	var wrapped []byte
	if parent.id == n.parent {
		wrapped = n.raw.WrappedKey
	}
	return c.seal(n.id, parent, n.kind, n.key, m, wrapped)
}

func tampered(format string, args ...any) error {
	return withHint(fmt.Errorf("%w: "+format, append([]any{ErrTampered}, args...)...),
		"the coordinator returned data this account never wrote; do not trust it and report the coordinator")
}

// openEntry authenticates and decrypts an entry that claims to be a child
// of parent (nil for a top-level folder, whose key is wrapped under the
// master key). The caller has checked the entry against the journal.
func (c *Client) openEntry(e api.Entry, parent *node) (*node, error) {
	id, err := parseID16(e.ID)
	if err != nil {
		return nil, tampered("entry ID: %v", err)
	}
	h, err := journal.EntryHash(e)
	if err != nil {
		return nil, tampered("entry %s: %v", e.ID, err)
	}
	n := &node{id: id, kind: e.Kind, raw: e, hash: h}
	wrapKey := c.master
	if parent != nil {
		if e.Parent != hex.EncodeToString(parent.id[:]) {
			return nil, tampered("entry %s listed under the wrong folder", e.ID)
		}
		n.parent = parent.id
		wrapKey = parent.key
	} else if e.Parent != "" || len(e.NameTag) != 0 {
		return nil, tampered("top-level folder %s has a parent or a name tag", e.ID)
	}
	if e.Kind != keys.KindFolder && e.Kind != keys.KindFile {
		return nil, tampered("entry %s has unknown kind %q", e.ID, e.Kind)
	}
	n.key, err = keys.Unwrap(wrapKey, e.WrappedKey, keys.PurposeEntryKey, c.account[:], keys.EntryObject(n.id[:], n.parent[:]))
	if err != nil {
		return nil, tampered("key of entry %s: %v", e.ID, err)
	}
	plain, err := keys.OpenMeta(n.key, e.Meta, c.account[:], n.id[:], n.parent[:], e.Kind)
	if err != nil {
		return nil, tampered("metadata of entry %s: %v", e.ID, err)
	}
	if err := json.Unmarshal(plain, &n.meta); err != nil {
		return nil, tampered("metadata of entry %s is not valid: %v", e.ID, err)
	}
	if err := c.checkMeta(n, parent); err != nil {
		return nil, tampered("entry %s: %v", e.ID, err)
	}
	if parent != nil {
		tag, lkey := c.nameTag(parent, n.id, n.meta.Name)
		if subtle.ConstantTimeCompare(e.NameTag, tag) != 1 {
			return nil, tampered("name tag of entry %s does not match its name", e.ID)
		}
		n.lkey = lkey
	}
	objs := objectsOf(&n.meta)
	if len(objs) != len(e.Objects) {
		return nil, tampered("entry %s lists %d stored objects, its metadata %d", e.ID, len(e.Objects), len(objs))
	}
	for i := range objs {
		if objs[i] != e.Objects[i] {
			return nil, tampered("entry %s points at another stored object than its metadata", e.ID)
		}
	}
	return n, nil
}

// checkMeta checks the decrypted metadata of n (a child of parent, or a
// top-level folder if parent is nil) for what the format requires.
func (c *Client) checkMeta(n *node, parent *node) error {
	m := &n.meta
	inTrash := parent != nil && parent.id == c.trashID
	if parent != nil { // top-level names are checked by openTop
		if err := checkName(m.Name); err != nil {
			return err
		}
	}
	if (m.Trashed != nil) != inTrash {
		return errors.New("trash information does not match where the entry is")
	}
	if m.Trashed != nil {
		if _, err := parseID16(m.Trashed.Parent); err != nil {
			return fmt.Errorf("trashed from folder %q: %v", m.Trashed.Parent, err)
		}
		if err := checkName(m.Trashed.Name); err != nil {
			return err
		}
	}
	if n.isDir() {
		if m.Content != nil || m.Inline != nil || len(m.Versions) != 0 || m.Size != 0 {
			return errors.New("a folder with file content")
		}
		return nil
	}
	if len(m.Versions) > MaxVersions {
		return fmt.Errorf("%d versions, at most %d are kept", len(m.Versions), MaxVersions)
	}
	if err := checkData(m.Size, m.Content, m.Inline); err != nil {
		return err
	}
	for i, v := range m.Versions {
		if err := checkData(v.Size, v.Content, v.Inline); err != nil {
			return fmt.Errorf("version %d: %v", i+1, err)
		}
	}
	return nil
}

func checkData(size int64, ct *content, inline b64) error {
	switch {
	case size < 0:
		return fmt.Errorf("negative size %d", size)
	case (ct == nil) == (inline == nil):
		return errors.New("a file needs exactly one of content and inline data")
	case inline != nil && int64(len(inline)) != size:
		return fmt.Errorf("inline data has %d bytes, size says %d", len(inline), size)
	case ct != nil:
		if _, err := parseID16(ct.Object); err != nil {
			return fmt.Errorf("content object: %v", err)
		}
		if size == 0 {
			return errors.New("an empty file stored as an object")
		}
	}
	return nil
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
	return joinPath(parts), nil
}

func joinPath(parts []string) string { return "/" + strings.Join(parts, "/") }

// resolve walks from the root to the node at parts. locked says whether
// the caller holds the journal lock (a commit's build).
func (c *Client) resolve(ctx context.Context, parts []string, locked bool) (*node, error) {
	n, _ := c.top()
	for i, name := range parts {
		if !n.isDir() {
			return nil, fmt.Errorf("%s: %w", joinPath(parts[:i]), ErrNotFolder)
		}
		next, err := c.child(ctx, n, name, locked)
		if err != nil {
			return nil, err
		}
		if next == nil {
			return nil, withHint(fmt.Errorf("%s: %w", joinPath(parts[:i+1]), ErrNotFound), "list the folder with `nuage ls`")
		}
		n = next
	}
	return n, nil
}

// resolveFolder resolves parts and requires a folder.
func (c *Client) resolveFolder(ctx context.Context, parts []string, locked bool) (*node, error) {
	n, err := c.resolve(ctx, parts, locked)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, fmt.Errorf("%s: %w", joinPath(parts), ErrNotFolder)
	}
	return n, nil
}

// sortByName sorts nodes by name (byte order).
func sortByName(ns []*node) {
	sort.Slice(ns, func(i, j int) bool { return ns[i].meta.Name < ns[j].meta.Name })
}

// Stat describes the file or folder at p.
func (c *Client) Stat(ctx context.Context, p string) (Entry, error) {
	if v, inner, ok, err := c.route(ctx, p); ok {
		if errors.Is(err, errVirtual) {
			return c.virtualStat(ctx, p)
		}
		if err != nil {
			return Entry{}, err
		}
		e, err := v.Stat(ctx, inner)
		return rebase(e, p), err
	}
	parts, err := splitPath(p)
	if err != nil {
		return Entry{}, err
	}
	if err := c.sync(ctx); err != nil {
		return Entry{}, err
	}
	n, err := c.resolve(ctx, parts, false)
	if err != nil {
		return Entry{}, err
	}
	return n.entry(joinPath(parts)), nil
}

// List returns the entries of the folder at p, sorted by name (or p itself
// if it is a file).
func (c *Client) List(ctx context.Context, p string) ([]Entry, error) {
	if v, inner, ok, err := c.route(ctx, p); ok {
		if errors.Is(err, errVirtual) {
			rest, _ := sharedPath(p)
			return c.virtualList(ctx, rest)
		}
		if err != nil {
			return nil, err
		}
		es, err := v.List(ctx, inner)
		for i := range es {
			es[i] = rebase(es[i], p)
		}
		return es, err
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
	clean := joinPath(parts)
	if !n.isDir() {
		return []Entry{n.entry(clean)}, nil
	}
	kids, err := c.kids(ctx, n, false)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(kids))
	for i, k := range kids {
		out[i] = k.entry(path.Join(clean, k.meta.Name))
	}
	return out, nil
}

func now() time.Time { return time.Now().UTC() }

// Mkdir creates the folder p. With parents, it creates missing parents
// and does not fail when p already exists as a folder.
func (c *Client) Mkdir(ctx context.Context, p string, parents bool) (Entry, error) {
	if v, inner, ok, err := c.route(ctx, p); ok {
		if err != nil {
			return Entry{}, err
		}
		e, err := v.Mkdir(ctx, inner, parents)
		return rebase(e, p), err
	}
	parts, err := splitPath(p)
	if err != nil {
		return Entry{}, err
	}
	if len(parts) == 0 {
		if !parents {
			return Entry{}, withHint(fmt.Errorf("/: %w", ErrExists), "use -p to accept an existing folder")
		}
		if err := c.sync(ctx); err != nil {
			return Entry{}, err
		}
		root, _ := c.top()
		return root.entry("/"), nil
	}
	if err := c.syncForWrite(ctx); err != nil {
		return Entry{}, err
	}
	var out Entry
	err = c.submit(ctx, func(tx *txn) error {
		n, err := c.mkdirs(tx, parts, parents, true)
		if err != nil {
			return err
		}
		out = n.entry(joinPath(parts))
		return nil
	})
	return out, err
}

// mkdirs resolves the folder at parts in a commit's build, adding the
// folders it lacks to tx. Without parents only the last may be missing;
// with mustCreate (and without parents) the last must be missing.
func (c *Client) mkdirs(tx *txn, parts []string, parents, mustCreate bool) (*node, error) {
	n, _ := c.top()
	fresh := false // n was created by this commit: it has no children yet
	for i, name := range parts {
		cur := joinPath(parts[:i+1])
		var next *node
		if !fresh {
			var err error
			if next, err = c.child(tx.ctx, n, name, true); err != nil {
				return nil, err
			}
		}
		last := i == len(parts)-1
		switch {
		case next != nil && !next.isDir():
			return nil, fmt.Errorf("%s: %w", cur, ErrNotFolder)
		case next != nil && last && mustCreate && !parents:
			return nil, withHint(fmt.Errorf("%s: %w", cur, ErrExists), "use -p to accept an existing folder")
		case next == nil && !last && !parents:
			return nil, withHint(fmt.Errorf("%s: %w", joinPath(parts[:i+1]), ErrNotFound), "use -p to create missing parent folders")
		case next == nil:
			var err error
			next, err = c.newEntry(n, keys.KindFolder, &meta{Name: name, ModTime: now(), Mode: 0o755})
			if err != nil {
				return nil, err
			}
			tx.put(next)
			tx.fresh[journal.ID(next.id)] = true
			fresh = true
		}
		n = next
	}
	return n, nil
}

// Move renames or moves the file or folder at src to dst without touching
// its data. If dst is an existing folder, src moves into it under its own
// name. An existing file at the destination is moved to the trash if
// overwrite is set (ErrExists otherwise); a folder is never replaced.
// Moving a folder into itself or one of its subfolders fails with
// ErrBadPath.
func (c *Client) Move(ctx context.Context, src, dst string, overwrite bool) (Entry, error) {
	sv, sin, sok, err := c.route(ctx, src)
	if sok && err != nil {
		return Entry{}, err
	}
	dv, din, dok, err := c.route(ctx, dst)
	if dok && err != nil {
		return Entry{}, err
	}
	if sok || dok {
		if !sok || !dok || sv != dv {
			return Entry{}, withHint(fmt.Errorf("%w: cannot move between a shared folder and another folder", ErrBadPath), "copy it instead (get, then put), then remove the original")
		}
		e, err := sv.Move(ctx, sin, din, overwrite)
		return rebase(e, dst), err
	}
	sparts, err := splitPath(src)
	if err != nil {
		return Entry{}, err
	}
	dparts, err := splitPath(dst)
	if err != nil {
		return Entry{}, err
	}
	if len(sparts) == 0 {
		return Entry{}, withHint(fmt.Errorf("%w: the root folder cannot be moved", ErrBadPath), "move what it contains instead")
	}
	if err := c.syncForWrite(ctx); err != nil {
		return Entry{}, err
	}
	var out Entry
	err = c.submit(ctx, func(tx *txn) error {
		sn, err := c.resolve(tx.ctx, sparts, true)
		if err != nil {
			return err
		}
		// Where to: into dst if it is a folder, else dst's parent as dst's name.
		var tp *node
		var tparts []string
		name := sn.meta.Name
		dn, err := c.resolve(tx.ctx, dparts, true)
		switch {
		case err == nil && dn.isDir() && dn.id != sn.id:
			tp, tparts = dn, append(append([]string(nil), dparts...), name)
		case err == nil || errors.Is(err, ErrNotFound):
			if len(dparts) == 0 {
				return fmt.Errorf("%w: cannot move onto the root folder", ErrBadPath)
			}
			if tp, err = c.resolveFolder(tx.ctx, dparts[:len(dparts)-1], true); err != nil {
				return err
			}
			tparts, name = dparts, dparts[len(dparts)-1]
		default:
			return err
		}
		if sn.isDir() && c.isAncestor(sn.id, tp.id) {
			return withHint(fmt.Errorf("%w: cannot move %s into itself (%s)", ErrBadPath, joinPath(sparts), joinPath(tparts)),
				"choose a destination outside the folder")
		}
		clean := joinPath(tparts)
		if tp.id == sn.parent && name == sn.meta.Name {
			out = sn.entry(clean) // nothing to do
			return nil
		}
		if err := c.replaceTarget(tx, tp, name, sn, clean, overwrite); err != nil {
			return err
		}
		m := sn.meta
		m.Name = name
		moved, err := c.reseal(sn, tp, &m)
		if err != nil {
			return err
		}
		tx.put(moved)
		out = moved.entry(clean)
		return nil
	})
	return out, err
}

// replaceTarget makes room for n (a new or moved entry, nil for a new
// one of kind file) named name in folder tp: a name taken by another
// entry fails with ErrExists unless overwrite, which moves an existing
// file to the trash in the same commit. A folder is never replaced.
func (c *Client) replaceTarget(tx *txn, tp *node, name string, n *node, clean string, overwrite bool) error {
	if tx.fresh[journal.ID(tp.id)] {
		return nil // created by this commit: empty
	}
	ex, err := c.child(tx.ctx, tp, name, true)
	if err != nil || ex == nil || (n != nil && ex.id == n.id) {
		return err
	}
	switch {
	case !overwrite:
		return withHint(fmt.Errorf("%s: %w", clean, ErrExists), "pass --overwrite to replace it (the old one goes to the trash)")
	case ex.isDir():
		return withHint(fmt.Errorf("%s: %w", clean, ErrIsFolder), "a folder is never replaced; remove it first")
	case n != nil && n.isDir():
		return withHint(fmt.Errorf("%s: %w: cannot replace a file with a folder", clean, ErrNotFolder), "remove the file first")
	}
	if c.view != nil {
		tx.del(journal.ID(ex.id)) // no trash in a view: the file is replaced for good
		return nil
	}
	old, err := c.toTrash(ex)
	if err != nil {
		return err
	}
	tx.put(old)
	return nil
}

// isAncestor reports whether a is b or one of b's ancestors, by the journal.
func (c *Client) isAncestor(a, b [16]byte) bool {
	if c.view != nil {
		return c.viewAncestor(a, b)
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	cur := journal.ID(b)
	for range len(c.t.js.Entries) + 1 {
		if cur == journal.ID(a) {
			return true
		}
		e, ok := c.t.js.Entries[cur]
		if !ok || e.Parent == (journal.ID{}) {
			return false
		}
		cur = e.Parent
	}
	return true
}
