package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/client"
)

func TestParseExpire(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string // "" for success
	}{
		{"7d", 7 * 24 * time.Hour, ""},
		{"1d", 24 * time.Hour, ""},
		{"12h", 12 * time.Hour, ""},
		{"30m", 30 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"1s", time.Second, ""},
		{"0s", 0, "want > 0"},
		{"0d", 0, "want > 0"},
		{"-1d", 0, "want > 0"},
		{"-5m", 0, "want > 0"},
		{"d", 0, "positive duration"},
		{"1.5d", 0, "positive duration"},
		{"soon", 0, "positive duration"},
		{"", 0, "positive duration"},
		{"7 d", 0, "positive duration"},
		{"999999999999d", 0, "too far"},
	} {
		got, err := parseExpire(tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("parseExpire(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			continue
		}
		var ue usageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("parseExpire(%q) = %v, %v; want a usage error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestIsLinkArg(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"http://127.0.0.1:8080/l/00112233445566778899aabbccddeeff#AQ", true},
		{"https://nuage.example.org/l/00112233445566778899aabbccddeeff", true}, // no key: OpenLink says so
		{"HTTPS://nuage.example.org/whatever", true},
		{"/photos/a.jpg", false},
		{"/shared/a@example.org/team", false},
		{"ftp://x/l/y#z", false},
		{"", false},
	} {
		if got := isLinkArg(tc.in); got != tc.want {
			t.Errorf("isLinkArg(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestLinkLabelDropsTheKey(t *testing.T) {
	const base = "https://nuage.example.org/l/00112233445566778899aabbccddeeff"
	for _, in := range []string{base + "#AQsecretsecret", base, base + "#"} {
		if got := linkLabel(in); got != base {
			t.Errorf("linkLabel(%q) = %q, want %q", in, got, base)
		}
	}
}

func TestMatchLinkID(t *testing.T) {
	ls := []client.Link{
		{ID: "3f2a91bc00000000000000000000000a"},
		{ID: "3f2a91bd00000000000000000000000b"},
		{ID: "77aa000000000000000000000000000c"},
	}
	for _, tc := range []struct {
		prefix, want string
		code         int // exit code of the error; 0 for success
	}{
		{"3f2a91bc", ls[0].ID, 0},
		{"3f2a91bd0", ls[1].ID, 0},
		{"77aa00", ls[2].ID, 0},
		{"3f2a91", "", exitUsage}, // ambiguous
		{"123456", "", exitNotFound},
	} {
		got, err := matchLinkID(ls, tc.prefix)
		switch {
		case tc.code == 0 && (err != nil || got != tc.want):
			t.Errorf("matchLinkID(%q) = %q, %v; want %q", tc.prefix, got, err, tc.want)
		case tc.code != 0 && err == nil:
			t.Errorf("matchLinkID(%q) = %q; want an error", tc.prefix, got)
		case tc.code != 0 && exitCode(t.Context(), err) != tc.code:
			t.Errorf("matchLinkID(%q): %v exits %d, want %d", tc.prefix, err, exitCode(t.Context(), err), tc.code)
		}
	}
}

func TestLinkHint(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{client.ErrBadLink, "damaged"},
		{client.ErrLinkPassword, "password"},
		{client.ErrLinkRevoked, "revoked"},
		{client.ErrLinkExpired, "expired"},
		{client.ErrLinkExhausted, "limit"},
		{client.ErrLinkGone, "deleted"},
		{errors.New("other"), ""},
	} {
		got := linkHint(fmt.Errorf("open: %w", tc.err))
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("linkHint(%v) = %q, want it to contain %q", tc.err, got, tc.want)
		}
	}
}

func TestFingerprintDigits(t *testing.T) {
	const fp = "3f2a91bc0d4e77a1c5e29b034f6de8a0"
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"3f2a-91bc-0d4e-77a1-c5e2-9b03-4f6d-e8a0", fp, true},
		{"3F2A-91BC-0D4E-77A1-C5E2-9B03-4F6D-E8A0", fp, true},
		{"3f2a 91bc 0d4e 77a1 c5e2 9b03 4f6d e8a0", fp, true},
		{fp, fp, true},
		{"3f2a-91bc-0d4e-77a1-c5e2-9b03-4f6d-e8ag", "", false},
		{"", "", false},
		{"---", "", false},
	} {
		got, ok := fingerprintDigits(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("fingerprintDigits(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestKeyChangedEmail(t *testing.T) {
	changed := fmt.Errorf("open share: %w", client.ErrKeyChanged)
	for _, tc := range []struct {
		err  error
		args []string
		want string
	}{
		{withContact(changed, "bob@example.org"), []string{"share", "/team", "bob@example.org"}, "bob@example.org"},
		{withContact(changed, "bob@example.org"), []string{"ls", "/shared/carol@example.org/x"}, "bob@example.org"},
		{changed, []string{"get", "/shared/alice@example.org/team/a.txt", "."}, "alice@example.org"},
		{changed, []string{"ls", "-l", "/shared/alice@example.org"}, "alice@example.org"},
		{changed, []string{"ls", "/shared/"}, ""},
		{changed, []string{"shared", "ls"}, ""},
	} {
		if got := keyChangedEmail(tc.err, tc.args); got != tc.want {
			t.Errorf("keyChangedEmail(%v, %q) = %q, want %q", tc.err, tc.args, got, tc.want)
		}
	}
}

func TestKeyChangedWarning(t *testing.T) {
	w := keyChangedWarning("bob@example.org")
	for _, want := range []string{
		"WARNING: THE KEYS OF BOB@EXAMPLE.ORG HAVE CHANGED",
		"reset their",
		"INTERCEPTING",
		"nuage whoami",
		"nuage contact fingerprint bob@example.org",
		"nuage contact verify bob@example.org --fingerprint",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("the warning lacks %q:\n%s", want, w)
		}
	}
	if n := strings.Count(w, "\n"); n < 8 {
		t.Errorf("the warning has %d lines, want a loud one", n)
	}
	if g := keyChangedWarning(""); !strings.Contains(g, "nuage contact verify EMAIL") {
		t.Errorf("the warning without an e-mail lacks the generic command:\n%s", g)
	}
}

// TestReportKeyChanged checks that an ErrKeyChanged from any command
// prints the warning, naming the account when it is known, and that other
// errors do not.
func TestReportKeyChanged(t *testing.T) {
	changed := fmt.Errorf("open share: %w", client.ErrKeyChanged)
	for _, tc := range []struct {
		err     error
		args    []string
		warning string // "" for none
	}{
		{withContact(changed, "bob@example.org"), []string{"share", "/team", "bob@example.org"}, "THE KEYS OF BOB@EXAMPLE.ORG"},
		{changed, []string{"ls", "/shared/alice@example.org/team"}, "THE KEYS OF ALICE@EXAMPLE.ORG"},
		{hintErr(changed, "h"), []string{"shared", "ls"}, "THE KEYS OF THIS ACCOUNT"},
		{fmt.Errorf("x: %w", client.ErrTampered), []string{"ls", "/shared/alice@example.org/team"}, ""},
	} {
		var b strings.Builder
		reportError(&b, tc.err, tc.args)
		out := b.String()
		if !strings.HasPrefix(out, "error: "+tc.err.Error()+"\n") {
			t.Errorf("%v: report starts %q", tc.err, out)
		}
		if tc.warning == "" && strings.Contains(out, "WARNING") || tc.warning != "" && !strings.Contains(out, tc.warning) {
			t.Errorf("%v: report %q, want the warning %q", tc.err, out, tc.warning)
		}
	}
}

// FuzzParseExpire checks that any --expire value is either refused with a
// usage error or a positive duration, without panicking.
func FuzzParseExpire(f *testing.F) {
	for _, s := range []string{"7d", "12h", "30m", "1h30m", "0s", "-1d", "d", "999999999999d", "106751d", "1e3h", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseExpire(s)
		if err != nil {
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parseExpire(%q): %v is not a usage error", s, err)
			}
			return
		}
		if d <= 0 {
			t.Fatalf("parseExpire(%q) = %v, want > 0", s, d)
		}
	})
}
