package stream

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// knownError reports whether err belongs to one of the package's classes.
func knownError(err error) bool {
	return errors.Is(err, ErrAuth) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrTooLong) || errors.Is(err, ErrBadLayout)
}

func FuzzOpenBlock(f *testing.F) {
	c := newTestCipher(f, 3*B+5, B)
	ct := sealAll(f, c, pattern(3*B+5))
	f.Add(int64(3), ct[3*(B+Overhead):])
	f.Add(int64(2), ct[3*(B+Overhead):])
	f.Add(int64(-1), []byte{})
	f.Add(int64(3), make([]byte, 21))
	f.Fuzz(func(t *testing.T, i int64, ciphertext []byte) {
		out, err := c.OpenBlock(nil, i, ciphertext)
		if err != nil {
			if out != nil || !knownError(err) {
				t.Fatalf("OpenBlock = %d bytes, %v", len(out), err)
			}
			return
		}
		// Success must mean the ciphertext is the genuine block i.
		re, err := c.SealBlock(nil, i, out)
		if err != nil || !bytes.Equal(re, ciphertext) {
			t.Fatalf("block %d accepted but is not genuine", i)
		}
	})
}

// FuzzOpenSegmentRangeInPlace: opening a range in place accepts exactly
// what OpenSegmentRange accepts, gives the same plaintext, and leaves no
// plaintext behind when it fails.
func FuzzOpenSegmentRangeInPlace(f *testing.F) {
	c := newTestCipher(f, 3*B+5, 2*B)
	ct := sealAll(f, c, pattern(3*B+5))
	seg1 := ct[c.Layout().SegmentCipherOffset(1):]
	f.Add(1, int64(3), int64(B), seg1)
	f.Add(1, int64(0), int64(B+5), seg1)
	f.Add(1, int64(B-1), int64(2), seg1[:len(seg1)-1])
	f.Add(0, int64(B), int64(0), ct[:c.Layout().SegmentCipherSize(0)])
	f.Add(0, int64(-1), int64(1), []byte{})
	f.Fuzz(func(t *testing.T, s int, off, n int64, ciphertext []byte) {
		want, wantErr := c.OpenSegmentRange(nil, s, ciphertext, off, n)
		buf := bytes.Clone(ciphertext)
		got, err := c.OpenSegmentRangeInPlace(s, buf, off, n)
		if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("in place: %d bytes, %v; OpenSegmentRange: %d bytes, %v", len(got), err, len(want), wantErr)
		}
		if err != nil {
			if got != nil || !knownError(err) {
				t.Fatalf("OpenSegmentRangeInPlace = %d bytes, %v", len(got), err)
			}
			if !bytes.Equal(buf, ciphertext) && !bytes.Equal(buf, make([]byte, len(buf))) {
				t.Fatal("OpenSegmentRangeInPlace left plaintext in the buffer")
			}
		}
	})
}

func FuzzReader(f *testing.F) {
	// Seeds stay small so the fuzzer runs fast; multi-block streams are
	// covered by the unit tests.
	for _, size := range []int64{1, 100, 1000} {
		c := newTestCipher(f, size, B)
		ct := sealAll(f, c, pattern(size))
		f.Add(uint32(size), ct)
		f.Add(uint32(size), ct[:len(ct)-1])
		f.Add(uint32(size), append(bytes.Clone(ct), 0))
		f.Add(uint32(size-1), ct)
	}
	f.Add(uint32(0), []byte{})
	f.Fuzz(func(t *testing.T, size32 uint32, data []byte) {
		size := 1 + int64(size32)%(3*B)
		c := newTestCipher(t, size, B)
		l := c.Layout()
		got, err := io.ReadAll(NewReader(c, bytes.NewReader(data)))
		if err != nil && !knownError(err) {
			t.Fatalf("unexpected error: %v", err)
		}
		// Whatever was released is made of whole, authentic blocks.
		if err != nil && int64(len(got)) >= size {
			t.Fatalf("released %d of %d bytes despite %v", len(got), size, err)
		}
		if len(got)%B != 0 && int64(len(got)) != size {
			t.Fatalf("released a partial block: %d bytes", len(got))
		}
		for i := int64(0); i*B < int64(len(got)); i++ {
			bs := int64(l.BlockPlainSize(i))
			re, serr := c.SealBlock(nil, i, got[i*B:i*B+bs])
			off := l.BlockCipherOffset(i)
			if serr != nil || !bytes.Equal(re, data[off:off+int64(len(re))]) {
				t.Fatalf("released block %d is not authentic", i)
			}
		}
		if err == nil && int64(len(data)) != l.CiphertextSize() {
			t.Fatalf("accepted a %d-byte stream, want %d", len(data), l.CiphertextSize())
		}
	})
}
