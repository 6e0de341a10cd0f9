// Package stream implements nuage's content stream (docs/spec.md §3): an
// object's plaintext encrypted with AES-256-GCM in blocks of 64 KiB, each
// block's nonce made of its index and a last-block flag, so that
// truncation, extension, reordering and splicing are all detected while
// any plaintext range can be read by opening only the blocks that cover it.
//
// The stream is cut into segments (a whole number of blocks) that the
// erasure coder stores independently; Cipher seals and opens whole
// segments, blocks and ranges, and NewWriter and NewReader handle a whole
// stream.
package stream

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/nuage-storage/nuage/internal/crypto/keys"
)

// Format constants of version 1.
const (
	// BlockSize is the plaintext length of every block but the last.
	BlockSize = 65536
	// Overhead is the GCM tag added to each block.
	Overhead = 16
	// DefaultSegmentSize is the default segment plaintext size (256 blocks).
	DefaultSegmentSize = 16 << 20
	// MaxSize is the largest object whose ciphertext length fits in an int64.
	MaxSize = math.MaxInt64 / (BlockSize + Overhead) * BlockSize
	// LabelContent is the HKDF info of the stream key.
	LabelContent = "nuage v1 content"
	nonceSize    = 12
)

var (
	// ErrAuth reports a block that did not authenticate: wrong key or
	// object, a flipped bit, a block moved from another position or
	// object, or a final block without the last flag (or a non-final one
	// with it).
	ErrAuth = errors.New("stream: authentication failed")
	// ErrTruncated reports a ciphertext shorter than the layout implies,
	// or a Writer closed before all Size bytes were written.
	ErrTruncated = errors.New("stream: truncated")
	// ErrTooLong reports a ciphertext longer than the layout implies, or
	// a Writer given more than Size bytes.
	ErrTooLong = errors.New("stream: longer than its declared size")
	// ErrBadLayout reports an invalid layout, or a block, segment or range
	// that does not fit it.
	ErrBadLayout = errors.New("stream: bad layout")
	// ErrClosed reports a Write after Close.
	ErrClosed = errors.New("stream: write after close")
)

// authError is an ErrAuth naming the block that failed.
type authError struct{ block, blocks int64 }

func (e *authError) Error() string {
	return fmt.Sprintf("stream: block %d of %d did not authenticate: wrong key or object, tampered, truncated or misplaced data", e.block, e.blocks)
}

// Is makes errors.Is(err, ErrAuth) true.
func (e *authError) Is(target error) bool { return target == ErrAuth }

// Cipher seals and opens one object's content stream. It is safe for
// concurrent use: the AEAD is read-only after construction and every call
// takes its own nonce buffer from a pool, so segments may be sealed or
// opened in parallel. No input or output buffer may overlap another.
type Cipher struct {
	aead   cipher.AEAD
	l      Layout
	nonces sync.Pool // of *[nonceSize]byte
}

// StreamKey returns the stream key of an object:
// HKDF-SHA-256(ikm=content key, salt=object ID, info="nuage v1 content").
func StreamKey(contentKey [32]byte, objectID [16]byte) [32]byte {
	return keys.Derive(contentKey, objectID[:], LabelContent)
}

// NewCipher returns the Cipher of the object objectID with the given
// content key and layout. It fails with ErrBadLayout if l is invalid.
func NewCipher(contentKey [32]byte, objectID [16]byte, l Layout) (*Cipher, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	sk := StreamKey(contentKey, objectID)
	b, err := aes.NewCipher(sk[:])
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	c := &Cipher{aead: aead, l: l}
	c.nonces.New = func() any { return new([nonceSize]byte) }
	return c, nil
}

// Layout returns the cipher's layout.
func (c *Cipher) Layout() Layout { return c.l }

// nonce writes nonce_i = uint88_be(i) || last into n.
func (c *Cipher) nonce(n *[nonceSize]byte, i int64) []byte {
	n[0], n[1], n[2] = 0, 0, 0 // i < 2^63, so the top 3 bytes are zero
	binary.BigEndian.PutUint64(n[3:11], uint64(i))
	n[11] = 0
	if i == c.l.Blocks()-1 {
		n[11] = 1
	}
	return n[:]
}

func (c *Cipher) getNonce() *[nonceSize]byte { return c.nonces.Get().(*[nonceSize]byte) }

func (c *Cipher) checkBlock(i int64) error {
	if i < 0 || i >= c.l.Blocks() {
		return fmt.Errorf("%w: block %d out of range [0, %d)", ErrBadLayout, i, c.l.Blocks())
	}
	return nil
}

func (c *Cipher) checkSegment(s int) error {
	if s < 0 || s >= c.l.Segments() {
		return fmt.Errorf("%w: segment %d out of range [0, %d)", ErrBadLayout, s, c.l.Segments())
	}
	return nil
}

// checkRange checks the arguments of opening the plaintext bytes
// [off, off+n) of segment s from its ciphertext of cipherLen bytes.
func (c *Cipher) checkRange(s, cipherLen int, off, n int64) error {
	if err := c.checkSegment(s); err != nil {
		return err
	}
	if err := checkCipherLen("segment", int64(s), cipherLen, c.l.SegmentCipherSize(s)); err != nil {
		return err
	}
	if _, size := c.l.SegmentPlain(s); off < 0 || n < 0 || off > size || n > size-off {
		return fmt.Errorf("%w: range [%d, %d+%d) outside segment %d of %d bytes", ErrBadLayout, off, off, n, s, size)
	}
	return nil
}

// checkCipherLen compares a ciphertext length with the expected one.
// It formats a message only on error, keeping the data path allocation-free.
func checkCipherLen(what string, index int64, got int, want int64) error {
	switch {
	case int64(got) < want:
		return fmt.Errorf("%w: %s %d ciphertext is %d bytes, want %d", ErrTruncated, what, index, got, want)
	case int64(got) > want:
		return fmt.Errorf("%w: %s %d ciphertext is %d bytes, want %d", ErrTooLong, what, index, got, want)
	}
	return nil
}

// SealBlock appends the ciphertext of block i to dst. plaintext must be
// the block's exact plaintext: BlockSize bytes, or the remainder for the
// last block; otherwise it fails with ErrBadLayout.
func (c *Cipher) SealBlock(dst []byte, i int64, plaintext []byte) ([]byte, error) {
	if err := c.checkBlock(i); err != nil {
		return nil, err
	}
	if want := c.l.BlockPlainSize(i); len(plaintext) != want {
		return nil, fmt.Errorf("%w: block %d plaintext is %d bytes, want %d", ErrBadLayout, i, len(plaintext), want)
	}
	n := c.getNonce()
	dst = c.aead.Seal(dst, c.nonce(n, i), plaintext, nil)
	c.nonces.Put(n)
	return dst, nil
}

// OpenBlock authenticates the ciphertext of block i and appends its
// plaintext to dst. A ciphertext of the wrong length fails with
// ErrTruncated or ErrTooLong, one that does not authenticate with ErrAuth;
// on error nothing is appended.
func (c *Cipher) OpenBlock(dst []byte, i int64, ciphertext []byte) ([]byte, error) {
	if err := c.checkBlock(i); err != nil {
		return nil, err
	}
	if err := checkCipherLen("block", i, len(ciphertext), int64(c.l.BlockPlainSize(i)+Overhead)); err != nil {
		return nil, err
	}
	n := c.getNonce()
	defer c.nonces.Put(n)
	out, err := c.aead.Open(dst, c.nonce(n, i), ciphertext, nil)
	if err != nil {
		if pl := c.l.BlockPlainSize(i); cap(dst)-len(dst) >= pl {
			clear(dst[len(dst) : len(dst)+pl])
		}
		return nil, &authError{i, c.l.Blocks()}
	}
	return out, nil
}

// SealSegment appends the ciphertext of segment s to dst. plaintext must be
// exactly the segment's plaintext (see Layout.SegmentPlain), or it fails
// with ErrBadLayout. It does not allocate when dst has room for
// Layout.SegmentCipherSize(s) more bytes.
func (c *Cipher) SealSegment(dst []byte, s int, plaintext []byte) ([]byte, error) {
	if err := c.checkSegment(s); err != nil {
		return nil, err
	}
	if _, want := c.l.SegmentPlain(s); int64(len(plaintext)) != want {
		return nil, fmt.Errorf("%w: segment %d plaintext is %d bytes, want %d", ErrBadLayout, s, len(plaintext), want)
	}
	return c.SealBlocks(slices.Grow(dst, int(c.l.SegmentCipherSize(s))), c.l.SegmentFirstBlock(s), plaintext)
}

// SealBlocks appends the ciphertext of consecutive blocks, from block
// first on, to dst. plaintext must be the exact plaintext of one or more
// whole blocks (only the stream's final block may be short); otherwise it
// fails with ErrBadLayout. It does not allocate when dst has room.
func (c *Cipher) SealBlocks(dst []byte, first int64, plaintext []byte) ([]byte, error) {
	if err := c.checkBlock(first); err != nil {
		return nil, err
	}
	bs := int64(c.l.BlockSize)
	last := first + max(ceilDiv(int64(len(plaintext)), bs), 1) - 1
	if err := c.checkBlock(last); err != nil {
		return nil, err
	}
	if want := (last-first)*bs + int64(c.l.BlockPlainSize(last)); int64(len(plaintext)) != want {
		return nil, fmt.Errorf("%w: plaintext of blocks %d to %d is %d bytes, want %d", ErrBadLayout, first, last, len(plaintext), want)
	}
	n := c.getNonce()
	for i := first; len(plaintext) > 0; i++ {
		m := min(len(plaintext), c.l.BlockSize)
		dst = c.aead.Seal(dst, c.nonce(n, i), plaintext[:m], nil)
		plaintext = plaintext[m:]
	}
	c.nonces.Put(n)
	return dst, nil
}

// OpenSegmentRangeInPlace is OpenSegmentRange with the plaintext bytes
// [off, off+n) written over the start of the ciphertext, which it returns
// (ciphertext[:n]). Each covering block is opened where it lies, then its
// part of the range is moved down over what was already opened, while it
// is still in the CPU's cache. The checks and errors are
// OpenSegmentRange's; past the result, ciphertext may hold authenticated
// plaintext of the covering blocks. On error it returns nil and ciphertext
// holds no plaintext: a ciphertext of the wrong length or a bad range
// leave it as it is, and once a block has been opened, an error zeroes all
// of ciphertext.
func (c *Cipher) OpenSegmentRangeInPlace(s int, ciphertext []byte, off, n int64) ([]byte, error) {
	if err := c.checkRange(s, len(ciphertext), off, n); err != nil {
		return nil, err
	}
	if n == 0 {
		return ciphertext[:0], nil
	}
	bs := int64(c.l.BlockSize)
	first, last := off/bs, (off+n-1)/bs // blocks relative to the segment
	nonce := c.getNonce()
	defer c.nonces.Put(nonce)
	base := c.l.SegmentFirstBlock(s)
	w := 0 // plaintext bytes of the range in place so far
	for j := first; j <= last; j++ {
		cOff := j * (bs + Overhead)
		block := ciphertext[cOff:min(cOff+bs+Overhead, int64(len(ciphertext)))]
		// crypto/cipher allows an output that overlaps its input only
		// exactly: open in place, then move. The move never reaches the
		// blocks not yet opened, which lie past this one.
		pt, err := c.aead.Open(block[:0], c.nonce(nonce, base+j), block, nil)
		if err != nil {
			clear(ciphertext)
			return nil, &authError{base + j, c.l.Blocks()}
		}
		lo := max(off, j*bs) - j*bs
		hi := min(off+n, (j+1)*bs) - j*bs
		w += copy(ciphertext[w:], pt[lo:hi])
	}
	return ciphertext[:w], nil
}
