package link

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, fails only with ErrMalformed or
// ErrDamaged, and that anything it accepts re-serialises to a URL that
// parses to the same value (and whose Page is a prefix of it).
func FuzzParse(f *testing.F) {
	id := idOf(testID)
	good := fragment(Version, id, testSecret, 0)
	for _, s := range []string{
		testBase + "/l/" + testID + "#" + good,
		"http://127.0.0.1:7000/l/" + testID + "#" + good,
		"https://h/prefix/l/" + testID + "#" + good,
		"http://[::1]:80/a/l/" + testID + "#" + good,
		" https://h/l/" + testID + "#" + good + "\n",
		testBase + "/l/" + testID + "#" + fragment(Version, id, testSecret, 1),
		testBase + "/l/" + testID + "#" + fragment(2, id, testSecret, 0),
		testBase + "/l/" + testID,
		testBase + "/l/" + testID + "?q#" + good,
		"ftp://h/l/" + testID + "#" + good,
		"https://h/l/l/l/#",
		"",
		"#",
		"https://[",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrDamaged) {
				t.Fatalf("Parse(%q): unexpected error kind: %v", s, err)
			}
			if u != (URL{}) {
				t.Fatalf("Parse(%q) returned a value with an error", s)
			}
			return
		}
		if u.ID == ([16]byte{}) {
			t.Fatalf("Parse(%q) accepted a zero ID", s)
		}
		out := u.String()
		u2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok but Parse(String()=%q): %v", s, out, err)
		}
		if u2 != u {
			t.Fatalf("round trip changed %+v into %+v", u, u2)
		}
		if out2 := u2.String(); out2 != out {
			t.Fatalf("String not stable: %q then %q", out, out2)
		}
		if p := u.Page(); len(out) <= len(p) || out[:len(p)] != p || out[len(p)] != '#' {
			t.Fatalf("Page %q is not the URL %q without its fragment", p, out)
		}
		if _, err := New(u.Base); err != nil {
			t.Fatalf("Parse accepted base %q that New refuses: %v", u.Base, err)
		}
	})
}
