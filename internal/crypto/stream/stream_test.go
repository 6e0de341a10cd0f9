package stream

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/iotest"
)

var (
	testKey    = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	testObject = [16]byte{0xaa, 0xbb, 0xcc}
)

// pattern returns n deterministic plaintext bytes: byte j is j mod 251.
func pattern(n int64) []byte {
	p := make([]byte, n)
	for j := range p {
		p[j] = byte(j % 251)
	}
	return p
}

func newTestCipher(t testing.TB, size, seg int64) *Cipher {
	t.Helper()
	l, err := NewLayout(size, seg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCipher(testKey, testObject, l)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sealAll returns the ciphertext stream of p by sealing blocks one by one.
func sealAll(t testing.TB, c *Cipher, p []byte) []byte {
	t.Helper()
	var out []byte
	for i := int64(0); i < c.Layout().Blocks(); i++ {
		var err error
		bs := int64(c.Layout().BlockPlainSize(i))
		if out, err = c.SealBlock(out, i, p[i*B:i*B+bs]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

var roundTripSizes = []int64{1, 100, B - 1, B, B + 1, 2 * B, 3*B + 7, 5 * B}

func TestRoundTrip(t *testing.T) {
	for _, size := range roundTripSizes {
		for _, seg := range []int64{B, 2 * B, DefaultSegmentSize} {
			t.Run(fmt.Sprintf("%d/%d", size, seg), func(t *testing.T) {
				c := newTestCipher(t, size, seg)
				l := c.Layout()
				p := pattern(size)
				ct := sealAll(t, c, p)
				if int64(len(ct)) != l.CiphertextSize() {
					t.Fatalf("ciphertext is %d bytes, want %d", len(ct), l.CiphertextSize())
				}
				// Segments are slices of the same stream.
				var segs []byte
				for s := 0; s < l.Segments(); s++ {
					off, n := l.SegmentPlain(s)
					cs, err := c.SealSegment(nil, s, p[off:off+n])
					if err != nil {
						t.Fatal(err)
					}
					co := l.SegmentCipherOffset(s)
					if !bytes.Equal(cs, ct[co:co+l.SegmentCipherSize(s)]) {
						t.Fatalf("segment %d differs from the block stream", s)
					}
					segs = append(segs, cs...)
					prefix := []byte("prefix")
					pt, err := c.OpenSegment(prefix, s, cs)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(pt[:6], prefix) || !bytes.Equal(pt[6:], p[off:off+n]) {
						t.Fatalf("OpenSegment(%d) returned other bytes", s)
					}
					checkOpenInPlace(t, c, s, cs, p[off:off+n])
				}
				if !bytes.Equal(segs, ct) {
					t.Fatal("segments do not concatenate to the stream")
				}
				// Blocks open one by one.
				for i := int64(0); i < l.Blocks(); i++ {
					cb := ct[l.BlockCipherOffset(i):min(l.BlockCipherOffset(i+1), int64(len(ct)))]
					pb, err := c.OpenBlock(nil, i, cb)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(pb, p[i*B:i*B+int64(len(pb))]) {
						t.Fatalf("block %d differs", i)
					}
				}
				if seg != B {
					return // the rest does not depend on the segment size
				}
				// The Writer, fed in any chunking, produces the same stream.
				for _, chunk := range []int{1, 1000, B - 1, B, B + 1, 3 * B, len(p)} {
					if chunk == 1 && size > B+1 {
						continue
					}
					var buf bytes.Buffer
					w := NewWriter(c, &buf)
					for rest := p; len(rest) > 0; {
						k := min(chunk, len(rest))
						n, err := w.Write(rest[:k])
						if err != nil || n != k {
							t.Fatalf("chunk %d: Write = %d, %v", chunk, n, err)
						}
						rest = rest[k:]
					}
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(buf.Bytes(), ct) {
						t.Fatalf("chunk %d: Writer output differs", chunk)
					}
				}
				// The Reader passes the standard reader checks.
				if err := iotest.TestReader(NewReader(c, bytes.NewReader(ct)), p); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(NewReader(c, iotest.OneByteReader(bytes.NewReader(ct))))
				if err != nil || !bytes.Equal(got, p) {
					t.Fatalf("one-byte source: %v", err)
				}
				got, err = io.ReadAll(NewReader(c, iotest.DataErrReader(bytes.NewReader(ct))))
				if err != nil || !bytes.Equal(got, p) {
					t.Fatalf("data+EOF source: %v", err)
				}
			})
		}
	}
}

func TestKeyAndObjectSeparation(t *testing.T) {
	l, err := NewLayout(3*B+1, B)
	if err != nil {
		t.Fatal(err)
	}
	p := pattern(l.Size)
	ref, err := NewCipher(testKey, testObject, l)
	if err != nil {
		t.Fatal(err)
	}
	ct := sealAll(t, ref, p)
	otherKey, otherObject := testKey, testObject
	otherKey[31] ^= 1
	otherObject[15] ^= 1
	for name, kc := range map[string]struct {
		k [32]byte
		o [16]byte
	}{"key": {otherKey, testObject}, "object": {testKey, otherObject}} {
		c, err := NewCipher(kc.k, kc.o, l)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(sealAll(t, c, p)[:B], ct[:B]) {
			t.Errorf("another %s gives the same ciphertext", name)
		}
		if _, err := c.OpenSegment(nil, 0, ct[:B+Overhead]); !errors.Is(err, ErrAuth) {
			t.Errorf("another %s: OpenSegment = %v, want ErrAuth", name, err)
		}
	}
	if sk := StreamKey(testKey, testObject); sk == testKey || sk == StreamKey(testKey, otherObject) {
		t.Fatal("stream key does not depend on the object")
	}
}

func TestTamper(t *testing.T) {
	c := newTestCipher(t, 3*B+5, 2*B)
	p := pattern(3*B + 5)
	ct := sealAll(t, c, p)
	blk := func(i int64) []byte {
		l := c.Layout()
		return ct[l.BlockCipherOffset(i):min(l.BlockCipherOffset(i+1), int64(len(ct)))]
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	flip := func(off int) []byte { b := bytes.Clone(ct); b[off] ^= 0x20; return b }
	short := c // a cipher for a 2-block stream of the same key and object
	{
		var err error
		l, _ := NewLayout(2*B, B)
		if short, err = NewCipher(testKey, testObject, l); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		stream  []byte
		want    error
		release int64 // plaintext bytes the Reader may release before failing
	}{
		{"empty", nil, ErrTruncated, 0},
		{"last block dropped", cat(blk(0), blk(1), blk(2)), ErrTruncated, 3 * B},
		{"cut inside the last block", ct[:len(ct)-1], ErrTruncated, 3 * B},
		{"cut inside a block", ct[:B], ErrTruncated, 0},
		{"blocks reordered", cat(blk(1), blk(0), blk(2), blk(3)), ErrAuth, 0},
		{"block duplicated", cat(blk(0), blk(0), blk(2), blk(3)), ErrAuth, B},
		{"extra trailing block", cat(ct, blk(3)), ErrTooLong, 3 * B},
		{"one extra byte", cat(ct, []byte{0}), ErrTooLong, 3 * B},
		{"flipped first byte", flip(0), ErrAuth, 0},
		{"flipped bit in block 1", flip(B + Overhead + 100), ErrAuth, B},
		{"flipped tag of block 2", flip(3*(B+Overhead) - 1), ErrAuth, 2 * B},
		{"flipped last byte", flip(len(ct) - 1), ErrAuth, 3 * B},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkReaderFails(t, c, tt.stream, p, tt.want, tt.release)
		})
	}
	// A stream truncated at a block boundary, read with the size its
	// length implies: the new final block lacks the last flag.
	checkReaderFails(t, short, cat(blk(0), blk(1)), p, ErrAuth, B)
	// And a final block (last flag set) moved to a non-final position.
	one := newTestCipher(t, B, B)
	final := sealAll(t, one, p[:B])
	checkReaderFails(t, c, cat(final, blk(1), blk(2), blk(3)), p, ErrAuth, 0)
	if _, err := c.OpenSegment(nil, 0, cat(final, blk(1))); !errors.Is(err, ErrAuth) {
		t.Fatalf("OpenSegment with a final block first = %v, want ErrAuth", err)
	}
	if _, err := openSegmentInPlace(c, 0, cat(final, blk(1))); !errors.Is(err, ErrAuth) {
		t.Fatalf("OpenSegmentInPlace with a final block first = %v, want ErrAuth", err)
	}

	// Segment-level checks.
	seg0 := ct[:c.Layout().SegmentCipherSize(0)]
	seg1 := ct[c.Layout().SegmentCipherOffset(1):]
	otherObject := testObject
	otherObject[0] ^= 1
	other, err := NewCipher(testKey, otherObject, c.Layout())
	if err != nil {
		t.Fatal(err)
	}
	otherSeg0, err := other.SealSegment(nil, 0, p[:2*B])
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		s    int
		ct   []byte
		want error
	}{
		{"segment truncated", 0, seg0[:len(seg0)-1], ErrTruncated},
		{"segment extended", 0, cat(seg0, []byte{1}), ErrTooLong},
		{"segment from another object", 0, otherSeg0, ErrAuth},
		{"segment 0 given as segment 1", 1, seg0, ErrTooLong},
		{"segment 1 blocks at segment 0", 0, cat(blk(2), blk(3), blk(2)[:B-5]), ErrAuth},
		{"segment blocks reordered", 0, cat(blk(1), blk(0)), ErrAuth},
		{"segment's second block flipped", 0, flip(B + Overhead + 100)[:len(seg0)], ErrAuth},
		{"segment out of range", 2, seg1, ErrBadLayout},
	} {
		dst := make([]byte, 3, 3+2*B)
		copy(dst, "abc")
		out, err := c.OpenSegment(dst, tt.s, tt.ct)
		if !errors.Is(err, tt.want) || out != nil {
			t.Errorf("%s: OpenSegment = %d bytes, %v, want %v", tt.name, len(out), err, tt.want)
		}
		if !bytes.Equal(dst[:cap(dst)], append([]byte("abc"), make([]byte, 2*B)...)) {
			t.Errorf("%s: OpenSegment left plaintext in dst", tt.name)
		}
		buf := bytes.Clone(tt.ct)
		out, err = openSegmentInPlace(c, tt.s, buf)
		if !errors.Is(err, tt.want) || out != nil {
			t.Errorf("%s: OpenSegmentInPlace = %d bytes, %v, want %v", tt.name, len(out), err, tt.want)
		}
		if !bytes.Equal(buf, tt.ct) && !bytes.Equal(buf, make([]byte, len(buf))) {
			t.Errorf("%s: OpenSegmentInPlace left plaintext in the buffer", tt.name)
		}
	}
}

// checkReaderFails reads stream through a Reader with several read sizes
// and checks the error, and that no more than release bytes (all equal to
// the plaintext) came out before it.
func checkReaderFails(t *testing.T, c *Cipher, stream, p []byte, want error, release int64) {
	t.Helper()
	for _, rs := range []int{1, 1000, B, 4 * B} {
		r := NewReader(c, bytes.NewReader(stream))
		var got []byte
		buf := make([]byte, rs)
		var err error
		for i := 0; i < 1000000 && err == nil; i++ {
			var n int
			n, err = r.Read(buf)
			got = append(got, buf[:n]...)
		}
		if !errors.Is(err, want) {
			t.Fatalf("read size %d: error %v, want %v", rs, err, want)
		}
		if int64(len(got)) != release || !bytes.Equal(got, p[:len(got)]) {
			t.Fatalf("read size %d: released %d bytes before failing, want %d authentic ones", rs, len(got), release)
		}
		if n, err2 := r.Read(buf); n != 0 || !errors.Is(err2, want) {
			t.Fatalf("read size %d: error not sticky: %d, %v", rs, n, err2)
		}
	}
}

// TestSealBlocks: sealing any run of consecutive blocks at once gives the
// ciphertext of sealing them one by one.
func TestSealBlocks(t *testing.T) {
	c := newTestCipher(t, 4*B+3, 2*B)
	p := pattern(4*B + 3)
	ct := sealAll(t, c, p)
	for first := int64(0); first < 5; first++ {
		for last := first; last < 5; last++ {
			end := min(int((last+1)*B), len(p))
			got, err := c.SealBlocks([]byte("x"), first, p[first*B:end])
			if err != nil {
				t.Fatalf("blocks %d to %d: %v", first, last, err)
			}
			want := ct[first*(B+16) : min(int((last+1)*(B+16)), len(ct))]
			if got[0] != 'x' || !bytes.Equal(got[1:], want) {
				t.Fatalf("blocks %d to %d: ciphertext differs from the blocks sealed one by one", first, last)
			}
		}
	}
}

func TestBadArguments(t *testing.T) {
	c := newTestCipher(t, 2*B+3, B)
	p := pattern(2*B + 3)
	ct := sealAll(t, c, p)
	tests := []struct {
		name string
		f    func() error
		want error
	}{
		{"seal block -1", func() error { _, err := c.SealBlock(nil, -1, p[:B]); return err }, ErrBadLayout},
		{"seal block 3", func() error { _, err := c.SealBlock(nil, 3, p[:3]); return err }, ErrBadLayout},
		{"seal short block", func() error { _, err := c.SealBlock(nil, 0, p[:B-1]); return err }, ErrBadLayout},
		{"seal long last block", func() error { _, err := c.SealBlock(nil, 2, p[:4]); return err }, ErrBadLayout},
		{"open block 3", func() error { _, err := c.OpenBlock(nil, 3, ct[:19]); return err }, ErrBadLayout},
		{"open short block", func() error { _, err := c.OpenBlock(nil, 0, ct[:B]); return err }, ErrTruncated},
		{"open long block", func() error { _, err := c.OpenBlock(nil, 2, ct[2*(B+16):]); return err }, nil},
		{"open long last block", func() error { _, err := c.OpenBlock(nil, 2, append(bytes.Clone(ct[2*(B+16):]), 0)); return err }, ErrTooLong},
		{"open block at wrong index", func() error { _, err := c.OpenBlock(nil, 1, ct[:B+16]); return err }, ErrAuth},
		{"seal segment -1", func() error { _, err := c.SealSegment(nil, -1, p[:B]); return err }, ErrBadLayout},
		{"seal segment 3", func() error { _, err := c.SealSegment(nil, 3, p[:B]); return err }, ErrBadLayout},
		{"seal short segment", func() error { _, err := c.SealSegment(nil, 2, p[:2]); return err }, ErrBadLayout},
		{"seal blocks -1", func() error { _, err := c.SealBlocks(nil, -1, p[:B]); return err }, ErrBadLayout},
		{"seal blocks past the end", func() error { _, err := c.SealBlocks(nil, 1, p[:2*B]); return err }, ErrBadLayout},
		{"seal blocks, short middle block", func() error { _, err := c.SealBlocks(nil, 0, p[:B+1]); return err }, ErrBadLayout},
		{"seal blocks, none", func() error { _, err := c.SealBlocks(nil, 0, nil); return err }, ErrBadLayout},
		{"seal blocks to the end", func() error { _, err := c.SealBlocks(nil, 1, p[B:]); return err }, nil},
		{"range negative offset", func() error { _, err := c.OpenSegmentRange(nil, 0, ct[:B+16], -1, 2); return err }, ErrBadLayout},
		{"range negative length", func() error { _, err := c.OpenSegmentRange(nil, 0, ct[:B+16], 0, -1); return err }, ErrBadLayout},
		{"range past the end", func() error { _, err := c.OpenSegmentRange(nil, 0, ct[:B+16], B-1, 2); return err }, ErrBadLayout},
		{"range huge", func() error { _, err := c.OpenSegmentRange(nil, 0, ct[:B+16], 1, 1<<62); return err }, ErrBadLayout},
		{"range short ciphertext", func() error { _, err := c.OpenSegmentRange(nil, 0, ct[:B+15], 0, 1); return err }, ErrTruncated},
		{"range segment 9", func() error { _, err := c.OpenSegmentRange(nil, 9, ct[:B+16], 0, 1); return err }, ErrBadLayout},
		{"in place segment -1", func() error { _, err := openSegmentInPlace(c, -1, bytes.Clone(ct[:B+16])); return err }, ErrBadLayout},
		{"in place segment 3", func() error { _, err := openSegmentInPlace(c, 3, bytes.Clone(ct[:B+16])); return err }, ErrBadLayout},
		{"in place short", func() error { _, err := openSegmentInPlace(c, 2, bytes.Clone(ct[2*(B+16):len(ct)-1])); return err }, ErrTruncated},
		{"in place long", func() error { _, err := openSegmentInPlace(c, 1, bytes.Clone(ct[B+16:])); return err }, ErrTooLong},
		{"in place last segment", func() error { _, err := openSegmentInPlace(c, 2, bytes.Clone(ct[2*(B+16):])); return err }, nil},
		{"range in place negative offset", func() error { _, err := c.OpenSegmentRangeInPlace(0, bytes.Clone(ct[:B+16]), -1, 2); return err }, ErrBadLayout},
		{"range in place negative length", func() error { _, err := c.OpenSegmentRangeInPlace(0, bytes.Clone(ct[:B+16]), 0, -1); return err }, ErrBadLayout},
		{"range in place past the end", func() error { _, err := c.OpenSegmentRangeInPlace(0, bytes.Clone(ct[:B+16]), B-1, 2); return err }, ErrBadLayout},
		{"range in place huge", func() error { _, err := c.OpenSegmentRangeInPlace(0, bytes.Clone(ct[:B+16]), 1, 1<<62); return err }, ErrBadLayout},
		{"range in place short ciphertext", func() error { _, err := c.OpenSegmentRangeInPlace(0, bytes.Clone(ct[:B+15]), 0, 1); return err }, ErrTruncated},
		{"range in place segment 9", func() error { _, err := c.OpenSegmentRangeInPlace(9, bytes.Clone(ct[:B+16]), 0, 1); return err }, ErrBadLayout},
	}
	for _, tt := range tests {
		err := tt.f()
		if tt.want == nil && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestOpenSegmentRange(t *testing.T) {
	c := newTestCipher(t, 7*B+9, 4*B) // segment 1: 3 blocks + 9 bytes
	l := c.Layout()
	p := pattern(l.Size)
	for s := 0; s < l.Segments(); s++ {
		off, n := l.SegmentPlain(s)
		cs, err := c.SealSegment(nil, s, p[off:off+n])
		if err != nil {
			t.Fatal(err)
		}
		points := []int64{0, 1, B - 1, B, B + 1, 2*B - 1, 2 * B, 3 * B, n - 1, n}
		for _, a := range points {
			for _, b := range points {
				if a > n || b > n || a > b {
					continue
				}
				for _, capacity := range []int64{0, b - a, b - a + B} {
					dst := make([]byte, 2, 2+capacity)
					dst[0], dst[1] = 'x', 'y'
					got, err := c.OpenSegmentRange(dst, s, cs, a, b-a)
					if err != nil {
						t.Fatalf("segment %d [%d, %d): %v", s, a, b, err)
					}
					if string(got[:2]) != "xy" || !bytes.Equal(got[2:], p[off+a:off+b]) {
						t.Fatalf("segment %d [%d, %d) cap %d: wrong bytes", s, a, b, capacity)
					}
				}
				buf := bytes.Clone(cs)
				got, err := c.OpenSegmentRangeInPlace(s, buf, a, b-a)
				if err != nil || !bytes.Equal(got, p[off+a:off+b]) {
					t.Fatalf("segment %d [%d, %d) in place: %v or wrong bytes", s, a, b, err)
				}
				if cap(got) > 0 && &got[:1][0] != &buf[0] {
					t.Fatalf("segment %d [%d, %d) in place: not at the start of the buffer", s, a, b)
				}
			}
		}
		// Only the covering blocks are opened: damage outside the range
		// goes unnoticed, damage inside fails with no output.
		bad := bytes.Clone(cs)
		bad[B+Overhead+5] ^= 1 // block 1 of the segment
		if _, err := c.OpenSegmentRange(nil, s, bad, 0, B); err != nil {
			t.Fatalf("segment %d: range outside the damage: %v", s, err)
		}
		if _, err := c.OpenSegmentRange(nil, s, bad, 2*B, n-2*B); err != nil {
			t.Fatalf("segment %d: range after the damage: %v", s, err)
		}
		dst := make([]byte, 0, 3*B)
		if out, err := c.OpenSegmentRange(dst, s, bad, B-1, 2); !errors.Is(err, ErrAuth) || out != nil {
			t.Fatalf("segment %d: range over the damage = %v", s, err)
		}
		if !bytes.Equal(dst[:cap(dst)], make([]byte, 3*B)) {
			t.Fatalf("segment %d: failed range left plaintext in dst", s)
		}
		if _, err := c.OpenSegmentRangeInPlace(s, bytes.Clone(bad), 0, B); err != nil {
			t.Fatalf("segment %d: range outside the damage, in place: %v", s, err)
		}
		buf := bytes.Clone(bad)
		if out, err := c.OpenSegmentRangeInPlace(s, buf, B-1, 2); !errors.Is(err, ErrAuth) || out != nil {
			t.Fatalf("segment %d: range over the damage, in place = %v", s, err)
		}
		if !bytes.Equal(buf, make([]byte, len(buf))) {
			t.Fatalf("segment %d: failed range left plaintext in the buffer", s)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	c := newTestCipher(t, B+10, B)
	p := pattern(B + 10)

	var buf bytes.Buffer
	w := NewWriter(c, &buf)
	if n, err := w.Write(p[:B]); n != B || err != nil {
		t.Fatal(n, err)
	}
	if n, err := w.Write(p[:11]); n != 0 || !errors.Is(err, ErrTooLong) {
		t.Fatalf("Write past Size = %d, %v, want ErrTooLong", n, err)
	}
	if n, err := w.Write(p[:1]); n != 0 || !errors.Is(err, ErrTooLong) {
		t.Fatalf("error not sticky: %d, %v", n, err)
	}
	if err := w.Close(); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Close = %v, want ErrTooLong", err)
	}

	buf.Reset()
	w = NewWriter(c, &buf)
	if _, err := w.Write(p[:B+9]); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != B+Overhead {
		t.Fatalf("a complete block was not written: %d bytes", buf.Len())
	}
	if err := w.Close(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Close after %d of %d bytes = %v, want ErrTruncated", B+9, B+10, err)
	}
	if _, err := w.Write(p[:1]); err == nil {
		t.Fatal("Write after a failed Close succeeded")
	}

	buf.Reset()
	w = NewWriter(c, &buf)
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := w.Write(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}

	boom := errors.New("disk full")
	w = NewWriter(c, &failWriter{after: B + Overhead, err: boom})
	n, err := w.Write(p)
	if !errors.Is(err, boom) || n != B {
		t.Fatalf("failing writer: Write = %d, %v, want %d and the writer's error", n, err, B)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v, want the writer's error", err)
	}
}

type failWriter struct {
	after int
	err   error
}

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.after {
		return f.after, f.err
	}
	f.after -= len(p)
	return len(p), nil
}

func TestReaderSourceError(t *testing.T) {
	c := newTestCipher(t, 2*B, B)
	ct := sealAll(t, c, pattern(2*B))
	boom := errors.New("connection reset")
	r := NewReader(c, io.MultiReader(bytes.NewReader(ct[:B+Overhead+5]), iotest.ErrReader(boom)))
	got, err := io.ReadAll(r)
	if !errors.Is(err, boom) || len(got) != B {
		t.Fatalf("ReadAll = %d bytes, %v, want %d and the source's error", len(got), err, B)
	}
	// An error while checking for the end also withholds the last block.
	r = NewReader(c, io.MultiReader(bytes.NewReader(ct), iotest.ErrReader(boom)))
	got, err = io.ReadAll(r)
	if !errors.Is(err, boom) || len(got) != B {
		t.Fatalf("ReadAll = %d bytes, %v, want %d and the source's error", len(got), err, B)
	}
}

func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items at random")
	}
	c := newTestCipher(t, 4*B+100, 2*B)
	p := pattern(2 * B)
	ct := make([]byte, 0, c.Layout().SegmentCipherSize(0))
	pt := make([]byte, 0, 2*B)
	blk := make([]byte, 0, B+Overhead)
	inPlace := make([]byte, c.Layout().SegmentCipherSize(0))
	var err error
	if ct, err = c.SealSegment(ct, 0, p); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := c.SealSegment(ct[:0], 0, p); err != nil {
			t.Fatal(err)
		}
		if _, err := c.OpenSegment(pt[:0], 0, ct); err != nil {
			t.Fatal(err)
		}
		if _, err := c.OpenSegmentRange(pt[:0], 0, ct, 5, B); err != nil {
			t.Fatal(err)
		}
		if _, err := openSegmentInPlace(c, 0, inPlace[:copy(inPlace, ct)]); err != nil {
			t.Fatal(err)
		}
		if _, err := c.OpenSegmentRangeInPlace(0, inPlace[:copy(inPlace, ct)], 5, B); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SealBlock(blk[:0], 1, p[:B]); err != nil {
			t.Fatal(err)
		}
		if _, err := c.OpenBlock(pt[:0], 0, ct[:B+Overhead]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := newTestCipher(t, 8*B, B)
	p := pattern(8 * B)
	want := sealAll(t, c, p)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for s := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				ct, err := c.SealSegment(nil, s, p[s*B:(s+1)*B])
				if err != nil {
					errs <- err
					return
				}
				off := c.Layout().SegmentCipherOffset(s)
				if !bytes.Equal(ct, want[off:off+B+Overhead]) {
					errs <- fmt.Errorf("segment %d sealed differently under concurrency", s)
					return
				}
				if _, err := c.OpenSegment(nil, s, ct); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNonceLayout(t *testing.T) {
	c := newTestCipher(t, 3*B, B)
	var n [nonceSize]byte
	if got := c.nonce(&n, 0x0102030405060708); !bytes.Equal(got, []byte{0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0}) {
		t.Fatalf("nonce = %x", got)
	}
	if got := c.nonce(&n, 2); !bytes.Equal(got, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1}) {
		t.Fatalf("last nonce = %x", got)
	}
	// The checksum of a known stream pins the whole construction.
	sum := sha256.Sum256(sealAll(t, c, pattern(3*B)))
	c2 := newTestCipher(t, 3*B, 3*B)
	if sha256.Sum256(sealAll(t, c2, pattern(3*B))) != sum {
		t.Fatal("the segment size changes the ciphertext")
	}
}

// checkOpenInPlace opens a copy of segment s's ciphertext ct in place and
// checks that the plaintext is want, written over the ciphertext from its
// first byte.
func checkOpenInPlace(t *testing.T, c *Cipher, s int, ct, want []byte) {
	t.Helper()
	buf := bytes.Clone(ct)
	pt, err := openSegmentInPlace(c, s, buf)
	if err != nil {
		t.Fatalf("OpenSegmentInPlace(%d): %v", s, err)
	}
	if !bytes.Equal(pt, want) {
		t.Fatalf("OpenSegmentInPlace(%d) returned other bytes", s)
	}
	if len(pt) > 0 && &pt[0] != &buf[0] {
		t.Fatalf("OpenSegmentInPlace(%d) did not write over its ciphertext", s)
	}
}

// openSegmentInPlace opens the whole of segment s in place.
func openSegmentInPlace(c *Cipher, s int, buf []byte) ([]byte, error) {
	var size int64
	if s >= 0 && s < c.Layout().Segments() {
		_, size = c.Layout().SegmentPlain(s)
	}
	return c.OpenSegmentRangeInPlace(s, buf, 0, size)
}
