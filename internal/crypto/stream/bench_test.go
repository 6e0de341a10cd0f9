package stream

import (
	"bytes"
	"io"
	"testing"
)

const benchSize = 16 << 20

func benchCipher(b *testing.B) (*Cipher, []byte, []byte) {
	c := newTestCipher(b, benchSize, DefaultSegmentSize)
	p := pattern(benchSize)
	ct, err := c.SealSegment(nil, 0, p)
	if err != nil {
		b.Fatal(err)
	}
	return c, p, ct
}

func BenchmarkSealSegment(b *testing.B) {
	c, p, ct := benchCipher(b)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SealSegment(ct[:0], 0, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenSegment(b *testing.B) {
	c, p, ct := benchCipher(b)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.OpenSegment(p[:0], 0, ct); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenSegmentInPlace decrypts a segment over its ciphertext, as a
// get does; restoring the ciphertext between runs is not timed.
func BenchmarkOpenSegmentInPlace(b *testing.B) {
	c, _, ct := benchCipher(b)
	buf := make([]byte, len(ct))
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		copy(buf, ct)
		b.StartTimer()
		if _, err := openSegmentInPlace(c, 0, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenSegmentRange reads 4 KiB straddling two blocks.
func BenchmarkOpenSegmentRange(b *testing.B) {
	c, p, ct := benchCipher(b)
	b.SetBytes(4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.OpenSegmentRange(p[:0], 0, ct, 5*B-2048, 4096); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriter(b *testing.B) {
	c, p, _ := benchCipher(b)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		w := NewWriter(c, io.Discard)
		if _, err := io.Copy(w, bytes.NewReader(p)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReader(b *testing.B) {
	c, _, ct := benchCipher(b)
	buf := make([]byte, 256<<10)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.CopyBuffer(io.Discard, NewReader(c, bytes.NewReader(ct)), buf); err != nil {
			b.Fatal(err)
		}
	}
}
