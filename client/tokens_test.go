package client

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

var tokenForm = regexp.MustCompile(`^nuage-token-v1\.[A-Za-z0-9_-]{64}$`)

func testToken() ([16]byte, keys.Key) {
	var id [16]byte
	var s keys.Key
	for i := range id {
		id[i] = byte(0xf0 + i)
	}
	for i := range s {
		s[i] = byte(i * 7)
	}
	return id, s
}

func TestTokenFormat(t *testing.T) {
	id, secret := testToken()
	tok := formatToken(id, secret)
	if !tokenForm.MatchString(tok) {
		t.Fatalf("formatToken = %q: not %s", tok, tokenForm)
	}
	for _, in := range []string{tok, " " + tok + "\n"} {
		gotID, gotSecret, err := parseToken(in)
		if err != nil || gotID != id || gotSecret != secret {
			t.Errorf("parseToken(%q): %x, %v", in, gotID, err)
		}
	}
}

func TestTokenRejects(t *testing.T) {
	id, secret := testToken()
	tok := formatToken(id, secret)
	body := strings.TrimPrefix(tok, TokenPrefix)
	// 48 bytes are exactly 64 base64 characters: no spare bits, so only
	// the alphabet, the length and the prefix can be wrong.
	for name, in := range map[string]string{
		"empty":         "",
		"no prefix":     body,
		"v2":            "nuage-token-v2." + body,
		"short":         tok[:len(tok)-1],
		"long":          tok + "A",
		"padded":        tok + "==",
		"std base64":    TokenPrefix + strings.NewReplacer("-", "+", "_", "/").Replace(body[:63]) + "+",
		"space inside":  tok[:30] + " " + tok[30:],
		"recovery key":  formatRecoveryKey(secret),
		"upper prefix":  strings.ToUpper(TokenPrefix) + body,
		"invalid chars": TokenPrefix + strings.Repeat("!", 64),
	} {
		_, _, err := parseToken(in)
		if err == nil {
			t.Errorf("%s: parseToken(%q) accepted", name, in)
			continue
		}
		if !errors.Is(err, ErrUnauthorized) || HintOf(err) == "" {
			t.Errorf("%s: error %v: want ErrUnauthorized with a hint", name, err)
		}
	}
}

func TestCheckTokenName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"laptop", "laptop"},
		{"  backup server  ", "backup server"},
		{"été-2026", "été-2026"},
		{strings.Repeat("é", MaxTokenName), strings.Repeat("é", MaxTokenName)},
		{"", ""},
		{"   ", ""},
		{strings.Repeat("a", MaxTokenName+1), ""},
		{"tab\there", ""},
		{"nul\x00", ""},
		{"bad\xffutf8", ""},
	} {
		got, err := checkTokenName(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("checkTokenName(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("checkTokenName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	id, secret := testToken()
	tok := formatToken(id, secret)
	f.Add(tok)
	f.Add(TokenPrefix)
	f.Add(tok + "=")
	f.Add(strings.TrimPrefix(tok, TokenPrefix))
	f.Fuzz(func(t *testing.T, in string) {
		id, secret, err := parseToken(in)
		if err != nil {
			return
		}
		out := formatToken(id, secret)
		if out != strings.TrimSpace(in) {
			t.Fatalf("parseToken accepted %q, whose canonical form is %q", in, out)
		}
	})
}
