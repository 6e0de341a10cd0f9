//go:build !linux

package bench

import (
	"os"
	"time"
)

// The benchmark is built for Linux, where /proc and getrusage(2) give the
// figures it reports. Elsewhere it still runs, but reports the process
// CPU of the benchmarking process, peak memory, the file system type and
// the machine details as unknown (zero), and does not sync.

func selfCPU() time.Duration                { return 0 }
func childMaxRSS(ps *os.ProcessState) int64 { return 0 }
func selfPeakRSS() int64                    { return 0 }

type peakWatcher struct{}

func watchPeak(pid int) *peakWatcher { return nil }
func (w *peakWatcher) stop() int64   { return 0 }
func syncAll()                       {}
func fsType(dir string) string       { return "" }
func machineInfo(m *Machine)         {}

func loadAverage() float64 { return 0 }
