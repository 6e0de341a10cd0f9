//go:build !linux

package timerslack

import (
	"os/exec"
	"time"
)

// Apply does nothing outside Linux.
func Apply(want time.Duration) error { return nil }

// Current returns 0: the system has no timer slack to read.
func Current() time.Duration { return 0 }

// Started returns 0: the system has no timer slack to read.
func Started() time.Duration { return 0 }

// Start starts cmd.
func Start(cmd *exec.Cmd, d time.Duration) error { return cmd.Start() }
