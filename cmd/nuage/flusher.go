package main

import (
	"sync"
	"sync/atomic"
	"time"
)

// flushGap is the least time between the starts of two of a flusher's
// syncs: at most 40 device flushes a second per download. The shorter the
// gap, the less each sync has to flush and the less the last sync before
// the rename waits for: a 1 GiB get on the benchmark machine took
// 1.91-2.01 s with 20 ms, 1.99-2.22 s with 100 ms and 2.09-2.15 s with
// 500 ms (docs/benchmarks.md).
const flushGap = 25 * time.Millisecond

// flusher makes a download durable while it is written, and records its
// progress for a re-run.
//
// An fsync in the download's writer stops the transfer until the device
// has flushed: 150–250 ms for each of a 1 GiB get's checkpoints on the
// benchmark machine, a fifth of the get (docs/benchmarks.md). A flusher's
// goroutine syncs the file instead, whenever bytes were written since its
// last sync began (at most once per flushGap), while the transfer goes
// on; after each sync it knows how many bytes are durable and records
// them (at most once per checkpointEvery, and after its first sync). The
// sync before the file is renamed into place then only waits for the last
// bytes.
//
// A failed sync ends the flushing: its error is close's, and the download
// must fail with it, since the file's later syncs may not report it again
// (Linux reports a writeback error once per open file). A failed record
// is reported to warn, once, and flushing goes on.
type flusher struct {
	f       syncer
	record  func(durable int64) error
	warn    func(error)
	gap     time.Duration // flushGap
	every   time.Duration // checkpointEvery
	written atomic.Int64  // bytes of the file written so far
	kick    chan struct{}
	stop    chan struct{}
	once    sync.Once // closes stop
	done    chan struct{}
	err     error // the failed sync, read after done
}

// syncer is the file a flusher syncs (an *os.File).
type syncer interface{ Sync() error }

// newFlusher starts flushing f, whose first durable bytes are [0, from).
func newFlusher(f syncer, from int64, record func(durable int64) error, warn func(error)) *flusher {
	return (&flusher{f: f, record: record, warn: warn, gap: flushGap, every: checkpointEvery}).start(from)
}

// start starts fl's goroutine; fl has its file, functions and pacing set.
func (fl *flusher) start(from int64) *flusher {
	fl.kick, fl.stop, fl.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	fl.written.Store(from)
	go fl.run(from)
	return fl
}

// wrote tells the flusher that n more bytes were written to the file. It
// never blocks.
func (fl *flusher) wrote(n int64) {
	fl.written.Add(n)
	select {
	case fl.kick <- struct{}{}:
	default:
	}
}

// close stops the flushing, waits for a sync or record in progress, and
// returns the error of a failed sync. The file is then as durable as its
// last sync made it: the caller syncs it once more before relying on it.
func (fl *flusher) close() error {
	fl.once.Do(func() { close(fl.stop) })
	<-fl.done
	return fl.err
}

func (fl *flusher) run(durable int64) {
	defer close(fl.done)
	var recorded time.Time
	warned := false
	for {
		select {
		case <-fl.kick:
		case <-fl.stop:
			return
		}
		w := fl.written.Load()
		if w <= durable {
			continue
		}
		start := time.Now()
		if err := fl.f.Sync(); err != nil {
			fl.err = err
			return
		}
		durable = w
		if time.Since(recorded) >= fl.every {
			recorded = time.Now()
			if err := fl.record(durable); err != nil && !warned {
				warned = true
				fl.warn(err)
			}
		}
		if d := fl.gap - time.Since(start); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-fl.stop:
				t.Stop()
				return
			}
		}
	}
}
