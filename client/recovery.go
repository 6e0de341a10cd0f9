package client

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// Recovery keys (docs/spec.md §2.3): "nuage-recovery-" followed by the 32
// key bytes in lower-case base32 without padding, in groups of 4 joined by '-'.
const (
	// RecoveryPrefix starts every recovery key.
	RecoveryPrefix = "nuage-recovery-"

	purposeRecovery   = "recovery"
	labelRecoveryKEK  = "nuage v1 recovery kek"
	labelRecoveryAuth = "nuage v1 recovery auth"
	recoveryGroup     = 4
)

var recoveryBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// recoveryChars is the number of base32 characters of a recovery key (52).
var recoveryChars = recoveryBase32.EncodedLen(keys.Size)

// formatRecoveryKey spells a recovery key.
func formatRecoveryKey(r keys.Key) string {
	enc := recoveryBase32.EncodeToString(r[:])
	var b strings.Builder
	b.Grow(len(RecoveryPrefix) + len(enc) + len(enc)/recoveryGroup)
	b.WriteString(RecoveryPrefix)
	for i := 0; i < len(enc); i += recoveryGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(enc[i:min(i+recoveryGroup, len(enc))])
	}
	return b.String()
}

// errBadRecoveryKey explains what a recovery key must look like.
func errBadRecoveryKey(format string, args ...any) error {
	return withHint(fmt.Errorf("malformed recovery key: "+format, args...),
		"type the whole key `nuage recovery export` printed: "+RecoveryPrefix+"xxxx-xxxx-… (case and spaces do not matter)")
}

// parseRecoveryKey reads a recovery key as a person may type it: any case,
// with spaces or line breaks anywhere, and with or without the dashes
// between groups (a dash must sit between groups of 4 characters). Anything else
// is refused: a wrong character, a wrong length, or non-zero padding bits
// (so a key has one spelling).
func parseRecoveryKey(s string) (keys.Key, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
	rest, ok := strings.CutPrefix(clean, RecoveryPrefix)
	if !ok {
		return keys.Key{}, errBadRecoveryKey("it does not start with %q", RecoveryPrefix)
	}
	body := make([]byte, 0, recoveryChars)
	run := 0 // characters since the last dash
	for i := 0; i < len(rest); i++ {
		ch := rest[i]
		if ch == '-' {
			if run == 0 || run%recoveryGroup != 0 || i == len(rest)-1 {
				return keys.Key{}, errBadRecoveryKey("a dash must sit between groups of %d characters", recoveryGroup)
			}
			run = 0
			continue
		}
		if !('a' <= ch && ch <= 'z') && !('2' <= ch && ch <= '7') {
			return keys.Key{}, errBadRecoveryKey("%q is not a character of the key (a-z, 2-7)", rune(ch))
		}
		if len(body) == recoveryChars {
			return keys.Key{}, errBadRecoveryKey("it is longer than %d characters", recoveryChars)
		}
		body = append(body, ch)
		run++
	}
	if len(body) != recoveryChars {
		return keys.Key{}, errBadRecoveryKey("it has %d characters after the prefix, want %d", len(body), recoveryChars)
	}
	var r keys.Key
	n, err := recoveryBase32.Decode(r[:], body)
	// Re-encoding must give the same text: the 4 bits past the key's 256
	// must be zero, so that a key has one spelling.
	if err != nil || n != keys.Size || recoveryBase32.EncodeToString(r[:]) != string(body) {
		return keys.Key{}, errBadRecoveryKey("it is not a valid key (mistyped last character?)")
	}
	return r, nil
}

// recoveryKeys derives the recovery auth key (proved to the coordinator)
// and the key that wraps the master key from a recovery key.
func recoveryKeys(r keys.Key) (auth, kek keys.Key) {
	return keys.Derive(r, nil, labelRecoveryAuth), keys.Derive(r, nil, labelRecoveryKEK)
}

// ExportRecovery makes a new recovery key, stores the master key wrapped
// under it on the coordinator, and returns it ("nuage-recovery-xxxx-…").
// With it, RecoveryReset sets a new password when the old one is lost. It
// replaces any earlier recovery key, which stops working. Keep it offline:
// it opens the account like the password does. Not allowed from an
// API-token session.
func (c *Client) ExportRecovery(ctx context.Context) (string, error) {
	if err := c.needPasswordSession("export a recovery key"); err != nil {
		return "", err
	}
	r, err := keys.NewKey()
	if err != nil {
		return "", err
	}
	auth, kek := recoveryKeys(r)
	wrapped, err := keys.Wrap(kek, c.master, purposeRecovery, c.account[:], c.account[:])
	if err != nil {
		return "", err
	}
	if err := c.coord.call(ctx, http.MethodPost, "/account/recovery", api.RecoverySet{AuthKey: auth[:], WrappedMasterKey: wrapped}, nil); err != nil {
		return "", fmt.Errorf("store the recovery key: %w", err)
	}
	return formatRecoveryKey(r), nil
}

// RecoveryReset sets a new password for the account email with its
// recovery key and logs in. It fetches the master key wrapped under the
// recovery key, proving the key to the coordinator, rewraps it under a key
// derived from newPassword with fresh Argon2id parameters (kdf's costs, or
// the defaults if kdf is nil; the salt is always new), and replaces the
// password. The files, API tokens and the recovery key itself keep working.
// totp is a current code if the account has two-factor login on (else "").
// A wrong recovery key fails with an error matching ErrUnauthorized and
// changes nothing.
func RecoveryReset(ctx context.Context, server, email, recoveryKey string, newPassword []byte, totp string, kdf *keys.KDF, opts *Options) (*Client, error) {
	r, err := parseRecoveryKey(recoveryKey)
	if err != nil {
		return nil, err
	}
	if len(newPassword) == 0 {
		return nil, withHint(errors.New("empty new password"), "set NUAGE_NEW_PASSWORD or type a password at the prompt")
	}
	if totp != "" {
		if totp, err = normalizeTOTPCode(totp); err != nil {
			return nil, err
		}
	}
	o := opts.withDefaults()
	co, err := newCoord(server, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	if email, err = normalizeEmail(email); err != nil {
		return nil, err
	}
	auth, kek := recoveryKeys(r)
	var wrap api.RecoveryWrap
	if err := co.call(ctx, http.MethodPost, "/recovery/fetch", api.RecoveryFetch{Email: email, AuthKey: auth[:], TOTP: totp}, &wrap); err != nil {
		return nil, recoveryError(email, err)
	}
	acct, err := parseID16(wrap.Account)
	if err != nil {
		return nil, tampered("coordinator sent a bad account ID: %v", err)
	}
	master, err := keys.Unwrap(kek, wrap.WrappedMasterKey, purposeRecovery, acct[:], acct[:])
	if err != nil {
		return nil, tampered("the master key the coordinator returned does not open with this recovery key: %v", err)
	}
	newKDF, err := freshKDF(kdf)
	if err != nil {
		return nil, err
	}
	root, err := keys.DeriveRoot(newPassword, newKDF)
	if err != nil {
		return nil, fmt.Errorf("derive keys from the new password: %w", err)
	}
	wrapped, err := keys.Wrap(keys.KEK(root), master, keys.PurposeMaster, acct[:], acct[:])
	if err != nil {
		return nil, err
	}
	newAuth := keys.AuthKey(root)
	req := api.RecoveryReset{
		Email:            email,
		RecoveryAuthKey:  auth[:],
		TOTP:             totp,
		KDF:              toAPIKDF(newKDF),
		AuthKey:          newAuth[:],
		WrappedMasterKey: wrapped,
	}
	var sess api.Session
	if err := co.call(ctx, http.MethodPost, "/recovery/reset", req, &sess); err != nil {
		return nil, recoveryError(email, err)
	}
	if sess.Account != wrap.Account {
		return nil, tampered("the coordinator reset account %s but answered for %s", wrap.Account, sess.Account)
	}
	c := &Client{opts: o, coord: co, nodes: newNodePool(o)}
	return c.finishLogin(ctx, sess, root)
}

// recoveryError adds what to do to a failed recovery call.
func recoveryError(email string, err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == api.CodeUnauthorized {
		return withHint(fmt.Errorf("recover %s: %w", email, err),
			"check the e-mail and the recovery key (the latest `nuage recovery export` printed); nothing was changed")
	}
	return fmt.Errorf("recover %s: %w", email, totpError(err))
}
