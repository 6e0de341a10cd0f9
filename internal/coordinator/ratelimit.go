package coordinator

import (
	"sync"
	"time"
)

// Login rate limits: failures allowed per window, per account e-mail and
// per client IP, and the most keys each limiter remembers.
const (
	maxEmailFailures = 5
	maxIPFailures    = 20
	failureWindow    = 15 * time.Minute
	maxLimiterKeys   = 100_000
)

// limiter counts recent failures per key in a sliding window. It keeps at
// most max failure times per key and at most maxKeys keys, so its memory is
// bounded whatever the traffic.
type limiter struct {
	max     int
	window  time.Duration
	maxKeys int

	mu   sync.Mutex
	keys map[string][]time.Time // failure times, oldest first, at most max
}

func newLimiter(max int, window time.Duration, maxKeys int) *limiter {
	return &limiter{max: max, window: window, maxKeys: maxKeys, keys: make(map[string][]time.Time)}
}

// recent drops the failures of key older than the window and returns the rest.
func (l *limiter) recent(key string, now time.Time) []time.Time {
	ts := l.keys[key]
	cut := 0
	for cut < len(ts) && !ts[cut].After(now.Add(-l.window)) {
		cut++
	}
	if cut == len(ts) {
		delete(l.keys, key)
		return nil
	}
	if cut > 0 {
		ts = append(ts[:0], ts[cut:]...)
		l.keys[key] = ts
	}
	return ts
}

// blocked returns how long key must wait before its next attempt, or 0.
func (l *limiter) blocked(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.recent(key, now)
	if len(ts) < l.max {
		return 0
	}
	return max(ts[0].Add(l.window).Sub(now), time.Nanosecond)
}

// fail records a failure of key at now.
func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.recent(key, now)
	if ts == nil && len(l.keys) >= l.maxKeys {
		l.pruneLocked(now)
		// Still full: forget a tenth of the keys, arbitrary ones, so the
		// next inserts are cheap. Losing a count only makes the limit more
		// lenient for that key; it never locks anyone out.
		for k := range l.keys {
			if len(l.keys) < l.maxKeys-l.maxKeys/10 {
				break
			}
			delete(l.keys, k)
		}
	}
	if len(ts) >= l.max {
		ts = append(ts[:0], ts[len(ts)-l.max+1:]...)
	}
	l.keys[key] = append(ts, now)
}

// reset forgets the failures of key.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}

// prune forgets every failure older than the window.
func (l *limiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)
}

func (l *limiter) pruneLocked(now time.Time) {
	for k := range l.keys {
		l.recent(k, now)
	}
}

// size returns how many keys the limiter remembers.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
