package client

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rfc6238Seed is the SHA-1 seed of RFC 6238, Appendix B.
var rfc6238Seed = []byte("12345678901234567890")

// TestTOTPRFC6238 checks the RFC 6238 Appendix B SHA-1 vectors; the RFC
// prints 8 digits, nuage uses the last 6.
func TestTOTPRFC6238(t *testing.T) {
	for _, tc := range []struct {
		unix int64
		rfc  string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		want := tc.rfc[len(tc.rfc)-TOTPDigits:]
		if got := TOTPCode(rfc6238Seed, time.Unix(tc.unix, 0)); got != want {
			t.Errorf("TOTPCode(T=%d) = %s, want %s", tc.unix, got, want)
		}
	}
}

func TestTOTPSteps(t *testing.T) {
	base := time.Unix(1111111080, 0) // the start of a step
	code := TOTPCode(rfc6238Seed, base)
	if got := TOTPCode(rfc6238Seed, base.Add(29*time.Second)); got != code {
		t.Errorf("code changed within a step: %s then %s", code, got)
	}
	if got := TOTPCode(rfc6238Seed, base.Add(30*time.Second)); got == code {
		t.Errorf("code did not change at the next step")
	}
	if got, want := TOTPCode(rfc6238Seed, time.Unix(-100, 0)), TOTPCode(rfc6238Seed, time.Unix(0, 0)); got != want {
		t.Errorf("time before 1970: %s, want step 0's %s", got, want)
	}
	if c := TOTPCode(nil, base); len(c) != TOTPDigits {
		t.Errorf("empty secret: code %q", c)
	}
}

func TestNormalizeTOTPCode(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"123456", "123456"},
		{" 123 456\n", "123456"},
		{"123-456", "123456"},
		{"000000", "000000"},
		{"12345", ""},
		{"1234567", ""},
		{"12345a", ""},
		{"", ""},
		{"١٢٣٤٥٦", ""}, // Arabic-Indic digits are not ASCII digits
	} {
		got, err := normalizeTOTPCode(tc.in)
		if tc.want == "" {
			if err == nil || HintOf(err) == "" {
				t.Errorf("normalizeTOTPCode(%q) = %q, %v; want an error with a hint", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normalizeTOTPCode(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestTOTPSecretFormat(t *testing.T) {
	secret := bytes.Repeat([]byte{0xa5}, TOTPSecretSize)
	s := FormatTOTPSecret(secret)
	if len(s) != 32 || strings.ToUpper(s) != s || strings.Contains(s, "=") {
		t.Fatalf("FormatTOTPSecret = %q: want 32 upper-case base32 characters", s)
	}
	for _, in := range []string{s, strings.ToLower(s), s[:4] + " " + s[4:] + "\n", s + "===="} {
		got, err := ParseTOTPSecret(in)
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("ParseTOTPSecret(%q) = %x, %v", in, got, err)
		}
	}
	for _, in := range []string{"", s[:31], s + "A", s[:31] + "1", "JBSWY3DPEHPK3PXP"} {
		if _, err := ParseTOTPSecret(in); err == nil {
			t.Errorf("ParseTOTPSecret(%q) accepted", in)
		}
	}
}

func TestTOTPURI(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, TOTPSecretSize)
	uri := TOTPURI("a+b@example.org", secret)
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/nuage:a+b@example.org" {
		t.Errorf("URI %q: scheme %q host %q path %q", uri, u.Scheme, u.Host, u.Path)
	}
	if !strings.Contains(uri, "a%2Bb@example.org") {
		t.Errorf("URI %q: '+' not escaped", uri)
	}
	q := u.Query()
	if q.Get("secret") != FormatTOTPSecret(secret) || q.Get("issuer") != "nuage" {
		t.Errorf("URI %q: query %v", uri, q)
	}
}

func TestTOTPRequiredError(t *testing.T) {
	err := totpError(&APIError{Status: 401, Code: "totp_required", Message: "code required", HintText: "pass --totp"})
	if !errors.Is(err, ErrTOTPRequired) || !errors.Is(err, ErrUnauthorized) || HintOf(err) != "pass --totp" {
		t.Errorf("totpError = %v (hint %q): want ErrTOTPRequired and ErrUnauthorized with the coordinator's hint", err, HintOf(err))
	}
	other := &APIError{Status: 401, Code: "unauthorized", Message: "wrong"}
	if got := totpError(other); got != error(other) || errors.Is(got, ErrTOTPRequired) {
		t.Errorf("totpError(unauthorized) = %v", got)
	}
}

func FuzzParseTOTPSecret(f *testing.F) {
	f.Add(FormatTOTPSecret(bytes.Repeat([]byte{7}, TOTPSecretSize)))
	f.Add("jbswy3dpehpk3pxpjbswy3dpehpk3pxp")
	f.Add("====")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseTOTPSecret(s)
		if err != nil {
			return
		}
		if len(b) != TOTPSecretSize {
			t.Fatalf("ParseTOTPSecret(%q) returned %d bytes", s, len(b))
		}
		again, err := ParseTOTPSecret(FormatTOTPSecret(b))
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip of %q: %x, %v", s, again, err)
		}
	})
}

func BenchmarkTOTPCode(b *testing.B) {
	now := time.Now()
	for b.Loop() {
		TOTPCode(rfc6238Seed, now)
	}
}
