package client

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/internal/crypto/stream"
)

// readerOnly hides a source's ReadAt, as a pipe or standard input would.
type readerOnly struct{ io.Reader }

// testCipher returns a content cipher for a stream of size bytes in
// segments of seg bytes, with a fixed key and object ID.
func testCipher(t *testing.T, size, seg int64) *stream.Cipher {
	t.Helper()
	l, err := stream.NewLayout(size, seg)
	if err != nil {
		t.Fatal(err)
	}
	ciph, err := stream.NewCipher([32]byte{2}, [16]byte{3}, l)
	if err != nil {
		t.Fatal(err)
	}
	return ciph
}

// TestSealFromMatchesSealSegment: sealing a segment chunk by chunk from
// the source gives the same ciphertext as sealing it whole, for every
// segment (the last one short), chunk sizes that do and do not divide the
// segment, and sources with and without ReadAt.
func TestSealFromMatchesSealSegment(t *testing.T) {
	const bs = stream.BlockSize
	seg := int64(8 * bs)
	size := 2*seg + 3*bs + 100
	plain := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(plain)
	ciph := testCipher(t, size, seg)
	l := ciph.Layout()
	for _, blocks := range []int{1, 3, 8, 16} {
		for _, seq := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(plain)
			if seq {
				r = readerOnly{r}
			}
			src := newSource(r)
			chunk := make([]byte, blocks*bs)
			for s := range l.Segments() {
				off, n := l.SegmentPlain(s)
				want, err := ciph.SealSegment(nil, s, plain[off:off+n])
				if err != nil {
					t.Fatal(err)
				}
				got, err := sealFrom(src, ciph, s, chunk, []byte("prefix"))
				if err != nil {
					t.Fatalf("chunk of %d blocks, sequential %v, segment %d: %v", blocks, seq, s, err)
				}
				if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], want) {
					t.Fatalf("chunk of %d blocks, sequential %v, segment %d: ciphertext differs from SealSegment's", blocks, seq, s)
				}
			}
			if err := src.end(size); err != nil {
				t.Fatalf("chunk of %d blocks, sequential %v: end: %v", blocks, seq, err)
			}
		}
	}
}

// TestSealFromShortSource: a source that ends inside a segment is an
// error, not a shorter ciphertext.
func TestSealFromShortSource(t *testing.T) {
	const bs = stream.BlockSize
	seg := int64(4 * bs)
	ciph := testCipher(t, seg, seg)
	for _, seq := range []bool{false, true} {
		var r io.Reader = bytes.NewReader(make([]byte, seg-1))
		if seq {
			r = readerOnly{r}
		}
		got, err := sealFrom(newSource(r), ciph, 0, make([]byte, bs), nil)
		if err == nil || !strings.Contains(err.Error(), "ended before its announced size") || got != nil {
			t.Fatalf("sequential %v: got %d bytes, %v; want the source-ended error", seq, len(got), err)
		}
	}
}
