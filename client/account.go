package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/journal"
	"github.com/nuage-storage/nuage/internal/share"
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
	Trash     api.Entry `json:"trash"`
	// PublicKey is the account's X25519 public key and WrappedPrivateKey
	// its private half, wrapped under the master key.
	PublicKey         []byte `json:"public_key"`
	WrappedPrivateKey []byte `json:"wrapped_private_key"`
	// TokenID is the API token of a token session ("" for a password session).
	TokenID string `json:"token_id,omitempty"`
	// SigningKey is the account's Ed25519 public key (spec §2.3).
	SigningKey []byte `json:"signing_key,omitempty"`
}

// Client is a logged-in session. It is safe for concurrent use.
type Client struct {
	opts    Options
	coord   *coord
	state   State
	account [16]byte
	master  keys.Key
	nodes   *nodePool

	// Set once at login (openSession).
	jkey            [32]byte // the journal key
	rootID, trashID [16]byte
	pub             []byte // X25519 public key

	t tree // the verified tree (journal.go)

	// view is set for a client of another account's subtree (view.go):
	// a link's target or a folder shared with this account.
	view *view

	// sharing state (sharing.go), loaded on first use.
	smu      sync.Mutex
	sharing  *sharingKeys
	contacts *contactBook
	views    map[string]*Client // by share ID
	routes   map[string]*Client // by OWNER/NAME (owner lower-cased)

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
	if st.Trash.ID == "" || len(st.PublicKey) == 0 || len(st.SigningKey) == 0 {
		return nil, withHint(errors.New("saved session is from an older version of nuage"), "log in again with `nuage login`")
	}
	if err := c.openSession(st.Root, st.Trash, st.PublicKey, st.WrappedPrivateKey); err != nil {
		return nil, fmt.Errorf("saved session: %w", err)
	}
	return c, nil
}

// State returns the session to save for later runs.
func (c *Client) State() State { return c.state }

// Email returns the account's e-mail address.
func (c *Client) Email() string { return c.state.Email }

// Server returns the coordinator URL.
func (c *Client) Server() string { return c.coord.base }

// Close waits for changes being committed, saves the journal state and
// releases idle connections. Call it after every other call returned; a
// second call does nothing more.
func (c *Client) Close() error {
	c.smu.Lock()
	views := c.views
	c.views = nil
	c.smu.Unlock()
	for _, v := range views {
		v.Close()
	}
	c.t.cwg.Wait()
	c.saveState(true)
	if c.view == nil || c.view.ownPool {
		c.nodes.close()
	}
	c.coord.http.CloseIdleConnections()
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
	var acct [16]byte
	if _, err := rand.Read(acct[:]); err != nil {
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
	c.jkey = keyForJournal(master)
	// The two top-level folders, told apart by their sealed names.
	var top [2]*node
	for i, name := range []string{"", trashName} {
		id, err := newID()
		if err != nil {
			return nil, err
		}
		key, err := keys.NewKey()
		if err != nil {
			return nil, err
		}
		if top[i], err = c.seal(id, nil, keys.KindFolder, key, &meta{Name: name, ModTime: now(), Mode: 0o700}, nil); err != nil {
			return nil, err
		}
	}
	pub, wrappedPriv, err := newKeyPair(master, acct)
	if err != nil {
		return nil, err
	}
	signPub, wrappedSign, err := share.NewSigningKey(master, acct)
	if err != nil {
		return nil, err
	}
	// Journal record 1 puts the root, then the trash (spec §9).
	first := journal.Record{Seq: 1, Time: time.Now(), Changes: []journal.Change{
		{Op: journal.Put, Entry: journal.ID(top[0].id), Hash: top[0].hash},
		{Op: journal.Put, Entry: journal.ID(top[1].id), Hash: top[1].hash},
	}}
	auth := keys.AuthKey(rootSecret)
	req := api.SignupRequest{
		Email:             email,
		Account:           hex.EncodeToString(acct[:]),
		KDF:               toAPIKDF(kdf),
		AuthKey:           auth[:],
		WrappedMasterKey:  wrappedMaster,
		Root:              top[0].raw,
		Trash:             top[1].raw,
		PublicKey:         pub,
		WrappedPrivateKey: wrappedPriv,
		SigningKey:        signPub,
		WrappedSigningKey: wrappedSign,
		Journal:           first.Seal(c.jkey),
	}
	var sess api.Session
	if err := co.call(ctx, http.MethodPost, "/signup", req, &sess); err != nil {
		return nil, fmt.Errorf("sign up %s: %w", email, err)
	}
	if sess.Root.ID != req.Root.ID || sess.Trash.ID != req.Trash.ID || sess.Account != req.Account {
		return nil, tampered("the coordinator answered the signup with another account's folders")
	}
	if _, err := c.finishLogin(ctx, sess, rootSecret); err != nil {
		return nil, err
	}
	// This client wrote record 1: it is the journal state, no need to read it back.
	c.t.mu.Lock()
	if c.t.js.Seq == 0 {
		err = c.applyLocked(req.Journal, map[journal.ID]*node{journal.ID(top[0].id): top[0], journal.ID(top[1].id): top[1]})
	}
	c.t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("internal error: record 1 does not apply: %w", err)
	}
	c.saveState(true)
	return c, nil
}

// LoginOptions are the second factors of a password login.
type LoginOptions struct {
	// TOTP is the current code of the account's authenticator app, if
	// two-factor login is on ("" if none is at hand).
	TOTP string
	// AskTOTP, if set, is called when the coordinator wants a code and
	// TOTP is empty; the login then continues with its answer without
	// deriving the keys from the password again.
	AskTOTP func(ctx context.Context) (string, error)
}

// Login opens a session for an existing account. When the account has
// two-factor login on and no code is given (lo.TOTP, lo.AskTOTP), it fails
// with an error matching ErrTOTPRequired.
func Login(ctx context.Context, server, email string, password []byte, lo *LoginOptions, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	co, err := newCoord(server, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	email, err = normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	var code string
	if lo != nil && lo.TOTP != "" {
		if code, err = normalizeTOTPCode(lo.TOTP); err != nil {
			return nil, err
		}
	}
	rootSecret, err := co.deriveRoot(ctx, email, password)
	if err != nil {
		return nil, fmt.Errorf("log in %s: %w", email, err)
	}
	auth := keys.AuthKey(rootSecret)
	req := api.LoginRequest{Email: email, AuthKey: auth[:], TOTP: code}
	var sess api.Session
	err = co.call(ctx, http.MethodPost, "/login", req, &sess)
	if isTOTPRequired(err) && code == "" && lo != nil && lo.AskTOTP != nil {
		var answer string
		if answer, err = lo.AskTOTP(ctx); err != nil {
			return nil, fmt.Errorf("log in %s: %w", email, err)
		}
		if req.TOTP, err = normalizeTOTPCode(answer); err != nil {
			return nil, err
		}
		err = co.call(ctx, http.MethodPost, "/login", req, &sess)
	}
	if err != nil {
		return nil, fmt.Errorf("log in %s: %w", email, totpError(err))
	}
	c := &Client{opts: o, coord: co, nodes: newNodePool(o)}
	return c.finishLogin(ctx, sess, rootSecret)
}

// finishLogin opens the master key of a password session with the root
// secret and completes the login.
func (c *Client) finishLogin(ctx context.Context, sess api.Session, rootSecret keys.Key) (*Client, error) {
	acct, err := parseID16(sess.Account)
	if err != nil {
		return nil, fmt.Errorf("%w: coordinator sent a bad account ID", ErrTampered)
	}
	master, err := keys.Unwrap(keys.KEK(rootSecret), sess.WrappedMasterKey, keys.PurposeMaster, acct[:], acct[:])
	if err != nil {
		return nil, fmt.Errorf("%w: the master key the coordinator returned does not open with this password: %v", ErrTampered, err)
	}
	return c.finishSession(ctx, sess, master)
}

// finishSession completes a login (password, API token or recovery) whose
// master key the caller has unwrapped and authenticated.
func (c *Client) finishSession(ctx context.Context, sess api.Session, master keys.Key) (*Client, error) {
	acct, err := parseID16(sess.Account)
	if err != nil {
		return nil, fmt.Errorf("%w: coordinator sent a bad account ID", ErrTampered)
	}
	if c.account != ([16]byte{}) && c.account != acct {
		return nil, fmt.Errorf("%w: coordinator answered with another account", ErrTampered)
	}
	c.account = acct
	c.master = master
	c.coord.token = sess.Token
	if err := c.openSession(sess.Root, sess.Trash, sess.PublicKey, sess.WrappedPrivateKey); err != nil {
		return nil, err
	}
	if err := c.ensureSigningKey(ctx, &sess); err != nil {
		return nil, err
	}
	c.state = State{
		SigningKey:        sess.SigningKey,
		Server:            c.coord.base,
		Email:             sess.Email,
		Account:           sess.Account,
		Token:             sess.Token,
		MasterKey:         append([]byte(nil), master[:]...),
		Root:              sess.Root,
		Trash:             sess.Trash,
		PublicKey:         sess.PublicKey,
		WrappedPrivateKey: sess.WrappedPrivateKey,
		TokenID:           sess.TokenID,
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

// deriveRoot fetches the account's Argon2id parameters, refuses weak or
// outrageous ones (a hostile coordinator could otherwise weaken the hash or
// make the client run for hours), and derives the root secret.
func (co *coord) deriveRoot(ctx context.Context, email string, password []byte) (keys.Key, error) {
	if len(password) == 0 {
		return keys.Key{}, withHint(errors.New("empty password"), "set NUAGE_PASSWORD or type a password at the prompt")
	}
	var pre api.PreloginResponse
	if err := co.call(ctx, http.MethodPost, "/prelogin", api.PreloginRequest{Email: email}, &pre); err != nil {
		return keys.Key{}, err
	}
	kdf := fromAPIKDF(pre.KDF)
	if err := kdf.Validate(); err != nil {
		return keys.Key{}, fmt.Errorf("the coordinator sent password-hashing parameters this client refuses: %w", err)
	}
	root, err := keys.DeriveRoot(password, kdf)
	if err != nil {
		return keys.Key{}, fmt.Errorf("derive keys from password: %w", err)
	}
	return root, nil
}

// freshKDF returns Argon2id parameters with the costs of base (the defaults
// if base is nil) and a new random salt.
func freshKDF(base *keys.KDF) (keys.KDF, error) {
	k, err := keys.DefaultKDF()
	if err != nil {
		return keys.KDF{}, err
	}
	if base != nil {
		k.Time, k.MemoryKiB, k.Threads = base.Time, base.MemoryKiB, base.Threads
	}
	if err := k.Validate(); err != nil {
		return keys.KDF{}, err
	}
	return k, nil
}

// errTokenSession is what account changes answer in an API-token session.
var errTokenSession = fmt.Errorf("%w: an API-token session cannot do this", ErrUnauthorized)

// needPasswordSession refuses account changes from an API-token session:
// a token opens the files, not the account.
func (c *Client) needPasswordSession(what string) error {
	if c.state.TokenID != "" {
		return withHint(fmt.Errorf("%s: %w", what, errTokenSession), "log in with the password (`nuage login`, without NUAGE_TOKEN)")
	}
	return nil
}

// TokenID returns the ID of the API token this session was opened with, or
// "" for a password session.
func (c *Client) TokenID() string { return c.state.TokenID }

// ChangePassword replaces the password: it proves current to the
// coordinator, derives new keys from next with fresh Argon2id parameters
// (kdf's costs, or the defaults if kdf is nil; the salt is always new) and
// rewraps only the master key under them, so no file is touched. Sessions,
// API tokens and the recovery key keep working. A wrong current password
// fails with an error matching ErrUnauthorized and changes nothing. Not
// allowed from an API-token session.
func (c *Client) ChangePassword(ctx context.Context, current, next []byte, kdf *keys.KDF) error {
	if len(next) == 0 {
		return withHint(errors.New("empty new password"), "set NUAGE_NEW_PASSWORD or type a password at the prompt")
	}
	if err := c.needPasswordSession("change the password"); err != nil {
		return err
	}
	oldRoot, err := c.coord.deriveRoot(ctx, c.state.Email, current)
	if err != nil {
		return fmt.Errorf("change the password: %w", err)
	}
	newKDF, err := freshKDF(kdf)
	if err != nil {
		return err
	}
	newRoot, err := keys.DeriveRoot(next, newKDF)
	if err != nil {
		return fmt.Errorf("derive keys from the new password: %w", err)
	}
	wrapped, err := keys.Wrap(keys.KEK(newRoot), c.master, keys.PurposeMaster, c.account[:], c.account[:])
	if err != nil {
		return err
	}
	oldAuth, newAuth := keys.AuthKey(oldRoot), keys.AuthKey(newRoot)
	req := api.PasswordChange{AuthKey: oldAuth[:], KDF: toAPIKDF(newKDF), NewAuthKey: newAuth[:], WrappedMasterKey: wrapped}
	if err := c.coord.call(ctx, http.MethodPost, "/account/password", req, nil); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == api.CodeUnauthorized {
			return withHint(fmt.Errorf("change the password: %w", err),
				"type the password you log in with now; nothing was changed")
		}
		return fmt.Errorf("change the password: %w", err)
	}
	return nil
}

// AccountInfo is what the coordinator says about the logged-in account.
type AccountInfo struct {
	Email   string
	Account string // account ID, hex
	TOTP    bool   // two-factor login is on
}

// AccountInfo asks the coordinator about the account.
func (c *Client) AccountInfo(ctx context.Context) (AccountInfo, error) {
	var s api.Session
	if err := c.coord.call(ctx, http.MethodGet, "/account", nil, &s); err != nil {
		return AccountInfo{}, fmt.Errorf("account: %w", err)
	}
	if s.Account != c.state.Account {
		return AccountInfo{}, tampered("the coordinator described account %q, this session is %s", s.Account, c.state.Account)
	}
	return AccountInfo{Email: s.Email, Account: s.Account, TOTP: s.TOTP}, nil
}
