// Package bulktls carries TLS over TCP with fewer system calls, for the
// bulk transfers between clients and storage nodes.
//
// crypto/tls writes every record, at most 16 KiB of data, with its own
// write(2), and reads the socket a record at a time. Over loopback or a
// fast LAN the kernel's per-call and per-packet work then costs more CPU
// than the encryption (docs/benchmarks.md). A Conn sits between crypto/tls
// and the socket: while a Write is in progress the records it produces are
// gathered and written in batches of up to WriteBatch bytes, and reads
// fill a ReadBuffer-byte buffer per system call. The bytes on the wire are
// exactly those of crypto/tls: only the system calls change. Nothing is
// held back once Write returns.
package bulktls

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
)

const (
	// CopyBuffer is the chunk size of ReadFrom.
	CopyBuffer = 256 << 10
	// WriteBatch is how much a Conn gathers before writing to the socket:
	// a batch is written once it reaches WriteBatch bytes (4 records of
	// 16 KiB, or the loopback MTU).
	WriteBatch = 64 << 10
	// maxRecord bounds a TLS record on the wire: 16 KiB of data, the
	// content type, the AEAD tag and the header, with room to spare.
	maxRecord = 16<<10 + 256
	// ReadBuffer is the size of a Conn's socket read buffer.
	ReadBuffer = 64 << 10
)

// Conn is a TLS connection over a batching socket. It is safe for a
// concurrent Read and Write, like tls.Conn.
type Conn struct {
	*tls.Conn
	sock *sock
}

// Client returns a TLS client connection over conn (see tls.Client).
func Client(conn net.Conn, cfg *tls.Config) *Conn {
	s := &sock{Conn: conn}
	return &Conn{Conn: tls.Client(s, cfg), sock: s}
}

// Server returns a TLS server connection over conn (see tls.Server).
func Server(conn net.Conn, cfg *tls.Config) *Conn {
	s := &sock{Conn: conn}
	return &Conn{Conn: tls.Server(s, cfg), sock: s}
}

// Write encrypts p into records and writes them in batches. It returns
// once every record is written to the socket.
func (c *Conn) Write(p []byte) (int, error) {
	// The handshake must not be batched: it waits for the peer's answer.
	if err := c.Conn.Handshake(); err != nil {
		return 0, err
	}
	c.sock.batch()
	n, err := c.Conn.Write(p)
	if ferr := c.sock.unbatch(); ferr != nil && err == nil {
		return 0, ferr
	}
	return n, err
}

// ReadFrom writes what r yields to the connection, reading it in chunks
// of CopyBuffer bytes. net/http's server uses it for response bodies (a
// piece file), which would otherwise be copied 32 KiB at a time.
//
// A request body from memory reaches it as an io.LimitedReader (added by
// net/http) around the request's Body: a Body with a WriteTo method and a
// Len method (the bytes left, as *bytes.Reader has) that fits the limit is
// written straight from its memory, without the copy. (net/http hides a
// *bytes.Reader behind io.NopCloser: give the request a Body type of your
// own that embeds it.)
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if mem, ok := lr.R.(memReader); ok && int64(mem.Len()) <= lr.N {
			n, err := mem.WriteTo(c)
			lr.N -= n
			return n, err
		}
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w, werr := c.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// memReader is a reader of bytes in memory, such as *bytes.Reader.
type memReader interface {
	io.WriterTo
	Len() int
}

// Dial connects to addr with dial and completes a TLS client handshake
// within ctx.
func Dial(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), network, addr string, cfg *tls.Config) (*Conn, error) {
	raw, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// NewListener returns a listener whose connections are Server connections
// over inner's (see tls.NewListener).
func NewListener(inner net.Listener, cfg *tls.Config) net.Listener {
	return &listener{Listener: inner, cfg: cfg}
}

type listener struct {
	net.Listener
	cfg *tls.Config
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Server(c, l.cfg), nil
}

// sock is the socket under the TLS layer. Between batch and unbatch, what
// crypto/tls writes is gathered in wbuf; reads go through rbuf.
type sock struct {
	net.Conn

	wmu     sync.Mutex
	batched bool
	wbuf    []byte
	werr    error // sticky: a failed write breaks the connection

	rbuf       []byte // rbuf[rpos:rend] is read but not yet returned
	rpos, rend int
	rerr       error // returned once rbuf is drained
}

func (s *sock) batch() {
	s.wmu.Lock()
	s.batched = true
	s.wmu.Unlock()
}

// unbatch writes what was gathered and ends the batch.
func (s *sock) unbatch() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.batched = false
	err := s.flushLocked()
	if cap(s.wbuf) > 0 && s.werr == nil {
		// Between transfers a connection keeps no write buffer: idle
		// pooled connections should not hold memory.
		putBuf(s.wbuf)
		s.wbuf = nil
	}
	return err
}

func (s *sock) flushLocked() error {
	if s.werr != nil {
		return s.werr
	}
	for len(s.wbuf) > 0 {
		n, err := s.Conn.Write(s.wbuf)
		s.wbuf = s.wbuf[:copy(s.wbuf, s.wbuf[n:])]
		if err != nil {
			s.werr = err
			return err
		}
	}
	return nil
}

func (s *sock) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.werr != nil {
		return 0, s.werr
	}
	if !s.batched || len(p) > maxRecord {
		// Outside a Write (the handshake, alerts), or not a record
		// (crypto/tls writes one at a time): after what was gathered, as
		// it comes.
		if err := s.flushLocked(); err != nil {
			return 0, err
		}
		n, err := s.Conn.Write(p)
		if err != nil {
			s.werr = err
		}
		return n, err
	}
	if s.wbuf == nil {
		s.wbuf = getBuf()
	}
	s.wbuf = append(s.wbuf, p...)
	if len(s.wbuf) >= WriteBatch {
		if err := s.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Read is called by crypto/tls only, from one goroutine at a time.
func (s *sock) Read(p []byte) (int, error) {
	if s.rpos == s.rend {
		if err := s.rerr; err != nil {
			s.rerr = nil
			return 0, err
		}
		if len(p) >= ReadBuffer {
			return s.Conn.Read(p)
		}
		if s.rbuf == nil {
			s.rbuf = make([]byte, ReadBuffer)
		}
		n, err := s.Conn.Read(s.rbuf)
		s.rpos, s.rend = 0, n
		if n == 0 {
			return 0, err
		}
		s.rerr = err // returned after the bytes, as the socket would
	}
	n := copy(p, s.rbuf[s.rpos:s.rend])
	s.rpos += n
	return n, nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, CopyBuffer); return &b }}

// bufs holds the write buffers of connections between transfers.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, WriteBatch+maxRecord); return &b }}

func getBuf() []byte { return (*bufs.Get().(*[]byte))[:0] }

func putBuf(b []byte) {
	b = b[:0]
	bufs.Put(&b)
}
