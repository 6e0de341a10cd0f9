package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// API tokens (docs/spec.md §2.3): "nuage-token-v1." || b64(ID (16) || S (32)).
const (
	// TokenPrefix starts every API token string.
	TokenPrefix = "nuage-token-v1."
	// MaxTokenName is the longest token name, in characters.
	MaxTokenName = 64

	purposeToken   = "token"
	labelTokenKEK  = "nuage v1 token kek"
	labelTokenAuth = "nuage v1 token auth"
	tokenRawSize   = 16 + keys.Size
)

// TokenInfo describes an API token. The token string itself is shown only
// once, by CreateToken.
type TokenInfo struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"` // zero if never used
}

func tokenInfo(t api.Token) TokenInfo {
	ti := TokenInfo{ID: t.ID, Name: t.Name, Created: time.Unix(t.Created, 0).UTC()}
	if t.LastUsed != 0 {
		ti.LastUsed = time.Unix(t.LastUsed, 0).UTC()
	}
	return ti
}

// formatToken encodes a token's ID and secret.
func formatToken(id [16]byte, secret keys.Key) string {
	var raw [tokenRawSize]byte
	copy(raw[:16], id[:])
	copy(raw[16:], secret[:])
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
}

// errBadToken explains what a token string must look like.
func errBadToken(format string, args ...any) error {
	return withHint(fmt.Errorf("%w: malformed API token: "+format, append([]any{ErrUnauthorized}, args...)...),
		"use the whole string `nuage token create` printed, starting with "+TokenPrefix)
}

// parseToken decodes a token string; surrounding white space is ignored.
// The base64 must be canonical, so a token has exactly one spelling.
func parseToken(s string) (id [16]byte, secret keys.Key, err error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok {
		return id, secret, errBadToken("it does not start with %q", TokenPrefix)
	}
	if base64.RawURLEncoding.DecodedLen(len(rest)) != tokenRawSize {
		return id, secret, errBadToken("it is %d characters long, want %d", len(s), len(TokenPrefix)+base64.RawURLEncoding.EncodedLen(tokenRawSize))
	}
	var raw [tokenRawSize]byte
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(rest))
	if err != nil || n != tokenRawSize {
		return id, secret, errBadToken("it is not valid base64url")
	}
	copy(id[:], raw[:16])
	copy(secret[:], raw[16:])
	return id, secret, nil
}

// tokenKeys derives the token's auth key (sent to the coordinator) and the
// key that wraps the master key (never leaves the client) from its secret.
func tokenKeys(secret keys.Key) (auth, kek keys.Key) {
	return keys.Derive(secret, nil, labelTokenAuth), keys.Derive(secret, nil, labelTokenKEK)
}

// checkTokenName trims name and checks it is 1 to 64 printable characters.
func checkTokenName(name string) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxTokenName || !utf8.ValidString(name) {
		return "", withHint(fmt.Errorf("token name %q must be 1 to %d characters", name, MaxTokenName), "name it after the machine that uses it, e.g. --name backup-server")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return "", withHint(fmt.Errorf("token name %q has a control or non-printable character", name), "use letters, digits, spaces and punctuation")
		}
	}
	return name, nil
}

// LoginToken opens a session with an API token (as printed by CreateToken)
// instead of the password: for headless machines. The session can read and
// change files but not the password, the recovery key, two-factor login or
// the tokens.
func LoginToken(ctx context.Context, server, token string, opts *Options) (*Client, error) {
	id, secret, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	co, err := newCoord(server, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	auth, kek := tokenKeys(secret)
	idHex := hex.EncodeToString(id[:])
	var sess api.Session
	if err := co.call(ctx, http.MethodPost, "/token-login", api.TokenLogin{ID: idHex, AuthKey: auth[:]}, &sess); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == api.CodeUnauthorized {
			return nil, withHint(fmt.Errorf("log in with API token %s: %w", idHex, err),
				"the token was revoked or mistyped; create a new one with `nuage token create` on a logged-in machine")
		}
		return nil, fmt.Errorf("log in with API token %s: %w", idHex, err)
	}
	if sess.TokenID != idHex {
		return nil, tampered("the coordinator answered a login with token %s as token %q", idHex, sess.TokenID)
	}
	acct, err := parseID16(sess.Account)
	if err != nil {
		return nil, tampered("coordinator sent a bad account ID: %v", err)
	}
	master, err := keys.Unwrap(kek, sess.WrappedMasterKey, purposeToken, acct[:], id[:])
	if err != nil {
		return nil, tampered("the master key the coordinator returned does not open with this token: %v", err)
	}
	c := &Client{opts: o, coord: co, nodes: newNodePool(o)}
	return c.finishSession(ctx, sess, master)
}

// CreateToken makes a new API token named name and returns its string,
// which is shown only here: the coordinator stores only a verifier of a key
// derived from it and the master key wrapped under another. Names are
// unique per account. Not allowed from an API-token session.
func (c *Client) CreateToken(ctx context.Context, name string) (token string, info TokenInfo, err error) {
	name, err = checkTokenName(name)
	if err != nil {
		return "", TokenInfo{}, err
	}
	if err := c.needPasswordSession("create an API token"); err != nil {
		return "", TokenInfo{}, err
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", TokenInfo{}, fmt.Errorf("random token ID: %w", err)
	}
	secret, err := keys.NewKey()
	if err != nil {
		return "", TokenInfo{}, err
	}
	auth, kek := tokenKeys(secret)
	wrapped, err := keys.Wrap(kek, c.master, purposeToken, c.account[:], id[:])
	if err != nil {
		return "", TokenInfo{}, err
	}
	req := api.TokenCreate{ID: hex.EncodeToString(id[:]), Name: name, AuthKey: auth[:], WrappedMasterKey: wrapped}
	var t api.Token
	if err := c.coord.call(ctx, http.MethodPost, "/tokens", req, &t); err != nil {
		if errors.Is(err, ErrExists) {
			return "", TokenInfo{}, withHint(fmt.Errorf("create API token: a token named %q already exists: %w", name, err),
				"choose another --name, or revoke the old one with `nuage token revoke "+name+"`")
		}
		return "", TokenInfo{}, fmt.Errorf("create API token %q: %w", name, err)
	}
	if t.ID != req.ID {
		return "", TokenInfo{}, tampered("the coordinator registered token %q as %q", req.ID, t.ID)
	}
	return formatToken(id, secret), tokenInfo(t), nil
}

// Tokens lists the account's API tokens, oldest first.
func (c *Client) Tokens(ctx context.Context) ([]TokenInfo, error) {
	var ts api.Tokens
	if err := c.coord.call(ctx, http.MethodGet, "/tokens", nil, &ts); err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	out := make([]TokenInfo, len(ts.Tokens))
	for i, t := range ts.Tokens {
		out[i] = tokenInfo(t)
	}
	return out, nil
}

// RevokeToken deletes the API token with this ID or, if no token has it as
// ID, this name. Its sessions end and the token no longer logs in.
func (c *Client) RevokeToken(ctx context.Context, idOrName string) error {
	if err := c.needPasswordSession("revoke an API token"); err != nil {
		return err
	}
	ts, err := c.Tokens(ctx)
	if err != nil {
		return err
	}
	want := strings.TrimSpace(idOrName)
	id := ""
	for _, t := range ts {
		if t.ID == strings.ToLower(want) {
			id = t.ID
			break
		}
	}
	if id == "" {
		for _, t := range ts {
			if t.Name == want {
				id = t.ID
				break
			}
		}
	}
	if id == "" {
		return withHint(fmt.Errorf("revoke API token: no token with ID or name %q: %w", want, ErrNotFound), "`nuage token ls` lists them")
	}
	if err := c.coord.call(ctx, http.MethodDelete, "/tokens/"+id, nil, nil); err != nil {
		return fmt.Errorf("revoke API token %s: %w", id, err)
	}
	return nil
}
