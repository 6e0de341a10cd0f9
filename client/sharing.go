package client

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/share"
)

// Errors of links, shares and contacts.
var (
	// ErrBadLink reports a link URL that is malformed or damaged.
	ErrBadLink = errors.New("not a valid nuage link")
	// ErrLinkPassword reports a wrong link password.
	ErrLinkPassword = errors.New("wrong link password")
	// ErrLinkRevoked, ErrLinkExpired, ErrLinkExhausted and ErrLinkGone
	// report a link that no longer works; all match ErrLinkInvalid.
	ErrLinkInvalid   = errors.New("the link no longer works")
	ErrLinkRevoked   = fmt.Errorf("%w: its owner revoked it", ErrLinkInvalid)
	ErrLinkExpired   = fmt.Errorf("%w: it expired", ErrLinkInvalid)
	ErrLinkExhausted = fmt.Errorf("%w: its download limit is reached", ErrLinkInvalid)
	ErrLinkGone      = fmt.Errorf("%w: what it pointed to was deleted", ErrLinkInvalid)
	// ErrReadOnly reports a change through a read-only share or a link.
	ErrReadOnly = errors.New("read-only")
	// ErrOutOfScope reports a link or share session asked for something
	// outside its subtree.
	ErrOutOfScope = errors.New("outside the shared folder")
	// ErrKeyChanged reports a contact whose public keys differ from the
	// ones pinned on first use. It matches ErrTampered.
	ErrKeyChanged = fmt.Errorf("%w: a contact's public keys changed since they were pinned", ErrTampered)
)

// sharingKeys are the account's private keys for sharing.
type sharingKeys struct {
	x25519  *ecdh.PrivateKey
	signing ed25519.PrivateKey
}

// ensureSigningKey checks the account's signing key at login, or makes
// one if the account has none yet (spec §2.3), and records its public half.
func (c *Client) ensureSigningKey(ctx context.Context, sess *api.Session) error {
	if len(sess.SigningKey) != 0 {
		if _, err := share.UnwrapSigningKey(c.master, sess.WrappedSigningKey, c.account, sess.SigningKey); err != nil {
			return tampered("the account's signing key: %v", err)
		}
		return nil
	}
	pub, wrapped, err := share.NewSigningKey(c.master, c.account)
	if err != nil {
		return err
	}
	err = c.coord.call(ctx, http.MethodPost, "/account/signing-key", api.SigningKeySet{SigningKey: pub, WrappedSigningKey: wrapped}, nil)
	if errors.Is(err, ErrExists) {
		// Another device set it meanwhile: use that one.
		var acct api.Session
		if err := c.coord.call(ctx, http.MethodGet, "/account", nil, &acct); err != nil {
			return err
		}
		if _, err := share.UnwrapSigningKey(c.master, acct.WrappedSigningKey, c.account, acct.SigningKey); err != nil {
			return tampered("the account's signing key: %v", err)
		}
		sess.SigningKey, sess.WrappedSigningKey = acct.SigningKey, acct.WrappedSigningKey
		return nil
	}
	if err != nil {
		return fmt.Errorf("set the account's signing key: %w", err)
	}
	sess.SigningKey, sess.WrappedSigningKey = pub, wrapped
	return nil
}

// keysForSharing returns the account's private sharing keys, checked
// against the public keys the coordinator publishes for it.
func (c *Client) keysForSharing(ctx context.Context) (*sharingKeys, error) {
	if c.view != nil {
		return nil, withHint(fmt.Errorf("%w: sharing needs an account", ErrOutOfScope), "log in with `nuage login`")
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.sharing != nil {
		return c.sharing, nil
	}
	var acct api.Session
	if err := c.coord.call(ctx, http.MethodGet, "/account", nil, &acct); err != nil {
		return nil, fmt.Errorf("read the account: %w", err)
	}
	if len(acct.SigningKey) == 0 {
		if err := c.ensureSigningKey(ctx, &acct); err != nil {
			return nil, err
		}
	}
	sign, err := share.UnwrapSigningKey(c.master, acct.WrappedSigningKey, c.account, acct.SigningKey)
	if err != nil {
		return nil, tampered("the account's signing key: %v", err)
	}
	pk, err := keys.Unwrap(c.master, acct.WrappedPrivateKey, PurposeX25519, c.account[:], c.account[:])
	if err != nil {
		return nil, tampered("the account's private key: %v", err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(pk[:])
	if err != nil {
		return nil, tampered("the account's private key: %v", err)
	}
	if subtle.ConstantTimeCompare(priv.PublicKey().Bytes(), acct.PublicKey) != 1 || subtle.ConstantTimeCompare(acct.PublicKey, c.pub) != 1 {
		return nil, tampered("the public key the coordinator returned is not this account's")
	}
	c.sharing = &sharingKeys{x25519: priv, signing: sign}
	if len(c.state.SigningKey) == 0 {
		c.state.SigningKey = append([]byte(nil), acct.SigningKey...)
	}
	return c.sharing, nil
}

// Contact is what this device knows of another account's keys.
type Contact struct {
	Email   string
	Account string
	// Fingerprint is of the keys the coordinator serves now.
	Fingerprint string
	// Pinned reports keys pinned on this device (on first use);
	// PinnedFingerprint is theirs.
	Pinned            bool
	PinnedFingerprint string
	// Verified reports pinned keys the user compared out of band.
	Verified bool
	// Changed reports keys that differ from the pinned ones.
	Changed bool
}

// pin is a contact's keys as pinned on this device.
type pin struct {
	Account    string    `json:"account"`
	PublicKey  []byte    `json:"public_key"`
	SigningKey []byte    `json:"signing_key"`
	Verified   bool      `json:"verified,omitempty"`
	Pinned     time.Time `json:"pinned"`
}

// contactBook is the device's pinned contacts, in CONFIG/contacts-ACCOUNT.json.
type contactBook struct {
	mu   sync.Mutex
	path string // "" keeps them in memory only
	pins map[string]pin
}

type contactFile struct {
	Version  int            `json:"version"`
	Contacts map[string]pin `json:"contacts"`
}

// book loads the contact book.
func (c *Client) book() (*contactBook, error) {
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.contacts != nil {
		return c.contacts, nil
	}
	b := &contactBook{pins: map[string]pin{}}
	if c.opts.StateDir != "" {
		b.path = filepath.Join(c.opts.StateDir, "contacts-"+hex.EncodeToString(c.account[:])+".json")
		data, err := os.ReadFile(b.path)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("read the pinned contacts: %w", err)
		default:
			var f contactFile
			if err := json.Unmarshal(data, &f); err != nil || f.Version != 1 {
				return nil, withHint(fmt.Errorf("the pinned contacts file %s is damaged", b.path),
					"restore it from a backup; deleting it forgets which keys you verified")
			}
			for k, v := range f.Contacts {
				b.pins[k] = v
			}
		}
	}
	c.contacts = b
	return b, nil
}

func (b *contactBook) get(email string) (pin, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.pins[email]
	return p, ok
}

func (b *contactBook) set(email string, p pin) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pins[email] = p
	if b.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(contactFile{Version: 1, Contacts: b.pins}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return err
	}
	if err := writeFileAtomic(b.path, data); err != nil {
		return fmt.Errorf("save the pinned contacts: %w", err)
	}
	return nil
}

// peer is another account's keys as the coordinator serves them.
type peer struct {
	account    [16]byte
	email      string
	x25519     *ecdh.PublicKey
	signing    ed25519.PublicKey
	rawX25519  []byte
	rawSigning []byte
}

func (p *peer) fingerprint() string {
	return share.Fingerprint(p.account, p.email, p.rawX25519, p.rawSigning)
}

// fetchPeer reads an account's public keys by e-mail or (if email is "") by ID.
func (c *Client) fetchPeer(ctx context.Context, email string, id [16]byte) (*peer, error) {
	var ak api.AccountKeys
	var err error
	if email != "" {
		if email, err = normalizeEmail(email); err != nil {
			return nil, err
		}
		err = c.coord.call(ctx, http.MethodGet, "/accounts/keys?email="+url.QueryEscape(email), nil, &ak)
	} else {
		err = c.coord.call(ctx, http.MethodGet, "/accounts/"+hex.EncodeToString(id[:])+"/keys", nil, &ak)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, withHint(fmt.Errorf("no account %s on this coordinator: %w", email, ErrNotFound), "check the e-mail address; they must sign up first")
	}
	if err != nil {
		return nil, fmt.Errorf("read the public keys of %s: %w", email, err)
	}
	p := &peer{email: ak.Email, rawX25519: ak.PublicKey, rawSigning: ak.SigningKey}
	if p.account, err = parseID16(ak.Account); err != nil {
		return nil, tampered("the account ID of %s: %v", email, err)
	}
	if (email != "" && ak.Email != email) || (email == "" && p.account != id) {
		return nil, tampered("the coordinator answered the keys of another account than %s", email)
	}
	if p.x25519, err = ecdh.X25519().NewPublicKey(ak.PublicKey); err != nil {
		return nil, tampered("the public key of %s: %v", ak.Email, err)
	}
	if len(ak.SigningKey) == 0 {
		return nil, withHint(fmt.Errorf("%s has no signing key yet", ak.Email),
			"ask them to log in once with this version of nuage (`nuage login`)")
	}
	if len(ak.SigningKey) != ed25519.PublicKeySize {
		return nil, tampered("the signing key of %s has %d bytes", ak.Email, len(ak.SigningKey))
	}
	p.signing = ed25519.PublicKey(ak.SigningKey)
	return p, nil
}

// trusted returns the keys of a contact, pinning them on first use. Keys
// that differ from the pinned ones fail with ErrKeyChanged. first reports
// keys pinned by this call.
func (c *Client) trusted(ctx context.Context, email string, id [16]byte) (p *peer, first bool, err error) {
	if p, err = c.fetchPeer(ctx, email, id); err != nil {
		return nil, false, err
	}
	if p.account == c.account {
		return nil, false, withHint(errors.New("that is this account"), "share with another account")
	}
	b, err := c.book()
	if err != nil {
		return nil, false, err
	}
	old, ok := b.get(p.email)
	if !ok {
		err := b.set(p.email, pin{Account: hex.EncodeToString(p.account[:]), PublicKey: p.rawX25519, SigningKey: p.rawSigning, Pinned: time.Now().UTC()})
		return p, true, err
	}
	if old.Account != hex.EncodeToString(p.account[:]) ||
		subtle.ConstantTimeCompare(old.PublicKey, p.rawX25519) != 1 || subtle.ConstantTimeCompare(old.SigningKey, p.rawSigning) != 1 {
		return nil, false, withHint(fmt.Errorf("%w: the coordinator now serves other keys for %s (fingerprint %s, pinned %s)",
			ErrKeyChanged, p.email, p.fingerprint(), pinFingerprint(p.email, old)),
			fmt.Sprintf("either %s reset their account, or someone is intercepting: compare fingerprints with them out of band, then run `nuage contact verify %s --fingerprint %s`", p.email, p.email, p.fingerprint()))
	}
	return p, false, nil
}

func pinFingerprint(email string, p pin) string {
	id, err := parseID16(p.Account)
	if err != nil {
		return "?"
	}
	return share.Fingerprint(id, email, p.PublicKey, p.SigningKey)
}

// Contact returns what this device knows of email's keys, compared with
// the keys the coordinator serves now. It pins nothing.
func (c *Client) Contact(ctx context.Context, email string) (Contact, error) {
	if _, err := c.keysForSharing(ctx); err != nil {
		return Contact{}, err
	}
	p, err := c.fetchPeer(ctx, email, [16]byte{})
	if err != nil {
		return Contact{}, err
	}
	out := Contact{Email: p.email, Account: hex.EncodeToString(p.account[:]), Fingerprint: p.fingerprint()}
	b, err := c.book()
	if err != nil {
		return Contact{}, err
	}
	if old, ok := b.get(p.email); ok {
		out.Pinned, out.Verified = true, old.Verified
		out.PinnedFingerprint = pinFingerprint(p.email, old)
		out.Changed = out.PinnedFingerprint != out.Fingerprint
	}
	return out, nil
}

// VerifyContact pins the keys the coordinator serves for email as verified:
// call it after comparing their fingerprint with the person out of band. A
// non-empty fingerprint must equal the current one.
func (c *Client) VerifyContact(ctx context.Context, email, fingerprint string) (Contact, error) {
	if _, err := c.keysForSharing(ctx); err != nil {
		return Contact{}, err
	}
	p, err := c.fetchPeer(ctx, email, [16]byte{})
	if err != nil {
		return Contact{}, err
	}
	if p.account == c.account {
		return Contact{}, withHint(errors.New("that is this account"), "verify another account")
	}
	fp := p.fingerprint()
	if fingerprint != "" && subtle.ConstantTimeCompare([]byte(normalizeFingerprint(fingerprint)), []byte(fp)) != 1 {
		return Contact{}, withHint(fmt.Errorf("%w: the fingerprint you gave does not match the keys the coordinator serves for %s (%s)", ErrKeyChanged, p.email, fp),
			"do not share with this account until the fingerprints match")
	}
	b, err := c.book()
	if err != nil {
		return Contact{}, err
	}
	if err := b.set(p.email, pin{Account: hex.EncodeToString(p.account[:]), PublicKey: p.rawX25519, SigningKey: p.rawSigning, Verified: true, Pinned: time.Now().UTC()}); err != nil {
		return Contact{}, err
	}
	return Contact{Email: p.email, Account: hex.EncodeToString(p.account[:]), Fingerprint: fp, Pinned: true, PinnedFingerprint: fp, Verified: true}, nil
}

// normalizeFingerprint accepts a fingerprint typed with spaces, dashes or
// capitals.
func normalizeFingerprint(s string) string {
	var hexd []byte
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'f':
			hexd = append(hexd, byte(r))
		case r >= 'A' && r <= 'F':
			hexd = append(hexd, byte(r-'A'+'a'))
		}
	}
	var out []byte
	for i, ch := range hexd {
		if i > 0 && i%4 == 0 {
			out = append(out, '-')
		}
		out = append(out, ch)
	}
	return string(out)
}
