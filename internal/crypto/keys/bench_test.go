package keys

import (
	"bytes"
	"testing"
)

func BenchmarkDeriveRoot(b *testing.B) {
	p, err := DefaultKDF()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DeriveRoot([]byte("correct horse battery staple"), p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrapUnwrap(b *testing.B) {
	w, k, c := wrapFixture()
	b.ReportAllocs()
	for b.Loop() {
		wr, err := Wrap(w, k, c.purpose, c.owner, c.object)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Unwrap(w, wr, c.purpose, c.owner, c.object); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealOpenMeta(b *testing.B) {
	k, c := metaFixture()
	pt := bytes.Repeat([]byte("x"), 300)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := SealMeta(k, pt, c.owner, c.entry, c.parent, c.kind)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := OpenMeta(k, s, c.owner, c.entry, c.parent, c.kind); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNameTag(b *testing.B) {
	k := testKey(1)
	b.ReportAllocs()
	for b.Loop() {
		NameTag(k, "holiday photo 2026.jpg")
	}
}
