package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// gatedSync is a file whose Sync starts are announced on started and
// return what the test sends on result.
type gatedSync struct {
	started chan struct{}
	result  chan error
}

func newGatedSync() *gatedSync {
	return &gatedSync{started: make(chan struct{}), result: make(chan error)}
}

// errUnawaited is what a Sync returns that the test did not expect: the
// flusher under test synced when it should not have.
var errUnawaited = errors.New("test: sync not awaited")

func (g *gatedSync) Sync() error {
	select {
	case g.started <- struct{}{}:
	case <-time.After(flushWait):
		return errUnawaited
	}
	select {
	case err := <-g.result:
		return err
	case <-time.After(flushWait):
		return errUnawaited
	}
}

const flushWait = 5 * time.Second

func (g *gatedSync) awaitSync(t *testing.T) {
	t.Helper()
	select {
	case <-g.started:
	case <-time.After(flushWait):
		t.Fatal("the flusher did not sync")
	}
}

func (g *gatedSync) finish(t *testing.T, err error) {
	t.Helper()
	select {
	case g.result <- err:
	case <-time.After(flushWait):
		t.Fatal("no sync to finish")
	}
}

func awaitRecord(t *testing.T, recs <-chan int64) int64 {
	t.Helper()
	select {
	case d := <-recs:
		return d
	case <-time.After(flushWait):
		t.Fatal("no progress recorded")
		return 0
	}
}

func testFlusher(f syncer, from int64, gap, every time.Duration, recs chan<- int64, record error, warns chan<- error) *flusher {
	return (&flusher{f: f, gap: gap, every: every,
		record: func(d int64) error { recs <- d; return record },
		warn:   func(err error) { warns <- err },
	}).start(from)
}

// gatedFlusher starts a flusher on a gatedSync; its records and warnings
// arrive on the channels returned.
func gatedFlusher(from int64, gap, every time.Duration, record error) (*flusher, *gatedSync, chan int64, chan error) {
	g := newGatedSync()
	recs, warns := make(chan int64, 10), make(chan error, 10)
	return testFlusher(g, from, gap, every, recs, record, warns), g, recs, warns
}

// TestFlusherRecordsWhatItsSyncCovers checks that a record names only the
// bytes written before the sync that made them durable, never those
// written while it ran.
func TestFlusherRecordsWhatItsSyncCovers(t *testing.T) {
	fl, g, recs, _ := gatedFlusher(100, 0, 0, nil)
	fl.wrote(10)
	g.awaitSync(t)
	fl.wrote(5) // during the sync: not covered by it
	g.finish(t, nil)
	if d := awaitRecord(t, recs); d != 110 {
		t.Fatalf("after the first sync the record says %d bytes are durable, want 110", d)
	}
	g.awaitSync(t) // the bytes written meanwhile start another
	g.finish(t, nil)
	if d := awaitRecord(t, recs); d != 115 {
		t.Fatalf("after the second sync the record says %d, want 115", d)
	}
	if err := fl.close(); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-recs:
		t.Fatalf("a record (%d) with nothing new written", d)
	default:
	}
}

// TestFlusherPacesSyncsAndRecords checks that syncs wait out the gap and
// records checkpointEvery, and that nothing is synced while nothing new is
// written.
func TestFlusherPacesSyncsAndRecords(t *testing.T) {
	fl, g, recs, _ := gatedFlusher(0, 200*time.Millisecond, time.Hour, nil)
	select {
	case <-g.started:
		t.Fatal("a sync before anything was written")
	case <-time.After(50 * time.Millisecond):
	}
	fl.wrote(1)
	g.awaitSync(t)
	start := time.Now()
	g.finish(t, nil)
	if d := awaitRecord(t, recs); d != 1 {
		t.Fatalf("first record %d, want 1", d)
	}
	fl.wrote(1)
	g.awaitSync(t)
	if since := time.Since(start); since < 150*time.Millisecond {
		t.Errorf("the second sync started %v after the first ended, want about the 200ms gap", since)
	}
	g.finish(t, nil)
	if err := fl.close(); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("%d more records within checkpointEvery of the first", len(recs))
	}
}

// TestFlusherSyncFailure checks that a failed sync is close's error (the
// download must fail: the file's later syncs may not report it again) and
// ends the flushing.
func TestFlusherSyncFailure(t *testing.T) {
	fl, g, recs, _ := gatedFlusher(0, 0, 0, nil)
	fl.wrote(4096)
	g.awaitSync(t)
	eio := errors.New("input/output error")
	g.finish(t, eio)
	fl.wrote(4096) // must neither block nor sync again
	if err := fl.close(); !errors.Is(err, eio) {
		t.Fatalf("close after a failed sync: %v, want %v", err, eio)
	}
	if len(recs) != 0 {
		t.Errorf("progress recorded after a failed sync: %d", <-recs)
	}
	if err := fl.close(); !errors.Is(err, eio) {
		t.Fatalf("second close: %v", err)
	}
}

// TestFlusherRecordFailureWarnsOnce checks that a progress file that
// cannot be written is reported once and flushing goes on.
func TestFlusherRecordFailureWarnsOnce(t *testing.T) {
	bad := errors.New("read-only file system")
	fl, g, recs, warns := gatedFlusher(0, 0, 0, bad)
	for i := range 3 {
		fl.wrote(1)
		g.awaitSync(t)
		g.finish(t, nil)
		if d := awaitRecord(t, recs); d != int64(i+1) {
			t.Fatalf("record %d says %d", i, d)
		}
	}
	if err := fl.close(); err != nil {
		t.Fatalf("close: %v (a failed record is not a failed sync)", err)
	}
	if len(warns) != 1 {
		t.Fatalf("%d warnings for 3 failed records, want 1", len(warns))
	}
	if err := <-warns; !errors.Is(err, bad) {
		t.Fatalf("warning %v, want %v", err, bad)
	}
}

// TestFlusherCloseDuringGap checks that close does not wait out the gap
// between syncs.
func TestFlusherCloseDuringGap(t *testing.T) {
	fl, g, recs, _ := gatedFlusher(0, time.Hour, 0, nil)
	fl.wrote(1)
	g.awaitSync(t)
	g.finish(t, nil)
	awaitRecord(t, recs)
	fl.wrote(1) // the next sync waits for the gap
	closed := make(chan error)
	go func() { closed <- fl.close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(flushWait):
		t.Fatal("close waited for the gap between syncs")
	}
}

// TestFlusherOnAFile runs a flusher on a real file until its records
// name every byte written.
func TestFlusherOnAFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "dl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, warns := make(chan int64, 100), make(chan error, 10)
	fl := testFlusher(f, 0, time.Millisecond, 0, recs, nil, warns)
	chunk := make([]byte, 64<<10)
	for range 20 {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
		fl.wrote(int64(len(chunk)))
	}
	total, last := 20*int64(len(chunk)), int64(0)
	for last < total {
		d := awaitRecord(t, recs)
		if d <= last || d > total || d%int64(len(chunk)) != 0 {
			t.Fatalf("record %d after %d: not a count of whole writes, or not growing", d, last)
		}
		last = d
	}
	if err := fl.close(); err != nil {
		t.Fatal(err)
	}
}
