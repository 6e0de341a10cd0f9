// Package timerslack gives nuage's processes a timer slack of a
// millisecond, so that the Go runtime's monitor thread does not wake up
// every 20 µs while a transfer runs.
//
// Linux may fire a thread's timed sleeps up to its timer slack late, to
// batch wake-ups; the default is 50 µs. Go's runtime runs a monitor thread
// (sysmon) that, after each time it takes a processor back from a system
// call longer than 20 µs, sleeps only 20 µs between rounds for at least 50
// rounds (golang/go#18236: the period is hard-coded). A storage node
// syncing pieces, and a client writing to many sockets, make such calls
// all the time: in a 1 GiB put the monitors of the two processes woke
// about 17,000 times, nearly half of all the context switches, at several
// microseconds each on a virtual machine. With a slack of 1 ms the kernel
// folds most of those wake-ups into others, and the same put used about a
// tenth less CPU (docs/benchmarks.md, change 22). Wake-ups that come from
// I/O are not timers and are not delayed; Go's own timers are already
// rounded to the millisecond by its network poller.
//
// A thread can change only its own slack (another thread's needs
// CAP_SYS_NICE), and the runtime starts its monitor before any of the
// program's code runs. A thread inherits the slack of the thread that
// creates it, and the slack survives execve. So Apply sets the slack of
// the calling thread and executes the program again, in the same process,
// with the same arguments and environment: every thread of the new image
// then has it. Outside Linux, Apply does nothing.
package timerslack

import (
	"fmt"
	"strings"
	"time"
)

const (
	// Env names the environment variable that sets the slack: a
	// duration such as 1ms or 200us, or "off" to keep the slack the
	// process inherited.
	Env = "NUAGE_TIMER_SLACK"
	// Default is the slack nuage gives itself when Env is not set.
	Default = time.Millisecond
	// Max bounds the slack Env may ask for: timers that fire a second
	// late would make timeouts and progress displays misbehave.
	Max = time.Second
	// KernelDefault is the slack Linux gives a process unless told
	// otherwise (that of init, inherited by every process).
	KernelDefault = 50 * time.Microsecond
)

// Hint says what Env takes, for an error from Parse.
const Hint = "set " + Env + " to a duration such as 1ms or 200us, or to off"

// Parse reads a value of Env. The empty string gives Default; "off" and
// "0" give 0, which Apply takes as "leave the slack alone".
func Parse(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return Default, nil
	case "off", "0":
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > Max {
		return 0, fmt.Errorf("%s=%q is not a timer slack from 1µs to %v", Env, s, Max)
	}
	return d, nil
}
