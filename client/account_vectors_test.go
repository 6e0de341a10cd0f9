package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

var updateAccountVectors = flag.Bool("update-account-vectors", false, "regenerate testdata/account/vectors.json")

var accountVectorFile = filepath.Join("..", "testdata", "account", "vectors.json")

type accountVectors struct {
	Comment       []string         `json:"comment"`
	Recovery      []secretVector   `json:"recovery"`
	RecoveryParse []parseVector    `json:"recovery_parse"`
	Tokens        []tokenVector    `json:"tokens"`
	TokenParse    []parseVector    `json:"token_parse"`
	TOTP          []totpVector     `json:"totp"`
	TOTPSecrets   []totpTextVector `json:"totp_secrets"`
}

// secretVector: a recovery key and what derives from it.
type secretVector struct {
	Key      string `json:"key"`
	Text     string `json:"text"`
	AuthKey  string `json:"auth_key"`
	Verifier string `json:"verifier"`
	KEK      string `json:"kek"`
}

// tokenVector: an API token and what derives from it.
type tokenVector struct {
	ID       string `json:"id"`
	Secret   string `json:"secret"`
	Text     string `json:"text"`
	AuthKey  string `json:"auth_key"`
	Verifier string `json:"verifier"`
	KEK      string `json:"kek"`
}

// parseVector: a string as typed, and the key it means or why it is refused.
type parseVector struct {
	Text  string `json:"text"`
	Key   string `json:"key,omitempty"` // recovery: the key; tokens: ID || secret
	Error string `json:"error,omitempty"`
}

type totpVector struct {
	Secret string `json:"secret"`
	Unix   int64  `json:"unix"`
	Code   string `json:"code"`
}

type totpTextVector struct {
	Text   string `json:"text"`
	Secret string `json:"secret,omitempty"`
	Error  string `json:"error,omitempty"`
}

// vectorKey is a fixed key derived from a label, so the file is reproducible.
func vectorKey(label string) keys.Key {
	return sha256.Sum256([]byte("nuage account vectors: " + label))
}

func genAccountVectors() accountVectors {
	v := accountVectors{Comment: []string{
		"nuage v1 account secrets beyond the password (docs/spec.md §2.3). Hex is lowercase.",
		"recovery: text = \"nuage-recovery-\" || base32(key) (RFC 4648 alphabet, lower case, no padding) in groups of 4 joined by '-'; auth_key = HKDF(key, info \"nuage v1 recovery auth\"); kek = HKDF(key, info \"nuage v1 recovery kek\") wraps the master key (purpose \"recovery\", object = account ID); verifier = HMAC-SHA-256(auth_key, \"nuage v1 verifier\").",
		"recovery_parse: readers ignore case and white space and accept the dashes between groups of 4 or none; anything else fails (error names why).",
		"tokens: text = \"nuage-token-v1.\" || base64url-unpadded(id || secret); auth_key = HKDF(secret, info \"nuage v1 token auth\"); kek = HKDF(secret, info \"nuage v1 token kek\") wraps the master key (purpose \"token\", object = token ID); verifier as above.",
		"totp: RFC 6238 HMAC-SHA-1, 30 s steps from the Unix epoch, 6 digits (the first vectors are RFC 6238 Appendix B's with its 8-digit values cut to the last 6).",
		"totp_secrets: the secret as typed into an authenticator app: base32, upper case, no padding, 20 bytes.",
	}}
	for _, label := range []string{"recovery 1", "recovery 2"} {
		k := vectorKey(label)
		auth, kek := recoveryKeys(k)
		ver := keys.Verifier(auth)
		v.Recovery = append(v.Recovery, secretVector{Key: hex.EncodeToString(k[:]), Text: formatRecoveryKey(k),
			AuthKey: hex.EncodeToString(auth[:]), Verifier: hex.EncodeToString(ver[:]), KEK: hex.EncodeToString(kek[:])})
	}
	var zero, ones keys.Key
	for i := range ones {
		ones[i] = 0xff
	}
	for _, k := range []keys.Key{zero, ones} {
		v.Recovery = append(v.Recovery, func() secretVector {
			auth, kek := recoveryKeys(k)
			ver := keys.Verifier(auth)
			return secretVector{Key: hex.EncodeToString(k[:]), Text: formatRecoveryKey(k),
				AuthKey: hex.EncodeToString(auth[:]), Verifier: hex.EncodeToString(ver[:]), KEK: hex.EncodeToString(kek[:])}
		}())
	}
	k := vectorKey("recovery 1")
	text := formatRecoveryKey(k)
	body := strings.TrimPrefix(text, RecoveryPrefix)
	compact := strings.ReplaceAll(body, "-", "")
	last := strings.IndexByte(recoveryAlphabet, compact[len(compact)-1])
	keyHex := hex.EncodeToString(k[:])
	v.RecoveryParse = []parseVector{
		{Text: text, Key: keyHex},
		{Text: strings.ToUpper(text), Key: keyHex},
		{Text: RecoveryPrefix + compact, Key: keyHex},
		{Text: RecoveryPrefix + strings.ReplaceAll(body, "-", " "), Key: keyHex},
		{Text: " " + strings.ReplaceAll(text, "-", "-\n") + "\n", Key: keyHex},
		{Text: body, Error: "missing prefix"},
		{Text: text[:len(text)-1], Error: "too short"},
		{Text: text + "a", Error: "too long"},
		{Text: text[:len(text)-1] + "1", Error: "character outside the alphabet"},
		{Text: text + "====", Error: "padding"},
		{Text: RecoveryPrefix + compact[:2] + "-" + compact[2:], Error: "dash inside a group"},
		{Text: strings.Replace(text, "-", "--", 3), Error: "double dash"},
		{Text: text + "-", Error: "trailing dash"},
		{Text: RecoveryPrefix + compact[:len(compact)-1] + string(recoveryAlphabet[last^1]), Error: "non-zero padding bits"},
	}
	for _, label := range []string{"token 1", "token 2"} {
		s := vectorKey(label)
		idFull := vectorKey(label + " id")
		var id [16]byte
		copy(id[:], idFull[:16])
		auth, kek := tokenKeys(s)
		ver := keys.Verifier(auth)
		v.Tokens = append(v.Tokens, tokenVector{ID: hex.EncodeToString(id[:]), Secret: hex.EncodeToString(s[:]), Text: formatToken(id, s),
			AuthKey: hex.EncodeToString(auth[:]), Verifier: hex.EncodeToString(ver[:]), KEK: hex.EncodeToString(kek[:])})
	}
	tok := v.Tokens[0].Text
	tokBody := strings.TrimPrefix(tok, TokenPrefix)
	v.TokenParse = []parseVector{
		{Text: tok, Key: v.Tokens[0].ID + v.Tokens[0].Secret},
		{Text: " " + tok + "\n", Key: v.Tokens[0].ID + v.Tokens[0].Secret},
		{Text: tokBody, Error: "missing prefix"},
		{Text: "nuage-token-v2." + tokBody, Error: "unknown version"},
		{Text: tok[:len(tok)-1], Error: "too short"},
		{Text: tok + "A", Error: "too long"},
		{Text: tok + "==", Error: "padding"},
		{Text: TokenPrefix + tokBody[:63] + "+", Error: "character outside the base64url alphabet"},
		{Text: tok[:30] + " " + tok[30:], Error: "space inside"},
	}
	seed := []byte("12345678901234567890")
	for _, u := range []int64{59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000, 0, 29, 30} {
		v.TOTP = append(v.TOTP, totpVector{Secret: hex.EncodeToString(seed), Unix: u, Code: TOTPCode(seed, time.Unix(u, 0))})
	}
	sec := vectorKey("totp")
	secret := sec[:TOTPSecretSize]
	v.TOTP = append(v.TOTP, totpVector{Secret: hex.EncodeToString(secret), Unix: 1763800000, Code: TOTPCode(secret, time.Unix(1763800000, 0))})
	st := FormatTOTPSecret(secret)
	v.TOTPSecrets = []totpTextVector{
		{Text: st, Secret: hex.EncodeToString(secret)},
		{Text: strings.ToLower(st[:16]) + " " + st[16:], Secret: hex.EncodeToString(secret)},
		{Text: st[:31], Error: "wrong length"},
		{Text: st[:31] + "0", Error: "character outside the alphabet"},
		{Text: FormatTOTPSecret(secret[:10]), Error: "secret of 10 bytes"},
	}
	return v
}

func TestAccountVectors(t *testing.T) {
	want, err := json.MarshalIndent(genAccountVectors(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *updateAccountVectors {
		if err := os.MkdirAll(filepath.Dir(accountVectorFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(accountVectorFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(accountVectorFile)
	if err != nil {
		t.Fatalf("%v (generate it with -update-account-vectors)", err)
	}
	var v accountVectors
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: %v", accountVectorFile, err)
	}
	// Check the file's values independently of the generator, so that a
	// change of format fails here even if the file was regenerated by mistake.
	checkAccountVectors(t, v)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the generator; rerun with -update-account-vectors if the change is intended", accountVectorFile)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("vector hex %q: %v", s, err)
	}
	return b
}

func checkAccountVectors(t *testing.T, v accountVectors) {
	if len(v.Recovery) == 0 || len(v.RecoveryParse) == 0 || len(v.Tokens) == 0 || len(v.TokenParse) == 0 || len(v.TOTP) == 0 || len(v.TOTPSecrets) == 0 {
		t.Fatal("a vector section is empty")
	}
	for _, r := range v.Recovery {
		k, err := keys.KeyFromBytes(mustHex(t, r.Key))
		if err != nil {
			t.Fatal(err)
		}
		if got := formatRecoveryKey(k); got != r.Text {
			t.Errorf("recovery %s: text %q, want %q", r.Key, got, r.Text)
		}
		parsed, err := parseRecoveryKey(r.Text)
		if err != nil || parsed != k {
			t.Errorf("recovery %q: parse: %v", r.Text, err)
		}
		auth, kek := recoveryKeys(k)
		ver := keys.Verifier(auth)
		if hex.EncodeToString(auth[:]) != r.AuthKey || hex.EncodeToString(kek[:]) != r.KEK || hex.EncodeToString(ver[:]) != r.Verifier {
			t.Errorf("recovery %s: derived keys differ", r.Key)
		}
	}
	for _, p := range v.RecoveryParse {
		k, err := parseRecoveryKey(p.Text)
		switch {
		case p.Error != "" && err == nil:
			t.Errorf("recovery_parse %q: accepted, want failure %q", p.Text, p.Error)
		case p.Error == "" && err != nil:
			t.Errorf("recovery_parse %q: %v", p.Text, err)
		case p.Error == "" && hex.EncodeToString(k[:]) != p.Key:
			t.Errorf("recovery_parse %q: another key", p.Text)
		}
	}
	for _, tv := range v.Tokens {
		var id [16]byte
		copy(id[:], mustHex(t, tv.ID))
		s, err := keys.KeyFromBytes(mustHex(t, tv.Secret))
		if err != nil {
			t.Fatal(err)
		}
		if got := formatToken(id, s); got != tv.Text {
			t.Errorf("token %s: text %q, want %q", tv.ID, got, tv.Text)
		}
		auth, kek := tokenKeys(s)
		ver := keys.Verifier(auth)
		if hex.EncodeToString(auth[:]) != tv.AuthKey || hex.EncodeToString(kek[:]) != tv.KEK || hex.EncodeToString(ver[:]) != tv.Verifier {
			t.Errorf("token %s: derived keys differ", tv.ID)
		}
	}
	for _, p := range v.TokenParse {
		id, s, err := parseToken(p.Text)
		switch {
		case p.Error != "" && err == nil:
			t.Errorf("token_parse %q: accepted, want failure %q", p.Text, p.Error)
		case p.Error == "" && err != nil:
			t.Errorf("token_parse %q: %v", p.Text, err)
		case p.Error == "" && hex.EncodeToString(id[:])+hex.EncodeToString(s[:]) != p.Key:
			t.Errorf("token_parse %q: another token", p.Text)
		}
	}
	for _, tv := range v.TOTP {
		if got := TOTPCode(mustHex(t, tv.Secret), time.Unix(tv.Unix, 0)); got != tv.Code {
			t.Errorf("totp %s at %d: %s, want %s", tv.Secret, tv.Unix, got, tv.Code)
		}
	}
	for _, tv := range v.TOTPSecrets {
		s, err := ParseTOTPSecret(tv.Text)
		switch {
		case tv.Error != "" && err == nil:
			t.Errorf("totp_secrets %q: accepted, want failure %q", tv.Text, tv.Error)
		case tv.Error == "" && err != nil:
			t.Errorf("totp_secrets %q: %v", tv.Text, err)
		case tv.Error == "" && hex.EncodeToString(s) != tv.Secret:
			t.Errorf("totp_secrets %q: another secret", tv.Text)
		}
	}
}
