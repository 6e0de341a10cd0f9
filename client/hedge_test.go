package client

import (
	"testing"
	"time"
)

// TestHedgeAfter pins the hedging rule: spares start when the missing
// pieces are late against the k-1 that came, not against the first alone
// (pieces sharing the client's cores arrive spread out; a rule of twice
// the first piece's time started a spare for about half of all segments
// on the benchmark machine).
func TestHedgeAfter(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		got, k int
		took   time.Duration
		late   time.Duration
		ok     bool
	}{
		{1, 4, 30 * ms, 120 * ms, true}, // the first of 4: four times its time
		{2, 4, 40 * ms, 0, false},       // the second moves nothing
		{3, 4, 50 * ms, 100 * ms, true}, // the (k-1)th: twice its time
		{4, 4, 60 * ms, 0, false},       // all there
		{1, 2, 30 * ms, 60 * ms, true},  // k = 2: the first is the (k-1)th
		{1, 1, 30 * ms, 0, false},       // k = 1: done
		{1, 4, 2 * ms, hedgeMin, true},  // never sooner than hedgeMin
		{3, 4, 5 * ms, hedgeMin, true},
		{5, 29, 10 * ms, 0, false},
		{28, 29, 80 * ms, 160 * ms, true},
	} {
		late, ok := hedgeAfter(c.got, c.k, c.took)
		if late != c.late || ok != c.ok {
			t.Errorf("hedgeAfter(%d, %d, %v) = %v, %v; want %v, %v", c.got, c.k, c.took, late, ok, c.late, c.ok)
		}
	}
}
