package stream

import (
	"errors"
	"fmt"
	"io"
)

// writer encrypts a whole stream; see NewWriter.
type writer struct {
	c       *Cipher
	w       io.Writer
	buf     []byte // plaintext of a partly written block, cap min(BlockSize, Size)
	out     []byte // ciphertext of one block
	block   int64  // index of the next block to seal
	written int64  // plaintext bytes accepted
	err     error  // sticky
	closed  bool
}

// NewWriter returns a WriteCloser that encrypts exactly c.Layout().Size
// plaintext bytes and writes the ciphertext stream to w, each block as soon
// as it is complete. A Write that would exceed Size fails with ErrTooLong
// and consumes nothing; Close fails with ErrTruncated if fewer than Size
// bytes were written. Errors are sticky. Close does not close w. The
// WriteCloser is not safe for concurrent use.
func NewWriter(c *Cipher, w io.Writer) io.WriteCloser {
	bs := min(int64(c.l.BlockSize), c.l.Size)
	return &writer{
		c:   c,
		w:   w,
		buf: make([]byte, 0, bs),
		out: make([]byte, 0, bs+Overhead),
	}
}

func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, ErrClosed
	}
	if rest := w.c.l.Size - w.written; int64(len(p)) > rest {
		w.err = fmt.Errorf("%w: writing %d bytes after %d of a %d-byte stream", ErrTooLong, len(p), w.written, w.c.l.Size)
		return 0, w.err
	}
	n := 0
	defer func() { w.written += int64(n) }()
	for len(p) > 0 {
		bs := w.c.l.BlockPlainSize(w.block)
		if len(w.buf) == 0 && len(p) >= bs {
			// A whole block in p: seal it without copying.
			if err := w.flush(p[:bs]); err != nil {
				return n, err
			}
			p, n = p[bs:], n+bs
			continue
		}
		k := copy(w.buf[len(w.buf):bs], p)
		w.buf, p = w.buf[:len(w.buf)+k], p[k:]
		if len(w.buf) < bs {
			n += k
			break
		}
		if err := w.flush(w.buf); err != nil {
			return n, err
		}
		w.buf, n = w.buf[:0], n+k
	}
	return n, nil
}

// flush seals the current block and writes it.
func (w *writer) flush(block []byte) error {
	out, err := w.c.SealBlock(w.out[:0], w.block, block)
	if err != nil {
		w.err = err
		return err
	}
	if _, err := w.w.Write(out); err != nil {
		w.err = fmt.Errorf("stream: write block %d: %w", w.block, err)
		return w.err
	}
	w.block++
	return nil
}

func (w *writer) Close() error {
	if w.err == nil && !w.closed && w.written < w.c.l.Size {
		w.err = fmt.Errorf("%w: closed after %d of %d bytes", ErrTruncated, w.written, w.c.l.Size)
	}
	w.closed = true
	return w.err
}

// reader decrypts a whole stream; see NewReader.
type reader struct {
	c     *Cipher
	r     io.Reader
	buf   []byte // ciphertext of one block
	plain []byte // authenticated plaintext of the current block
	pos   int    // next unread byte of plain
	block int64  // index of the next block to read
	err   error  // sticky; io.EOF at the end
}

// NewReader returns a Reader of the plaintext of the ciphertext stream r.
// It reads and authenticates one block at a time and releases a block's
// plaintext only after it authenticates; the final block's plaintext is
// released only once r has also been checked to end there. It fails with
// ErrTruncated if r ends early, ErrTooLong if r holds more than
// Layout.CiphertextSize bytes, and ErrAuth if a block does not
// authenticate. Errors are sticky. The Reader is not safe for concurrent
// use.
func NewReader(c *Cipher, r io.Reader) io.Reader {
	bs := min(int64(c.l.BlockSize), c.l.Size)
	return &reader{c: c, r: r, buf: make([]byte, bs+Overhead), plain: make([]byte, 0, bs)}
}

func (r *reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for r.pos == len(r.plain) {
		if r.err != nil {
			return 0, r.err
		}
		if r.block == r.c.l.Blocks() {
			r.err = io.EOF
			return 0, r.err
		}
		// Open straight into p when it can hold the whole block.
		bs := r.c.l.BlockPlainSize(r.block)
		if len(p) >= bs {
			out, err := r.next(p[:0])
			if err != nil {
				r.err = err
				return 0, err
			}
			return len(out), nil
		}
		out, err := r.next(r.plain[:0])
		if err != nil {
			r.err = err
			return 0, err
		}
		r.plain, r.pos = out, 0
	}
	n := copy(p, r.plain[r.pos:])
	r.pos += n
	return n, nil
}

// next reads, authenticates and appends the next block's plaintext to dst.
// On error it zeroes what it wrote into dst's spare capacity.
func (r *reader) next(dst []byte) ([]byte, error) {
	i := r.block
	cl := r.c.l.BlockPlainSize(i) + Overhead
	if n, err := io.ReadFull(r.r, r.buf[:cl]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: stream ends %d bytes into block %d of %d", ErrTruncated, n, i, r.c.l.Blocks())
		}
		return nil, fmt.Errorf("stream: read block %d: %w", i, err)
	}
	out, err := r.c.OpenBlock(dst, i, r.buf[:cl])
	if err != nil {
		return nil, err
	}
	if i == r.c.l.Blocks()-1 {
		// The stream must end here: check before releasing the last block.
		var one [1]byte
		n, err := io.ReadFull(r.r, one[:])
		if n > 0 || err == nil {
			clear(out[len(dst):])
			return nil, fmt.Errorf("%w: data after the final block %d", ErrTooLong, i)
		}
		if !errors.Is(err, io.EOF) {
			clear(out[len(dst):])
			return nil, fmt.Errorf("stream: read after block %d: %w", i, err)
		}
	}
	r.block++
	return out, nil
}
