package coordinator

import (
	"sync"
	"time"
)

// Rate limits. Failed proofs of a secret (login, token login, recovery,
// password change, two-factor codes) are counted per account (its e-mail,
// or the API token's ID) and per client IP; sign-ups are counted per
// client IP. Each limiter remembers at most maxLimiterKeys keys.
const (
	maxEmailFailures = 5
	maxIPFailures    = 20
	failureWindow    = 15 * time.Minute
	maxSignupsPerIP  = 20
	signupWindow     = time.Hour
	maxLimiterKeys   = 100_000
)

// limiter counts recent events (failures, sign-ups) per key in a sliding
// window. It keeps at most max event times per key and at most maxKeys
// keys, so its memory is bounded whatever the traffic.
type limiter struct {
	max     int
	window  time.Duration
	maxKeys int

	mu   sync.Mutex
	keys map[string][]time.Time // event times, oldest first, at most max
}

func newLimiter(max int, window time.Duration, maxKeys int) *limiter {
	return &limiter{max: max, window: window, maxKeys: maxKeys, keys: make(map[string][]time.Time)}
}

// recent drops the events of key older than the window and returns the rest.
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

// add records an event of key at now.
func (l *limiter) add(key string, now time.Time) {
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

// reset forgets the events of key.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}

// prune forgets every event older than the window.
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

// tokenKey is the limiter key of an API token: it cannot clash with an
// e-mail, which has an '@'.
func tokenKey(id string) string { return "token:" + id }

// throttle returns the 429 to answer when account (an e-mail or a
// tokenKey) or ip has failed too often recently, or nil.
func (c *Coordinator) throttle(now time.Time, account, ip, hint string) *httpError {
	if wait := max(c.limitAccount.blocked(account, now), c.limitIP.blocked(ip, now)); wait > 0 {
		return tooMany(wait, hint)
	}
	return nil
}

// failed counts a failed proof of a secret for account from ip.
func (c *Coordinator) failed(now time.Time, account, ip string) {
	c.limitAccount.add(account, now)
	c.limitIP.add(ip, now)
}
