package node

import (
	"container/heap"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/order"
)

// errCoordinatorChanged reports a coordinator presenting a key the node
// does not trust although it trusts (or pinned) another.
var errCoordinatorChanged = errors.New("coordinator key changed")

// trustSet is the set of coordinator keys whose orders the node accepts.
type trustSet struct {
	mu   sync.RWMutex
	ids  []identity.ID
	tofu bool // may pin a key learnt on first contact (while ids is empty)
}

func (t *trustSet) trusted(id identity.ID) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Contains(t.ids, id)
}

func (t *trustSet) list() []identity.ID {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.ids)
}

// setupTrust fills the trust set from the configuration and the pin file.
func (n *Node) setupTrust() error {
	var ids []identity.ID
	if n.cfg.CoordinatorKey != nil {
		ids = append(ids, *n.cfg.CoordinatorKey)
	}
	ids = append(ids, n.cfg.TrustedCoordinators...)
	pinned, err := readPin(n.pinPath)
	if err != nil {
		return err
	}
	switch {
	case len(ids) > 0:
		if pinned != nil && !slices.Contains(ids, *pinned) {
			n.log.Warn("ignoring the pinned coordinator key: configured keys take precedence",
				"pinned", pinned.Short(), "file", n.pinPath)
		}
	case pinned != nil:
		ids = append(ids, *pinned)
	default:
		n.trust.tofu = true
		if n.coordinator == "" {
			n.log.Warn("no trusted coordinator and none to learn from: every order will be refused")
		}
	}
	n.trust.ids = ids
	return nil
}

// acceptCoordinator checks the key a coordinator presents. If the node has
// no trusted key yet and may learn one, it pins this one on disk.
func (n *Node) acceptCoordinator(id identity.ID) error {
	if id.IsZero() {
		return errors.New("coordinator sent no key")
	}
	t := &n.trust
	t.mu.Lock()
	defer t.mu.Unlock()
	if slices.Contains(t.ids, id) {
		return nil
	}
	if t.tofu && len(t.ids) == 0 {
		if err := writePin(n.pinPath, id); err != nil {
			return err
		}
		t.ids = append(t.ids, id)
		n.log.Info("pinned the coordinator key (trust on first use)", "coordinator", id.String(), "file", n.pinPath)
		return nil
	}
	trusted := make([]string, len(t.ids))
	for i, k := range t.ids {
		trusted[i] = k.Short()
	}
	return fmt.Errorf("%w: it presents %s, this node trusts %s; refusing its orders "+
		"(if the change is legitimate, remove %s or configure the new key)",
		errCoordinatorChanged, id, strings.Join(trusted, ", "), n.pinPath)
}

func readPin(path string) (*identity.ID, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: read pinned coordinator key: %w", err)
	}
	id, err := identity.ParseID(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("node: pinned coordinator key in %s: %w", path, err)
	}
	return &id, nil
}

// writePin writes the coordinator key to path atomically and durably.
func writePin(path string, id identity.ID) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".coordinator-*")
	if err != nil {
		return fmt.Errorf("node: pin coordinator key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(id.String() + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil && runtime.GOOS != "windows" { // Windows cannot sync a directory
		var d *os.File
		if d, err = os.Open(dir); err == nil {
			if err = d.Sync(); errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
				err = nil // a file system that cannot sync directories
			}
			d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("node: pin coordinator key: %w", err)
	}
	return nil
}

// maxSerials bounds the PUT serials remembered against replay.
const maxSerials = 1 << 20

var (
	errReplayed    = errors.New("order serial already used")
	errTooManyPuts = errors.New("too many PUT orders in flight")
)

// serialSet remembers the serials of PUT orders until they expire, so that
// a PUT order is used at most once. A serial is reserved while its PUT runs
// and released if the PUT fails, so a failed upload may be retried with the
// same order.
type serialSet struct {
	mu  sync.Mutex
	m   map[[order.SerialSize]byte]int64 // serial → forget after (Unix seconds)
	exp expiryHeap
	max int // 0 means maxSerials
}

func (s *serialSet) reserve(serial [order.SerialSize]byte, forgetAfter, now time.Time) error {
	until, t := forgetAfter.Unix(), now.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.exp) > 0 && s.exp[0].until < t {
		e := heap.Pop(&s.exp).(expiry)
		if u, ok := s.m[e.serial]; ok && u <= e.until {
			delete(s.m, e.serial)
		}
	}
	if _, ok := s.m[serial]; ok {
		return errReplayed
	}
	limit := s.max
	if limit == 0 {
		limit = maxSerials
	}
	if len(s.exp) >= limit {
		return errTooManyPuts
	}
	if s.m == nil {
		s.m = make(map[[order.SerialSize]byte]int64)
	}
	s.m[serial] = until
	heap.Push(&s.exp, expiry{until: until, serial: serial})
	return nil
}

func (s *serialSet) release(serial [order.SerialSize]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, serial)
}

type expiry struct {
	until  int64 // Unix seconds
	serial [order.SerialSize]byte
}

// expiryHeap is a min-heap of expiries (container/heap).
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until < h[j].until }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
