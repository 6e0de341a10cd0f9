package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunPool(t *testing.T) {
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	t.Run("all", func(t *testing.T) {
		var sum, running, peak atomic.Int64
		err := runPool(context.Background(), 4, items, func(_ context.Context, i int) error {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			running.Add(-1)
			sum.Add(int64(i))
			return nil
		})
		if err != nil || sum.Load() != 99*100/2 {
			t.Fatalf("err %v, sum %d", err, sum.Load())
		}
		if peak.Load() > 4 {
			t.Fatalf("%d ran at once, want at most 4", peak.Load())
		}
	})
	t.Run("first error stops the rest", func(t *testing.T) {
		boom := errors.New("boom")
		var calls atomic.Int64
		err := runPool(context.Background(), 2, items, func(ctx context.Context, i int) error {
			calls.Add(1)
			if i == 3 {
				return boom
			}
			if i > 3 {
				<-ctx.Done() // the others see the cancellation
				return ctx.Err()
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err %v, want %v", err, boom)
		}
		if calls.Load() > 10 {
			t.Fatalf("%d items ran after the error", calls.Load())
		}
	})
	t.Run("parent cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := runPool(ctx, 3, items, func(ctx context.Context, i int) error { return ctx.Err() })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if err := runPool(context.Background(), 3, nil, func(context.Context, int) error { return errors.New("called") }); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBudget(t *testing.T) {
	b := newBudget()
	ctx := context.Background()
	// Small files take nothing.
	for range 1000 {
		release, err := b.acquire(ctx, 1<<20-1)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
	}
	// Two half-budget files fill the budget; a third waits, and so does
	// a big one.
	half := int64(budgetUnits/2) << 20
	r1, _ := b.acquire(ctx, half)
	r2, _ := b.acquire(ctx, half)
	for _, size := range []int64{2 << 20, 1 << 40} {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		if _, err := b.acquire(wctx, size); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("acquire of %d bytes over budget: %v, want a timeout", size, err)
		}
		cancel()
		if len(b.tokens) != budgetUnits {
			t.Fatalf("a failed acquire kept %d units", len(b.tokens)-budgetUnits)
		}
	}
	r1()
	r3, err := b.acquire(ctx, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	r2()
	r3()
	// A file of any size fits alone.
	r4, err := b.acquire(ctx, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	r4()
	if len(b.tokens) != 0 {
		t.Fatalf("%d units still held", len(b.tokens))
	}
	// Many concurrent acquirers of mixed sizes never deadlock.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			release, err := b.acquire(ctx, int64(i%40)<<20)
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(100 * time.Microsecond)
			release()
		})
	}
	wg.Wait()
}

func TestStateKey(t *testing.T) {
	seen := map[string]bool{}
	for _, parts := range [][]string{{"a", "bc"}, {"ab", "c"}, {"abc"}, {"abc", ""}, {"", "abc"}} {
		k := stateKey(parts...)
		if seen[k] {
			t.Fatalf("%q collides", parts)
		}
		seen[k] = true
	}
	now := time.Now()
	a := uploadStatePath("d", "/x", 10, now, "/r")
	for _, b := range []string{
		uploadStatePath("d", "/y", 10, now, "/r"),
		uploadStatePath("d", "/x", 11, now, "/r"),
		uploadStatePath("d", "/x", 10, now.Add(time.Nanosecond), "/r"),
		uploadStatePath("d", "/x", 10, now, "/s"),
	} {
		if a == b {
			t.Fatal("a changed file or destination maps to the same upload state")
		}
	}
}

func TestPruneStale(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i, age := range []time.Duration{time.Hour, 8 * 24 * time.Hour} {
		p := filepath.Join(dir, strconv.Itoa(i)+".json")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	pruneStale(dir, now)
	if _, err := os.Stat(filepath.Join(dir, "0.json")); err != nil {
		t.Error("a recent state was pruned")
	}
	if _, err := os.Stat(filepath.Join(dir, "1.json")); err == nil {
		t.Error("a week-old state was kept")
	}
	pruneStale(filepath.Join(dir, "missing"), now) // no panic, nothing to do
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in     string
		off, n int64
		ok     bool
	}{
		{"", 0, -1, true},
		{"0-0", 0, 1, true},
		{"6-10", 6, 5, true},
		{"5-", 5, -1, true},
		{"9-3", 0, 0, false},
		{"-3", 0, 0, false},
		{"x", 0, 0, false},
		{"1-x", 0, 0, false},
		{"-1-5", 0, 0, false},
		{"0-9223372036854775807", 0, 0, false},
	} {
		off, n, err := parseRange(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (off != tc.off || n != tc.n)) {
			t.Errorf("parseRange(%q) = %d, %d, %v", tc.in, off, n, err)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"", "0-0", "6-10", "5-", "9-3", "x", "-", "1-2-3", "9223372036854775806-9223372036854775806"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		off, n, err := parseRange(s)
		if err != nil {
			return
		}
		if off < 0 || (n != -1 && n < 1) {
			t.Fatalf("parseRange(%q) = %d, %d", s, off, n)
		}
		if n > 0 && off+n-1 < off {
			t.Fatalf("parseRange(%q) overflows", s)
		}
		want := fmt.Sprintf("%d-%d", off, off+n-1)
		if n == -1 {
			want = fmt.Sprintf("%d-", off)
		}
		if off2, n2, err := parseRange(want); err != nil || off2 != off || n2 != n {
			t.Fatalf("%q parsed as %q, which parses differently", s, want)
		}
	})
}

// FuzzPartialState feeds a partial-download sidecar (a local file that may
// be damaged) to its reader: no panic, and a state only matches itself.
func FuzzPartialState(f *testing.F) {
	f.Add([]byte(`{"entry":"00112233445566778899aabbccddeeff","object":"ff","version":0,"size":10,"mtime":"2026-01-01T00:00:00Z","done":4}`))
	f.Add([]byte(`{"done":-1}`))
	f.Add([]byte(`not json`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "sidecar.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ps, ok := loadPartial(p)
		if !ok {
			return
		}
		if !ps.same(ps) {
			t.Fatalf("%+v does not match itself", ps)
		}
		other := ps
		other.Version++
		if ps.same(other) {
			t.Fatal("another version matches")
		}
	})
}
