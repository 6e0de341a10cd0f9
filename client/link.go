package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/link"
)

// LinkOptions tune a new link.
type LinkOptions struct {
	// Expires, if not zero, is when the link stops working.
	Expires time.Time
	// MaxDownloads, if positive, is how many downloads the link allows.
	MaxDownloads int64
	// Password, if not empty, is needed besides the URL to open the link.
	Password []byte
	// KDF overrides the Argon2id parameters of the password (nil: the
	// defaults). Tests use cheaper ones; they must pass keys.KDF.Validate.
	KDF *keys.KDF
}

// Link is a link as its owner sees it.
type Link struct {
	ID  string
	URL string // with the key: give it only to whom may read
	// Path is where the target is now in the owner's tree ("" if it was deleted).
	Path         string
	Kind         string
	Created      time.Time
	Expires      time.Time // zero: never
	Revoked      time.Time // zero: not revoked
	MaxDownloads int64
	Downloads    int64
	Password     bool
}

// State of the link: "active", "revoked", "expired", "exhausted" or "gone".
func (l Link) State(now time.Time) string {
	switch {
	case !l.Revoked.IsZero():
		return "revoked"
	case l.Path == "":
		return "gone"
	case !l.Expires.IsZero() && !now.Before(l.Expires):
		return "expired"
	case l.MaxDownloads > 0 && l.Downloads >= l.MaxDownloads:
		return "exhausted"
	}
	return "active"
}

// IsLinkURL reports whether s has the shape of a link URL (it may still
// be damaged: OpenLink checks it).
func IsLinkURL(s string) bool {
	return (strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")) && strings.Contains(s, "/l/")
}

// CreateLink makes a link to the file or folder at p: anyone with the URL
// (and the password, if set) can read it and everything below it. The key
// is in the URL's fragment, which is never sent to the coordinator.
func (c *Client) CreateLink(ctx context.Context, p string, o LinkOptions) (Link, error) {
	if c.view != nil {
		return Link{}, withHint(fmt.Errorf("%w: only the owner can create links", ErrOutOfScope), "ask the owner for a link")
	}
	parts, err := splitPath(p)
	if err != nil {
		return Link{}, err
	}
	if len(parts) == 0 {
		return Link{}, withHint(fmt.Errorf("%w: the root folder cannot be shared by a link", ErrBadPath), "link a folder inside it")
	}
	if !o.Expires.IsZero() && !o.Expires.After(time.Now()) {
		return Link{}, withHint(errors.New("the expiry is in the past"), "give a positive duration, e.g. --expire 7d")
	}
	if o.MaxDownloads < 0 {
		return Link{}, errors.New("the download limit must not be negative")
	}
	clean := joinPath(parts)
	if err := c.sync(ctx); err != nil {
		return Link{}, err
	}
	n, err := c.resolve(ctx, parts, false)
	if err != nil {
		return Link{}, err
	}
	u, err := link.New(c.coord.base)
	if err != nil {
		return Link{}, err
	}
	req := api.LinkCreate{ID: hex.EncodeToString(u.ID[:]), Target: hex.EncodeToString(n.id[:]), MaxDownloads: o.MaxDownloads}
	if !o.Expires.IsZero() {
		req.Expires = o.Expires.Unix()
	}
	var kdf *keys.KDF
	if len(o.Password) > 0 {
		k := o.KDF
		if k == nil {
			d, err := keys.DefaultKDF()
			if err != nil {
				return Link{}, err
			}
			k = &d
		}
		kdf = k
		req.KDF = &api.LinkKDF{Salt: k.Salt, T: k.Time, M: k.MemoryKiB, P: k.Threads}
	}
	lk, err := link.Derive(u.ID, u.Secret, o.Password, kdf)
	if err != nil {
		return Link{}, err
	}
	v := link.Verifier(lk.Auth)
	req.Verifier = v[:]
	linkKey, err := keys.NewKey()
	if err != nil {
		return Link{}, err
	}
	if req.WrappedLinkKey, err = link.WrapLinkKey(lk.KEK, linkKey, c.account, u.ID); err != nil {
		return Link{}, err
	}
	if req.WrappedTargetKey, err = link.WrapTarget(linkKey, n.key, c.account, u.ID, n.id); err != nil {
		return Link{}, err
	}
	if req.OwnerLinkKey, err = link.WrapOwnerKey(c.master, linkKey, c.account, u.ID); err != nil {
		return Link{}, err
	}
	if req.OwnerSecret, err = link.WrapOwnerSecret(c.master, u.Secret, c.account, u.ID); err != nil {
		return Link{}, err
	}
	var out api.Link
	if err := c.coord.call(ctx, http.MethodPost, "/links", req, &out); err != nil {
		return Link{}, fmt.Errorf("create a link to %s: %w", clean, err)
	}
	l := Link{ID: req.ID, URL: u.String(), Path: clean, Kind: n.kind, Created: time.Unix(out.Created, 0),
		Expires: o.Expires, MaxDownloads: o.MaxDownloads, Password: kdf != nil}
	return l, nil
}

// linkFromAPI decrypts what the owner needs of a stored link: its URL.
func (c *Client) linkFromAPI(ctx context.Context, a api.Link) (Link, error) {
	id, err := parseID16(a.ID)
	if err != nil {
		return Link{}, tampered("link ID %q: %v", a.ID, err)
	}
	secret, err := link.UnwrapOwnerSecret(c.master, a.OwnerSecret, c.account, id)
	if err != nil {
		return Link{}, tampered("the secret of link %s: %v", a.ID, err)
	}
	u := link.URL{Base: c.coord.base, ID: id, Secret: secret}
	l := Link{ID: a.ID, URL: u.String(), Kind: a.Kind, Created: time.Unix(a.Created, 0),
		MaxDownloads: a.MaxDownloads, Downloads: a.Downloads, Password: a.Password}
	if a.Expires != 0 {
		l.Expires = time.Unix(a.Expires, 0)
	}
	if a.Revoked != 0 {
		l.Revoked = time.Unix(a.Revoked, 0)
	}
	if target, err := parseID16(a.Target); err == nil {
		if p, err := c.pathOf(ctx, target); err == nil {
			l.Path = p
		} else if !errors.Is(err, ErrNotFound) {
			return Link{}, err
		}
	}
	return l, nil
}

// pathOf returns the path of entry id in the tree (ErrNotFound if it is
// not in it, or in the trash).
func (c *Client) pathOf(ctx context.Context, id [16]byte) (string, error) {
	if err := c.sync(ctx); err != nil {
		return "", err
	}
	p, live, _, err := c.folderPath(ctx, id, false, 0)
	if err != nil {
		return "", err
	}
	if !live {
		return "", fmt.Errorf("entry %x is not in the tree: %w", id, ErrNotFound)
	}
	return p, nil
}

// Links lists this account's links, oldest first, revoked ones included.
func (c *Client) Links(ctx context.Context) ([]Link, error) {
	if c.view != nil {
		return nil, withHint(fmt.Errorf("%w: only the owner can list links", ErrOutOfScope), "log in")
	}
	var ls api.Links
	if err := c.coord.call(ctx, http.MethodGet, "/links", nil, &ls); err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	out := make([]Link, 0, len(ls.Links))
	for _, a := range ls.Links {
		l, err := c.linkFromAPI(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// RevokeLink revokes the link with the given ID (or a unique prefix of at
// least 6 hex digits) or URL: the coordinator refuses it from now on, and
// the keys of its target are rotated, so that what is written there later
// cannot be read with the link's key.
func (c *Client) RevokeLink(ctx context.Context, idOrURL string) (Link, error) {
	ls, err := c.Links(ctx)
	if err != nil {
		return Link{}, err
	}
	want := strings.ToLower(strings.TrimSpace(idOrURL))
	if IsLinkURL(idOrURL) {
		u, err := link.Parse(strings.TrimSpace(idOrURL))
		if err != nil {
			return Link{}, withHint(fmt.Errorf("%w: %w", ErrBadLink, err), "pass the link's ID from `nuage link ls`")
		}
		want = hex.EncodeToString(u.ID[:])
	}
	var found []Link
	for _, l := range ls {
		if len(want) >= 6 && strings.HasPrefix(l.ID, want) {
			found = append(found, l)
		}
	}
	switch {
	case len(found) == 0:
		return Link{}, withHint(fmt.Errorf("link %s: %w", idOrURL, ErrNotFound), "list links with `nuage link ls`")
	case len(found) > 1:
		return Link{}, withHint(fmt.Errorf("%w: %q matches %d links", ErrBadPath, idOrURL, len(found)), "give more of the ID")
	}
	l := found[0]
	if err := c.coord.call(ctx, http.MethodDelete, "/links/"+l.ID, nil, nil); err != nil {
		return Link{}, fmt.Errorf("revoke link %s: %w", l.ID, err)
	}
	if l.Revoked.IsZero() {
		l.Revoked = time.Now()
	}
	if l.Path == "" {
		return l, nil // nothing left to rotate
	}
	if err := c.Rotate(ctx, l.Path); err != nil {
		return l, withHint(fmt.Errorf("the link is revoked, but the keys of %s were not rotated: %w", l.Path, err),
			fmt.Sprintf("run `nuage share rotate %s` to retry", l.Path))
	}
	return l, nil
}

// LinkOpenOptions tune OpenLink.
type LinkOpenOptions struct {
	// Password is called for the link's password if it has one.
	Password func() ([]byte, error)
	// Download counts this use of the link as a download now (get, cat),
	// rather than only when file content is first fetched.
	Download bool
}

// OpenLink opens a link without an account: it returns a read-only client
// whose "/" is the link's target (a file or a folder), and the target's
// entry. Close it when done.
func OpenLink(ctx context.Context, rawURL string, lo LinkOpenOptions, opts *Options) (*Client, Entry, error) {
	u, err := link.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		hint := "copy the whole link, including the part after #"
		return nil, Entry{}, withHint(fmt.Errorf("%w: %w", ErrBadLink, err), hint)
	}
	o := opts.withDefaults()
	co, err := newCoord(u.Base, o.HTTPClient)
	if err != nil {
		return nil, Entry{}, err
	}
	id := hex.EncodeToString(u.ID[:])
	var pre api.LinkPrelude
	if err := co.call(ctx, http.MethodGet, "/links/"+id+"/prelude", nil, &pre); err != nil {
		return nil, Entry{}, linkError(err)
	}
	var password []byte
	var kdf *keys.KDF
	if pre.Password {
		if pre.KDF == nil {
			return nil, Entry{}, tampered("the link has a password but no KDF parameters")
		}
		kdf = &keys.KDF{Salt: pre.KDF.Salt, Time: pre.KDF.T, MemoryKiB: pre.KDF.M, Threads: pre.KDF.P}
		if err := kdf.Validate(); err != nil {
			return nil, Entry{}, tampered("the link's password parameters: %v", err)
		}
		if lo.Password == nil {
			return nil, Entry{}, withHint(fmt.Errorf("%w: the link needs a password", ErrLinkPassword), "set NUAGE_LINK_PASSWORD or run in a terminal to type it")
		}
		if password, err = lo.Password(); err != nil {
			return nil, Entry{}, err
		}
		if len(password) == 0 {
			return nil, Entry{}, withHint(fmt.Errorf("%w: empty password", ErrLinkPassword), "the link has a password: ask its owner")
		}
	}
	lk, err := link.Derive(u.ID, u.Secret, password, kdf)
	if err != nil {
		return nil, Entry{}, err
	}
	var ls api.LinkSession
	if err := co.call(ctx, http.MethodPost, "/links/"+id+"/open", api.LinkOpen{Auth: lk.Auth[:], Download: lo.Download}, &ls); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == api.CodeLinkAuth && !pre.Password {
			return nil, Entry{}, withHint(fmt.Errorf("%w: the link's key does not match", ErrBadLink), "the link was altered; ask its owner for it again")
		}
		return nil, Entry{}, linkError(err)
	}
	owner, err := parseID16(ls.Owner)
	if err != nil {
		return nil, Entry{}, tampered("the link's owner: %v", err)
	}
	target, err := parseID16(ls.Target)
	if err != nil {
		return nil, Entry{}, tampered("the link's target: %v", err)
	}
	linkKey, err := link.UnwrapLinkKey(lk.KEK, ls.WrappedLinkKey, owner, u.ID)
	if err != nil {
		return nil, Entry{}, tampered("the link key does not open: %v", err)
	}
	tkey, err := link.UnwrapTarget(linkKey, ls.WrappedTargetKey, owner, u.ID, target)
	if err != nil {
		return nil, Entry{}, tampered("the link's target key does not open: %v", err)
	}
	v, err := newView(o, newNodePool(o), u.Base, ls.Token, owner)
	if err != nil {
		return nil, Entry{}, err
	}
	v.view.what = "the linked " + ls.Kind
	v.view.ownPool = true
	root, err := v.openViewRoot(ctx, target, tkey)
	if err != nil {
		v.Close()
		return nil, Entry{}, linkError(err)
	}
	if root.kind != ls.Kind {
		v.Close()
		return nil, Entry{}, tampered("the link's target is a %s, the coordinator said a %s", root.kind, ls.Kind)
	}
	return v, root.entry("/"), nil
}

// linkError maps the coordinator's answers about a link onto the
// package's errors.
func linkError(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err
	}
	var s error
	hint := "ask the link's owner for a new link"
	switch ae.Code {
	case api.CodeLinkRevoked:
		s = ErrLinkRevoked
	case api.CodeLinkExpired:
		s = ErrLinkExpired
	case api.CodeLinkExhausted:
		s = ErrLinkExhausted
	case api.CodeLinkGone:
		s = ErrLinkGone
	case api.CodeLinkAuth:
		s, hint = ErrLinkPassword, "check the password with the link's owner"
	case api.CodeNotFound:
		return withHint(fmt.Errorf("%w: no such link on this coordinator: %w", ErrBadLink, err), "check that the link is complete")
	case api.CodeOutOfScope:
		s, hint = ErrOutOfScope, "a link gives access only to what it points to"
	default:
		return err
	}
	return withHint(fmt.Errorf("%w (%w)", s, err), hint)
}
