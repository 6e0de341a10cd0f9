package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/bench"
	"github.com/nuage-storage/nuage/internal/timerslack"
)

func (a *app) benchCommand() *cobra.Command {
	var (
		size                 sizeFlag
		nodes, k, n, small   int
		runs                 int
		out, dir             string
		peers, keep          bool
		stageTime, smallTime time.Duration
	)
	size = 1 << 30
	cmd := &cobra.Command{
		Use:     "bench",
		GroupID: "run",
		Short:   "Measure nuage on this machine against its ceilings and peer tools",
		Long: `Start a real network on this machine (a coordinator and --nodes storage
nodes on loopback, TLS, real disk under a temporary directory) and measure,
in one run:

  - put and get of one --size file, --runs times alternating (the median
    run is reported): MB/s, client CPU seconds per GiB, client peak memory;
  - time to first byte of a download and of a 1 MiB range read;
  - a recursive put and listing of --small-files files of 4 KiB;
  - the ceiling of each stage on this machine (AES-256-GCM, Reed-Solomon,
    BLAKE3, TLS over loopback, write+fsync) and the pipeline ceiling they imply;
  - the same file with rclone (crypt remote), restic and age, if installed
    (` + bench.InstallPeers + `), --runs times each.

The client runs in separate processes of this binary, so its CPU and
memory figures are its own. Progress goes to standard error, the Markdown
table to standard output, and bench.md, bench.json and bench.svg to --out.
The work directory needs about 4 + 1.5 × --runs times --size of free space.`,
		Example: `  nuage bench
  nuage bench --size 256MiB --small-files 1000 --peers=false --out /tmp/bench`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runs < 1 || runs > bench.MaxRuns {
				return usagef("--runs %d: want 1 to %d (the median run is reported; 3 is the default)", runs, bench.MaxRuns)
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("work directory: %w", err)
			}
			work, err := os.MkdirTemp(dir, "nuage-bench-")
			if err != nil {
				return fmt.Errorf("work directory: %w", err)
			}
			defer func() {
				if keep {
					a.infof("kept the work directory %s\n", work)
					return
				}
				if err := os.RemoveAll(work); err != nil {
					a.infof("could not remove %s: %v\n", work, err)
				}
			}()
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the nuage executable to run clients with: %w", err)
			}
			var progress io.Writer
			if !a.quiet {
				progress = a.stderr
			}
			res, err := bench.Run(cmd.Context(), bench.Config{
				Size: int64(size), Nodes: nodes, K: k, N: n, Runs: runs,
				SmallFiles: small, SmallFilesTimeout: smallTime,
				Peers: peers, WorkDir: work, Exe: exe, Command: benchCommandLine(cmd),
				StageBudget: stageTime, Progress: progress,
				// Peers run as the user's shell would run them, not with the
				// timer slack nuage gives itself.
				PeerTimerSlack: timerslack.Started(),
				SaveSession: func(dir string, st client.State) error {
					return (&app{configDir: dir}).saveState(st)
				},
			})
			if err != nil {
				if errors.Is(err, bench.ErrConfig) {
					return usageError{err}
				}
				return err
			}
			return a.writeBench(res, out)
		},
	}
	f := cmd.Flags()
	f.Var(&size, "size", "size of the large file")
	f.IntVar(&nodes, "nodes", 6, "storage nodes to run")
	f.IntVar(&k, "k", 0, "pieces needed to rebuild a segment (default: the coordinator's, 4)")
	f.IntVar(&n, "n", 0, "pieces stored per segment (default: the coordinator's, 6)")
	f.IntVar(&runs, "runs", bench.DefaultRuns, "how many times each large-file transfer runs, nuage's and each peer's (the median run is reported)")
	f.IntVar(&small, "small-files", bench.DefaultSmallFiles, "how many 4 KiB files to put and list recursively (0 skips)")
	f.BoolVar(&peers, "peers", true, "also measure rclone, restic and age where installed")
	f.StringVar(&out, "out", "bench-out", "directory for bench.md, bench.json and bench.svg")
	f.StringVar(&dir, "dir", os.TempDir(), "where to create the temporary work directory (use a real disk, not tmpfs)")
	f.BoolVar(&keep, "keep", false, "keep the work directory (network data, inputs) after the run")
	f.DurationVar(&stageTime, "stage-time", time.Second, "how long each CPU stage ceiling is measured")
	f.DurationVar(&smallTime, "small-files-timeout", bench.DefaultSmallFilesTimeout, "give up the recursive put of small files after this long")
	_ = f.MarkHidden("stage-time")
	return cmd
}

// writeBench writes the three result files to dir and the Markdown to stdout.
func (a *app) writeBench(res *bench.Results, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	var md, svg bytes.Buffer
	if err := bench.WriteMarkdown(&md, res); err != nil {
		return err
	}
	if err := bench.WriteSVG(&svg, res); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"bench.md": md.Bytes(), "bench.svg": svg.Bytes(), "bench.json": append(js, '\n')} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
	}
	if _, err := a.stdout.Write(md.Bytes()); err != nil {
		return err
	}
	a.infof("wrote %s, %s and %s\n", filepath.Join(dir, "bench.md"), filepath.Join(dir, "bench.json"), filepath.Join(dir, "bench.svg"))
	return nil
}

// benchCommandLine reconstructs the command line from the flags set.
func benchCommandLine(cmd *cobra.Command) string {
	parts := []string{cmd.CommandPath()}
	for _, name := range []string{"size", "nodes", "k", "n", "small-files", "peers", "out", "dir", "keep", "stage-time", "small-files-timeout"} {
		f := cmd.Flags().Lookup(name)
		if f == nil || !f.Changed {
			continue
		}
		v := f.Value.String()
		if s, ok := f.Value.(*sizeFlag); ok {
			v = sizeArg(int64(*s))
		}
		parts = append(parts, "--"+name+"="+v)
	}
	return strings.Join(parts, " ")
}

// sizeArg writes a byte count the way a person types it ("1GiB").
func sizeArg(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.name)
		}
	}
	return fmt.Sprint(n)
}

// benchClientCommand is the hidden client side of `nuage bench`: it
// resumes the saved session, runs the one measurement described by the
// JSON request on standard input, and prints the result as JSON.
func (a *app) benchClientCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-client",
		Short:  "Client side of nuage bench (reads a JSON request on stdin)",
		Hidden: true,
		Args:   exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Measured as the file commands run: same memory limit.
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(clientMemoryLimit)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			return bench.ServeChild(cmd.Context(), c, a.stdin, a.stdout)
		},
	}
}
