package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/nuage-storage/nuage/internal/timerslack"
)

// procResult is what one measured child process cost.
type procResult struct {
	// Wall is from start to exit; Sync the sync(2) right after it.
	Wall, Sync time.Duration
	// CPU is the child's user+system time; PeakRSS its peak resident
	// memory in bytes (0: unknown).
	CPU     time.Duration
	PeakRSS int64
	// ParentCPU is the CPU this process (the in-process network) used
	// while the child ran.
	ParentCPU time.Duration
	Stdout    []byte
}

// Seconds is the figure every transfer reports: process wall time plus
// the sync after it.
func (p procResult) Seconds() float64 { return (p.Wall + p.Sync).Seconds() }

// transfer turns a measured process that moved size bytes into a Transfer.
func (p procResult) transfer(size int64) Transfer {
	t := Transfer{Bytes: size, Seconds: p.Seconds(), CPUSeconds: p.CPU.Seconds(), PeakRSS: p.PeakRSS}
	if t.Seconds > 0 {
		t.MBps = float64(size) / t.Seconds / MB
	}
	if size > 0 {
		t.CPUPerGiB = t.CPUSeconds / float64(size) * GiB
	}
	return t
}

const (
	maxStdout = 1 << 20
	maxStderr = 8 << 10
)

// runMeasured runs cmd to completion with stdin as its input and measures
// it. Dirty pages are flushed before the clock starts, and the sync after
// the process exits is timed separately. A non-zero exit is an error that
// quotes the end of the child's standard error. The child runs with a
// timer slack of slack, or this process's if slack is 0.
func runMeasured(ctx context.Context, cmd *exec.Cmd, stdin []byte, slack time.Duration) (procResult, error) {
	var res procResult
	stdout := &headBuffer{max: maxStdout}
	stderr := &tailBuffer{max: maxStderr}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	syncAll()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	p0 := selfCPU()
	t0 := time.Now()
	if err := timerslack.Start(cmd, slack); err != nil {
		return res, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	// Start returns once the child has exec'd, so this bounds the part
	// of ru_maxrss that is this process's memory, not the child's.
	inherited := selfPeakRSS()
	watch := watchPeak(cmd.Process.Pid)
	err := cmd.Wait()
	res.Wall = time.Since(t0)
	sampled := watch.stop()
	t1 := time.Now()
	syncAll()
	res.Sync = time.Since(t1)
	res.ParentCPU = selfCPU() - p0
	if ps := cmd.ProcessState; ps != nil {
		res.CPU = ps.UserTime() + ps.SystemTime()
		res.PeakRSS = peakRSS(childMaxRSS(ps), inherited, sampled)
	}
	res.Stdout = stdout.Bytes()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return res, fmt.Errorf("%s: %w", commandLine(cmd), ctxErr)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(string(truncate(res.Stdout, 2048)))
		}
		return res, fmt.Errorf("%s: %w: %s", commandLine(cmd), err, msg)
	}
	return res, nil
}

// peakRSS picks a child's peak resident memory: ru_maxrss when it clearly
// exceeds what the child inherited from this process at exec (then it is
// the child's own peak, exactly), otherwise the highest VmHWM sampled while
// it ran. "Clearly": Linux syncs a thread's RSS counters into VmHWM lazily,
// so the inherited figure read from /proc can lag the one the kernel gave
// the child by a few MiB.
func peakRSS(maxrss, inherited, sampled int64) int64 {
	if maxrss > inherited+inheritSlack {
		return maxrss
	}
	return sampled
}

// inheritSlack bounds how far /proc's VmHWM may lag the kernel's figure.
const inheritSlack = 32 << 20

// commandLine shows cmd as a shell line, for messages and results.
func commandLine(cmd *exec.Cmd) string {
	args := append([]string{}, cmd.Args...)
	if len(args) > 0 {
		args[0] = cmd.Path
	}
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\") {
			args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(args, " ")
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// headBuffer keeps the first max bytes written to it and discards the rest.
type headBuffer struct {
	max int
	buf bytes.Buffer
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (h *headBuffer) Bytes() []byte { return h.buf.Bytes() }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

var (
	_ io.Writer = (*headBuffer)(nil)
	_ io.Writer = (*tailBuffer)(nil)
)
