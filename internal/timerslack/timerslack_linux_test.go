package timerslack

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// In helper mode the test binary stands for a program that calls Apply
// first thing: it notes each time it starts in a log file, applies the
// slack, and reports what its threads have.
const (
	helperWant = "TIMERSLACK_HELPER_WANT"
	helperLog  = "TIMERSLACK_HELPER_LOG"
)

type report struct {
	Threads []int64  // the slack of every thread, in ns
	Names   []string // the name (comm) of every thread
	Started int64    // Started(), in ns
	FromEnv bool     // fromEnv still in the environment
	Args    []string // os.Args
}

func TestMain(m *testing.M) {
	if w, ok := os.LookupEnv(helperWant); ok {
		os.Exit(helper(w))
	}
	os.Exit(m.Run())
}

func helper(w string) int {
	f, err := os.OpenFile(os.Getenv(helperLog), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(f, "start")
	f.Close()
	want, err := time.ParseDuration(w)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := Apply(want); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var r report
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, t := range tasks {
		// Linux lists timerslack_ns under /proc/TID, not under task/TID.
		b, err := os.ReadFile(filepath.Join("/proc", t.Name(), "timerslack_ns"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		r.Threads = append(r.Threads, ns)
		name, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "comm"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		r.Names = append(r.Names, strings.TrimSpace(string(name)))
	}
	r.Started = int64(Started())
	_, r.FromEnv = os.LookupEnv(fromEnv)
	r.Args = os.Args
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 1
	}
	return 0
}

// runHelper runs the helper, started with slack start, asking Apply for
// want; it returns the helper's report and how many times it started.
func runHelper(t *testing.T, start, want time.Duration) (report, int) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(log, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "extra argument")
	cmd.Env = append(os.Environ(), helperWant+"="+want.String(), helperLog+"="+log)
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := Start(cmd, start); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v: %s", err, stderr.String())
	}
	var r report
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatalf("helper's report %q: %v", out.String(), err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Threads) < 2 {
		t.Fatalf("helper reported %d threads; the runtime's monitor alone makes two", len(r.Threads))
	}
	if !slices.Equal(r.Args[1:], []string{"-test.run=^$", "extra argument"}) {
		t.Errorf("helper's arguments %q, want those it was started with", r.Args)
	}
	if r.FromEnv {
		t.Errorf("%s left in the environment", fromEnv)
	}
	// Linux names a process after the file it executes, cut to 15 bytes.
	name := filepath.Base(os.Args[0])
	if len(name) > 15 {
		name = name[:15]
	}
	for i, n := range r.Names {
		if n != name {
			t.Errorf("thread %d is named %q, want %q like the process it was started as", i, n, name)
		}
	}
	return r, strings.Count(string(b), "start")
}

func TestApplyExecutesAgainWithTheSlack(t *testing.T) {
	r, starts := runHelper(t, KernelDefault, time.Millisecond)
	if starts != 2 {
		t.Errorf("helper started %d times, want 2 (executed once more)", starts)
	}
	for i, ns := range r.Threads {
		if ns != int64(time.Millisecond) {
			t.Errorf("thread %d has a slack of %d ns, want %d", i, ns, time.Millisecond)
		}
	}
	if r.Started != int64(KernelDefault) {
		t.Errorf("Started() = %d ns, want the %d the process started with", r.Started, KernelDefault)
	}
}

func TestApplyKeepsALargerSlack(t *testing.T) {
	r, starts := runHelper(t, 3*time.Millisecond, time.Millisecond)
	if starts != 1 {
		t.Errorf("helper started %d times, want 1", starts)
	}
	for i, ns := range r.Threads {
		if ns != int64(3*time.Millisecond) {
			t.Errorf("thread %d has a slack of %d ns, want the %d it inherited", i, ns, 3*time.Millisecond)
		}
	}
	if r.Started != int64(3*time.Millisecond) {
		t.Errorf("Started() = %d ns, want %d", r.Started, 3*time.Millisecond)
	}
}

func TestApplyOff(t *testing.T) {
	r, starts := runHelper(t, KernelDefault, 0)
	if starts != 1 {
		t.Errorf("helper started %d times, want 1", starts)
	}
	for i, ns := range r.Threads {
		if ns != int64(KernelDefault) {
			t.Errorf("thread %d has a slack of %d ns, want the %d it inherited", i, ns, KernelDefault)
		}
	}
}

func TestStartGivesTheChildItsSlack(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := Current()
	for _, d := range []time.Duration{123 * time.Microsecond, 0} {
		cmd := exec.Command("cat", "/proc/self/timerslack_ns")
		var out strings.Builder
		cmd.Stdout = &out
		if err := Start(cmd, d); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		want := d
		if d == 0 {
			want = before
		}
		if got := strings.TrimSpace(out.String()); got != strconv.FormatInt(int64(want), 10) {
			t.Errorf("Start(cmd, %v): the child has a slack of %s ns, want %d", d, got, want)
		}
		if now := Current(); now != before {
			t.Errorf("Start(cmd, %v) left this thread with a slack of %v, had %v", d, now, before)
		}
	}
}

// TestApplyCannotExecute covers a failed execution: no /proc leaves the
// process as it was without a word, any other failure is reported; in
// both, the thread gets its slack back.
func TestApplyCannotExecute(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(notExec, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := exe
	t.Cleanup(func() { exe = old })
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := Current()
	for _, c := range []struct {
		exe     string
		wantErr bool
	}{
		{filepath.Join(t.TempDir(), "missing"), false},
		{notExec, true},
	} {
		exe = c.exe
		err := Apply(before + time.Microsecond)
		if (err != nil) != c.wantErr {
			t.Errorf("Apply with %s: error %v, want error: %v", c.exe, err, c.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), Env+"=off") {
			t.Errorf("Apply's error %q gives no hint", err)
		}
		if now := Current(); now != before {
			t.Errorf("Apply with %s left the thread with a slack of %v, had %v", c.exe, now, before)
		}
	}
}
