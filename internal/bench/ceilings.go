package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nuage-storage/nuage/internal/bulktls"
	"github.com/nuage-storage/nuage/internal/crypto/stream"
	"github.com/nuage-storage/nuage/internal/erasure"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/pagecache"
	"github.com/nuage-storage/nuage/internal/piece"
)

// Model is the pipeline-ceiling formula, in words; docs/benchmarks.md
// explains it at length.
//
// Let x = (B+16)/B be the ciphertext expansion of the content stream
// (B = 65536), r = n/k the erasure-coding expansion, C the number of
// cores, and c_s the CPU seconds one byte of stage s's input costs,
// measured alone on this machine in the same run. Per plaintext byte:
//
//	put CPU = c_aes·1 + c_rs·x + c_blake3·2rx + c_tls·rx + c_disk·rx
//	get CPU = c_aes·1 + c_blake3·x + c_tls·x + c_read·x + c_disk·1
//
// (a put hashes every piece twice, once in the client and once in the
// node that verifies it while receiving; a get hashes the k pieces it
// fetches; c_tls is the CPU of both ends of a loopback TLS transfer; c_disk
// the CPU of write+fsync; c_read the CPU of reading piece files from disk,
// as the nodes serving a get do. A put's read of its input file is not
// counted: it may be cached, and a ceiling takes the cheaper case.)
// Client and nodes share the C cores, so
//
//	ceiling = min(C / CPU, R_disk / d, R_read / x for a get)
//
// where R_disk is the measured write+fsync rate and d the bytes written
// per plaintext byte (rx for a put, where nodes store n pieces; 1 for a
// get, which writes the plaintext), and R_read the measured read rate.
// The model assumes perfect overlap of stages and counts neither memory
// copies nor coordinator calls: it is a ceiling, not a prediction.
const Model = "put CPU/byte = c_aes + x·c_rs + 2rx·c_blake3 + rx·c_tls + rx·c_disk; " +
	"get CPU/byte = c_aes + x·c_blake3 + x·c_tls + x·c_read + c_disk; " +
	"ceiling = min(cores / CPU per byte, R_disk / bytes written per byte, for a get R_read / x) " +
	"(x = (B+16)/B stream expansion, r = n/k, c_s = CPU seconds per input byte of stage s measured alone, " +
	"R_disk = write+fsync rate, R_read = read rate of piece files; put writes rx, get writes 1 and reads x)"

// stageSetup is what the stage ceilings are measured for.
type stageSetup struct {
	K, N        int
	SegmentSize int64
	Size        int64
	Cores       int
	Dir         string
	// Budget is how long each CPU stage is repeated for.
	Budget time.Duration
	// Pass numbers the measuring pass (Stage.Pass).
	Pass int
}

// expansion returns x, the content stream's ciphertext bytes per
// plaintext byte.
func expansion() float64 {
	return float64(stream.BlockSize+stream.Overhead) / float64(stream.BlockSize)
}

// measureCeilings measures every stage alone and derives the pipeline
// ceilings. progress receives one line per stage.
func measureCeilings(ctx context.Context, s stageSetup, progress func(format string, args ...any)) (Ceilings, error) {
	if s.Budget <= 0 {
		s.Budget = time.Second
	}
	type stageFunc struct {
		name, label string
		run         func(context.Context, stageSetup) (int64, time.Duration, time.Duration, error)
	}
	stages := []stageFunc{
		{StageAES, "AES-256-GCM seal (16 MiB segment, 64 KiB blocks)", aesStage},
		{StageRS, fmt.Sprintf("Reed–Solomon encode %d-of-%d", s.K, s.N), rsStage},
		{StageBLAKE3, "BLAKE3-256 of each piece", blake3Stage},
		{StageTLS, "TLS 1.3 over loopback (both ends)", tlsStage},
		{StageDisk, fmt.Sprintf("write+fsync of n/k × the file, as piece files, %d writers", s.N), diskStage},
		{StageRead, fmt.Sprintf("read of the file's k pieces from disk, as nodes serve them, %d readers", s.K), readStage},
	}
	var out Ceilings
	for _, st := range stages {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		n, wall, cpu, err := st.run(ctx, s)
		if err != nil {
			return out, fmt.Errorf("ceiling %s: %w", st.name, err)
		}
		stage := Stage{Name: st.name, Label: st.label, Bytes: n, Seconds: wall.Seconds(), CPUSeconds: cpu.Seconds(), Pass: s.Pass}
		if wall > 0 {
			stage.MBps = float64(n) / wall.Seconds() / MB
		}
		if n > 0 {
			stage.CPUPerGiB = cpu.Seconds() / float64(n) * GiB
		}
		out.Stages = append(out.Stages, stage)
		progress("  %-13s %9.0f MB/s  %6.2f CPU s/GiB", st.name, stage.MBps, stage.CPUPerGiB)
	}
	out.Stages, out.Put, out.Get = pipeline(out.Stages, s.K, s.N, s.Cores)
	out.Model = Model
	return out, nil
}

// bestOf keeps, for every stage, the pass that allows the faster put, or
// for a stage only a get uses the one that cost less CPU (the ceiling is
// the best the machine did), and recomputes the pipeline.
func bestOf(a, b Ceilings, k, n, cores int) Ceilings {
	out := a
	out.Stages = slices.Clone(a.Stages)
	for _, sb := range b.Stages {
		i := slices.IndexFunc(out.Stages, func(s Stage) bool { return s.Name == sb.Name })
		switch {
		case i < 0:
			out.Stages = append(out.Stages, sb)
		case sb.PutAlone > out.Stages[i].PutAlone:
			out.Stages[i] = sb
		case sb.PutAlone == 0 && out.Stages[i].PutAlone == 0 && sb.CPUPerGiB > 0 && sb.CPUPerGiB < out.Stages[i].CPUPerGiB:
			out.Stages[i] = sb // a stage a put does not use: the cheaper pass
		}
	}
	out.Stages, out.Put, out.Get = pipeline(out.Stages, k, n, cores)
	if b.Error != "" {
		out.Error = strings.TrimPrefix(a.Error+"; "+b.Error, "; ")
	}
	return out
}

// pipeline fills each stage's bytes per plaintext byte and derives the
// put and get ceilings (see Model). Stages it does not know are kept but
// not counted.
func pipeline(stages []Stage, k, n, cores int) ([]Stage, Pipeline, Pipeline) {
	x := expansion()
	r := float64(n) / float64(k)
	if cores < 1 {
		cores = 1
	}
	put := Pipeline{Cores: cores}
	get := Pipeline{Cores: cores}
	var putCPU, getCPU float64 // CPU seconds per plaintext byte
	out := make([]Stage, len(stages))
	for i, s := range stages {
		switch s.Name {
		case StageAES:
			s.PutPerByte, s.GetPerByte = 1, 1
		case StageRS:
			s.PutPerByte, s.GetPerByte = x, 0
		case StageBLAKE3:
			s.PutPerByte, s.GetPerByte = 2*r*x, x
		case StageTLS:
			s.PutPerByte, s.GetPerByte = r*x, x
		case StageDisk:
			s.PutPerByte, s.GetPerByte = r*x, 1
			if s.MBps > 0 {
				put.DiskBound = s.MBps / s.PutPerByte
				get.DiskBound = minPositive(get.DiskBound, s.MBps/s.GetPerByte)
			}
		case StageRead:
			s.PutPerByte, s.GetPerByte = 0, x
			if s.MBps > 0 {
				get.DiskBound = minPositive(get.DiskBound, s.MBps/s.GetPerByte)
			}
		}
		var c float64 // CPU seconds per input byte
		if s.Bytes > 0 {
			c = s.CPUSeconds / float64(s.Bytes)
		}
		putCPU += c * s.PutPerByte
		getCPU += c * s.GetPerByte
		switch {
		case s.Name == StageDisk:
			s.PutAlone = put.DiskBound
		case c > 0 && s.PutPerByte > 0:
			s.PutAlone = float64(cores) / (c * s.PutPerByte) / MB
		}
		out[i] = s
	}
	finish := func(p *Pipeline, cpu float64) {
		p.CPUPerGiB = cpu * GiB
		if cpu > 0 {
			p.CPUBound = float64(p.Cores) / cpu / MB
		}
		p.MBps, p.Bound = p.CPUBound, "cpu"
		if p.DiskBound > 0 && (p.DiskBound < p.MBps || p.MBps == 0) {
			p.MBps, p.Bound = p.DiskBound, "disk"
		}
	}
	finish(&put, putCPU)
	finish(&get, getCPU)
	return out, put, get
}

// minPositive returns the smaller of a and b, ignoring a zero (not
// measured) value.
func minPositive(a, b float64) float64 {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// repeat runs step (after one untimed warm-up call) until budget has
// passed, and returns the bytes it reported, the wall time and the
// process CPU time.
func repeat(ctx context.Context, budget time.Duration, step func() (int64, error)) (int64, time.Duration, time.Duration, error) {
	if _, err := step(); err != nil {
		return 0, 0, 0, err
	}
	runtime.GC()
	const maxRuns = 100000
	var total int64
	c0, t0 := selfCPU(), time.Now()
	for i := 0; i < maxRuns; i++ {
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		n, err := step()
		if err != nil {
			return 0, 0, 0, err
		}
		total += n
		if time.Since(t0) >= budget {
			break
		}
	}
	return total, time.Since(t0), selfCPU() - c0, nil
}

// randomBytes returns n incompressible bytes from a seeded generator.
func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	fillRandom(b, seed)
	return b
}

func fillRandom(b []byte, seed byte) {
	var s [32]byte
	s[0] = seed
	_, _ = rand.NewChaCha8(s).Read(b)
}

// segmentCipher returns a cipher for one full segment and its size.
func segmentCipher(segment int64) (*stream.Cipher, error) {
	l, err := stream.NewLayout(segment, segment)
	if err != nil {
		return nil, err
	}
	var key [32]byte
	var obj [16]byte
	copy(key[:], randomBytes(32, 1))
	copy(obj[:], randomBytes(16, 2))
	return stream.NewCipher(key, obj, l)
}

// aesStage seals one 16 MiB (the configured segment) segment again and
// again, as the client's producer goroutine does, on one core.
func aesStage(ctx context.Context, s stageSetup) (int64, time.Duration, time.Duration, error) {
	c, err := segmentCipher(s.SegmentSize)
	if err != nil {
		return 0, 0, 0, err
	}
	plain := randomBytes(int(s.SegmentSize), 3)
	dst := make([]byte, 0, c.Layout().SegmentCipherSize(0))
	return repeat(ctx, s.Budget, func() (int64, error) {
		_, err := c.SealSegment(dst, 0, plain)
		return int64(len(plain)), err
	})
}

// rsStage encodes one ciphertext segment into n pieces in place (the
// segment is the buffer's prefix, so no copy is counted).
func rsStage(ctx context.Context, s stageSetup) (int64, time.Duration, time.Duration, error) {
	coder, err := erasure.New(s.K, s.N)
	if err != nil {
		return 0, 0, 0, err
	}
	l, err := stream.NewLayout(s.SegmentSize, s.SegmentSize)
	if err != nil {
		return 0, 0, 0, err
	}
	ct := l.SegmentCipherSize(0)
	buf := make([]byte, int(coder.PieceSize(ct))*s.N)
	fillRandom(buf[:ct], 4)
	return repeat(ctx, s.Budget, func() (int64, error) {
		_, err := coder.EncodeInto(buf[:ct], buf)
		return ct, err
	})
}

// hashSink keeps the compiler from discarding the hashes blake3Stage computes.
var hashSink piece.ID

// blake3Stage hashes piece-sized buffers, as the client and the node do.
func blake3Stage(ctx context.Context, s stageSetup) (int64, time.Duration, time.Duration, error) {
	coder, err := erasure.New(s.K, s.N)
	if err != nil {
		return 0, 0, 0, err
	}
	l, err := stream.NewLayout(s.SegmentSize, s.SegmentSize)
	if err != nil {
		return 0, 0, 0, err
	}
	p := randomBytes(int(coder.PieceSize(l.SegmentCipherSize(0))), 5)
	return repeat(ctx, s.Budget, func() (int64, error) {
		hashSink = piece.Sum(p)
		return int64(len(p)), nil
	})
}

// tlsChunk is how much the TLS stage writes per call, and the size of the
// receiver's reads (as the node's body reader).
const tlsChunk = 256 << 10

// tlsStage sends bytes over one TLS 1.3 connection on loopback, with the
// node's kind of certificate and connection (internal/bulktls) (a self-signed Ed25519 identity) and the
// client's pinning, to a receiver that reads and discards them. Both ends
// run in this process, so the CPU figure is sender and receiver together.
func tlsStage(ctx context.Context, s stageSetup) (int64, time.Duration, time.Duration, error) {
	id, err := identity.Generate()
	if err != nil {
		return 0, 0, 0, err
	}
	srvCfg, err := id.ServerTLSConfig()
	if err != nil {
		return 0, 0, 0, err
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, 0, fmt.Errorf("listen: %w", err)
	}
	ln := bulktls.NewListener(tcp, srvCfg) // as the nodes and clients do
	defer ln.Close()
	deadline := time.Now().Add(s.Budget + time.Minute)
	type result struct {
		n   int64
		end time.Time
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(deadline)
		buf := make([]byte, tlsChunk)
		var n int64
		for {
			m, err := c.Read(buf)
			n += int64(m)
			if errors.Is(err, io.EOF) {
				done <- result{n: n, end: time.Now()}
				return
			}
			if err != nil {
				done <- result{n: n, err: err}
				return
			}
		}
	}()
	conn, err := bulktls.Dial(ctx, (&net.Dialer{}).DialContext, "tcp", ln.Addr().String(), identity.PinnedClientTLSConfig(id.ID()))
	if err != nil {
		ln.Close()
		<-done
		return 0, 0, 0, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	chunk := randomBytes(tlsChunk, 6)
	// Warm up: the handshake and the first megabytes (buffers, windows).
	for range 64 {
		if _, err := conn.Write(chunk); err != nil {
			conn.Close()
			<-done
			return 0, 0, 0, fmt.Errorf("write: %w", err)
		}
	}
	var sent int64
	c0, t0 := selfCPU(), time.Now()
	for time.Since(t0) < s.Budget && ctx.Err() == nil {
		if _, err := conn.Write(chunk); err != nil {
			conn.Close()
			<-done
			return 0, 0, 0, fmt.Errorf("write: %w", err)
		}
		sent += tlsChunk
	}
	if err := conn.CloseWrite(); err != nil {
		conn.Close()
		<-done
		return 0, 0, 0, fmt.Errorf("close: %w", err)
	}
	r := <-done
	cpu := selfCPU() - c0
	if r.err != nil {
		return 0, 0, 0, fmt.Errorf("receive: %w", r.err)
	}
	if want := sent + 64*tlsChunk; r.n != want {
		return 0, 0, 0, fmt.Errorf("receiver got %d bytes, sent %d", r.n, want)
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, 0, err
	}
	return sent, r.end.Sub(t0), cpu, nil
}

// diskStage writes n/k × size bytes (what the nodes store for the large
// file) to the work directory as piece-sized files, each written to a
// temporary name, fsynced, renamed and followed by a directory fsync, as
// the node's piece store does. Like the nodes, which receive the n pieces
// of a segment at once, n writers run in parallel, each in its own
// directory: a disk with a deep queue completes parallel fsyncs much
// faster than serial ones.
func diskStage(ctx context.Context, s stageSetup) (int64, time.Duration, time.Duration, error) {
	coder, err := erasure.New(s.K, s.N)
	if err != nil {
		return 0, 0, 0, err
	}
	l, err := stream.NewLayout(s.Size, s.SegmentSize)
	if err != nil {
		return 0, 0, 0, err
	}
	total := int64(math.Ceil(float64(l.CiphertextSize()) * float64(s.N) / float64(s.K)))
	z := coder.PieceSize(l.SegmentCipherSize(0))
	root := filepath.Join(s.Dir, "ceiling-disk")
	defer os.RemoveAll(root)
	writers := s.N
	dirs := make([]*os.File, writers)
	defer func() {
		for _, d := range dirs {
			if d != nil {
				d.Close()
			}
		}
	}()
	for i := range dirs {
		p := filepath.Join(root, strconv.Itoa(i))
		if err := os.MkdirAll(p, 0o700); err != nil {
			return 0, 0, 0, err
		}
		if dirs[i], err = os.Open(p); err != nil {
			return 0, 0, 0, err
		}
	}
	buf := randomBytes(int(z), 7)
	pieces := int((total + z - 1) / z)
	syncAll() // start with no dirty pages from earlier work
	wall, cpu, err := timedWorkers(ctx, writers, pieces, func(w, i int) error {
		dir := dirs[w]
		n := min(z, total-int64(i)*z)
		tmp := filepath.Join(dir.Name(), fmt.Sprintf("p%06d.tmp", i))
		if err := writeSynced(tmp, buf[:n]); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir.Name(), fmt.Sprintf("p%06d", i))); err != nil {
			return err
		}
		return dir.Sync()
	})
	if err != nil {
		return 0, 0, 0, err
	}
	return total, wall, cpu, nil
}

// timedWorkers runs do for pieces 0 … pieces-1 on workers goroutines
// (worker w takes pieces w, w+workers, …), stopping a worker at its first
// error or when ctx ends, and returns the wall time and the process CPU
// time they took.
func timedWorkers(ctx context.Context, workers, pieces int, do func(w, i int) error) (time.Duration, time.Duration, error) {
	errs := make([]error, workers)
	var wg sync.WaitGroup
	c0, t0 := selfCPU(), time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := w; i < pieces; i += workers {
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				if err := do(w, i); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(t0), selfCPU() - c0, errors.Join(errs...)
}

// readStage writes the k data pieces of the file as piece files (not
// timed), then reads them back as a node serving a get does: from disk
// (the piece store drops the pages of the pieces it writes), in 256 KiB
// reads, dropping the pages again once a piece is read; k readers run in
// parallel, as a get fetches k pieces at once.
func readStage(ctx context.Context, s stageSetup) (int64, time.Duration, time.Duration, error) {
	coder, err := erasure.New(s.K, s.N)
	if err != nil {
		return 0, 0, 0, err
	}
	l, err := stream.NewLayout(s.Size, s.SegmentSize)
	if err != nil {
		return 0, 0, 0, err
	}
	total := l.CiphertextSize() // the k data pieces of every segment
	z := coder.PieceSize(l.SegmentCipherSize(0))
	root := filepath.Join(s.Dir, "ceiling-read")
	defer os.RemoveAll(root)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return 0, 0, 0, err
	}
	data := randomBytes(int(z), 8)
	pieces := int((total + z - 1) / z)
	names := make([]string, pieces)
	for i := range names {
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		names[i] = filepath.Join(root, fmt.Sprintf("p%06d", i))
		if err := writeSynced(names[i], data[:min(z, total-int64(i)*z)]); err != nil {
			return 0, 0, 0, err
		}
	}
	syncAll()
	readers := s.K
	counts := make([]int64, readers)
	bufs := make([][]byte, readers)
	for w := range bufs {
		bufs[w] = make([]byte, 256<<10)
	}
	wall, cpu, err := timedWorkers(ctx, readers, pieces, func(w, i int) error {
		n, err := readDropped(names[i], bufs[w])
		counts[w] += n
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	var n int64
	for _, c := range counts {
		n += c
	}
	if n != total {
		return 0, 0, 0, fmt.Errorf("read %d bytes of %d", n, total)
	}
	return n, wall, cpu, nil
}

// readDropped reads the file name through buf, then drops its pages.
func readDropped(name string, buf []byte) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	for {
		m, err := f.Read(buf)
		n += int64(m)
		if err == io.EOF {
			pagecache.Drop(f, 0, 0)
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// writeSynced creates name with data and fsyncs it.
func writeSynced(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	pagecache.Drop(f, 0, 0) // as the piece store does
	return f.Close()
}
