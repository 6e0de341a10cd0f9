package node

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/order"
	"github.com/nuage-storage/nuage/internal/piece"
)

// BenchmarkPut4MiB measures PUT throughput of 4 MiB pieces over loopback
// TLS: order check, body over TLS, hashing, write, fsync, rename, receipt.
func BenchmarkPut4MiB(b *testing.B) {
	env := newEnv(b, 1<<40)
	data, _ := randomPiece(1, 4<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := uint64(0); b.Loop(); i++ {
		b.StopTimer()
		binary.BigEndian.PutUint64(data, i) // a new piece each time
		id := piece.Sum(data)
		hdr, _ := env.order(nil, order.Put, env.node.ID(), id, len(data), time.Minute)
		req, err := http.NewRequest(http.MethodPut, env.base+"/v1/pieces/"+id.String(), bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set(order.Header, hdr)
		b.StartTimer()
		resp, err := env.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("PUT: %d", resp.StatusCode)
		}
		b.StopTimer()
		if err := env.node.Store().Delete(id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkGet4MiB measures GET throughput of a 4 MiB piece over loopback TLS.
func BenchmarkGet4MiB(b *testing.B) {
	env := newEnv(b, 1<<30)
	data, id := randomPiece(2, 4<<20)
	if resp, body, _ := env.put(id, data); resp.StatusCode != http.StatusOK {
		b.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	hdr, _ := env.order(nil, order.Get, env.node.ID(), id, len(data), time.Hour)
	req, err := http.NewRequest(http.MethodGet, env.base+"/v1/pieces/"+id.String(), nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set(order.Header, hdr)
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := env.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.CopyBuffer(io.Discard, resp.Body, buf)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n != int64(len(data)) {
			b.Fatalf("GET: %d, %d bytes", resp.StatusCode, n)
		}
	}
}
