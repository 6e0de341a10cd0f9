// Package coordinator is nuage's coordinator: accounts, the encrypted tree
// metadata, piece placement, signed orders and the node registry, served as
// the JSON API of docs/spec.md §8.
//
// The coordinator never holds a key that opens user data. It stores only a
// verifier of each account's auth key (spec §2), opaque wrapped keys and
// encrypted metadata, and the placement of ciphertext pieces. All state lives
// in a metadb.DB, so several coordinators may serve one database.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// Version is the API version reported by GET /info.
const Version = "v1"

// BlockSize is the plaintext block size of the content stream (spec §3);
// every sealed block adds a 16-byte tag.
const BlockSize = 65536

const blockOverhead = 16

// Defaults used for zero Config fields.
const (
	DefaultSegmentSize      = 16 << 20
	DefaultInlineMax        = 4096
	DefaultOrderTTL         = time.Hour
	DefaultNodeOnline       = 2 * time.Minute
	DefaultSessionTTL       = 30 * 24 * time.Hour
	DefaultPendingTTL       = 48 * time.Hour
	DefaultDeletionInterval = 30 * time.Second
)

// DefaultScheme is the erasure-coding scheme used when Config.Scheme is zero.
var DefaultScheme = api.Scheme{K: 4, N: 6}

// SecretSize is the minimum length of Config.Secret.
const SecretSize = 32

// ErrConfig reports an invalid Config given to New.
var ErrConfig = errors.New("coordinator: invalid configuration")

// Config configures a Coordinator. Zero durations and sizes take the
// defaults above; DB, Identity and Secret are required.
type Config struct {
	DB       metadb.DB
	Identity *identity.Identity // signs orders
	// Scheme is the erasure-coding scheme: K data pieces of N. Default {K:4, N:6}.
	Scheme api.Scheme
	// SegmentSize is the plaintext size of a segment; a multiple of 65536. Default 16 MiB.
	SegmentSize int64
	// InlineMax is the largest file stored inline in its metadata. Default 4096.
	InlineMax int64
	// OrderTTL is how long a signed order is valid. Default 1h.
	OrderTTL time.Duration
	// NodeOnline: a node is online if it checked in within this window. Default 2m.
	NodeOnline time.Duration
	// SessionTTL is the lifetime of a login session. Default 30 days.
	SessionTTL time.Duration
	// PendingTTL: pending uploads older than this are garbage-collected. Default 48h.
	PendingTTL time.Duration
	// DeletionInterval is how often queued piece deletions are delivered. Default 30s.
	DeletionInterval time.Duration
	// Quota is the most ciphertext bytes an account may store, counting
	// its committed objects and the declared segments of its pending
	// uploads. 0 means unlimited.
	Quota int64
	// Secret is the server secret (at least 32 bytes) from which fake
	// prelogin salts for unknown e-mails are derived. The caller persists
	// it: a secret that changed across restarts would reveal which
	// e-mails have no account.
	Secret []byte
	// Logger receives the coordinator's logs. Default slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Default time.Now; tests inject a clock.
	Now func() time.Time
}

// Coordinator serves the coordinator API and runs its background work.
// Create it with New; its methods are safe for concurrent use.
type Coordinator struct {
	db          metadb.DB
	id          *identity.Identity
	scheme      api.Scheme
	segmentSize int64
	inlineMax   int64
	orderTTL    time.Duration
	nodeOnline  time.Duration
	sessionTTL  time.Duration
	pendingTTL  time.Duration
	delInterval time.Duration
	quota       int64
	secret      []byte
	log         *slog.Logger
	now         func() time.Time

	// Rate limits: failed proofs per account (e-mail or API token) and
	// per client IP, and sign-ups per client IP.
	limitAccount *limiter
	limitIP      *limiter
	limitSignup  *limiter
	// limitLink counts wrong auth keys per link (spec §10).
	limitLink *limiter

	// wake asks the deletion loop for an early pass (buffered, size 1).
	wake chan struct{}

	mu      sync.Mutex
	clients map[identity.ID]*http.Client // per-node pinned clients for deletions
}

// New checks cfg, fills in defaults and returns a Coordinator.
func New(cfg Config) (*Coordinator, error) {
	if cfg.DB == nil {
		return nil, fmt.Errorf("%w: no database", ErrConfig)
	}
	if cfg.Identity == nil {
		return nil, fmt.Errorf("%w: no identity", ErrConfig)
	}
	if len(cfg.Secret) < SecretSize {
		return nil, fmt.Errorf("%w: secret has %d bytes, need at least %d", ErrConfig, len(cfg.Secret), SecretSize)
	}
	c := &Coordinator{
		db:           cfg.DB,
		id:           cfg.Identity,
		scheme:       cfg.Scheme,
		segmentSize:  orDefault(cfg.SegmentSize, DefaultSegmentSize),
		inlineMax:    orDefault(cfg.InlineMax, DefaultInlineMax),
		orderTTL:     orDefault(cfg.OrderTTL, DefaultOrderTTL),
		nodeOnline:   orDefault(cfg.NodeOnline, DefaultNodeOnline),
		sessionTTL:   orDefault(cfg.SessionTTL, DefaultSessionTTL),
		pendingTTL:   orDefault(cfg.PendingTTL, DefaultPendingTTL),
		delInterval:  orDefault(cfg.DeletionInterval, DefaultDeletionInterval),
		quota:        cfg.Quota,
		secret:       append([]byte(nil), cfg.Secret...),
		log:          cfg.Logger,
		now:          cfg.Now,
		limitAccount: newLimiter(maxEmailFailures, failureWindow, maxLimiterKeys),
		limitIP:      newLimiter(maxIPFailures, failureWindow, maxLimiterKeys),
		limitSignup:  newLimiter(maxSignupsPerIP, signupWindow, maxLimiterKeys),
		limitLink:    newLimiter(maxLinkFailures, linkFailureWindow, maxLimiterKeys),
		wake:         make(chan struct{}, 1),
		clients:      make(map[identity.ID]*http.Client),
	}
	if c.scheme == (api.Scheme{}) {
		c.scheme = DefaultScheme
	}
	if c.scheme.K < 1 || c.scheme.N < c.scheme.K || c.scheme.N > 256 {
		return nil, fmt.Errorf("%w: scheme k=%d n=%d (need 1 ≤ k ≤ n ≤ 256)", ErrConfig, c.scheme.K, c.scheme.N)
	}
	if c.scheme.Success != 0 && (c.scheme.Success < c.scheme.K || c.scheme.Success > c.scheme.N) {
		return nil, fmt.Errorf("%w: scheme success=%d (need k ≤ success ≤ n)", ErrConfig, c.scheme.Success)
	}
	if c.segmentSize <= 0 || c.segmentSize%BlockSize != 0 {
		return nil, fmt.Errorf("%w: segment size %d is not a positive multiple of %d", ErrConfig, c.segmentSize, BlockSize)
	}
	if c.inlineMax < 0 {
		return nil, fmt.Errorf("%w: negative inline limit", ErrConfig)
	}
	if c.quota < 0 {
		return nil, fmt.Errorf("%w: negative quota", ErrConfig)
	}
	for _, d := range []time.Duration{c.orderTTL, c.nodeOnline, c.sessionTTL, c.pendingTTL, c.delInterval} {
		if d < 0 {
			return nil, fmt.Errorf("%w: negative duration %s", ErrConfig, d)
		}
	}
	if c.orderTTL < time.Second {
		return nil, fmt.Errorf("%w: order TTL %s is shorter than a second", ErrConfig, c.orderTTL)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

func orDefault[T ~int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// ID returns the coordinator's identity (the key that signs its orders).
func (c *Coordinator) ID() identity.ID { return c.id.ID() }

// maxSegmentCiphertext is the largest ciphertext a segment may have: its
// plaintext plus one tag per block.
func (c *Coordinator) maxSegmentCiphertext() int64 {
	return c.segmentSize + blockOverhead*(c.segmentSize/BlockSize)
}

// wakeDeletions asks the deletion loop for a pass without blocking.
func (c *Coordinator) wakeDeletions() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Handler returns the HTTP handler: every API call under /api/v1, at
// GET / a short plain-text page naming the service, and at GET /l/{id} the
// page of a link (spec §10).
//
// Authenticated calls are for full sessions (authed) unless registered
// with scoped (any session; the handler confines a link or share session
// to its subtree) or writer (full and read-write share sessions).
func (c *Coordinator) Handler() http.Handler {
	mux := http.NewServeMux()
	p := api.Prefix
	mux.HandleFunc("GET /{$}", c.handleRoot)
	mux.HandleFunc("GET /l/{id}", c.handleLinkPage)
	mux.HandleFunc("GET "+p+"/info", c.handleInfo)
	mux.HandleFunc("POST "+p+"/prelogin", c.handlePrelogin)
	mux.HandleFunc("POST "+p+"/signup", c.handleSignup)
	mux.HandleFunc("POST "+p+"/login", c.handleLogin)
	mux.HandleFunc("POST "+p+"/logout", c.scoped(c.handleLogout))
	mux.HandleFunc("POST "+p+"/token-login", c.handleTokenLogin)
	mux.HandleFunc("POST "+p+"/recovery/fetch", c.handleRecoveryFetch)
	mux.HandleFunc("POST "+p+"/recovery/reset", c.handleRecoveryReset)
	mux.HandleFunc("GET "+p+"/account", c.authed(c.handleAccount))
	mux.HandleFunc("POST "+p+"/account/password", c.passwordOnly(c.handlePasswordChange))
	mux.HandleFunc("POST "+p+"/account/recovery", c.passwordOnly(c.handleRecoverySet))
	mux.HandleFunc("POST "+p+"/account/totp", c.passwordOnly(c.handleTOTPEnable))
	mux.HandleFunc("POST "+p+"/account/totp/disable", c.passwordOnly(c.handleTOTPDisable))
	mux.HandleFunc("POST "+p+"/account/signing-key", c.authed(c.handleSetSigningKey))
	mux.HandleFunc("GET "+p+"/accounts/keys", c.authed(c.handleAccountKeysByEmail))
	mux.HandleFunc("GET "+p+"/accounts/{id}/keys", c.authed(c.handleAccountKeysByID))
	mux.HandleFunc("POST "+p+"/tokens", c.passwordOnly(c.handleCreateToken))
	mux.HandleFunc("GET "+p+"/tokens", c.authed(c.handleTokens))
	mux.HandleFunc("DELETE "+p+"/tokens/{id}", c.passwordOnly(c.handleDeleteToken))
	mux.HandleFunc("GET "+p+"/entries/{id}", c.scoped(c.handleGetEntry))
	mux.HandleFunc("GET "+p+"/entries/{id}/children", c.scoped(c.handleChildren))
	mux.HandleFunc("GET "+p+"/journal", c.authed(c.handleGetJournal))
	mux.HandleFunc("GET "+p+"/journal/head", c.writer(c.handleJournalHead))
	mux.HandleFunc("POST "+p+"/journal", c.scoped(c.handleCommit))
	mux.HandleFunc("POST "+p+"/objects", c.writer(c.handleCreateObject))
	mux.HandleFunc("GET "+p+"/objects/{id}", c.writer(c.handleObjectStatus))
	mux.HandleFunc("POST "+p+"/objects/{id}/segments", c.writer(c.handleDeclareSegment))
	mux.HandleFunc("POST "+p+"/objects/{id}/segments/{index}/commit", c.writer(c.handleCommitSegment))
	mux.HandleFunc("POST "+p+"/objects/{id}/commit", c.writer(c.handleCommitObject))
	mux.HandleFunc("GET "+p+"/objects/{id}/segments", c.scoped(c.handleSegments))
	mux.HandleFunc("DELETE "+p+"/objects/{id}", c.writer(c.handleDeleteObject))
	mux.HandleFunc("POST "+p+"/links", c.authed(c.handleCreateLink))
	mux.HandleFunc("GET "+p+"/links", c.authed(c.handleLinks))
	mux.HandleFunc("DELETE "+p+"/links/{id}", c.authed(c.handleRevokeLink))
	mux.HandleFunc("PUT "+p+"/links/{id}/target-key", c.authed(c.handleLinkTargetKey))
	mux.HandleFunc("GET "+p+"/links/{id}/prelude", c.handleLinkPrelude)
	mux.HandleFunc("POST "+p+"/links/{id}/open", c.handleLinkOpen)
	mux.HandleFunc("POST "+p+"/shares", c.authed(c.handleCreateShare))
	mux.HandleFunc("GET "+p+"/shares", c.authed(c.handleShares))
	mux.HandleFunc("GET "+p+"/shares/incoming", c.authed(c.handleIncomingShares))
	mux.HandleFunc("PUT "+p+"/shares/{id}", c.authed(c.handleUpdateShare))
	mux.HandleFunc("DELETE "+p+"/shares/{id}", c.authed(c.handleDeleteShare))
	mux.HandleFunc("POST "+p+"/shares/{id}/session", c.authed(c.handleShareSession))
	mux.HandleFunc("POST "+p+"/nodes/checkin", c.handleCheckIn)
	mux.HandleFunc("GET "+p+"/usage", c.authed(c.handleUsage))
	mux.HandleFunc("/", c.handleNotFound)
	return c.logRequests(mux)
}

// Run delivers queued piece deletions every DeletionInterval (and soon
// after a journal commit or an object deletion) and garbage-collects stale
// pending uploads, until ctx is done. It returns nil when ctx is done.
func (c *Coordinator) Run(ctx context.Context) error {
	defer c.closeClients()
	gcEvery := min(max(c.pendingTTL/8, time.Second), time.Hour)
	del := time.NewTicker(c.delInterval)
	defer del.Stop()
	gc := time.NewTicker(gcEvery)
	defer gc.Stop()

	c.collectAndLog(ctx)
	c.deliverAndLog(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-del.C:
			c.deliverAndLog(ctx)
		case <-c.wake:
			c.deliverAndLog(ctx)
		case <-gc.C:
			c.collectAndLog(ctx)
			now := c.now()
			c.limitAccount.prune(now)
			c.limitIP.prune(now)
			c.limitSignup.prune(now)
			c.limitLink.prune(now)
		}
	}
}

func (c *Coordinator) deliverAndLog(ctx context.Context) {
	if err := c.DeliverDeletions(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("deliver piece deletions", "err", err)
	}
}

func (c *Coordinator) collectAndLog(ctx context.Context) {
	n, err := c.CollectPending(ctx)
	if err != nil && ctx.Err() == nil {
		c.log.Error("collect stale uploads", "err", err)
	}
	if n > 0 {
		c.log.Info("collected stale uploads", "objects", n)
		c.wakeDeletions()
	}
}

// gcBatch is how many stale objects CollectPending handles per query, and
// gcMaxBatches bounds the queries of one pass.
const (
	gcBatch      = 100
	gcMaxBatches = 100
)

// CollectPending deletes pending uploads older than PendingTTL and queues
// their pieces for deletion. It returns how many objects it deleted.
func (c *Coordinator) CollectPending(ctx context.Context) (int, error) {
	cutoff := c.now().Add(-c.pendingTTL)
	n := 0
	for range gcMaxBatches {
		objs, err := c.db.StalePendingObjects(ctx, cutoff, gcBatch)
		if err != nil {
			return n, fmt.Errorf("coordinator: list stale uploads: %w", err)
		}
		deleted := 0
		for _, o := range objs {
			err := c.db.DeleteObject(ctx, o.Account, o.ID)
			switch {
			case err == nil:
				deleted++
			case errors.Is(err, metadb.ErrNotFound), errors.Is(err, metadb.ErrConflict):
				// Gone or committed in the meantime: nothing to collect.
			default:
				return n, fmt.Errorf("coordinator: delete stale upload %x: %w", o.ID, err)
			}
		}
		n += deleted
		if len(objs) < gcBatch || deleted == 0 {
			break
		}
	}
	return n, nil
}
