//go:build unix

package bulktls

import (
	"crypto/tls"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchTransfer sends b.N × 4 MiB from a client to a server over loopback
// and reports the CPU both ends spent per GiB.
func benchTransfer(b *testing.B, bulk bool) {
	srvConf, cliConf := testConfigs(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	if bulk {
		ln = NewListener(ln, srvConf)
	} else {
		ln = tls.NewListener(ln, srvConf)
	}
	done := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- -1
			return
		}
		defer c.Close()
		n, _ := io.CopyBuffer(io.Discard, c, make([]byte, 256<<10))
		done <- n
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	var c net.Conn
	if bulk {
		c = Client(raw, cliConf)
	} else {
		c = tls.Client(raw, cliConf)
	}
	msg := make([]byte, 4<<20)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	if n := <-done; n != int64(b.N*len(msg)) {
		b.Fatalf("received %d bytes, sent %d", n, b.N*len(msg))
	}
	cpu := cpuTime() - c0
	b.ReportMetric(cpu.Seconds()/(float64(b.N*len(msg))/(1<<30)), "cpu-s/GiB")
}

func BenchmarkTransfer(b *testing.B) {
	b.Run("tls", func(b *testing.B) { benchTransfer(b, false) })
	b.Run("bulktls", func(b *testing.B) { benchTransfer(b, true) })
}
