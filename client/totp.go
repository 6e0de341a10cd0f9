package client

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

// TOTP parameters (docs/spec.md §2.3; RFC 6238 with HMAC-SHA-1).
const (
	// TOTPSecretSize is the length of a two-factor secret in bytes.
	TOTPSecretSize = 20
	// TOTPDigits is the length of a code.
	TOTPDigits = 6
	// TOTPPeriod is how long a code is valid for.
	TOTPPeriod = 30 * time.Second
)

// ErrTOTPRequired reports a login (or a recovery) of an account with
// two-factor login on, made without a code. Errors matching it also match
// ErrUnauthorized.
var ErrTOTPRequired = errors.New("a two-factor code is required")

// totpBase32 is the encoding authenticator apps expect: RFC 4648 base32,
// upper case, no padding.
var totpBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// TOTPCode returns the RFC 6238 code of secret at time t: HMAC-SHA-1 over the
// 30-second step, dynamically truncated to 6 decimal digits. Times before
// 1970 count as step 0.
func TOTPCode(secret []byte, t time.Time) string {
	return totpAt(secret, totpStep(t))
}

// totpStep is the RFC 6238 time step of t.
func totpStep(t time.Time) uint64 {
	u := t.Unix()
	if u < 0 {
		return 0
	}
	return uint64(u) / uint64(TOTPPeriod/time.Second)
}

// totpAt is the code of one time step (RFC 4226 HOTP with 6 digits).
func totpAt(secret []byte, step uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], step)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	var sum [sha1.Size]byte
	h := m.Sum(sum[:0])
	off := h[len(h)-1] & 0x0f
	bin := binary.BigEndian.Uint32(h[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", bin%1_000_000)
}

// FormatTOTPSecret returns secret the way authenticator apps take it typed
// in: base32, upper case, no padding.
func FormatTOTPSecret(secret []byte) string { return totpBase32.EncodeToString(secret) }

// ParseTOTPSecret reads a secret written by FormatTOTPSecret. It ignores
// case, spaces and '=' padding, and accepts only a secret of TOTPSecretSize
// bytes.
func ParseTOTPSecret(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', '=':
			return -1
		}
		return r
	}, strings.ToUpper(s))
	b, err := totpBase32.DecodeString(clean)
	if err != nil || totpBase32.EncodeToString(b) != clean {
		return nil, fmt.Errorf("two-factor secret %q is not base32 (A-Z, 2-7)", s)
	}
	if len(b) != TOTPSecretSize {
		return nil, fmt.Errorf("two-factor secret is %d bytes, want %d", len(b), TOTPSecretSize)
	}
	return b, nil
}

// TOTPURI returns the otpauth:// URI that authenticator apps import (as a
// QR code or a link) for the account email.
func TOTPURI(email string, secret []byte) string {
	q := url.Values{}
	q.Set("secret", FormatTOTPSecret(secret))
	q.Set("issuer", "nuage")
	// '+' is legal in a path but some apps read it as a space.
	label := strings.ReplaceAll(url.PathEscape("nuage:"+email), "+", "%2B")
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// NewTOTPSecret draws a random two-factor secret for this account and
// returns it with its otpauth:// URI
// (otpauth://totp/nuage:EMAIL?issuer=nuage&secret=BASE32). Nothing is sent
// to the coordinator until EnableTOTP.
func (c *Client) NewTOTPSecret() (secret []byte, uri string, err error) {
	secret = make([]byte, TOTPSecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, "", fmt.Errorf("random two-factor secret: %w", err)
	}
	return secret, TOTPURI(c.Email(), secret), nil
}

// EnableTOTP turns two-factor login on with secret, once code proves the
// user's authenticator app holds it. Every later password login, and a
// recovery, then needs a current code. It is refused for API-token sessions
// and when two-factor login is already on.
func (c *Client) EnableTOTP(ctx context.Context, secret []byte, code string) error {
	if len(secret) != TOTPSecretSize {
		return fmt.Errorf("two-factor secret is %d bytes, want %d", len(secret), TOTPSecretSize)
	}
	code, err := normalizeTOTPCode(code)
	if err != nil {
		return err
	}
	if err := c.needPasswordSession("turn on two-factor login"); err != nil {
		return err
	}
	err = c.coord.call(ctx, http.MethodPost, "/account/totp", api.TOTPEnable{Secret: secret, Code: code}, nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		return withHint(fmt.Errorf("two-factor login is already on: %w", err), "to use a new secret, run `nuage 2fa disable` first")
	}
	// The secret and the code's form were checked above, so a 400 means
	// the code does not match the secret now.
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		return withHint(fmt.Errorf("turn on two-factor login: the code was not accepted (%s): %w", ae.Message, ErrUnauthorized),
			"check the phone's clock and type the code the app shows now (each code works once)")
	}
	if err != nil {
		return fmt.Errorf("turn on two-factor login: %w", err)
	}
	return nil
}

// DisableTOTP turns two-factor login off, with a current code.
func (c *Client) DisableTOTP(ctx context.Context, code string) error {
	code, err := normalizeTOTPCode(code)
	if err != nil {
		return err
	}
	if err := c.needPasswordSession("turn off two-factor login"); err != nil {
		return err
	}
	err = c.coord.call(ctx, http.MethodPost, "/account/totp/disable", api.TOTPDisable{Code: code}, nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		return withHint(fmt.Errorf("turn off two-factor login: %w", err), "nothing to do; `nuage whoami` shows whether it is on")
	}
	if err != nil {
		return fmt.Errorf("turn off two-factor login: %w", err)
	}
	return nil
}

// normalizeTOTPCode strips spaces from a code typed by a person and checks
// it is 6 digits.
func normalizeTOTPCode(s string) (string, error) {
	code := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', '-':
			return -1
		}
		return r
	}, s)
	ok := len(code) == TOTPDigits
	for i := 0; ok && i < len(code); i++ {
		ok = code[i] >= '0' && code[i] <= '9'
	}
	if !ok {
		return "", withHint(fmt.Errorf("%q is not a %d-digit two-factor code", s, TOTPDigits),
			"type the code your authenticator app shows for nuage")
	}
	return code, nil
}

// totpRequiredError is the coordinator's "totp_required" answer.
type totpRequiredError struct{ api *APIError }

func (e *totpRequiredError) Error() string {
	return "this account has two-factor login on: a code from the authenticator app is required"
}

func (e *totpRequiredError) Unwrap() []error { return []error{ErrTOTPRequired, ErrUnauthorized} }

func (e *totpRequiredError) Hint() string {
	if e.api.HintText != "" {
		return e.api.HintText
	}
	return "pass the code your authenticator app shows"
}

// isTOTPRequired reports whether err is the coordinator's "totp_required".
func isTOTPRequired(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == api.CodeTOTPRequired
}

// totpError turns a "totp_required" answer into an error matching
// ErrTOTPRequired; it returns any other error unchanged.
func totpError(err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == api.CodeTOTPRequired {
		return &totpRequiredError{api: ae}
	}
	return err
}
