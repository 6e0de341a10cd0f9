package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/journal"
	"github.com/nuage-storage/nuage/internal/link"
	"github.com/nuage-storage/nuage/internal/share"
)

// sharedDir is the top-level path under which folders shared with this
// account appear: /shared/OWNER/NAME.
const sharedDir = "shared"

// Share is a folder this account shares with another account.
type Share struct {
	ID    string
	Path  string // "" if the folder was deleted
	Email string // the recipient
	Write bool
	// FirstUse reports that the recipient's keys were pinned by this call
	// (compare their fingerprint out of band: Contact, VerifyContact).
	FirstUse    bool
	Fingerprint string
	Created     time.Time
}

// IncomingShare is a folder another account shares with this one.
type IncomingShare struct {
	ID    string
	Owner string // the owner's e-mail
	Name  string
	Path  string // /shared/OWNER/NAME
	Write bool
	// Created is when the share was made.
	Created time.Time
	// Err is why the share cannot be opened (ErrKeyChanged, tampering…).
	Err error

	owner   [16]byte
	payload share.Payload
}

// ShareFolder shares the folder at p with the account of email, read-only
// or read-write. Sharing again changes the level. The recipient's public
// keys are pinned on first use; keys that changed since refuse to share
// (ErrKeyChanged) until VerifyContact.
func (c *Client) ShareFolder(ctx context.Context, p, email string, write bool) (Share, error) {
	sk, err := c.keysForSharing(ctx)
	if err != nil {
		return Share{}, err
	}
	parts, err := splitPath(p)
	if err != nil {
		return Share{}, err
	}
	if len(parts) == 0 {
		return Share{}, withHint(fmt.Errorf("%w: the root folder cannot be shared", ErrBadPath), "share a folder inside it")
	}
	clean := joinPath(parts)
	peer, first, err := c.trusted(ctx, email, [16]byte{})
	if err != nil {
		return Share{}, err
	}
	if err := c.sync(ctx); err != nil {
		return Share{}, err
	}
	n, err := c.resolve(ctx, parts, false)
	if err != nil {
		return Share{}, err
	}
	if !n.isDir() {
		return Share{}, withHint(fmt.Errorf("%s: %w", clean, ErrNotFolder), "share a folder, or make a link to the file with `nuage link create`")
	}
	var all api.Shares
	if err := c.coord.call(ctx, http.MethodGet, "/shares", nil, &all); err != nil {
		return Share{}, fmt.Errorf("list shares: %w", err)
	}
	var existing *api.Share
	for i, s := range all.Shares {
		if s.Root == hex.EncodeToString(n.id[:]) && s.Recipient == hex.EncodeToString(peer.account[:]) {
			existing = &all.Shares[i]
		}
	}
	out := Share{Path: clean, Email: peer.email, Write: write, FirstUse: first, Fingerprint: peer.fingerprint()}
	if existing != nil && existing.Write == write {
		out.ID, out.Created = existing.ID, time.Unix(existing.Created, 0)
		return out, nil
	}
	var shareID [16]byte
	epoch := uint32(1)
	if existing != nil {
		if shareID, err = parseID16(existing.ID); err != nil {
			return Share{}, tampered("share ID: %v", err)
		}
		epoch = existing.Epoch
	} else if shareID, err = newID(); err != nil {
		return Share{}, err
	}
	pl := share.Payload{ShareID: shareID, Owner: c.account, Recipient: peer.account, Root: n.id,
		Level: share.Read, Epoch: epoch, RootKey: n.key, Name: n.meta.Name}
	// A read-write share gets a fresh write key, granted in the journal;
	// going back to read-only revokes the old one.
	err = c.submit(ctx, func(tx *txn) error {
		if existing != nil && existing.Write {
			if kid, err := parseID16(existing.KeyID); err == nil && c.writeKeyActive(journal.ID(kid)) {
				tx.revoke(journal.ID(kid))
			}
		}
		if write {
			var kid [16]byte
			if _, err := rand.Read(kid[:]); err != nil {
				return err
			}
			tx.grant(journal.ID(kid), journal.ID(n.id))
			pl.Level, pl.WriteKeyID, pl.WriteKey = share.ReadWrite, kid, journal.WriteKey(c.jkey, journal.ID(kid))
		}
		return nil
	})
	if err != nil {
		return Share{}, fmt.Errorf("share %s: %w", clean, err)
	}
	sealed, err := share.Seal(pl, sk.signing, peer.x25519)
	if err != nil {
		return Share{}, err
	}
	var kid string
	if write {
		kid = hex.EncodeToString(pl.WriteKeyID[:])
	}
	var got api.Share
	if existing != nil {
		err = c.coord.call(ctx, http.MethodPut, "/shares/"+existing.ID, api.ShareUpdate{Write: write, KeyID: kid, Epoch: epoch, Sealed: sealed}, &got)
	} else {
		err = c.coord.call(ctx, http.MethodPost, "/shares", api.ShareCreate{ID: hex.EncodeToString(shareID[:]), Root: hex.EncodeToString(n.id[:]),
			Recipient: hex.EncodeToString(peer.account[:]), Write: write, KeyID: kid, Epoch: epoch, Sealed: sealed}, &got)
	}
	if err != nil {
		return Share{}, fmt.Errorf("share %s with %s: %w", clean, peer.email, err)
	}
	out.ID, out.Created = hex.EncodeToString(shareID[:]), time.Unix(got.Created, 0)
	return out, nil
}

// writeKeyActive reports whether the journal holds keyID as an active write key.
func (c *Client) writeKeyActive(keyID journal.ID) bool {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	_, ok := c.t.js.WriteKeys[keyID]
	return ok
}

// Shares lists the folders this account shares, oldest first.
func (c *Client) Shares(ctx context.Context) ([]Share, error) {
	if c.view != nil {
		return nil, withHint(fmt.Errorf("%w: only an account has shares", ErrOutOfScope), "log in")
	}
	var all api.Shares
	if err := c.coord.call(ctx, http.MethodGet, "/shares", nil, &all); err != nil {
		return nil, fmt.Errorf("list shares: %w", err)
	}
	out := make([]Share, 0, len(all.Shares))
	for _, s := range all.Shares {
		sh := Share{ID: s.ID, Email: s.RecipientEmail, Write: s.Write, Created: time.Unix(s.Created, 0)}
		if root, err := parseID16(s.Root); err == nil {
			if p, err := c.pathOf(ctx, root); err == nil {
				sh.Path = p
			} else if !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
		out = append(out, sh)
	}
	return out, nil
}

// RevokeShare stops sharing the folder at p with email: the coordinator
// refuses the recipient at once, and the folder's keys are rotated so that
// what is written there later cannot be read with the keys they had.
func (c *Client) RevokeShare(ctx context.Context, p, email string) error {
	parts, err := splitPath(p)
	if err != nil {
		return err
	}
	clean := joinPath(parts)
	email, err = normalizeEmail(email)
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
	var all api.Shares
	if err := c.coord.call(ctx, http.MethodGet, "/shares", nil, &all); err != nil {
		return fmt.Errorf("list shares: %w", err)
	}
	var found *api.Share
	for i, s := range all.Shares {
		if s.Root == hex.EncodeToString(n.id[:]) && s.RecipientEmail == email {
			found = &all.Shares[i]
		}
	}
	if found == nil {
		return withHint(fmt.Errorf("%s is not shared with %s: %w", clean, email, ErrNotFound), "list shares with `nuage share ls`")
	}
	if err := c.coord.call(ctx, http.MethodDelete, "/shares/"+found.ID, nil, nil); err != nil {
		return fmt.Errorf("revoke the share of %s with %s: %w", clean, email, err)
	}
	if err := c.Rotate(ctx, clean); err != nil {
		return withHint(fmt.Errorf("the share is revoked, but the keys of %s were not rotated: %w", clean, err),
			fmt.Sprintf("run `nuage share rotate %s` to retry", clean))
	}
	return nil
}

// Rotate gives the file or folder at p and everything below it new keys,
// and hands the new keys to the shares and links that remain (spec §11.4).
// RevokeShare and RevokeLink call it; call it again if they could not.
func (c *Client) Rotate(ctx context.Context, p string) error {
	sk, err := c.keysForSharing(ctx)
	if err != nil {
		return err
	}
	parts, err := splitPath(p)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("%w: the root folder's keys are not rotated", ErrBadPath)
	}
	var all api.Shares
	if err := c.coord.call(ctx, http.MethodGet, "/shares", nil, &all); err != nil {
		return fmt.Errorf("list shares: %w", err)
	}
	var links api.Links
	if err := c.coord.call(ctx, http.MethodGet, "/links", nil, &links); err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	if err := c.syncForWrite(ctx); err != nil {
		return err
	}
	var (
		fresh  map[[16]byte]*node  // new versions of the subtree's entries
		grants map[string][16]byte // share ID → new write key ID
		inside map[string]bool     // share IDs whose folder is in the subtree
	)
	err = c.submit(ctx, func(tx *txn) error {
		fresh, grants, inside = map[[16]byte]*node{}, map[string][16]byte{}, map[string]bool{}
		target, err := c.resolve(tx.ctx, parts, true)
		if err != nil {
			return err
		}
		parent, err := c.resolveFolder(tx.ctx, parts[:len(parts)-1], true)
		if err != nil {
			return err
		}
		// The subtree, top-down.
		order := []*node{target}
		for i := 0; i < len(order); i++ {
			if !order[i].isDir() {
				continue
			}
			kids, err := c.kids(tx.ctx, order[i], true)
			if err != nil {
				return err
			}
			order = append(order, kids...)
			if len(order) > journal.MaxChanges-2*len(all.Shares)-1 {
				return fmt.Errorf("%s holds more than %d entries: rotating them in one step is not supported", joinPath(parts), journal.MaxChanges-2*len(all.Shares)-1)
			}
		}
		c.t.mu.Lock()
		for kid, root := range c.t.js.WriteKeys {
			if c.t.js.Within(root, journal.ID(target.id)) {
				tx.revoke(kid)
			}
		}
		for _, s := range all.Shares {
			if root, err := parseID16(s.Root); err == nil && c.t.js.Within(journal.ID(root), journal.ID(target.id)) {
				inside[s.ID] = true
			}
		}
		c.t.mu.Unlock()
		for _, n := range order {
			p := parent
			if n != target {
				p = fresh[n.parent]
			}
			k, err := keys.NewKey()
			if err != nil {
				return err
			}
			nn, err := c.seal(n.id, p, n.kind, k, &n.meta, nil)
			if err != nil {
				return err
			}
			fresh[n.id] = nn
			tx.put(nn)
		}
		for _, s := range all.Shares {
			root, err := parseID16(s.Root)
			if err != nil || !inside[s.ID] || !s.Write {
				continue
			}
			var kid [16]byte
			if _, err := rand.Read(kid[:]); err != nil {
				return err
			}
			tx.grant(journal.ID(kid), journal.ID(root))
			grants[s.ID] = kid
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rotate the keys of %s: %w", joinPath(parts), err)
	}
	// Hand the new keys to the shares and links that remain.
	var errs []error
	for _, s := range all.Shares {
		if !inside[s.ID] {
			continue
		}
		if err := c.reshare(ctx, sk, s, fresh, grants); err != nil {
			errs = append(errs, fmt.Errorf("share with %s: %w", s.RecipientEmail, err))
		}
	}
	for _, l := range links.Links {
		target, err := parseID16(l.Target)
		if err != nil || l.Revoked != 0 || fresh[target] == nil {
			continue
		}
		id, err := parseID16(l.ID)
		if err != nil {
			continue
		}
		lk, err := link.UnwrapOwnerKey(c.master, l.OwnerLinkKey, c.account, id)
		if err != nil {
			errs = append(errs, tampered("the key of link %s: %v", l.ID, err))
			continue
		}
		w, err := link.WrapTarget(lk, fresh[target].key, c.account, id, target)
		if err == nil {
			err = c.coord.call(ctx, http.MethodPut, "/links/"+l.ID+"/target-key", api.LinkTargetKey{WrappedTargetKey: w}, nil)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("link %s: %w", l.ID, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("the keys are rotated, but not every remaining share or link got the new ones: %w", errors.Join(errs...))
	}
	return nil
}

// reshare seals a share anew after a rotation: the folder's new key, a new
// write key for a read-write share, epoch + 1.
func (c *Client) reshare(ctx context.Context, sk *sharingKeys, s api.Share, fresh map[[16]byte]*node, grants map[string][16]byte) error {
	root, err := parseID16(s.Root)
	if err != nil {
		return tampered("share root: %v", err)
	}
	rn := fresh[root]
	if rn == nil {
		return nil
	}
	sid, err := parseID16(s.ID)
	if err != nil {
		return tampered("share ID: %v", err)
	}
	recipient, err := parseID16(s.Recipient)
	if err != nil {
		return tampered("share recipient: %v", err)
	}
	peer, _, err := c.trusted(ctx, "", recipient)
	if err != nil {
		return err
	}
	pl := share.Payload{ShareID: sid, Owner: c.account, Recipient: recipient, Root: root, Level: share.Read,
		Epoch: s.Epoch + 1, RootKey: rn.key, Name: rn.meta.Name}
	up := api.ShareUpdate{Epoch: pl.Epoch}
	if kid, ok := grants[s.ID]; ok {
		pl.Level, pl.WriteKeyID, pl.WriteKey = share.ReadWrite, kid, journal.WriteKey(c.jkey, journal.ID(kid))
		up.Write, up.KeyID = true, hex.EncodeToString(kid[:])
	}
	if up.Sealed, err = share.Seal(pl, sk.signing, peer.x25519); err != nil {
		return err
	}
	return c.coord.call(ctx, http.MethodPut, "/shares/"+s.ID, up, nil)
}

// IncomingShares lists the folders other accounts share with this one,
// each opened and checked (a share that cannot be opened carries Err).
func (c *Client) IncomingShares(ctx context.Context) ([]IncomingShare, error) {
	sk, err := c.keysForSharing(ctx)
	if err != nil {
		return nil, err
	}
	var all api.Shares
	if err := c.coord.call(ctx, http.MethodGet, "/shares/incoming", nil, &all); err != nil {
		return nil, fmt.Errorf("list the folders shared with you: %w", err)
	}
	out := make([]IncomingShare, 0, len(all.Shares))
	seen := map[string]bool{}
	for _, s := range all.Shares {
		is := IncomingShare{ID: s.ID, Owner: s.OwnerEmail, Write: s.Write, Created: time.Unix(s.Created, 0)}
		is.Err = c.openIncoming(ctx, sk, s, &is)
		if is.Err == nil {
			is.Name = is.payload.Name
			if seen[is.Owner+"/"+is.Name] {
				is.Name += "~" + s.ID[:6]
			}
			seen[is.Owner+"/"+is.Name] = true
			is.Path = "/" + sharedDir + "/" + is.Owner + "/" + is.Name
		}
		out = append(out, is)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// openIncoming opens a share's sealed keys with the owner's pinned keys.
func (c *Client) openIncoming(ctx context.Context, sk *sharingKeys, s api.Share, is *IncomingShare) error {
	sid, err := parseID16(s.ID)
	if err != nil {
		return tampered("share ID: %v", err)
	}
	if is.owner, err = parseID16(s.Owner); err != nil {
		return tampered("share owner: %v", err)
	}
	if s.Recipient != hex.EncodeToString(c.account[:]) {
		return tampered("a share for another account")
	}
	peer, _, err := c.trusted(ctx, "", is.owner)
	if err != nil {
		return err
	}
	if peer.email != s.OwnerEmail {
		return tampered("the share's owner is %s, the coordinator says %s", peer.email, s.OwnerEmail)
	}
	pl, err := share.Open(s.Sealed, sk.x25519, sid, is.owner, c.account, peer.signing)
	if err != nil {
		return tampered("the share %s from %s: %v", s.ID, peer.email, err)
	}
	if (pl.Level == share.ReadWrite) != s.Write {
		// The coordinator's level and the owner's differ: trust the
		// lower one (writes need both the key and the coordinator).
		if pl.Level == share.ReadWrite {
			pl.Level, pl.WriteKeyID, pl.WriteKey = share.Read, [16]byte{}, [32]byte{}
		}
	}
	if hex.EncodeToString(pl.Root[:]) != s.Root {
		return tampered("the share's folder is not the one the coordinator names")
	}
	if err := checkName(pl.Name); err != nil {
		return tampered("the share's folder name: %v", err)
	}
	is.payload = pl
	is.Write = pl.Level == share.ReadWrite
	return nil
}

// shareView returns the client of a folder shared with this account.
func (c *Client) shareView(ctx context.Context, is IncomingShare) (*Client, error) {
	c.smu.Lock()
	if v := c.views[is.ID]; v != nil {
		c.smu.Unlock()
		return v, nil
	}
	c.smu.Unlock()
	var ss api.ShareSession
	if err := c.coord.call(ctx, http.MethodPost, "/shares/"+is.ID+"/session", nil, &ss); err != nil {
		return nil, fmt.Errorf("open the folder %s shared: %w", is.Owner, err)
	}
	v, err := newView(c.opts, c.nodes, c.coord.base, ss.Token, is.owner)
	if err != nil {
		return nil, err
	}
	v.view.what = fmt.Sprintf("the folder %s shares with you (%s)", is.Owner, is.Path)
	if is.Write && ss.Write {
		v.view.write, v.view.keyID, v.view.wkey = true, journal.ID(is.payload.WriteKeyID), is.payload.WriteKey
	}
	if _, err := v.openViewRoot(ctx, is.payload.Root, is.payload.RootKey); err != nil {
		return nil, err
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	if old := c.views[is.ID]; old != nil {
		return old, nil
	}
	if c.views == nil {
		c.views = map[string]*Client{}
	}
	c.views[is.ID] = v
	return v, nil
}

// sharedPath splits a path under /shared: the parts after "shared" and
// whether p is under it at all.
func sharedPath(p string) ([]string, bool) {
	parts, err := splitPath(p)
	if err != nil || len(parts) == 0 || parts[0] != sharedDir {
		return nil, false
	}
	return parts[1:], true
}

// route resolves a /shared/OWNER/NAME/… path to the view of that share and
// the path inside it. ok is false for paths outside /shared. Paths that
// name /shared or /shared/OWNER themselves fail with errVirtual.
func (c *Client) route(ctx context.Context, p string) (v *Client, inner string, ok bool, err error) {
	if c.view != nil {
		return nil, "", false, nil
	}
	rest, ok := sharedPath(p)
	if !ok {
		return nil, "", false, nil
	}
	if len(rest) < 2 {
		return nil, "", true, errVirtual
	}
	key := strings.ToLower(rest[0]) + "/" + rest[1]
	c.smu.Lock()
	v = c.routes[key]
	c.smu.Unlock()
	if v == nil {
		is, err := c.findShare(ctx, rest[0], rest[1])
		if err != nil {
			return nil, "", true, err
		}
		if v, err = c.shareView(ctx, is); err != nil {
			return nil, "", true, err
		}
		c.smu.Lock()
		if c.routes == nil {
			c.routes = map[string]*Client{}
		}
		c.routes[key] = v
		c.smu.Unlock()
	}
	return v, joinPath(rest[2:]), true, nil
}

// errVirtual reports a change to /shared or /shared/OWNER, which only list
// what others share.
var errVirtual = withHint(fmt.Errorf("%w: /%s holds the folders others share with you; it cannot be changed", ErrBadPath, sharedDir),
	"work inside a shared folder, /shared/OWNER/NAME/…")

// findShare finds the share OWNER/NAME among those made to this account;
// a share that cannot be opened (its name is sealed) answers with why.
func (c *Client) findShare(ctx context.Context, owner, name string) (IncomingShare, error) {
	all, err := c.IncomingShares(ctx)
	if err != nil {
		return IncomingShare{}, err
	}
	var broken error
	for _, is := range all {
		switch {
		case !strings.EqualFold(is.Owner, owner):
		case is.Err == nil && is.Name == name:
			return is, nil
		case is.Err != nil && broken == nil:
			broken = is.Err // its name is sealed: it may be the one asked for
		}
	}
	if broken != nil {
		return IncomingShare{}, broken
	}
	return IncomingShare{}, withHint(fmt.Errorf("/%s/%s/%s: %w", sharedDir, owner, name, ErrNotFound), "list the folders shared with you with `nuage shared ls`")
}

// virtualList lists /shared (owners) or /shared/OWNER (their folders).
func (c *Client) virtualList(ctx context.Context, rest []string) ([]Entry, error) {
	all, err := c.IncomingShares(ctx)
	if err != nil {
		return nil, err
	}
	var out []Entry
	seen := map[string]bool{}
	for _, is := range all {
		if is.Err != nil {
			continue
		}
		switch {
		case len(rest) == 0 && !seen[is.Owner]:
			seen[is.Owner] = true
			out = append(out, Entry{Path: "/" + sharedDir + "/" + is.Owner, Name: is.Owner, IsDir: true, Mode: 0o500 | fs.ModeDir, ModTime: is.Created})
		case len(rest) == 1 && strings.EqualFold(rest[0], is.Owner):
			out = append(out, Entry{Path: is.Path, Name: is.Name, IsDir: true, Mode: 0o700 | fs.ModeDir, ModTime: is.Created})
		}
	}
	if len(rest) == 1 && len(out) == 0 {
		return nil, withHint(fmt.Errorf("/%s/%s: %w", sharedDir, rest[0], ErrNotFound), "list the folders shared with you with `nuage shared ls`")
	}
	return out, nil
}

// sharedPrefix returns /shared/OWNER/NAME of a path inside a shared folder.
func sharedPrefix(p string) string {
	rest, _ := sharedPath(p)
	if len(rest) < 2 {
		return "/" + sharedDir
	}
	return joinPath(append([]string{sharedDir}, rest[:2]...))
}

// rebase turns the path of an entry a share's view returned into the
// path the caller used (/shared/OWNER/NAME/…).
func rebase(e Entry, p string) Entry {
	if e.Path == "" {
		return e
	}
	prefix := sharedPrefix(p)
	if e.Path == "/" {
		e.Path = prefix
	} else {
		e.Path = prefix + e.Path
	}
	return e
}

// virtualStat describes /shared or /shared/OWNER.
func (c *Client) virtualStat(ctx context.Context, p string) (Entry, error) {
	rest, _ := sharedPath(p)
	if len(rest) == 1 {
		if _, err := c.virtualList(ctx, rest); err != nil {
			return Entry{}, err
		}
		return Entry{Path: "/" + sharedDir + "/" + rest[0], Name: rest[0], IsDir: true, Mode: 0o500 | fs.ModeDir}, nil
	}
	return Entry{Path: "/" + sharedDir, Name: sharedDir, IsDir: true, Mode: 0o500 | fs.ModeDir}, nil
}

// virtualWalk walks /shared or /shared/OWNER and the shared folders below.
func (c *Client) virtualWalk(ctx context.Context, p string, fn func(Entry) error) error {
	rest, _ := sharedPath(p)
	top, err := c.virtualStat(ctx, p)
	if err != nil {
		return err
	}
	if err := fn(top); err != nil {
		if errors.Is(err, fs.SkipDir) || errors.Is(err, fs.SkipAll) {
			return nil
		}
		return err
	}
	es, err := c.virtualList(ctx, rest)
	if err != nil {
		return err
	}
	for _, e := range es {
		err := c.Walk(ctx, e.Path, fn)
		if errors.Is(err, fs.SkipAll) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}
