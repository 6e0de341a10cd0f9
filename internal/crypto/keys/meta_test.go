package keys

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

type metaCase struct {
	owner, entry, parent []byte
	kind                 string
}

func metaFixture() (Key, metaCase) {
	return testKey(0x42), metaCase{
		owner:  bytes.Repeat([]byte{0x11}, 16),
		entry:  bytes.Repeat([]byte{0x22}, 16),
		parent: bytes.Repeat([]byte{0x33}, 16),
		kind:   KindFile,
	}
}

func TestMetaRoundTrip(t *testing.T) {
	k, c := metaFixture()
	for _, pt := range [][]byte{nil, []byte("{}"), []byte(`{"name":"a.jpg","size":1234}`), bytes.Repeat([]byte{'x'}, 5000)} {
		sealed, err := SealMeta(k, pt, c.owner, c.entry, c.parent, c.kind)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != len(pt)+MetaOverhead || sealed[0] != MetaVersion {
			t.Fatalf("sealed is %d bytes for %d, version %d", len(sealed), len(pt), sealed[0])
		}
		if bytes.Contains(sealed, []byte("a.jpg")) {
			t.Fatal("plaintext visible in sealed metadata")
		}
		got, err := OpenMeta(k, sealed, c.owner, c.entry, c.parent, c.kind)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatal("OpenMeta returned other bytes")
		}
	}
	// The root folder's parent is RootParentID, distinct from an empty ID.
	sealed, err := SealMeta(k, []byte("{}"), c.owner, c.entry, RootParentID[:], KindFolder)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenMeta(k, sealed, c.owner, c.entry, make([]byte, 16), KindFolder); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenMeta(k, sealed, c.owner, c.entry, nil, KindFolder); !errors.Is(err, ErrAuth) {
		t.Fatalf("root metadata opened with an empty parent ID: %v", err)
	}
}

func TestMetaBinding(t *testing.T) {
	k, c := metaFixture()
	sealed, err := SealMeta(k, []byte(`{"name":"a"}`), c.owner, c.entry, c.parent, c.kind)
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Repeat([]byte{0x44}, 16)
	tests := []struct {
		name string
		k    Key
		c    metaCase
	}{
		{"wrong key", testKey(1), c},
		{"meta key instead of entry key", MetaKey(k), c},
		{"wrong owner", k, metaCase{other, c.entry, c.parent, c.kind}},
		{"wrong entry", k, metaCase{c.owner, other, c.parent, c.kind}},
		{"swapped parent", k, metaCase{c.owner, c.entry, other, c.kind}},
		{"no parent", k, metaCase{c.owner, c.entry, nil, c.kind}},
		{"entry and parent swapped", k, metaCase{c.owner, c.parent, c.entry, c.kind}},
		{"wrong kind", k, metaCase{c.owner, c.entry, c.parent, KindFolder}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OpenMeta(tt.k, sealed, tt.c.owner, tt.c.entry, tt.c.parent, tt.c.kind)
			if !errors.Is(err, ErrAuth) || got != nil {
				t.Fatalf("OpenMeta = %q, %v, want ErrAuth and no output", got, err)
			}
			if !strings.Contains(err.Error(), "metadata of "+tt.c.kind+" entry did not authenticate") {
				t.Fatalf("error %q does not say what failed", err)
			}
		})
	}
}

func TestMetaTamper(t *testing.T) {
	k, c := metaFixture()
	sealed, err := SealMeta(k, []byte(`{"name":"a","size":1}`), c.owner, c.entry, c.parent, c.kind)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x04
		got, err := OpenMeta(k, bad, c.owner, c.entry, c.parent, c.kind)
		want := ErrAuth
		if i == 0 {
			want = ErrMalformed
		}
		if !errors.Is(err, want) || got != nil {
			t.Fatalf("byte %d flipped: OpenMeta = %v, want %v", i, err, want)
		}
	}
	for n := 0; n < len(sealed); n++ {
		got, err := OpenMeta(k, sealed[:n], c.owner, c.entry, c.parent, c.kind)
		want := ErrAuth
		if n < MetaOverhead {
			want = ErrMalformed
		}
		if !errors.Is(err, want) || got != nil {
			t.Fatalf("truncated to %d: OpenMeta = %v, want %v", n, err, want)
		}
	}
	if _, err := OpenMeta(k, append(bytes.Clone(sealed), 0), c.owner, c.entry, c.parent, c.kind); !errors.Is(err, ErrAuth) {
		t.Fatalf("extended: OpenMeta = %v, want ErrAuth", err)
	}
}

func TestMetaBadInputs(t *testing.T) {
	k, c := metaFixture()
	long := make([]byte, 1<<16)
	for _, tt := range []metaCase{
		{c.owner, c.entry, c.parent, ""},
		{c.owner, c.entry, c.parent, "f\u00efle"},
		{long, c.entry, c.parent, c.kind},
		{c.owner, long, c.parent, c.kind},
		{c.owner, c.entry, long, c.kind},
	} {
		if _, err := SealMeta(k, nil, tt.owner, tt.entry, tt.parent, tt.kind); !errors.Is(err, ErrMalformed) {
			t.Errorf("SealMeta(%q, %d/%d/%d) = %v, want ErrMalformed", tt.kind, len(tt.owner), len(tt.entry), len(tt.parent), err)
		}
	}
}

func FuzzOpenMeta(f *testing.F) {
	k, c := metaFixture()
	valid, err := sealMetaWithNonce(k, []byte(`{"name":"a"}`), c.owner, c.entry, c.parent, c.kind, [NonceSize]byte{9})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, c.kind)
	f.Add(valid[:MetaOverhead], c.kind)
	f.Add(valid, KindFolder)
	f.Add([]byte{MetaVersion}, c.kind)
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, sealed []byte, kind string) {
		pt, err := OpenMeta(k, sealed, c.owner, c.entry, c.parent, kind)
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
			if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		var nonce [NonceSize]byte
		copy(nonce[:], sealed[1:])
		re, err := sealMetaWithNonce(k, pt, c.owner, c.entry, c.parent, kind, nonce)
		if err != nil || !bytes.Equal(re, sealed) {
			t.Fatalf("accepted metadata that is not genuine: %x", sealed)
		}
	})
}
