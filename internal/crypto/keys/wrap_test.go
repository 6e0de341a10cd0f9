package keys

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

type wrapCase struct {
	purpose       string
	owner, object []byte
}

func wrapFixture() (w, k Key, c wrapCase) {
	owner := bytes.Repeat([]byte{0x11}, 16)
	entry := bytes.Repeat([]byte{0x22}, 16)
	parent := bytes.Repeat([]byte{0x33}, 16)
	return testKey(1), testKey(2), wrapCase{PurposeEntryKey, owner, EntryObject(entry, parent)}
}

func TestWrapRoundTrip(t *testing.T) {
	w, k, c := wrapFixture()
	for _, c := range []wrapCase{c, {PurposeMaster, c.owner, c.owner}, {"x", nil, nil}} {
		wrapped, err := Wrap(w, k, c.purpose, c.owner, c.object)
		if err != nil {
			t.Fatal(err)
		}
		if len(wrapped) != WrapSize || wrapped[0] != WrapVersion {
			t.Fatalf("wrap is %d bytes, version %d", len(wrapped), wrapped[0])
		}
		got, err := Unwrap(w, wrapped, c.purpose, c.owner, c.object)
		if err != nil {
			t.Fatal(err)
		}
		if got != k {
			t.Fatal("Unwrap returned another key")
		}
		again, err := Wrap(w, k, c.purpose, c.owner, c.object)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(again, wrapped) {
			t.Fatal("two wraps share a nonce")
		}
	}
}

// TestWrapBinding checks that a wrap opens only with the exact wrapping
// key, purpose, owner and object it was made for.
func TestWrapBinding(t *testing.T) {
	w, k, c := wrapFixture()
	wrapped, err := Wrap(w, k, c.purpose, c.owner, c.object)
	if err != nil {
		t.Fatal(err)
	}
	entry, parent := c.object[:16], c.object[16:]
	other := bytes.Repeat([]byte{0x44}, 16)
	tests := []struct {
		name string
		w    Key
		c    wrapCase
	}{
		{"wrong key", testKey(9), c},
		{"wrong purpose", w, wrapCase{PurposeMaster, c.owner, c.object}},
		{"purpose case", w, wrapCase{"Entry-key", c.owner, c.object}},
		{"wrong owner", w, wrapCase{c.purpose, other, c.object}},
		{"no owner", w, wrapCase{c.purpose, nil, c.object}},
		{"wrong entry", w, wrapCase{c.purpose, c.owner, EntryObject(other, parent)}},
		{"moved to another parent", w, wrapCase{c.purpose, c.owner, EntryObject(entry, other)}},
		{"entry and parent swapped", w, wrapCase{c.purpose, c.owner, EntryObject(parent, entry)}},
		{"object without parent", w, wrapCase{c.purpose, c.owner, entry}},
		// LP framing: moving a byte across the owner/object boundary
		// keeps the concatenation but must change the AD.
		{"field boundary shifted", w, wrapCase{c.purpose, append(append([]byte{}, c.owner...), c.object[0]), c.object[1:]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unwrap(tt.w, wrapped, tt.c.purpose, tt.c.owner, tt.c.object)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("Unwrap = %v, want ErrAuth", err)
			}
			if !got.IsZero() {
				t.Fatal("Unwrap returned key bytes with an error")
			}
			if !strings.Contains(err.Error(), "key wrap for "+tt.c.purpose) {
				t.Fatalf("error %q does not name the purpose", err)
			}
		})
	}
}

func TestWrapTamper(t *testing.T) {
	w, k, c := wrapFixture()
	wrapped, err := Wrap(w, k, c.purpose, c.owner, c.object)
	if err != nil {
		t.Fatal(err)
	}
	for i := range wrapped {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(wrapped)
			bad[i] ^= mask
			got, err := Unwrap(w, bad, c.purpose, c.owner, c.object)
			want := ErrAuth
			if i == 0 {
				want = ErrMalformed
			}
			if !errors.Is(err, want) || !got.IsZero() {
				t.Fatalf("byte %d ^ %#x: Unwrap = %v, want %v", i, mask, err, want)
			}
		}
	}
	for n := 0; n < len(wrapped); n++ {
		if _, err := Unwrap(w, wrapped[:n], c.purpose, c.owner, c.object); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: Unwrap = %v, want ErrMalformed", n, err)
		}
	}
	if _, err := Unwrap(w, append(bytes.Clone(wrapped), 0), c.purpose, c.owner, c.object); !errors.Is(err, ErrMalformed) {
		t.Fatalf("extended: Unwrap = %v, want ErrMalformed", err)
	}
}

func TestWrapBadInputs(t *testing.T) {
	w, k, c := wrapFixture()
	long := make([]byte, 1<<16)
	tests := []struct {
		name string
		c    wrapCase
	}{
		{"empty purpose", wrapCase{"", c.owner, c.object}},
		{"non-ASCII purpose", wrapCase{"entr\u00e9e", c.owner, c.object}},
		{"control in purpose", wrapCase{"entry\x00key", c.owner, c.object}},
		{"long purpose", wrapCase{strings.Repeat("a", 256), c.owner, c.object}},
		{"owner too long", wrapCase{c.purpose, long, c.object}},
		{"object too long", wrapCase{c.purpose, c.owner, long}},
	}
	valid, err := Wrap(w, k, c.purpose, c.owner, c.object)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Wrap(w, k, tt.c.purpose, tt.c.owner, tt.c.object); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Wrap = %v, want ErrMalformed", err)
			}
			if _, err := Unwrap(w, valid, tt.c.purpose, tt.c.owner, tt.c.object); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Unwrap = %v, want ErrMalformed", err)
			}
		})
	}
	// The largest length-prefixable field is accepted.
	if _, err := Wrap(w, k, c.purpose, c.owner, long[:1<<16-1]); err != nil {
		t.Fatal(err)
	}
}

func TestWrapADLayout(t *testing.T) {
	ad, err := wrapAD("ab", []byte{1}, []byte{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte("nuage-wrap-v1"), 0, 2, 'a', 'b', 0, 1, 1, 0, 2, 2, 3)
	if !bytes.Equal(ad, want) {
		t.Fatalf("wrap AD = %x, want %x", ad, want)
	}
	ad, err = metaAD([]byte{1}, []byte{2}, nil, "file")
	if err != nil {
		t.Fatal(err)
	}
	want = append([]byte("nuage-meta-v1"), 0, 1, 1, 0, 1, 2, 0, 0, 0, 4, 'f', 'i', 'l', 'e')
	if !bytes.Equal(ad, want) {
		t.Fatalf("meta AD = %x, want %x", ad, want)
	}
}

func FuzzUnwrap(f *testing.F) {
	w, k, c := wrapFixture()
	valid, err := wrapWithNonce(w, k, c.purpose, c.owner, c.object, [NonceSize]byte{1, 2, 3})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, c.purpose)
	f.Add(valid[:WrapSize-1], c.purpose)
	f.Add(valid, PurposeMaster)
	f.Add([]byte{}, "")
	f.Add(make([]byte, WrapSize), c.purpose)
	f.Fuzz(func(t *testing.T, wrapped []byte, purpose string) {
		got, err := Unwrap(w, wrapped, purpose, c.owner, c.object)
		if err != nil {
			if !got.IsZero() {
				t.Fatal("key returned with an error")
			}
			if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		// Success must mean wrapped is exactly a genuine wrap of got.
		var nonce [NonceSize]byte
		copy(nonce[:], wrapped[1:])
		re, err := wrapWithNonce(w, got, purpose, c.owner, c.object, nonce)
		if err != nil || !bytes.Equal(re, wrapped) {
			t.Fatalf("accepted a wrap that is not genuine: %x", wrapped)
		}
	})
}
