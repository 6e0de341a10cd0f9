package link

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

const (
	testID   = "00112233445566778899aabbccddeeff"
	testBase = "https://nuage.example"
)

var testSecret = [32]byte{
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
}

// fragment builds the b64 fragment of (version, id, secret) with a correct
// check, or with check xor-ed by flip.
func fragment(version byte, id [16]byte, secret [32]byte, flip byte) string {
	c := check(id, secret)
	c[0] ^= flip
	raw := append(append([]byte{version}, secret[:]...), c[:]...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func testURL(t *testing.T) URL {
	t.Helper()
	u, err := Parse(testBase + "/l/" + testID + "#" + fragment(Version, idOf(testID), testSecret, 0))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func idOf(s string) [16]byte {
	var id [16]byte
	if err := parseID(s, &id); err != nil {
		panic(err)
	}
	return id
}

func TestParseValid(t *testing.T) {
	frag := fragment(Version, idOf(testID), testSecret, 0)
	if len(frag) != fragmentLen || fragmentLen != 50 {
		t.Fatalf("fragment is %d characters, want 50", len(frag))
	}
	for _, base := range []string{
		"https://nuage.example",
		"http://127.0.0.1:7000",
		"https://h/prefix",
		"https://h.example:443/a/b-c/d_e~f",
		"http://[::1]:8080",
		"https://[2001:db8::1]/x",
		"https://h/%7Euser",
		"https://Nuage.Example",
	} {
		t.Run(base, func(t *testing.T) {
			s := base + "/l/" + testID + "#" + frag
			u, err := Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			if u.Base != base || u.ID != idOf(testID) || u.Secret != testSecret {
				t.Fatalf("parsed %+v", u)
			}
			if got := u.String(); got != s {
				t.Fatalf("String() = %q, want %q", got, s)
			}
			if got, want := u.Page(), base+"/l/"+testID; got != want {
				t.Fatalf("Page() = %q, want %q", got, want)
			}
			if strings.Contains(u.Page(), "#") {
				t.Fatal("Page contains the fragment")
			}
			if u2, err := Parse("  " + s + "\n"); err != nil || u2 != u {
				t.Fatalf("surrounding white space: %v, %+v", err, u2)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	id := idOf(testID)
	good := fragment(Version, id, testSecret, 0)
	page := testBase + "/l/" + testID
	for _, c := range []struct {
		name, url string
		want      error
		part      string // a piece of the message that names what is wrong
	}{
		{"empty", "", ErrMalformed, "https://"},
		{"ftp", "ftp://h/l/" + testID + "#" + good, ErrMalformed, `scheme "ftp"`},
		{"no scheme", "nuage.example/l/" + testID + "#" + good, ErrMalformed, "starts with https://"},
		{"upper-case scheme", "HTTPS://h/l/" + testID + "#" + good, ErrMalformed, `scheme "HTTPS"`},
		{"no host", "https:///l/" + testID + "#" + good, ErrMalformed, "host name"},
		{"user info", "https://u:p@h/l/" + testID + "#" + good, ErrMalformed, "user name"},
		{"bad host char", "https://h%41/l/" + testID + "#" + good, ErrMalformed, "host"},
		{"non-ASCII host", "https://héhé/l/" + testID + "#" + good, ErrMalformed, "punycode"},
		{"bad port", "https://h:80a/l/" + testID + "#" + good, ErrMalformed, "port"},
		{"port too large", "https://h:65536/l/" + testID + "#" + good, ErrMalformed, "65535"},
		{"empty port", "https://h:/l/" + testID + "#" + good, ErrMalformed, "port"},
		{"bad IPv6", "https://[::g]/l/" + testID + "#" + good, ErrMalformed, "IPv6"},
		{"unclosed IPv6", "https://[::1/l/" + testID + "#" + good, ErrMalformed, "IPv6"},
		{"IPv4 in brackets", "https://[127.0.0.1]/l/" + testID + "#" + good, ErrMalformed, "IPv6"},
		{"trailing slash in prefix", "https://h/p//l/" + testID + "#" + good, ErrMalformed, "trailing"},
		{"empty segment", "https://h/a//b/l/" + testID + "#" + good, ErrMalformed, "empty segment"},
		{"dot segment", "https://h/../l/" + testID + "#" + good, ErrMalformed, `".."`},
		{"space in prefix", "https://h/a b/l/" + testID + "#" + good, ErrMalformed, "path before /l/"},
		{"bad escape", "https://h/a%zz/l/" + testID + "#" + good, ErrMalformed, "two hex digits"},
		{"no /l/", testBase + "/x/" + testID + "#" + good, ErrMalformed, "/l/"},
		{"query", page + "?a=b#" + good, ErrMalformed, "query"},
		{"query after fragment-less", page + "?a=b", ErrMalformed, "query"},
		{"upper-case ID", testBase + "/l/" + strings.ToUpper(testID) + "#" + good, ErrMalformed, "lower-case"},
		{"short ID", testBase + "/l/" + testID[:31] + "#" + good, ErrMalformed, "32 lower-case hex"},
		{"long ID", testBase + "/l/" + testID + "0#" + good, ErrMalformed, "32 lower-case hex"},
		{"non-hex ID", testBase + "/l/" + testID[:31] + "g#" + good, ErrMalformed, "lower-case hex"},
		{"slash after ID", page + "/#" + good, ErrMalformed, "remove it"},
		{"zero ID", testBase + "/l/" + strings.Repeat("0", 32) + "#" + fragment(Version, [16]byte{}, testSecret, 0), ErrMalformed, "zero"},
		{"missing fragment", page, ErrMalformed, "after # is missing"},
		{"empty fragment", page + "#", ErrMalformed, "after # is missing"},
		{"short fragment", page + "#" + good[:49], ErrMalformed, "cut"},
		{"long fragment", page + "#" + good + "A", ErrMalformed, "cut"},
		{"padded fragment", page + "#" + good[:48] + "==", ErrMalformed, "base64url"},
		{"standard base64 characters", page + "#+" + good[1:], ErrMalformed, "base64url"},
		{"non-zero trailing bits", page + "#" + good[:49] + string(b64Next(good[49])), ErrMalformed, "base64url"},
		{"version 2", page + "#" + fragment(2, id, testSecret, 0), ErrMalformed, "version 2"},
		{"version 0", page + "#" + fragment(0, id, testSecret, 0), ErrMalformed, "version 0"},
		{"wrong check", page + "#" + fragment(Version, id, testSecret, 1), ErrDamaged, "mistyped"},
		{"other ID", testBase + "/l/" + "00112233445566778899aabbccddeefe#" + good, ErrDamaged, "mistyped"},
		{"too long", "https://h/" + strings.Repeat("a", maxURLLen) + "/l/" + testID + "#" + good, ErrMalformed, "shorter"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := Parse(c.url)
			if !errors.Is(err, c.want) {
				t.Fatalf("Parse(%q) = %v, want %v", c.url, err, c.want)
			}
			if u != (URL{}) {
				t.Fatalf("Parse returned %+v with an error", u)
			}
			if !strings.Contains(err.Error(), c.part) {
				t.Fatalf("error %q does not mention %q", err, c.part)
			}
		})
	}
}

// b64Next returns the base64url character after c, which for the last
// character of a 37-byte encoding sets a trailing bit.
func b64Next(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return alphabet[(i+1)%64]
}

func TestNew(t *testing.T) {
	seen := make(map[[16]byte]bool)
	for range 50 {
		u, err := New("http://127.0.0.1:7000/p")
		if err != nil {
			t.Fatal(err)
		}
		if u.ID == ([16]byte{}) || u.Secret == ([32]byte{}) {
			t.Fatal("zero ID or secret")
		}
		if seen[u.ID] {
			t.Fatal("repeated ID")
		}
		seen[u.ID] = true
		p, err := Parse(u.String())
		if err != nil || p != u {
			t.Fatalf("Parse(String()) = %+v, %v; want %+v", p, err, u)
		}
	}
	for _, base := range []string{"", "https://h/", "ftp://h", "https://", "https://h?x", "https://h#x", "https://h/a b"} {
		if _, err := New(base); !errors.Is(err, ErrMalformed) {
			t.Errorf("New(%q) = %v, want ErrMalformed", base, err)
		}
	}
}

func TestStringNeverLeaksThroughPage(t *testing.T) {
	u := testURL(t)
	frag := u.String()[len(u.Page())+1:]
	if strings.Contains(u.Page(), frag) {
		t.Fatal("Page contains the secret part")
	}
}
