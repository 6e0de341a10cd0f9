package client

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

var recoveryForm = regexp.MustCompile(`^nuage-recovery-([a-z2-7]{4}-){12}[a-z2-7]{4}$`)

func testRecoveryKey() keys.Key {
	var r keys.Key
	for i := range r {
		r[i] = byte(i*37 + 11)
	}
	return r
}

func TestRecoveryKeyFormat(t *testing.T) {
	r := testRecoveryKey()
	s := formatRecoveryKey(r)
	if !recoveryForm.MatchString(s) {
		t.Fatalf("formatRecoveryKey = %q: not %s", s, recoveryForm)
	}
	body := strings.TrimPrefix(s, RecoveryPrefix)
	compact := strings.ReplaceAll(body, "-", "")
	for _, in := range []string{
		s,
		strings.ToUpper(s),
		"  " + s + "\n",
		RecoveryPrefix + compact,
		RecoveryPrefix + strings.ReplaceAll(body, "-", " "),
		RecoveryPrefix + compact[:8] + "-" + compact[8:],                          // one dash after two groups
		strings.ReplaceAll(s, "-", "-\n"),                                         // wrapped lines
		"NUAGE-RECOVERY-" + strings.ToUpper(strings.ReplaceAll(body, "-", " - ")), // spaces around dashes
	} {
		got, err := parseRecoveryKey(in)
		if err != nil {
			t.Errorf("parseRecoveryKey(%q): %v", in, err)
			continue
		}
		if got != r {
			t.Errorf("parseRecoveryKey(%q) = another key", in)
		}
	}
}

func TestRecoveryKeyRejects(t *testing.T) {
	s := formatRecoveryKey(testRecoveryKey())
	body := strings.TrimPrefix(s, RecoveryPrefix)
	compact := strings.ReplaceAll(body, "-", "")
	last := compact[len(compact)-1]
	// The last character carries 1 key bit and 4 zero bits; flipping one
	// of those zero bits must be refused.
	nonCanonical := compact[:len(compact)-1] + string(recoveryAlphabet[(strings.IndexByte(recoveryAlphabet, last)^1)])
	for name, in := range map[string]string{
		"empty":             "",
		"no prefix":         body,
		"other prefix":      "nuage-token-" + body,
		"short":             s[:len(s)-1],
		"long":              s + "a",
		"long group":        s + "-aaaa",
		"digit 0":           s[:len(s)-1] + "0",
		"digit 1":           s[:len(s)-1] + "1",
		"digit 8":           s[:len(s)-1] + "8",
		"padding":           s + "====",
		"leading dash":      RecoveryPrefix + "-" + body,
		"trailing dash":     s + "-",
		"double dash":       strings.Replace(s, "-", "--", 3),
		"dash in a group":   RecoveryPrefix + compact[:2] + "-" + compact[2:],
		"non-zero pad bits": RecoveryPrefix + nonCanonical,
		"unicode":           s[:len(s)-1] + "é",
	} {
		if _, err := parseRecoveryKey(in); err == nil {
			t.Errorf("%s: parseRecoveryKey(%q) accepted", name, in)
		} else if HintOf(err) == "" {
			t.Errorf("%s: error %v has no hint", name, err)
		}
	}
}

func TestRecoveryKeysDistinct(t *testing.T) {
	auth, kek := recoveryKeys(testRecoveryKey())
	if auth.Equal(kek) {
		t.Fatal("recovery auth key equals the recovery KEK")
	}
	tokAuth, tokKEK := tokenKeys(testRecoveryKey())
	if auth.Equal(tokAuth) || kek.Equal(tokKEK) {
		t.Fatal("recovery and token keys derived from the same secret are equal")
	}
}

const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

func FuzzParseRecoveryKey(f *testing.F) {
	s := formatRecoveryKey(testRecoveryKey())
	f.Add(s)
	f.Add(strings.ToUpper(s))
	f.Add(strings.ReplaceAll(s, "-", ""))
	f.Add(RecoveryPrefix)
	f.Add(s + "-")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := parseRecoveryKey(in)
		if err != nil {
			if r != (keys.Key{}) {
				t.Fatalf("parseRecoveryKey(%q) failed but returned a key", in)
			}
			return
		}
		out := formatRecoveryKey(r)
		if !recoveryForm.MatchString(out) {
			t.Fatalf("formatRecoveryKey = %q", out)
		}
		again, err := parseRecoveryKey(out)
		if err != nil || again != r {
			t.Fatalf("round trip of %q: %v", in, err)
		}
		// What was accepted is the canonical form up to case, white space
		// and dashes.
		norm := func(x string) string {
			return strings.NewReplacer("-", "", " ", "", "\t", "", "\r", "", "\n", "").Replace(strings.ToLower(x))
		}
		if !bytes.Equal([]byte(norm(in)), []byte(norm(out))) {
			t.Fatalf("parseRecoveryKey accepted %q, which differs from %q beyond case, spaces and dashes", in, out)
		}
	})
}

func BenchmarkParseRecoveryKey(b *testing.B) {
	s := formatRecoveryKey(testRecoveryKey())
	for b.Loop() {
		if _, err := parseRecoveryKey(s); err != nil {
			b.Fatal(err)
		}
	}
}
