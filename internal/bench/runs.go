package bench

import (
	"cmp"
	"fmt"
	"slices"
)

// DefaultRuns is how many times the default run repeats each large-file
// transfer. On a shared machine one transfer can land in a busy second;
// the median of three cannot land there alone.
const DefaultRuns = 3

// MaxRuns bounds Config.Runs.
const MaxRuns = 20

// medianRun combines the runs of one operation, in the order they ran,
// into the figure reported for it: the median run by time (with an even
// count, the slower of the middle two, so that the figure never flatters),
// with the highest peak RSS of any run and every run's time. planned is
// how many runs were meant to run (the last may have failed and ended
// them); with one planned, the run is returned as it is. A failed run
// fails the operation: its error is the result's, naming the run.
func medianRun(runs []Transfer, planned int) Transfer {
	switch {
	case len(runs) == 0:
		return Transfer{Error: "no run"}
	case planned <= 1 && len(runs) == 1:
		return runs[0]
	}
	planned = max(planned, len(runs))
	times := make([]float64, len(runs))
	for i, t := range runs {
		if !t.OK() {
			msg := t.Error
			if msg == "" {
				msg = "no figure"
			}
			return Transfer{Bytes: t.Bytes, Error: fmt.Sprintf("run %d of %d: %s", i+1, planned, msg), RunSeconds: times[:i]}
		}
		times[i] = t.Seconds
	}
	sorted := slices.SortedStableFunc(slices.Values(runs), func(a, b Transfer) int { return cmp.Compare(a.Seconds, b.Seconds) })
	out := sorted[len(sorted)/2]
	for _, t := range runs {
		out.PeakRSS = max(out.PeakRSS, t.PeakRSS)
	}
	out.RunSeconds = times
	return out
}

// runRange returns the fastest and slowest of a transfer's run times, and
// false when it ran once.
func runRange(t Transfer) (lo, hi float64, ok bool) {
	if len(t.RunSeconds) < 2 {
		return 0, 0, false
	}
	return slices.Min(t.RunSeconds), slices.Max(t.RunSeconds), true
}
