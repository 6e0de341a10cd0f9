package client

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/journal"
	"github.com/nuage-storage/nuage/internal/share"
)

// PurposeX25519 is the wrap purpose of the account's X25519 private key
// under the master key; the wrap's object is the account ID (spec §2.3).
const PurposeX25519 = "x25519"

// newKeyPair makes the account's X25519 key pair and wraps its private
// half under the master key.
func newKeyPair(master keys.Key, account [16]byte) (pub, wrapped []byte, err error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	k, err := keys.KeyFromBytes(priv.Bytes())
	if err != nil {
		return nil, nil, err
	}
	wrapped, err = keys.Wrap(master, k, PurposeX25519, account[:], account[:])
	if err != nil {
		return nil, nil, err
	}
	return priv.PublicKey().Bytes(), wrapped, nil
}

// openSession sets up a logged-in client (c.account and c.master set):
// it opens the two top-level folders, checks that the public key the
// coordinator stores is the account's (the private key, wrapped under the
// master key, must derive it) and loads the saved journal state. Nothing
// is trusted until the first sync checks the folders against the journal.
func (c *Client) openSession(root, trash api.Entry, pub, wrappedPriv []byte) error {
	c.jkey = keyForJournal(c.master)
	r, err := c.openTop(root, "")
	if err != nil {
		return err
	}
	c.rootID = r.id
	tr, err := parseID16(trash.ID)
	if err != nil || tr == r.id {
		return tampered("the trash folder the coordinator named is not valid")
	}
	c.trashID = tr
	t, err := c.openTop(trash, trashName)
	if err != nil {
		return err
	}
	pk, err := keys.Unwrap(c.master, wrappedPriv, PurposeX25519, c.account[:], c.account[:])
	if err != nil {
		return tampered("the account's private key: %v", err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(pk[:])
	if err != nil {
		return tampered("the account's private key: %v", err)
	}
	if subtle.ConstantTimeCompare(priv.PublicKey().Bytes(), pub) != 1 {
		return tampered("the public key the coordinator returned is not this account's")
	}
	c.pub = append([]byte(nil), pub...)
	c.t.js = c.loadJournalState()
	c.t.root, c.t.trash = r, t
	c.t.nodes = map[journal.ID]*node{journal.ID(r.id): r, journal.ID(t.id): t}
	c.t.dirs = make(map[journal.ID]map[string]*node)
	return nil
}

// PublicKey returns the account's X25519 public key (32 bytes). Others
// use it to share with this account; it is checked against the private
// key at login.
func (c *Client) PublicKey() []byte { return append([]byte(nil), c.pub...) }

// Fingerprint returns the account's key fingerprint (spec §2.3): it covers
// the account ID, the e-mail and both public keys. People compare it out of
// band before trusting a key (`nuage contact verify`).
func (c *Client) Fingerprint() string {
	return share.Fingerprint(c.account, c.state.Email, c.pub, c.state.SigningKey)
}
