// Package pagecache keeps bulk transfers from filling the operating
// system's page cache.
//
// A storage node writes pieces it will rarely read again, and a download
// writes a file the user may never read back at once: left in the page
// cache, these bytes push out the cache of everything else the machine
// runs (a volunteer's node runs on their own computer), and every byte
// needs a fresh page. On virtual machines that hand freed memory back to
// their host (virtio-balloon free page reporting), touching a fresh page
// costs a host page fault: about 2 CPU seconds per GiB on the benchmark
// machine (docs/benchmarks.md), more than copying the bytes. Dropping the
// pages once they are on disk keeps the cache for the rest of the machine
// and lets the next writes reuse the pages just freed.
//
// Everything here is advice: where the system has no such calls (outside
// Linux) or the file system refuses them, files are written and read as
// usual.
package pagecache

import (
	"errors"
	"os"
)

// window is how many bytes a Writer lets the kernel start writing back at
// a time, and lag how many windows it leaves in writeback before waiting
// for the oldest: at most lag+1 windows of its file are in the page cache,
// and by the time a window is waited for, it is usually on disk already.
const (
	window = 8 << 20
	lag    = 2
)

// Writer writes sequentially to a file and, every window bytes, starts
// writing the new bytes back and drops the pages of the window lag
// windows before, once they are on disk. It does not make the file
// durable: call Sync on the file for that, as before.
type Writer struct {
	f       *os.File
	off     int64   // file offset of the next byte written
	dropped int64   // pages before this offset have been dropped
	started []int64 // ends of the windows in writeback, oldest first
	plain   bool    // the file system refused the advice: plain writes from now on
}

// NewWriter returns a Writer that writes to f, whose offset is off (the
// caller has positioned f there).
func NewWriter(f *os.File, off int64) *Writer {
	return &Writer{f: f, off: off, dropped: off, started: make([]int64, 0, lag+1)}
}

// Write writes p to the file. An error from the file system while writing
// back earlier bytes (EIO) is returned here, as a later Sync would.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if err != nil || w.plain || w.off-w.lastStarted() < window {
		return n, err
	}
	if err := w.advance(); err != nil {
		if errors.Is(err, errUnsupported) {
			w.plain = true
			return n, nil
		}
		return n, err
	}
	return n, nil
}

func (w *Writer) lastStarted() int64 {
	if len(w.started) == 0 {
		return w.dropped
	}
	return w.started[len(w.started)-1]
}

// advance starts writing back the bytes written since the last window,
// then waits for the windows beyond lag and drops their pages.
func (w *Writer) advance() error {
	last := w.lastStarted()
	if err := startWriteback(w.f, last, w.off-last); err != nil {
		return err
	}
	w.started = append(w.started, w.off)
	for len(w.started) > lag {
		end := w.started[0]
		if err := waitWriteback(w.f, w.dropped, end-w.dropped); err != nil {
			return err
		}
		Drop(w.f, w.dropped, end-w.dropped)
		w.dropped = end
		w.started = w.started[:copy(w.started, w.started[1:])]
	}
	return nil
}
