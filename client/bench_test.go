package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/testnet"
)

// benchFileSize is the file BenchmarkPutGet stores and fetches: four
// production-sized segments, so the pipeline (segment i+1 encoded while
// segment i uploads) is exercised.
const benchFileSize = 64 << 20

// BenchmarkPutGet measures the whole data path end to end on an in-process
// network (coordinator and 6 nodes on loopback, real TLS, real fsync),
// with the production segment size of 16 MiB and the default 4-of-6
// scheme. Client and nodes share this process and its cores, so the figure
// is the throughput of the whole system on this machine, not of the client
// alone (`nuage bench` measures the client in its own process).
func BenchmarkPutGet(b *testing.B) {
	net := testnet.New(b, testnet.Options{SegmentSize: 16 << 20, NodeCapacity: 64 << 30})
	c := net.Signup(b)
	data := make([]byte, benchFileSize)
	fillBenchData(data, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	b.Run("put", func(b *testing.B) {
		b.SetBytes(benchFileSize)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p := fmt.Sprintf("/put-%d.bin", i)
			i++
			if _, err := c.Put(ctx, p, bytes.NewReader(data), benchFileSize, nil); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			// rm moves to the trash; emptying it frees the pieces, which
			// would otherwise pile up on the nodes' disks.
			if err := c.Remove(ctx, p, false); err != nil {
				b.Fatal(err)
			}
			if _, err := c.EmptyTrash(ctx); err != nil {
				b.Fatal(err)
			}
			// Deleting pieces would compete with the next upload.
			net.WaitDeletions(b)
			b.StartTimer()
		}
	})

	if _, err := c.Put(ctx, "/get.bin", bytes.NewReader(data), benchFileSize, nil); err != nil {
		b.Fatal(err)
	}
	b.Run("get", func(b *testing.B) {
		w := &benchCheckWriter{want: data}
		b.SetBytes(benchFileSize)
		b.ReportAllocs()
		for b.Loop() {
			w.off = 0
			if _, err := c.Get(ctx, "/get.bin", w, nil); err != nil {
				b.Fatal(err)
			}
			if w.off != benchFileSize {
				b.Fatalf("got %d bytes, want %d", w.off, benchFileSize)
			}
		}
	})

	// A 1 MiB range from the middle of the file: what a seek in a video
	// player or a database page read costs.
	b.Run("range1MiB", func(b *testing.B) {
		const off, n = benchFileSize/2 - 512<<10, 1 << 20
		w := &benchCheckWriter{want: data[off : off+n]}
		b.SetBytes(n)
		b.ReportAllocs()
		for b.Loop() {
			w.off = 0
			if _, err := c.ReadRange(ctx, "/get.bin", off, n, w, nil); err != nil {
				b.Fatal(err)
			}
			if w.off != n {
				b.Fatalf("got %d bytes, want %d", w.off, n)
			}
		}
	})

	// Time to the first byte of a whole-file get: the get is stopped at
	// its first write, and the time to it is reported as ms-to-first-byte.
	b.Run("ttfb", func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			w := &firstWriter{start: start}
			_, err := c.Get(ctx, "/get.bin", w, nil)
			if !errors.Is(err, errFirstByte) || w.n == 0 || !bytes.Equal(w.head, data[:len(w.head)]) {
				b.Fatalf("get stopped at the first byte: %v (%d bytes)", err, w.n)
			}
			total += w.took
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-first-byte")
	})
}

// errFirstByte stops a get at its first write.
var errFirstByte = errors.New("first byte received")

// firstWriter records when the first write came and refuses it.
type firstWriter struct {
	start time.Time
	took  time.Duration
	n     int
	head  []byte
}

func (w *firstWriter) Write(p []byte) (int, error) {
	w.took = time.Since(w.start)
	w.n = len(p)
	w.head = append(w.head[:0], p[:min(len(p), 4096)]...)
	return 0, errFirstByte
}

// fillBenchData fills b with incompressible bytes from a seeded generator.
func fillBenchData(b []byte, seed uint64) {
	var s [32]byte
	s[0] = byte(seed)
	r := rand.NewChaCha8(s)
	_, _ = r.Read(b)
}

// benchCheckWriter compares what it is given with want, without keeping a
// copy, so a benchmark that returns wrong bytes fails.
type benchCheckWriter struct {
	want []byte
	off  int
}

func (w *benchCheckWriter) Write(p []byte) (int, error) {
	if w.off+len(p) > len(w.want) || !bytes.Equal(p, w.want[w.off:w.off+len(p)]) {
		return 0, fmt.Errorf("bytes %d..%d differ from what was stored", w.off, w.off+len(p))
	}
	w.off += len(p)
	return len(p), nil
}
