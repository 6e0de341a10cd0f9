package client_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/testnet"
)

// Account tests use only small inline files, so no storage node is needed
// beyond the network's defaults.

func acctCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// signup creates an account with cheap password hashing and returns its
// client and e-mail.
func signup(t *testing.T, net *testnet.Network, password string) (*client.Client, string) {
	t.Helper()
	email := testnet.NewEmail()
	kdf := testnet.CheapKDF()
	c, err := client.Signup(acctCtx(t), net.URL, email, []byte(password), &client.SignupOptions{KDF: &kdf}, net.ClientOptions())
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, email
}

func login(t *testing.T, net *testnet.Network, email, password string, lo *client.LoginOptions) (*client.Client, error) {
	t.Helper()
	c, err := client.Login(acctCtx(t), net.URL, email, []byte(password), lo, net.ClientOptions())
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func putSmall(t *testing.T, c *client.Client, p, data string) {
	t.Helper()
	if _, err := c.Put(acctCtx(t), p, strings.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatalf("put %s: %v", p, err)
	}
}

func readSmall(t *testing.T, c *client.Client, p string) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := c.Get(acctCtx(t), p, &b, nil); err != nil {
		t.Fatalf("get %s: %v", p, err)
	}
	return b.String()
}

// totpCode returns the code of the current 30 s step plus offset. Near the
// end of a step it first waits for the next one, so that the coordinator,
// a few milliseconds later, sees the same step.
func totpCode(secret []byte, offset int) string {
	now := time.Now()
	if left := client.TOTPPeriod - time.Duration(now.Unix()%30)*time.Second - time.Duration(now.Nanosecond()); left < 2*time.Second {
		time.Sleep(left + 10*time.Millisecond)
		now = time.Now()
	}
	return client.TOTPCode(secret, now.Add(time.Duration(offset)*client.TOTPPeriod))
}

// otherCode returns a well-formed code that is not valid for secret in
// any step near now.
func otherCode(secret []byte) string {
	now := time.Now()
	valid := map[string]bool{}
	for d := -3; d <= 3; d++ {
		valid[client.TOTPCode(secret, now.Add(time.Duration(d)*client.TOTPPeriod))] = true
	}
	for i := 0; ; i++ {
		c := strings.Repeat(string(rune('0'+i%10)), 6)
		if !valid[c] {
			return c
		}
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want an error matching %q", what, err, target)
	}
	if client.HintOf(err) == "" {
		t.Errorf("%s: error %q has no hint", what, err)
	}
}

func TestTOTPLogin(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	const pw = "a password for the totp test"
	c, email := signup(t, net, pw)
	putSmall(t, c, "/note.txt", "two factors")

	info, err := c.AccountInfo(acctCtx(t))
	if err != nil || info.TOTP || info.Email != email {
		t.Fatalf("AccountInfo = %+v, %v; want two-factor off for %s", info, err, email)
	}
	secret, uri, err := c.NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != client.TOTPSecretSize || !strings.HasPrefix(uri, "otpauth://totp/nuage:"+email+"?") || !strings.Contains(uri, "secret="+client.FormatTOTPSecret(secret)) {
		t.Fatalf("NewTOTPSecret: %d bytes, URI %q", len(secret), uri)
	}

	// A wrong code turns nothing on.
	wantErr(t, "enable with a wrong code", c.EnableTOTP(acctCtx(t), secret, otherCode(secret)), client.ErrUnauthorized)
	if err := c.EnableTOTP(acctCtx(t), secret, "12345"); err == nil || errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("enable with a 5-digit code: %v; want a local format error", err)
	}
	if info, err := c.AccountInfo(acctCtx(t)); err != nil || info.TOTP {
		t.Fatalf("after a failed enable: TOTP %v, %v", info.TOTP, err)
	}
	if _, err := login(t, net, email, pw, nil); err != nil {
		t.Fatalf("login before two-factor is on: %v", err)
	}

	if err := c.EnableTOTP(acctCtx(t), secret, totpCode(secret, -1)); err != nil {
		t.Fatalf("enable: %v", err)
	}
	if info, err := c.AccountInfo(acctCtx(t)); err != nil || !info.TOTP {
		t.Fatalf("after enable: TOTP %v, %v", info.TOTP, err)
	}

	// No code: ErrTOTPRequired (which is also ErrUnauthorized).
	_, err = login(t, net, email, pw, nil)
	wantErr(t, "login without a code", err, client.ErrTOTPRequired)
	wantErr(t, "login without a code", err, client.ErrUnauthorized)
	// A wrong code: unauthorized, not "required".
	_, err = login(t, net, email, pw, &client.LoginOptions{TOTP: otherCode(secret)})
	if !errors.Is(err, client.ErrUnauthorized) || errors.Is(err, client.ErrTOTPRequired) {
		t.Fatalf("login with a wrong code: %v", err)
	}
	// A wrong password with a good code is still a wrong password.
	if _, err := login(t, net, email, "not the password", &client.LoginOptions{TOTP: totpCode(secret, 0)}); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("login with a wrong password: %v", err)
	}

	// The right code, asked for only when the coordinator wants one.
	code := totpCode(secret, 0)
	var asked atomic.Int32
	c2, err := login(t, net, email, pw, &client.LoginOptions{AskTOTP: func(context.Context) (string, error) {
		asked.Add(1)
		return code[:3] + " " + code[3:], nil
	}})
	if err != nil || asked.Load() != 1 {
		t.Fatalf("login with AskTOTP: %v (asked %d times)", err, asked.Load())
	}
	if got := readSmall(t, c2, "/note.txt"); got != "two factors" {
		t.Fatalf("second session reads %q", got)
	}
	// A code works once.
	if _, err := login(t, net, email, pw, &client.LoginOptions{TOTP: code}); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("login reusing a code: %v", err)
	}

	// Turning it off needs a valid code too.
	if err := c.DisableTOTP(acctCtx(t), otherCode(secret)); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("disable with a wrong code: %v", err)
	}
	if err := c.DisableTOTP(acctCtx(t), totpCode(secret, 1)); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if info, err := c.AccountInfo(acctCtx(t)); err != nil || info.TOTP {
		t.Fatalf("after disable: TOTP %v, %v", info.TOTP, err)
	}
	if _, err := login(t, net, email, pw, nil); err != nil {
		t.Fatalf("login after disable: %v", err)
	}
}

func TestTOTPEnableTwice(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c, _ := signup(t, net, "a password for enabling twice")
	secret, _, err := c.NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnableTOTP(acctCtx(t), secret, totpCode(secret, -1)); err != nil {
		t.Fatalf("enable: %v", err)
	}
	other, _, err := c.NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	err = c.EnableTOTP(acctCtx(t), other, totpCode(other, 0))
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || client.HintOf(err) == "" {
		t.Fatalf("second enable: %v; want a 409 with a hint", err)
	}
	if err := c.EnableTOTP(acctCtx(t), secret[:10], totpCode(secret, 0)); err == nil {
		t.Fatal("enable with a 10-byte secret accepted")
	}
}

func TestChangePassword(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	const pw1, pw2 = "the first password", "the second password"
	c, email := signup(t, net, pw1)
	putSmall(t, c, "/kept.txt", "survives password changes")
	before, err := net.DB.AccountByEmail(acctCtx(t), email)
	if err != nil {
		t.Fatal(err)
	}
	kdf := testnet.CheapKDF()

	// A wrong current password changes nothing.
	wantErr(t, "change with a wrong password", c.ChangePassword(acctCtx(t), []byte("a wrong password"), []byte(pw2), &kdf), client.ErrUnauthorized)
	if err := c.ChangePassword(acctCtx(t), []byte(pw1), nil, &kdf); err == nil {
		t.Fatal("an empty new password was accepted")
	}
	after, err := net.DB.AccountByEmail(acctCtx(t), email)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Verifier, after.Verifier) || !bytes.Equal(before.KDF, after.KDF) || !bytes.Equal(before.WrappedMasterKey, after.WrappedMasterKey) {
		t.Fatal("a failed password change modified the account")
	}
	if _, err := login(t, net, email, pw1, nil); err != nil {
		t.Fatalf("the old password stopped working after a failed change: %v", err)
	}

	if err := c.ChangePassword(acctCtx(t), []byte(pw1), []byte(pw2), &kdf); err != nil {
		t.Fatalf("change: %v", err)
	}
	after, err = net.DB.AccountByEmail(acctCtx(t), email)
	if err != nil {
		t.Fatal(err)
	}
	var k1, k2 api.KDF
	if err := json.Unmarshal(before.KDF, &k1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(after.KDF, &k2); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k1.Salt, k2.Salt) || bytes.Equal(k2.Salt, kdf.Salt) || bytes.Equal(before.Verifier, after.Verifier) || bytes.Equal(before.WrappedMasterKey, after.WrappedMasterKey) {
		t.Fatal("the password change did not use a fresh salt, a new verifier and a new wrap")
	}
	if _, err := login(t, net, email, pw1, nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("old password after the change: %v", err)
	}
	c2, err := login(t, net, email, pw2, nil)
	if err != nil {
		t.Fatalf("new password: %v", err)
	}
	if got := readSmall(t, c2, "/kept.txt"); got != "survives password changes" {
		t.Fatalf("after the change the file reads %q", got)
	}
	// The session that changed the password stays valid.
	if got := readSmall(t, c, "/kept.txt"); got != "survives password changes" {
		t.Fatalf("the old session reads %q", got)
	}
}

func TestRecovery(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	const pw1, pw2 = "the password before the loss", "the password after recovery"
	c, email := signup(t, net, pw1)
	putSmall(t, c, "/diary.txt", "recoverable")
	kdf := testnet.CheapKDF()
	ctx := acctCtx(t)

	// Each export replaces the previous key.
	replaced, err := c.ExportRecovery(ctx)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	key, err := c.ExportRecovery(ctx)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	form := regexp.MustCompile(`^nuage-recovery-([a-z2-7]{4}-){12}[a-z2-7]{4}$`)
	if !form.MatchString(key) || !form.MatchString(replaced) || key == replaced {
		t.Fatalf("recovery keys %q, %q: not two distinct keys in the spec's format", replaced, key)
	}
	before, err := net.DB.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}

	// A replaced key, an unknown e-mail, a malformed key: refused, nothing changed.
	_, err = client.RecoveryReset(ctx, net.URL, email, replaced, []byte(pw2), "", &kdf, net.ClientOptions())
	wantErr(t, "reset with a replaced key", err, client.ErrUnauthorized)
	_, err = client.RecoveryReset(ctx, net.URL, "nobody-"+email, key, []byte(pw2), "", &kdf, net.ClientOptions())
	wantErr(t, "reset of an unknown e-mail", err, client.ErrUnauthorized)
	if _, err = client.RecoveryReset(ctx, net.URL, email, key[:len(key)-2], []byte(pw2), "", &kdf, net.ClientOptions()); err == nil || client.HintOf(err) == "" {
		t.Fatalf("reset with a truncated key: %v", err)
	}
	if _, err = client.RecoveryReset(ctx, net.URL, email, key, nil, "", &kdf, net.ClientOptions()); err == nil {
		t.Fatal("reset to an empty password accepted")
	}
	after, err := net.DB.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Verifier, after.Verifier) || !bytes.Equal(before.WrappedMasterKey, after.WrappedMasterKey) || !bytes.Equal(before.KDF, after.KDF) {
		t.Fatal("a failed recovery changed the password")
	}
	if _, err := login(t, net, email, pw1, nil); err != nil {
		t.Fatalf("password after failed recoveries: %v", err)
	}

	// The right key, typed sloppily.
	sloppy := strings.ToUpper(strings.ReplaceAll(key, "-", " "))
	sloppy = "nuage-recovery-" + strings.TrimPrefix(sloppy, "NUAGE RECOVERY ")
	rc, err := client.RecoveryReset(ctx, net.URL, email, sloppy, []byte(pw2), "", &kdf, net.ClientOptions())
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
	defer rc.Close()
	if rc.Email() != email || readSmall(t, rc, "/diary.txt") != "recoverable" {
		t.Fatal("the recovered session does not see the files")
	}
	if _, err := login(t, net, email, pw1, nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("old password after recovery: %v", err)
	}
	c2, err := login(t, net, email, pw2, nil)
	if err != nil {
		t.Fatalf("new password after recovery: %v", err)
	}
	if readSmall(t, c2, "/diary.txt") != "recoverable" {
		t.Fatal("new login does not see the files")
	}
	// The recovery key keeps working after a reset.
	if rc2, err := client.RecoveryReset(ctx, net.URL, email, key, []byte(pw1), "", &kdf, net.ClientOptions()); err != nil {
		t.Fatalf("second reset with the same key: %v", err)
	} else {
		rc2.Close()
	}
}

func TestRecoveryWithTOTP(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c, email := signup(t, net, "a password with two factors")
	putSmall(t, c, "/x.txt", "x")
	key, err := c.ExportRecovery(acctCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := c.NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnableTOTP(acctCtx(t), secret, totpCode(secret, -1)); err != nil {
		t.Fatal(err)
	}
	kdf := testnet.CheapKDF()
	_, err = client.RecoveryReset(acctCtx(t), net.URL, email, key, []byte("new password"), "", &kdf, net.ClientOptions())
	wantErr(t, "recovery without a code", err, client.ErrTOTPRequired)
	_, err = client.RecoveryReset(acctCtx(t), net.URL, email, key, []byte("new password"), otherCode(secret), &kdf, net.ClientOptions())
	if !errors.Is(err, client.ErrUnauthorized) || errors.Is(err, client.ErrTOTPRequired) {
		t.Fatalf("recovery with a wrong code: %v", err)
	}
	rc, err := client.RecoveryReset(acctCtx(t), net.URL, email, key, []byte("new password"), totpCode(secret, 0), &kdf, net.ClientOptions())
	if err != nil {
		t.Fatalf("recovery with a code: %v", err)
	}
	defer rc.Close()
	if readSmall(t, rc, "/x.txt") != "x" {
		t.Fatal("recovered session does not read the file")
	}
	if _, err := login(t, net, email, "new password", &client.LoginOptions{TOTP: totpCode(secret, 1)}); err != nil {
		t.Fatalf("login with the new password and a code: %v", err)
	}
}

func TestTokens(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c, email := signup(t, net, "a password for tokens")
	putSmall(t, c, "/shared.txt", "for the backup server")
	ctx := acctCtx(t)

	tok, info, err := c.CreateToken(ctx, "  backup server ")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !regexp.MustCompile(`^nuage-token-v1\.[A-Za-z0-9_-]{64}$`).MatchString(tok) || info.Name != "backup server" || len(info.ID) != 32 || info.Created.IsZero() {
		t.Fatalf("CreateToken = %q, %+v", tok, info)
	}
	if _, _, err := c.CreateToken(ctx, "backup server"); !errors.Is(err, client.ErrExists) || client.HintOf(err) == "" {
		t.Fatalf("duplicate name: %v", err)
	}
	for _, bad := range []string{"", strings.Repeat("n", client.MaxTokenName+1), "a\nb"} {
		if _, _, err := c.CreateToken(ctx, bad); err == nil {
			t.Fatalf("CreateToken(%q) accepted", bad)
		}
	}

	tc, err := client.LoginToken(ctx, net.URL, tok, net.ClientOptions())
	if err != nil {
		t.Fatalf("token login: %v", err)
	}
	defer tc.Close()
	if tc.TokenID() != info.ID || tc.Email() != email || c.TokenID() != "" {
		t.Fatalf("token session: TokenID %q email %q; password session TokenID %q", tc.TokenID(), tc.Email(), c.TokenID())
	}
	if tc.State().TokenID != info.ID {
		t.Fatalf("saved state of a token session has TokenID %q", tc.State().TokenID)
	}
	if got := readSmall(t, tc, "/shared.txt"); got != "for the backup server" {
		t.Fatalf("token session reads %q", got)
	}
	putSmall(t, tc, "/from-token.txt", "written with a token")
	if got := readSmall(t, c, "/from-token.txt"); got != "written with a token" {
		t.Fatalf("password session reads %q", got)
	}
	ts, err := c.Tokens(ctx)
	if err != nil || len(ts) != 1 || ts[0].ID != info.ID || ts[0].Name != "backup server" || ts[0].LastUsed.IsZero() {
		t.Fatalf("Tokens = %+v, %v; want the token, used", ts, err)
	}

	// A token opens the files, not the account.
	kdf := testnet.CheapKDF()
	for what, err := range map[string]error{
		"change the password": tc.ChangePassword(ctx, []byte("a password for tokens"), []byte("other"), &kdf),
		"export recovery":     func() error { _, err := tc.ExportRecovery(ctx); return err }(),
		"enable 2fa":          tc.EnableTOTP(ctx, bytes.Repeat([]byte{1}, client.TOTPSecretSize), "123456"),
		"disable 2fa":         tc.DisableTOTP(ctx, "123456"),
		"create a token":      func() error { _, _, err := tc.CreateToken(ctx, "another"); return err }(),
		"revoke a token":      tc.RevokeToken(ctx, info.ID),
	} {
		wantErr(t, "token session: "+what, err, client.ErrUnauthorized)
	}

	// Wrong and malformed tokens.
	b := []byte(tok)
	if b[len(b)-1] == 'A' {
		b[len(b)-1] = 'B'
	} else {
		b[len(b)-1] = 'A'
	}
	_, err = client.LoginToken(ctx, net.URL, string(b), net.ClientOptions())
	wantErr(t, "login with a wrong token secret", err, client.ErrUnauthorized)
	_, err = client.LoginToken(ctx, net.URL, tok[:len(tok)-1], net.ClientOptions())
	wantErr(t, "login with a truncated token", err, client.ErrUnauthorized)

	// Revoking by ID and by name; a revoked token's sessions end.
	tok2, info2, err := c.CreateToken(ctx, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeToken(ctx, strings.ToUpper(info2.ID)); err != nil {
		t.Fatalf("revoke by ID: %v", err)
	}
	if _, err := client.LoginToken(ctx, net.URL, tok2, net.ClientOptions()); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("login with a revoked token: %v", err)
	}
	if err := c.RevokeToken(ctx, "backup server"); err != nil {
		t.Fatalf("revoke by name: %v", err)
	}
	if _, err := tc.List(ctx, "/"); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("session of a revoked token: %v", err)
	}
	if _, err := client.LoginToken(ctx, net.URL, tok, net.ClientOptions()); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("login with a revoked token: %v", err)
	}
	wantErr(t, "revoke an unknown token", c.RevokeToken(ctx, "backup server"), client.ErrNotFound)
	if ts, err := c.Tokens(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("Tokens after revoking all = %+v, %v", ts, err)
	}
	if readSmall(t, c, "/shared.txt") != "for the backup server" {
		t.Fatal("the password session lost the files")
	}
}

// tamperingProxy forwards to the coordinator at target and lets edit change
// the JSON answers to one API path.
func tamperingProxy(t *testing.T, target, path string, edit func(map[string]any)) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != api.Prefix+path || resp.StatusCode != http.StatusOK {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		edit(m)
		if b, err = json.Marshal(m); err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// flipBit flips a bit of a base64 []byte field of a JSON object.
func flipBit(t *testing.T, field string) func(map[string]any) {
	return func(m map[string]any) {
		s, _ := m[field].(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			t.Errorf("field %q is not base64: %q", field, s)
			return
		}
		b[len(b)/2] ^= 0x10
		m[field] = base64.StdEncoding.EncodeToString(b)
	}
}

// TestHostileCoordinatorAccount checks that key material a coordinator
// alters in account answers is refused, and nothing is changed.
func TestHostileCoordinatorAccount(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	const pw = "a password the proxy never sees"
	c, email := signup(t, net, pw)
	ctx := acctCtx(t)
	tok, _, err := c.CreateToken(ctx, "proxy test")
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.ExportRecovery(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, err := net.DB.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	kdf := testnet.CheapKDF()

	t.Run("token wrap flipped", func(t *testing.T) {
		srv := tamperingProxy(t, net.URL, "/token-login", flipBit(t, "wrapped_master_key"))
		_, err := client.LoginToken(ctx, srv, tok, net.ClientOptions())
		wantErr(t, "token login", err, client.ErrTampered)
	})
	t.Run("token answered as another token", func(t *testing.T) {
		srv := tamperingProxy(t, net.URL, "/token-login", func(m map[string]any) { m["token_id"] = strings.Repeat("0", 32) })
		_, err := client.LoginToken(ctx, srv, tok, net.ClientOptions())
		wantErr(t, "token login", err, client.ErrTampered)
	})
	t.Run("password wrap flipped", func(t *testing.T) {
		srv := tamperingProxy(t, net.URL, "/login", flipBit(t, "wrapped_master_key"))
		_, err := client.Login(ctx, srv, email, []byte(pw), nil, net.ClientOptions())
		if !errors.Is(err, client.ErrTampered) {
			t.Fatalf("login: %v", err)
		}
	})
	t.Run("recovery wrap flipped", func(t *testing.T) {
		srv := tamperingProxy(t, net.URL, "/recovery/fetch", flipBit(t, "wrapped_master_key"))
		_, err := client.RecoveryReset(ctx, srv, email, key, []byte("a password set by a hostile server"), "", &kdf, net.ClientOptions())
		wantErr(t, "recovery", err, client.ErrTampered)
	})
	t.Run("recovery of another account", func(t *testing.T) {
		other, _ := signup(t, net, "another account")
		srv := tamperingProxy(t, net.URL, "/recovery/fetch", func(m map[string]any) { m["account"] = other.State().Account })
		_, err := client.RecoveryReset(ctx, srv, email, key, []byte("a password set by a hostile server"), "", &kdf, net.ClientOptions())
		wantErr(t, "recovery", err, client.ErrTampered)
	})
	t.Run("account info of another account", func(t *testing.T) {
		other, _ := signup(t, net, "yet another account")
		srv := tamperingProxy(t, net.URL, "/account", func(m map[string]any) { m["account"] = other.State().Account })
		st := c.State()
		st.Server = srv
		pc, err := client.New(st, net.ClientOptions())
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		_, err = pc.AccountInfo(ctx)
		wantErr(t, "account info", err, client.ErrTampered)
	})

	after, err := net.DB.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Verifier, after.Verifier) || !bytes.Equal(before.WrappedMasterKey, after.WrappedMasterKey) {
		t.Fatal("a refused recovery changed the password")
	}
	if _, err := login(t, net, email, pw, nil); err != nil {
		t.Fatalf("login after the hostile answers: %v", err)
	}
}
