//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// selfCPU returns the user+system CPU time this process (all threads) has
// used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childMaxRSS returns ru_maxrss of an exited child, in bytes (Linux
// counts it in KiB), or 0 if unknown.
//
// Beware: Linux folds the high-water mark of the memory the child had
// before exec into it, and os/exec starts children with
// clone(CLONE_VM|CLONE_VFORK), so before exec the child runs in this
// process's memory: ru_maxrss is at least this process's own peak at the
// time. peakWatcher tells the two apart.
func childMaxRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// selfPeakRSS returns this process's peak resident set size (VmHWM), in bytes.
func selfPeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return parseVmHWM(b)
}

// parseVmHWM extracts "VmHWM: N kB" from /proc/PID/status, in bytes.
func parseVmHWM(status []byte) int64 {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0
		}
		kib, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kib < 0 {
			return 0
		}
		return kib * 1024
	}
	return 0
}

// peakWatcher samples a running child's own peak resident memory (VmHWM,
// which exec resets) every few milliseconds.
type peakWatcher struct {
	dir      int // open /proc/PID: reads fail once that process is gone, even if the PID is reused
	peak     int64
	done     chan struct{}
	finished chan struct{}
}

// rssPollInterval is how often a child's VmHWM is sampled. Only growth
// in the last interval before the child exits can be missed.
const rssPollInterval = 5 * time.Millisecond

// watchPeak starts sampling the child pid; it must be called before the
// child is waited for. It returns nil if /proc is unavailable.
func watchPeak(pid int) *peakWatcher {
	fd, err := syscall.Open("/proc/"+strconv.Itoa(pid), syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	w := &peakWatcher{dir: fd, done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(w.finished)
		t := time.NewTicker(rssPollInterval)
		defer t.Stop()
		buf := make([]byte, 8192)
		for {
			if v := w.sample(buf); v > w.peak {
				w.peak = v
			}
			select {
			case <-w.done:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *peakWatcher) sample(buf []byte) int64 {
	fd, err := syscall.Openat(w.dir, "status", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer syscall.Close(fd)
	n, err := syscall.Read(fd, buf)
	if err != nil || n <= 0 {
		return 0
	}
	return parseVmHWM(buf[:n])
}

// stop ends the sampling and returns the highest VmHWM seen.
func (w *peakWatcher) stop() int64 {
	if w == nil {
		return 0
	}
	close(w.done)
	<-w.finished
	syscall.Close(w.dir)
	return w.peak
}

// syncAll is sync(2): it flushes every dirty page of every file system.
func syncAll() { syscall.Sync() }

// Magic numbers of statfs(2)'s f_type for the file systems a benchmark
// directory is likely to live on.
var fsMagic = map[int64]string{
	0xEF53:     "ext4",
	0x58465342: "xfs",
	0x9123683E: "btrfs",
	0x01021994: "tmpfs",
	0x794C7630: "overlay",
	0x2FC12FC1: "zfs",
	0x6969:     "nfs",
	0xF2F52010: "f2fs",
	0x65735546: "fuse",
}

// fsType names the file system holding dir ("" if unknown).
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return ""
	}
	if name, ok := fsMagic[int64(st.Type)]; ok {
		return name
	}
	return "0x" + strconv.FormatInt(int64(st.Type), 16)
}

// machineInfo fills what /proc tells about the CPU, memory and kernel.
func machineInfo(m *Machine) {
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.Join(strings.Fields(v), " ")
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && f[0] == "MemTotal:" {
				if kib, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					m.MemoryBytes = kib * 1024
				}
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
}

// loadAverage returns the 1-minute load average (0 if unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return v
}
