package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain doubles as a helper child process: with BENCH_TEST_HELPER set,
// the test binary touches that many MiB of memory, holds it briefly,
// writes a line, and exits with BENCH_TEST_EXIT.
func TestMain(m *testing.M) {
	if mib := os.Getenv("BENCH_TEST_HELPER"); mib != "" {
		n, _ := strconv.Atoi(mib)
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		time.Sleep(50 * time.Millisecond) // long enough to be sampled
		runtime.KeepAlive(b)
		fmt.Println("helper done")
		fmt.Fprintln(os.Stderr, "helper stderr line")
		code, _ := strconv.Atoi(os.Getenv("BENCH_TEST_EXIT"))
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func helper(t *testing.T, ctx context.Context, mib, exit int) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "BENCH_TEST_HELPER="+strconv.Itoa(mib), "BENCH_TEST_EXIT="+strconv.Itoa(exit))
	return cmd
}

// ballast raises this process's peak RSS, as the network does in a real run.
var ballast []byte

func TestRunMeasured(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peak memory is measured on Linux only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Make this process's peak larger than the child's: Linux then
	// reports at least our peak as the child's ru_maxrss, and the
	// sampled VmHWM must be used instead.
	ballast = make([]byte, 256<<20)
	for i := 0; i < len(ballast); i += 4096 {
		ballast[i] = 1
	}
	defer func() { ballast = nil }()
	p, err := runMeasured(ctx, helper(t, ctx, 64, 0), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.PeakRSS < 64<<20 || p.PeakRSS > 200<<20 {
		t.Errorf("peak RSS %d MiB, want the child's own (64 MiB and a little)", p.PeakRSS>>20)
	}
	if p.Wall < 50*time.Millisecond || p.CPU <= 0 || strings.TrimSpace(string(p.Stdout)) != "helper done" {
		t.Errorf("wall %v cpu %v stdout %q", p.Wall, p.CPU, p.Stdout)
	}
	runtime.KeepAlive(ballast)
	if tr := p.transfer(1 << 30); tr.MBps <= 0 || tr.Seconds != p.Seconds() || tr.PeakRSS != p.PeakRSS {
		t.Errorf("transfer %+v", tr)
	}
}

func TestRunMeasuredFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := runMeasured(ctx, helper(t, ctx, 1, 3), nil, 0)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "helper stderr line") {
		t.Fatalf("err = %v, want the exit status and the child's stderr", err)
	}
	_, err = runMeasured(ctx, exec.CommandContext(ctx, filepath.Join(t.TempDir(), "missing")), nil, 0)
	if err == nil {
		t.Fatal("starting a missing program succeeded")
	}
}

func TestPeakRSSChoice(t *testing.T) {
	for _, tc := range []struct{ maxrss, inherited, sampled, want int64 }{
		{maxrss: 100 << 20, inherited: 50 << 20, sampled: 90 << 20, want: 100 << 20}, // the child's own peak
		{maxrss: 200 << 20, inherited: 200 << 20, sampled: 30 << 20, want: 30 << 20}, // our peak, folded in at exec
		{maxrss: 215 << 20, inherited: 200 << 20, sampled: 30 << 20, want: 30 << 20}, // ours, read before /proc caught up
		{maxrss: 0, inherited: 0, sampled: 0, want: 0},                               // unknown
	} {
		if got := peakRSS(tc.maxrss, tc.inherited, tc.sampled); got != tc.want {
			t.Errorf("peakRSS(%d, %d, %d) = %d, want %d", tc.maxrss, tc.inherited, tc.sampled, got, tc.want)
		}
	}
}

func TestBuffers(t *testing.T) {
	h := &headBuffer{max: 5}
	h.Write([]byte("abc"))
	h.Write([]byte("defgh"))
	if string(h.Bytes()) != "abcde" {
		t.Errorf("head = %q", h.Bytes())
	}
	tb := &tailBuffer{max: 5}
	tb.Write([]byte("abc"))
	tb.Write([]byte("defg"))
	if tb.String() != "cdefg" {
		t.Errorf("tail = %q", tb.String())
	}
	tb.Write([]byte("0123456789"))
	if tb.String() != "56789" {
		t.Errorf("tail = %q", tb.String())
	}
}

func TestCommandLine(t *testing.T) {
	cmd := exec.Command("/bin/echo", "a b", "it's", "", "plain")
	if got, want := commandLine(cmd), `/bin/echo 'a b' 'it'\''s' '' plain`; got != want {
		t.Errorf("commandLine = %s, want %s", got, want)
	}
}
