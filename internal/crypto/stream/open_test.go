package stream

import "slices"

// The two functions below open segments into a separate buffer, the
// straightforward way. The data path opens them in place
// (OpenSegmentRangeInPlace); these are the references it is checked
// against, and the subject of most of the package's tests of the stream
// format itself.

// OpenSegment authenticates the whole ciphertext of segment s and appends
// its plaintext to dst. The ciphertext must be exactly
// Layout.SegmentCipherSize(s) bytes (else ErrTruncated or ErrTooLong);
// any block that does not authenticate fails the whole call with ErrAuth,
// and on error nothing is appended and the bytes written beyond len(dst)
// are zeroed. It does not allocate when dst has room for the plaintext.
func (c *Cipher) OpenSegment(dst []byte, s int, ciphertext []byte) ([]byte, error) {
	if err := c.checkSegment(s); err != nil {
		return nil, err
	}
	if err := checkCipherLen("segment", int64(s), len(ciphertext), c.l.SegmentCipherSize(s)); err != nil {
		return nil, err
	}
	_, size := c.l.SegmentPlain(s)
	start := len(dst)
	dst = slices.Grow(dst, int(size))
	n := c.getNonce()
	defer c.nonces.Put(n)
	for i := c.l.SegmentFirstBlock(s); len(ciphertext) > 0; i++ {
		cs := min(len(ciphertext), c.l.BlockSize+Overhead)
		out, err := c.aead.Open(dst, c.nonce(n, i), ciphertext[:cs], nil)
		if err != nil {
			clear(dst[start : start+int(size)])
			return nil, &authError{i, c.l.Blocks()}
		}
		dst = out
		ciphertext = ciphertext[cs:]
	}
	return dst, nil
}

// OpenSegmentRange appends to dst the plaintext bytes [off, off+n) of
// segment s (offsets relative to the segment's start), given the whole
// segment ciphertext. It opens only the blocks that cover the range, each
// of which must authenticate (else ErrAuth, and nothing is appended). A
// range outside the segment fails with ErrBadLayout. Authenticated
// plaintext of the covering blocks outside the range may be left in dst's
// spare capacity.
func (c *Cipher) OpenSegmentRange(dst []byte, s int, ciphertext []byte, off, n int64) ([]byte, error) {
	if err := c.checkRange(s, len(ciphertext), off, n); err != nil {
		return nil, err
	}
	_, size := c.l.SegmentPlain(s)
	if n == 0 {
		return dst, nil
	}
	bs := int64(c.l.BlockSize)
	first, last := off/bs, (off+n-1)/bs // blocks relative to the segment
	lastEnd := min((last+1)*bs, size)
	need := max(min(bs, size-first*bs), lastEnd-off)
	start := len(dst)
	dst = slices.Grow(dst, int(need))
	nonce := c.getNonce()
	defer c.nonces.Put(nonce)
	base := c.l.SegmentFirstBlock(s)
	for j := first; j <= last; j++ {
		cOff := j * (bs + Overhead)
		cEnd := min(cOff+bs+Overhead, int64(len(ciphertext)))
		cur := len(dst)
		out, err := c.aead.Open(dst, c.nonce(nonce, base+j), ciphertext[cOff:cEnd], nil)
		if err != nil {
			clear(dst[start : start+int(need)])
			return nil, &authError{base + j, c.l.Blocks()}
		}
		dst = out
		lo := max(off, j*bs) - j*bs
		hi := min(off+n, (j+1)*bs) - j*bs
		if lo > 0 {
			copy(dst[cur:], dst[cur+int(lo):cur+int(hi)])
		}
		dst = dst[:cur+int(hi-lo)]
	}
	return dst, nil
}
