// Package bench is the engine of `nuage bench`: it starts a real network
// on this machine (a coordinator and storage nodes on loopback, TLS, real
// disk under a work directory), measures the nuage client against it, the
// ceiling of every stage of the data path and the pipeline ceiling they
// imply, and the same workload with peer tools (rclone crypt, restic,
// age) where installed, all in one run; then renders the results as
// Markdown, JSON and an SVG chart.
//
// Honesty rules the design follows:
//
//   - The client is measured in its own process (the nuage binary, run as
//     `nuage put`, `nuage get`, `nuage put -r` and the hidden
//     `nuage bench-client`), never in the process that hosts the network,
//     so its CPU time and peak memory (getrusage of the waited child) are
//     its own. The network's CPU is reported separately.
//   - Every transfer, nuage's and the peers', is timed as whole-process
//     wall time plus a sync(2) after the process exits, from a clean page
//     cache writeback state, so that data a tool leaves unwritten counts.
//   - Every put-like run (nuage put, rclone copy into the crypt remote,
//     restic backup, age encrypt) starts with the input in the page
//     cache: it is read through, untimed, right before (warmFile). The
//     pipeline ceiling assumes a cached input too.
//   - Everything read back is compared with the input (BLAKE3 of the
//     whole file); a figure for wrong bytes is reported as a failure.
//   - Every large-file transfer, nuage's and each peer's, runs Config.Runs
//     times and the median run is reported, with every run's time beside
//     it: one run can land in a busy second of a shared machine.
//   - Ceilings are measured in the same run, on the same machine and
//     disk: the machine is shared and noisy, and only ratios within one
//     run mean anything.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/cluster"
	"github.com/nuage-storage/nuage/internal/crypto/stream"
	"github.com/nuage-storage/nuage/internal/timerslack"
)

// Defaults and limits of a run.
const (
	// MinSize is the smallest large-file size: it must span several
	// blocks and never be stored inline.
	MinSize = 1 << 20
	// DefaultSmallFiles is how many small files the default run stores.
	DefaultSmallFiles = 10000
	// SmallFileSize is the size of each small file (4 KiB).
	SmallFileSize = 4096
	// FilesPerFolder is how many small files share a folder.
	FilesPerFolder = 100
	// RangeSize is the length of the range read from the middle of the file.
	RangeSize = 1 << 20
	// LatencyRuns is how many times each latency is measured (median).
	LatencyRuns = 3
	// DefaultSmallFilesTimeout bounds the recursive put of small files.
	DefaultSmallFilesTimeout = 10 * time.Minute
)

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("bench: invalid configuration")

// Config describes one run.
type Config struct {
	// Size is the size of the large file (at least MinSize).
	Size int64
	// Nodes is how many storage nodes the network runs (at least n).
	Nodes int
	// K and N select the erasure scheme (0: the coordinator's default).
	K, N int
	// SmallFiles is how many 4 KiB files the small-file test stores (0 skips it).
	SmallFiles int
	// Runs is how many times each large-file transfer (nuage's put and
	// get, and each peer's pair) runs; the median run is reported
	// (default DefaultRuns).
	Runs int
	// SmallFilesTimeout bounds the recursive put (default 10 minutes).
	SmallFilesTimeout time.Duration
	// Peers runs rclone, restic and age where installed.
	Peers bool
	// WorkDir is an existing directory the run fills with the network's
	// data, the input files and every output. The caller removes it.
	WorkDir string
	// Exe is the nuage executable the client processes run; Arg0 its
	// argv[0] (default "nuage").
	Exe, Arg0 string
	// Command is the command line recorded in the results.
	Command string
	// StageBudget is how long each CPU stage ceiling is measured (default 1s).
	StageBudget time.Duration
	// SaveSession stores a client session so that Exe, run with
	// NUAGE_CONFIG=dir, resumes it.
	SaveSession func(dir string, st client.State) error
	// Progress receives one line per step (nil: discarded).
	Progress io.Writer
	// PeerTimerSlack is the timer slack the peers run with, where the
	// system has one (internal/timerslack): that of the shell that
	// started the benchmark, so that they run as a user would run them,
	// whatever slack nuage gives itself. 0: this process's.
	PeerTimerSlack time.Duration
}

func (c *Config) check() error {
	switch {
	case c.Size < MinSize:
		return fmt.Errorf("%w: size %d is below the minimum of %d bytes", ErrConfig, c.Size, MinSize)
	case c.Size > stream.MaxSize:
		return fmt.Errorf("%w: size %d is too large", ErrConfig, c.Size)
	case c.Nodes < 1 || c.Nodes > 256:
		return fmt.Errorf("%w: %d nodes (want 1 to 256)", ErrConfig, c.Nodes)
	case c.K < 0 || c.N < 0 || (c.K == 0) != (c.N == 0):
		return fmt.Errorf("%w: set both k and n, or neither", ErrConfig)
	case c.Runs < 0 || c.Runs > MaxRuns:
		return fmt.Errorf("%w: %d runs (want 1 to %d)", ErrConfig, c.Runs, MaxRuns)
	case c.SmallFiles < 0 || c.SmallFiles > 1_000_000:
		return fmt.Errorf("%w: %d small files (want 0 to 1000000)", ErrConfig, c.SmallFiles)
	case c.WorkDir == "":
		return fmt.Errorf("%w: no work directory", ErrConfig)
	case c.Exe == "":
		return fmt.Errorf("%w: no nuage executable", ErrConfig)
	case c.SaveSession == nil:
		return fmt.Errorf("%w: no SaveSession", ErrConfig)
	}
	return nil
}

// runner carries one run's state.
type runner struct {
	cfg       Config
	res       *Results
	net       *cluster.Cluster
	configDir string
	input     string
	inputSum  [32]byte
	info      api.Info
}

func (r *runner) progress(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "bench: "+format+"\n", args...)
	}
}

// Run performs a whole benchmark. It returns the results measured so far
// with an error only when the run could not go on (the network did not
// start, the context ended); a single failed measurement is recorded in
// the results instead.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Arg0 == "" {
		cfg.Arg0 = "nuage"
	}
	if cfg.SmallFilesTimeout <= 0 {
		cfg.SmallFilesTimeout = DefaultSmallFilesTimeout
	}
	if cfg.StageBudget <= 0 {
		cfg.StageBudget = time.Second
	}
	if cfg.Runs == 0 {
		cfg.Runs = DefaultRuns
	}
	work, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	cfg.WorkDir = work
	start := time.Now()
	r := &runner{cfg: cfg, res: &Results{Schema: SchemaVersion, Started: start.UTC().Truncate(time.Second), Command: cfg.Command, Peers: []PeerResult{}}}
	r.res.Machine = machine(cfg.WorkDir, cfg.PeerTimerSlack)
	r.res.LoadStart = loadAverage()
	if busy := float64(r.res.Machine.Cores) / 2; r.res.LoadStart > busy {
		r.note("the machine was busy when the run started (load average %.1f on %d cores): every figure is depressed, compare ratios within this run only", r.res.LoadStart, r.res.Machine.Cores)
	}
	if fs := r.res.Machine.Filesystem; fs == "tmpfs" {
		r.note("the work directory is on tmpfs: fsync costs nothing there, so write figures are not those of a disk (use --dir)")
	}
	err = r.run(ctx)
	r.res.Seconds = time.Since(start).Seconds()
	r.res.LoadEnd = loadAverage() // includes the benchmark's own load
	return r.res, err
}

func (r *runner) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.res.Notes = append(r.res.Notes, msg)
	r.progress("note: %s", msg)
}

func machine(dir string, peerSlack time.Duration) Machine {
	slack := timerslack.Current()
	if peerSlack <= 0 {
		peerSlack = slack
	}
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version(), Filesystem: fsType(dir),
		TimerSlackNS: int64(slack), PeerTimerSlackNS: int64(peerSlack)}
	machineInfo(&m)
	return m
}

func (r *runner) run(ctx context.Context) error {
	cfg := r.cfg
	for _, d := range []string{"input", "network", "config", "out"} {
		if err := os.MkdirAll(filepath.Join(cfg.WorkDir, d), 0o700); err != nil {
			return err
		}
	}
	r.configDir = filepath.Join(cfg.WorkDir, "config")

	r.progress("writing a %s input file", formatBytes(cfg.Size))
	r.input = filepath.Join(cfg.WorkDir, "input", "large.bin")
	sum, err := writeRandomFile(r.input, cfg.Size, 42)
	if err != nil {
		return fmt.Errorf("write input: %w", err)
	}
	r.inputSum = sum

	if err := r.startNetwork(ctx); err != nil {
		return err
	}
	defer func() {
		if err := r.net.Close(); err != nil {
			r.progress("stopping the network: %v", err)
		}
	}()

	r.measureCeilings(ctx, 1)
	if err := ctx.Err(); err != nil {
		return err
	}

	if err := r.signup(ctx); err != nil {
		return err
	}
	steps := []func(context.Context) error{r.measureTransfers, r.measureLatency, r.measureSmallFiles}
	if cfg.Peers {
		steps = append(steps, r.measurePeers)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	r.measureCeilings(ctx, 2)
	return ctx.Err()
}

// measureCeilings measures the stage ceilings (pass 1 before the client
// measurements, pass 2 after them) and keeps the best of the passes.
func (r *runner) measureCeilings(ctx context.Context, pass int) {
	r.progress("measuring stage ceilings, pass %d of 2 (%d-of-%d, %s segments)", pass, r.info.Scheme.K, r.info.Scheme.N, formatBytes(r.info.SegmentSize))
	ceil, err := measureCeilings(ctx, stageSetup{
		K: r.info.Scheme.K, N: r.info.Scheme.N, SegmentSize: r.info.SegmentSize, Size: r.cfg.Size,
		Cores: r.res.Machine.Cores, Dir: r.cfg.WorkDir, Budget: r.cfg.StageBudget, Pass: pass,
	}, r.progress)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		ceil.Error = err.Error()
		r.note("stage ceilings, pass %d: %v", pass, err)
	}
	if pass > 1 {
		ceil = bestOf(r.res.Ceilings, ceil, r.info.Scheme.K, r.info.Scheme.N, r.res.Machine.Cores)
	}
	r.res.Ceilings = ceil
	r.progress("pipeline ceiling: put %.0f MB/s (%s-bound), get %.0f MB/s (%s-bound)", ceil.Put.MBps, ceil.Put.Bound, ceil.Get.MBps, ceil.Get.Bound)
}

// startNetwork runs the coordinator and nodes in this process.
func (r *runner) startNetwork(ctx context.Context) error {
	cfg := r.cfg
	r.progress("starting a coordinator and %d storage nodes on loopback", cfg.Nodes)
	// Each node may receive up to a whole copy of the file's pieces, and
	// the work directory is the limit anyway.
	capacity := max(int64(10)<<30, 4*cfg.Size)
	logger := slog.New(slog.DiscardHandler)
	if cfg.Progress != nil {
		logger = slog.New(slog.NewTextHandler(cfg.Progress, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	net, err := cluster.Start(sctx, cluster.Config{
		DataDir:      filepath.Join(cfg.WorkDir, "network"),
		Listen:       "127.0.0.1:0",
		Nodes:        cfg.Nodes,
		NodeCapacity: capacity,
		Scheme:       api.Scheme{K: cfg.K, N: cfg.N},
		Logger:       logger,
	})
	if err != nil {
		return fmt.Errorf("start the network: %w", err)
	}
	if err := net.WaitNodes(sctx, cfg.Nodes); err != nil {
		net.Close()
		return err
	}
	info, err := client.Info(sctx, net.URL, nil)
	if err != nil {
		net.Close()
		return err
	}
	if info.Scheme.N > cfg.Nodes {
		net.Close()
		return fmt.Errorf("%w: the %d-of-%d scheme needs at least %d nodes, have %d", ErrConfig, info.Scheme.K, info.Scheme.N, info.Scheme.N, cfg.Nodes)
	}
	r.net, r.info = net, info
	r.res.Setup = Setup{
		Size: cfg.Size, Nodes: cfg.Nodes, K: info.Scheme.K, N: info.Scheme.N, SegmentSize: info.SegmentSize,
		BlockSize: stream.BlockSize, SmallFiles: cfg.SmallFiles, SmallFileSize: SmallFileSize,
		RangeSize: min(RangeSize, cfg.Size), Peers: cfg.Peers, Runs: cfg.Runs,
	}
	return nil
}

// signup creates the benchmark's account in this process and saves the
// session where the client processes find it.
func (r *runner) signup(ctx context.Context) error {
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	c, err := client.Signup(ctx, r.net.URL, "bench@nuage.invalid", []byte(hex.EncodeToString(pw)), nil, nil)
	if err != nil {
		return fmt.Errorf("sign up: %w", err)
	}
	defer c.Close()
	return r.cfg.SaveSession(r.configDir, c.State())
}

// nuage returns a command running the nuage client with the run's session.
func (r *runner) nuage(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.cfg.Exe, args...)
	cmd.Args[0] = r.cfg.Arg0
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "NUAGE_CONFIG=") || strings.HasPrefix(kv, "NUAGE_PASSWORD=")
	})
	cmd.Env = append(env, "NUAGE_CONFIG="+r.configDir)
	return cmd
}

const remoteLarge = "/large.bin"

// remoteName is where run i (from 0) of the large-file put stores its
// copy: every run uploads a new object, so that no run waits for the
// deletion of an earlier one.
func remoteName(i int) string {
	if i == 0 {
		return remoteLarge
	}
	return fmt.Sprintf("/large-%d.bin", i+1)
}

// measureTransfers runs the large-file put and get cfg.Runs times,
// alternating (put 1, get 1, put 2 …), and keeps the median run of each.
// A failed put ends the runs.
func (r *runner) measureTransfers(ctx context.Context) error {
	var puts, gets []Transfer
	for i := range r.cfg.Runs {
		put, err := r.measurePut(ctx, i)
		if err != nil {
			return err
		}
		puts = append(puts, put)
		if !put.OK() {
			gets = append(gets, Transfer{Error: "skipped: the put failed"})
			break
		}
		get, err := r.measureGet(ctx, i)
		if err != nil {
			return err
		}
		gets = append(gets, get)
	}
	r.res.Nuage.Put, r.res.Nuage.Get = medianRun(puts, r.cfg.Runs), medianRun(gets, r.cfg.Runs)
	if r.cfg.Runs > 1 {
		r.progress("nuage median: put %s; get %s", describe(r.res.Nuage.Put), describe(r.res.Nuage.Get))
	}
	return nil
}

// runLabel names run i in progress lines, when there are several.
func (r *runner) runLabel(i int) string {
	if r.cfg.Runs < 2 {
		return ""
	}
	return fmt.Sprintf(" (run %d of %d)", i+1, r.cfg.Runs)
}

// measurePut runs put number i. A failed put is a figure with an error;
// only a cancelled context is an error.
func (r *runner) measurePut(ctx context.Context, i int) (Transfer, error) {
	r.progress("nuage put of %s%s", formatBytes(r.cfg.Size), r.runLabel(i))
	if err := warmFile(r.input); err != nil {
		return Transfer{}, fmt.Errorf("read input: %w", err)
	}
	p, err := runMeasured(ctx, r.nuage(ctx, "-q", "put", r.input, remoteName(i)), nil, 0)
	if err != nil {
		if ctx.Err() != nil {
			return Transfer{}, ctx.Err()
		}
		r.note("nuage put failed: %v", err)
		return Transfer{Error: err.Error()}, nil
	}
	t := p.transfer(r.cfg.Size)
	t.ServerCPUPerGiB = p.ParentCPU.Seconds() / float64(r.cfg.Size) * GiB
	r.progress("  %s", describe(t))
	return t, nil
}

// measureGet runs get number i, of the object put number i stored, and
// compares what it wrote with the input.
func (r *runner) measureGet(ctx context.Context, i int) (Transfer, error) {
	r.progress("nuage get of %s%s", formatBytes(r.cfg.Size), r.runLabel(i))
	out := filepath.Join(r.cfg.WorkDir, "out", "large.bin")
	defer os.Remove(out)
	p, err := runMeasured(ctx, r.nuage(ctx, "-q", "get", remoteName(i), out), nil, 0)
	if err != nil {
		if ctx.Err() != nil {
			return Transfer{}, ctx.Err()
		}
		r.note("nuage get failed: %v", err)
		return Transfer{Error: err.Error()}, nil
	}
	t := p.transfer(r.cfg.Size)
	t.ServerCPUPerGiB = p.ParentCPU.Seconds() / float64(r.cfg.Size) * GiB
	t.Verified, t.Error = r.verify(out)
	if t.Error != "" {
		r.note("nuage get%s: %s", r.runLabel(i), t.Error)
	}
	r.progress("  %s", describe(t))
	return t, nil
}

// verify compares a file with the input.
func (r *runner) verify(name string) (bool, string) {
	sum, err := hashFile(name)
	if err != nil {
		return false, fmt.Sprintf("verify output: %v", err)
	}
	if sum != r.inputSum {
		return false, "the output differs from the input"
	}
	return true, ""
}

// child runs one `nuage bench-client` request.
func (r *runner) child(ctx context.Context, req ChildRequest) (ChildResult, procResult, error) {
	in, err := jsonLine(req)
	if err != nil {
		return ChildResult{}, procResult{}, err
	}
	p, err := runMeasured(ctx, r.nuage(ctx, "bench-client"), in, 0)
	if err != nil {
		return ChildResult{}, p, err
	}
	res, err := ParseChildResult(p.Stdout)
	return res, p, err
}

func (r *runner) measureLatency(ctx context.Context) error {
	if !r.res.Nuage.Put.OK() {
		r.res.Nuage.FirstByte.Error = "skipped: the put failed"
		r.res.Nuage.Range.Error = r.res.Nuage.FirstByte.Error
		return nil
	}
	size := r.cfg.Size
	rng := r.res.Setup.RangeSize
	off := (size - rng) / 2
	r.progress("time to first byte: whole file, and %s from the middle (%d runs each)", formatBytes(rng), LatencyRuns)
	lat := func(req ChildRequest) Latency {
		l := Latency{Offset: req.Offset, Length: req.Length}
		if l.Length < 0 {
			l.Length = size - l.Offset
		}
		var first, total []float64
		for range LatencyRuns {
			res, _, err := r.child(ctx, req)
			if err != nil {
				l.Error = err.Error()
				return l
			}
			want := l.Length
			if req.StopAtFirstByte {
				want = min(want, res.Bytes)
			}
			if res.Bytes != want {
				l.Error = fmt.Sprintf("read %d bytes, want %d", res.Bytes, want)
				return l
			}
			first = append(first, res.FirstByteSeconds)
			total = append(total, res.Seconds)
		}
		l.Runs = len(first)
		l.FirstByteSeconds = median(first)
		if !req.StopAtFirstByte {
			l.TotalSeconds = median(total)
		}
		return l
	}
	r.res.Nuage.FirstByte = lat(ChildRequest{Op: ChildFirstByte, Path: remoteLarge, Length: -1, StopAtFirstByte: true})
	r.res.Nuage.Range = lat(ChildRequest{Op: ChildFirstByte, Path: remoteLarge, Offset: off, Length: rng})
	for _, l := range []Latency{r.res.Nuage.FirstByte, r.res.Nuage.Range} {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if l.Error != "" {
			r.note("latency: %s", l.Error)
		}
	}
	r.progress("  first byte %s; range: first byte %s, last %s",
		formatSeconds(r.res.Nuage.FirstByte.FirstByteSeconds), formatSeconds(r.res.Nuage.Range.FirstByteSeconds), formatSeconds(r.res.Nuage.Range.TotalSeconds))
	return nil
}

const remoteSmall = "/small"

func (r *runner) measureSmallFiles(ctx context.Context) error {
	n := r.cfg.SmallFiles
	if n == 0 {
		return nil
	}
	dir := filepath.Join(r.cfg.WorkDir, "input", "small")
	folders, err := writeSmallFiles(dir, n, SmallFileSize, FilesPerFolder)
	if err != nil {
		return fmt.Errorf("write small files: %w", err)
	}
	if int64(SmallFileSize) <= r.info.InlineMax {
		r.progress("note: %d-byte files are stored inline in their metadata; no storage node is involved", SmallFileSize)
	}
	r.progress("nuage put -r of %d files of %s in %d folders", n, formatBytes(SmallFileSize), folders)
	pctx, cancel := context.WithTimeout(ctx, r.cfg.SmallFilesTimeout)
	p, err := runMeasured(pctx, r.nuage(pctx, "-q", "put", "-r", dir, remoteSmall), nil, 0)
	cancel()
	put := FileRate{Files: n, Folders: folders}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		put.Error = err.Error()
		if pctx.Err() != nil {
			put.Error = fmt.Sprintf("did not finish within %s; rerun with a smaller --small-files", r.cfg.SmallFilesTimeout)
		}
		r.res.Nuage.SmallPut = put
		r.note("small files: %s", put.Error)
		return nil
	}
	put.Seconds, put.PeakRSS = p.Seconds(), p.PeakRSS
	put.FilesPerSecond = float64(n) / put.Seconds
	r.res.Nuage.SmallPut = put
	r.progress("  %.0f files/s", put.FilesPerSecond)

	r.progress("recursive listing of %d files", n)
	res, lp, err := r.child(ctx, ChildRequest{Op: ChildList, Path: remoteSmall})
	list := FileRate{Files: n, Folders: folders}
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		list.Error = err.Error()
	case res.Files != n || res.Folders != folders:
		list.Error = fmt.Sprintf("listed %d files in %d folders, stored %d in %d", res.Files, res.Folders, n, folders)
	default:
		list.Seconds, list.PeakRSS = lp.Seconds(), lp.PeakRSS
		list.FilesPerSecond = float64(n) / list.Seconds
		r.progress("  %.0f files/s", list.FilesPerSecond)
	}
	if list.Error != "" {
		r.note("small files listing: %s", list.Error)
	}
	r.res.Nuage.SmallList = list
	return nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func describe(t Transfer) string {
	if t.Error != "" {
		return "failed: " + t.Error
	}
	return fmt.Sprintf("%.1f MB/s, %.2f CPU s/GiB, peak RSS %s", t.MBps, t.CPUPerGiB, formatBytes(t.PeakRSS))
}
