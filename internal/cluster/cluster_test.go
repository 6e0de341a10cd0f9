package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestCloseSkipsConnectionsWithoutRequest: a connection that never sent a
// request (a browser's preconnection, an HTTP client's spare) does not
// hold up Close, which would otherwise wait 5 s for it and fail.
func TestCloseSkipsConnectionsWithoutRequest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Start(ctx, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.URL, "http://"))
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	defer conn.Close()
	// Wait until the server has accepted it.
	for i := 0; ; i++ {
		c.fresh.mu.Lock()
		n := len(c.fresh.conns)
		c.fresh.mu.Unlock()
		if n > 0 {
			break
		}
		if i == 200 {
			c.Close()
			t.Fatal("the server never accepted the connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close with a connection that sent no request: %v (after %v)", err, time.Since(start))
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close took %v", took)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Errorf("the connection is still open after Close: read = %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
