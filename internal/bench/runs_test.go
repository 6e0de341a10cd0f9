package bench

import (
	"slices"
	"strings"
	"testing"
)

func TestMedianRun(t *testing.T) {
	run := func(seconds float64, rss int64) Transfer {
		return Transfer{Bytes: 1 << 30, Seconds: seconds, MBps: float64(1<<30) / seconds / MB, CPUSeconds: seconds / 2, PeakRSS: rss}
	}
	one := run(3, 100)
	if got := medianRun([]Transfer{one}, 1); got.Seconds != 3 || got.RunSeconds != nil {
		t.Errorf("one run: %+v, want it unchanged", got)
	}

	// Three runs: the middle one by time, whatever their order; the
	// highest peak RSS; every time in run order.
	got := medianRun([]Transfer{run(3.4, 100), run(3.0, 180), run(3.2, 120)}, 3)
	if got.Seconds != 3.2 || got.CPUSeconds != 1.6 || got.PeakRSS != 180 || !slices.Equal(got.RunSeconds, []float64{3.4, 3.0, 3.2}) {
		t.Errorf("three runs: %+v", got)
	}
	// An even count reports the slower of the middle two.
	if got := medianRun([]Transfer{run(2, 1), run(5, 1), run(3, 1), run(4, 1)}, 4); got.Seconds != 4 {
		t.Errorf("four runs: %v s, want 4", got.Seconds)
	}
	if got := medianRun([]Transfer{run(2, 1), run(3, 1)}, 2); got.Seconds != 3 {
		t.Errorf("two runs: %v s, want the slower, 3", got.Seconds)
	}
	// A failed run fails the operation, naming the run.
	bad := Transfer{Error: "the output differs from the input", Seconds: 1}
	got = medianRun([]Transfer{run(3, 1), bad}, 3)
	if got.OK() || got.Error != "run 2 of 3: the output differs from the input" {
		t.Errorf("failed run: %+v", got)
	}
	if got := medianRun([]Transfer{run(3, 1), {}}, 2); got.OK() || !strings.Contains(got.Error, "run 2 of 2") {
		t.Errorf("run without a figure: %+v", got)
	}
	// Runs that ended early: the failure names the planned count, and a
	// lone successful run keeps its time in RunSeconds.
	if got := medianRun([]Transfer{bad}, 2); got.Error != "run 1 of 2: the output differs from the input" {
		t.Errorf("first of two runs failed: %+v", got)
	}
	if got := medianRun([]Transfer{run(3, 1)}, 2); !got.OK() || !slices.Equal(got.RunSeconds, []float64{3}) {
		t.Errorf("one of two runs: %+v", got)
	}
	if got := medianRun(nil, 3); got.OK() {
		t.Errorf("no runs: %+v", got)
	}
}

func TestRunRange(t *testing.T) {
	if _, _, ok := runRange(Transfer{Seconds: 3}); ok {
		t.Error("a single run has a range")
	}
	lo, hi, ok := runRange(Transfer{RunSeconds: []float64{3.4, 3.0, 3.2}})
	if !ok || lo != 3.0 || hi != 3.4 {
		t.Errorf("range %v–%v (%v), want 3–3.4", lo, hi, ok)
	}
}
