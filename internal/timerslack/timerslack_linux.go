package timerslack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fromEnv carries across the re-execution the slack the process started
// with and its name (comm), as "SLACK_NS/NAME": executing /proc/self/exe
// names the process "exe", and the new image gives its threads their name
// back. Its presence also tells the new image not to execute itself
// again, whatever its slack; Apply removes it from the environment, so
// that the program's children never see it.
const fromEnv = "NUAGE_TIMER_SLACK_FROM"

// exe is what Apply executes: the running program's own file, even if it
// has been replaced or deleted since it started.
var exe = "/proc/self/exe"

// started is the slack the process had when it started, before Apply
// raised it; -1 until Apply has run.
var started time.Duration = -1

// get returns the calling thread's timer slack.
func get() (time.Duration, error) {
	r, _, errno := unix.Syscall(unix.SYS_PRCTL, unix.PR_GET_TIMERSLACK, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return time.Duration(r), nil
}

// set sets the calling thread's timer slack.
func set(d time.Duration) error {
	return unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d), 0, 0, 0)
}

// Apply makes every thread of the process run with a timer slack of at
// least want, executing the program again if it must (see the package
// documentation); then it does not return. It returns nil, and the
// program goes on with the slack it has, when want is 0, when the process
// already has that slack or more, when it was already executed again, and
// when the system cannot give it (no /proc, or a real-time scheduling
// policy, under which Linux keeps the slack at 0). It returns an error
// only when the execution itself failed; the process is then unchanged.
//
// Call it first thing in main, before the program starts goroutines or
// reads its input: the new image starts from scratch.
func Apply(want time.Duration) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cur, err := get()
	if err != nil {
		return nil
	}
	if v, ok := os.LookupEnv(fromEnv); ok {
		os.Unsetenv(fromEnv)
		started = cur
		v, name, _ := strings.Cut(v, "/")
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil && ns >= 0 {
			started = time.Duration(ns)
		}
		if name != "" {
			rename(name)
		}
		return nil
	}
	started = cur
	if want <= 0 || cur >= want {
		return nil
	}
	if err := set(want); err != nil {
		return nil
	}
	if now, err := get(); err != nil || now < want {
		_ = set(cur)
		return nil
	}
	name, err := os.ReadFile("/proc/thread-self/comm")
	if err != nil {
		name = nil // the new image keeps the name "exe"
	}
	env := append(os.Environ(), fromEnv+"="+strconv.FormatInt(int64(cur), 10)+"/"+strings.TrimSuffix(string(name), "\n"))
	err = syscall.Exec(exe, os.Args, env)
	_ = set(cur)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("timer slack: execute %s again: %w (set %s=off to skip this)", exe, err, Env)
}

// rename gives every thread of the process the name name (what ps and
// top show), the calling thread first: threads inherit the name of the
// thread that creates them. It is cosmetic, and errors are ignored.
func rename(name string) {
	_ = os.WriteFile("/proc/thread-self/comm", []byte(name), 0)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		_ = os.WriteFile("/proc/self/task/"+t.Name()+"/comm", []byte(name), 0)
	}
}

// Current returns the calling thread's timer slack, or 0 if the system
// does not say.
func Current() time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d, err := get()
	if err != nil {
		return 0
	}
	return d
}

// Started returns the timer slack the process had when it started,
// before Apply raised it: that of the shell or service manager that ran
// it. Before Apply has run, it returns the current slack.
func Started() time.Duration {
	if started >= 0 {
		return started
	}
	return Current()
}

// Start starts cmd with a timer slack of d, rather than the slack of this
// process (which its children otherwise inherit), so that another
// program can run as it would from a shell. A d of 0 starts cmd with this
// process's slack.
func Start(cmd *exec.Cmd, d time.Duration) error {
	if d <= 0 {
		return cmd.Start()
	}
	// The child inherits the slack of the thread that forks it, which
	// os/exec does on the calling goroutine's thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cur, err := get()
	if err != nil || cur == d {
		return cmd.Start()
	}
	if err := set(d); err != nil {
		return cmd.Start()
	}
	defer func() { _ = set(cur) }()
	return cmd.Start()
}
