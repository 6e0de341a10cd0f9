package bulktls

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
)

// countingConn counts the system calls made on a socket.
type countingConn struct {
	net.Conn
	reads, writes atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// pair returns the two ends of a TLS connection over loopback TCP; bulk
// selects bulktls (else crypto/tls) for each end. The raw sockets are
// returned counted.
func pair(t *testing.T, bulkClient, bulkServer bool) (cli, srv net.Conn, cliSock, srvSock *countingConn) {
	t.Helper()
	srvConf, cliConf := testConfigs(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	cliSock, srvSock = &countingConn{Conn: raw}, &countingConn{Conn: a.c}
	if bulkClient {
		cli = Client(cliSock, cliConf)
	} else {
		cli = tls.Client(cliSock, cliConf)
	}
	if bulkServer {
		srv = Server(srvSock, srvConf)
	} else {
		srv = tls.Server(srvSock, srvConf)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range []net.Conn{cli, srv} {
		_ = c.SetDeadline(deadline)
	}
	t.Cleanup(func() { cli.Close(); srv.Close() })
	return cli, srv, cliSock, srvSock
}

// echo copies everything srv reads back to it until EOF.
func echo(srv net.Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(srv, srv)
		done <- err
	}()
	return done
}

func TestEchoAllCombinations(t *testing.T) {
	sizes := []int{1, 100, 16 << 10, 16<<10 + 1, WriteBatch - 1, WriteBatch, WriteBatch + 1, 1 << 20, 4<<20 + 12345}
	for _, c := range []struct {
		name             string
		bulkCli, bulkSrv bool
	}{{"bulk-bulk", true, true}, {"bulk-tls", true, false}, {"tls-bulk", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			cli, srv, _, _ := pair(t, c.bulkCli, c.bulkSrv)
			done := echo(srv)
			var sent bytes.Buffer
			var got bytes.Buffer
			readDone := make(chan error, 1)
			total := 0
			for _, n := range sizes {
				total += n
			}
			go func() {
				_, err := io.CopyN(&got, cli, int64(total))
				readDone <- err
			}()
			for _, n := range sizes {
				b := make([]byte, n)
				rand.Read(b)
				sent.Write(b)
				if _, err := cli.Write(b); err != nil {
					t.Fatalf("write %d bytes: %v", n, err)
				}
			}
			if err := <-readDone; err != nil {
				t.Fatalf("read back: %v (got %d of %d bytes)", err, got.Len(), total)
			}
			if !bytes.Equal(got.Bytes(), sent.Bytes()) {
				t.Fatal("bytes read back differ from those sent")
			}
			cli.(interface{ CloseWrite() error }).CloseWrite()
			if err := <-done; err != nil {
				t.Fatalf("echo: %v", err)
			}
		})
	}
}

// TestNothingHeldBack: a short Write is on the wire when it returns, so a
// request–response exchange does not stall.
func TestNothingHeldBack(t *testing.T) {
	cli, srv, _, _ := pair(t, true, true)
	go func() {
		buf := make([]byte, 5)
		for {
			if _, err := io.ReadFull(srv, buf); err != nil {
				return
			}
			if _, err := srv.Write(buf); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 5)
	for i := range 50 {
		msg := []byte{byte(i), 1, 2, 3, 4}
		if _, err := cli.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(cli, buf); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
		if !bytes.Equal(buf, msg) {
			t.Fatalf("round trip %d: got %x", i, buf)
		}
	}
}

// TestFewerSystemCalls checks the point of the package: a 4 MiB Write
// (256 records) takes a handful of socket writes, and the reader needs
// far fewer socket reads than records.
func TestFewerSystemCalls(t *testing.T) {
	const size = 4 << 20
	for _, c := range []struct {
		name     string
		bulk     bool
		maxWrite int64
	}{
		{"bulktls", true, size/WriteBatch + 4},
		{"crypto/tls", false, -1}, // the baseline, reported
	} {
		t.Run(c.name, func(t *testing.T) {
			cli, srv, cliSock, srvSock := pair(t, c.bulk, c.bulk)
			got := make(chan int64, 1)
			go func() {
				n, _ := io.CopyBuffer(io.Discard, io.LimitReader(srv, size), make([]byte, 256<<10))
				got <- n
			}()
			if err := cli.(interface{ Handshake() error }).Handshake(); err != nil {
				t.Fatal(err)
			}
			w0, r0 := cliSock.writes.Load(), srvSock.reads.Load()
			if _, err := cli.Write(make([]byte, size)); err != nil {
				t.Fatal(err)
			}
			if n := <-got; n != size {
				t.Fatalf("received %d bytes", n)
			}
			writes, reads := cliSock.writes.Load()-w0, srvSock.reads.Load()-r0
			t.Logf("%s: %d socket writes, %d socket reads for %d records", c.name, writes, reads, size/(16<<10))
			if c.maxWrite < 0 {
				return
			}
			if writes > c.maxWrite {
				t.Errorf("%d socket writes for a 4 MiB Write, want at most %d", writes, c.maxWrite)
			}
			if reads >= size/(16<<10) {
				t.Errorf("%d socket reads, not fewer than the %d records", reads, size/(16<<10))
			}
		})
	}
}

func TestReadFrom(t *testing.T) {
	cli, srv, cliSock, _ := pair(t, true, true)
	src := make([]byte, 3<<20+7)
	rand.Read(src)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(srv, int64(len(src))))
		got <- b
	}()
	if err := cli.(*Conn).Handshake(); err != nil {
		t.Fatal(err)
	}
	w0 := cliSock.writes.Load()
	// A reader without WriteTo, as net/http hands over a response body.
	n, err := io.Copy(cli, struct{ io.Reader }{bytes.NewReader(src)})
	if err != nil || n != int64(len(src)) {
		t.Fatalf("copied %d bytes, err %v", n, err)
	}
	if !bytes.Equal(<-got, src) {
		t.Fatal("bytes differ")
	}
	if w := cliSock.writes.Load() - w0; w > int64(len(src))/WriteBatch+int64(len(src))/CopyBuffer+4 {
		t.Errorf("%d socket writes for %d bytes", w, len(src))
	}
}

func TestWriteErrorIsSticky(t *testing.T) {
	cli, srv, cliSock, _ := pair(t, true, true)
	go io.Copy(io.Discard, srv)
	if _, err := cli.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	cliSock.Conn.Close() // the socket fails under the TLS layer
	if _, err := cli.Write(make([]byte, 1<<20)); err == nil {
		t.Fatal("Write on a closed socket succeeded")
	}
	if _, err := cli.Write([]byte("x")); err == nil {
		t.Fatal("Write after a failed write succeeded")
	}
}

func TestDialPinMismatch(t *testing.T) {
	srvConf, _ := testConfigs(t)
	other, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(tcp, srvConf)
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Read(make([]byte, 1)) // runs the server's handshake
	})
	defer wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = Dial(ctx, (&net.Dialer{}).DialContext, "tcp", tcp.Addr().String(), identity.PinnedClientTLSConfig(other.ID()))
	if !errors.Is(err, identity.ErrPinMismatch) {
		t.Fatalf("Dial to the wrong node: %v, want ErrPinMismatch", err)
	}
}

// TestReadFromLimitedBytes covers the path net/http takes for a request
// body from memory: a LimitedReader around a bytes.Reader, written without
// a copy when the limit covers it, and never past the limit.
func TestReadFromLimitedBytes(t *testing.T) {
	src := make([]byte, 1<<20+3)
	rand.Read(src)
	for _, limit := range []int64{int64(len(src)), int64(len(src)) + 10, 1000} {
		cli, srv, _, _ := pair(t, true, true)
		want := src[:min(limit, int64(len(src)))]
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(srv, int64(len(want))))
			got <- b
		}()
		var r io.Reader = bytes.NewReader(src)
		if limit == int64(len(src)) {
			r = struct{ *bytes.Reader }{bytes.NewReader(src)} // a Body type of the caller's
		}
		lr := &io.LimitedReader{R: r, N: limit}
		n, err := cli.(*Conn).ReadFrom(lr)
		if err != nil || n != int64(len(want)) {
			t.Fatalf("limit %d: ReadFrom = %d, %v; want %d bytes", limit, n, err, len(want))
		}
		if lr.N != limit-n {
			t.Fatalf("limit %d: %d left in the limit after %d bytes", limit, lr.N, n)
		}
		if !bytes.Equal(<-got, want) {
			t.Fatalf("limit %d: bytes differ", limit)
		}
		cli.Close()
		srv.Close()
	}
}
