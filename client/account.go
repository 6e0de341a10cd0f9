package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// State is what a logged-in client keeps between runs: the coordinator, the
// session token and the unwrapped master key. It is as sensitive as the
// password; the CLI stores it with mode 0600.
type State struct {
	Server    string    `json:"server"`
	Email     string    `json:"email"`
	Account   string    `json:"account"`
	Token     string    `json:"token"`
	MasterKey []byte    `json:"master_key"`
	Root      api.Entry `json:"root"`
}

// Client is a logged-in session. It is safe for concurrent use.
type Client struct {
	opts    Options
	coord   *coord
	state   State
	account [16]byte
	master  keys.Key
	root    *node
	nodes   *nodePool

	infoOnce sync.Once
	info     api.Info
	infoErr  error
}

// New resumes a session saved with State.
func New(st State, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	co, err := newCoord(st.Server, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	co.token = st.Token
	c := &Client{opts: o, coord: co, state: st, nodes: newNodePool(o)}
	acct, err := parseID16(st.Account)
	if err != nil {
		return nil, fmt.Errorf("saved session: account ID: %w", err)
	}
	c.account = acct
	if len(st.MasterKey) != len(c.master) {
		return nil, withHint(errors.New("saved session has no valid master key"), "log in again with `nuage login`")
	}
	copy(c.master[:], st.MasterKey)
	root, err := c.openRoot(st.Root)
	if err != nil {
		return nil, err
	}
	c.root = root
	return c, nil
}

// State returns the session to save for later runs.
func (c *Client) State() State { return c.state }

// Email returns the account's e-mail address.
func (c *Client) Email() string { return c.state.Email }

// Server returns the coordinator URL.
func (c *Client) Server() string { return c.coord.base }

// Close releases idle connections.
func (c *Client) Close() error {
	c.nodes.close()
	return nil
}

// SignupOptions tune account creation.
type SignupOptions struct {
	// KDF overrides the Argon2id parameters (nil: keys.DefaultKDF). Tests
	// use cheaper parameters; they must still pass keys.KDF.Validate.
	KDF *keys.KDF
}

// Signup creates an account on the coordinator at server and logs in.
// The password never leaves this function: only a key derived from it does.
func Signup(ctx context.Context, server, email string, password []byte, so *SignupOptions, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	co, err := newCoord(server, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	email, err = normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if len(password) == 0 {
		return nil, withHint(errors.New("empty password"), "set NUAGE_PASSWORD or type a password at the prompt")
	}
	var kdf keys.KDF
	if so != nil && so.KDF != nil {
		kdf = *so.KDF
	} else if kdf, err = keys.DefaultKDF(); err != nil {
		return nil, err
	}
	rootSecret, err := keys.DeriveRoot(password, kdf)
	if err != nil {
		return nil, fmt.Errorf("derive keys from password: %w", err)
	}
	var acct, rootID [16]byte
	if _, err := rand.Read(acct[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(rootID[:]); err != nil {
		return nil, err
	}
	master, err := keys.NewKey()
	if err != nil {
		return nil, err
	}
	wrappedMaster, err := keys.Wrap(keys.KEK(rootSecret), master, keys.PurposeMaster, acct[:], acct[:])
	if err != nil {
		return nil, err
	}
	c := &Client{opts: o, coord: co, account: acct, master: master, nodes: newNodePool(o)}
	rootEntry, err := c.sealEntry(rootID, [16]byte{}, nil, "folder", &meta{Mode: uint32(fs.ModeDir | 0o700)}, master, "")
	if err != nil {
		return nil, err
	}
	auth := keys.AuthKey(rootSecret)
	req := api.SignupRequest{
		Email:            email,
		Account:          hex.EncodeToString(acct[:]),
		KDF:              toAPIKDF(kdf),
		AuthKey:          auth[:],
		WrappedMasterKey: wrappedMaster,
		Root:             rootEntry.raw,
	}
	var sess api.Session
	if err := co.call(ctx, http.MethodPost, "/signup", req, &sess); err != nil {
		return nil, fmt.Errorf("sign up %s: %w", email, err)
	}
	return c.finishLogin(sess, rootSecret)
}

// Login opens a session for an existing account.
func Login(ctx context.Context, server, email string, password []byte, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	co, err := newCoord(server, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	email, err = normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	var pre api.PreloginResponse
	if err := co.call(ctx, http.MethodPost, "/prelogin", api.PreloginRequest{Email: email}, &pre); err != nil {
		return nil, fmt.Errorf("log in %s: %w", email, err)
	}
	kdf := fromAPIKDF(pre.KDF)
	if err := kdf.Validate(); err != nil {
		return nil, fmt.Errorf("the coordinator sent password-hashing parameters this client refuses: %w", err)
	}
	rootSecret, err := keys.DeriveRoot(password, kdf)
	if err != nil {
		return nil, fmt.Errorf("derive keys from password: %w", err)
	}
	auth := keys.AuthKey(rootSecret)
	var sess api.Session
	if err := co.call(ctx, http.MethodPost, "/login", api.LoginRequest{Email: email, AuthKey: auth[:]}, &sess); err != nil {
		return nil, fmt.Errorf("log in %s: %w", email, err)
	}
	c := &Client{opts: o, coord: co, nodes: newNodePool(o)}
	return c.finishLogin(sess, rootSecret)
}

func (c *Client) finishLogin(sess api.Session, rootSecret keys.Key) (*Client, error) {
	acct, err := parseID16(sess.Account)
	if err != nil {
		return nil, fmt.Errorf("%w: coordinator sent a bad account ID", ErrTampered)
	}
	if c.account != ([16]byte{}) && c.account != acct {
		return nil, fmt.Errorf("%w: coordinator answered with another account", ErrTampered)
	}
	c.account = acct
	master, err := keys.Unwrap(keys.KEK(rootSecret), sess.WrappedMasterKey, keys.PurposeMaster, acct[:], acct[:])
	if err != nil {
		return nil, fmt.Errorf("%w: the master key the coordinator returned does not open with this password: %v", ErrTampered, err)
	}
	c.master = master
	c.coord.token = sess.Token
	root, err := c.openRoot(sess.Root)
	if err != nil {
		return nil, err
	}
	c.root = root
	c.state = State{
		Server:    c.coord.base,
		Email:     sess.Email,
		Account:   sess.Account,
		Token:     sess.Token,
		MasterKey: append([]byte(nil), master[:]...),
		Root:      sess.Root,
	}
	return c, nil
}

// Logout ends the session on the coordinator.
func (c *Client) Logout(ctx context.Context) error {
	return c.coord.call(ctx, http.MethodPost, "/logout", nil, nil)
}

// Usage returns the ciphertext bytes the account stores.
func (c *Client) Usage(ctx context.Context) (int64, error) {
	var u api.Usage
	err := c.coord.call(ctx, http.MethodGet, "/usage", nil, &u)
	return u.Used, err
}

func (c *Client) serverInfo(ctx context.Context) (api.Info, error) {
	c.infoOnce.Do(func() {
		c.infoErr = c.coord.call(ctx, http.MethodGet, "/info", nil, &c.info)
	})
	return c.info, c.infoErr
}

func normalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if len(e) < 3 || len(e) > 254 || !strings.Contains(e, "@") || strings.ContainsAny(e, " \t\r\n") {
		return "", withHint(fmt.Errorf("%q is not an e-mail address", email), "use the form name@example.org")
	}
	return e, nil
}

func toAPIKDF(k keys.KDF) api.KDF {
	return api.KDF{Alg: "argon2id", Salt: k.Salt, Time: k.Time, MemoryKiB: k.MemoryKiB, Threads: k.Threads}
}

func fromAPIKDF(k api.KDF) keys.KDF {
	if k.Alg != "argon2id" {
		return keys.KDF{} // fails Validate
	}
	return keys.KDF{Salt: k.Salt, Time: k.Time, MemoryKiB: k.MemoryKiB, Threads: k.Threads}
}

func parseID16(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != 32 {
		return id, fmt.Errorf("ID %q: want 32 hex characters", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("ID %q: %w", s, err)
	}
	return id, nil
}
