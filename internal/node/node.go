// Package node is a nuage storage node: it keeps encrypted pieces on disk
// and serves them over HTTPS to whoever presents an order signed by a
// coordinator it trusts (docs/spec.md §4–7).
//
// A node knows nothing of files, keys or owners: it sees piece IDs (hashes),
// sizes and signed orders. Its TLS certificate is self-signed with its
// Ed25519 identity, so peers authenticate it by pinning its node ID. It
// checks in with its coordinator periodically, reporting its address and
// free space; it learns the coordinator's key on first contact and pins it
// on disk (trust on first use) unless it was configured with one.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nuage-storage/nuage/internal/bulktls"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/node/piecestore"
)

// Defaults for the zero values of Config.
const (
	// DefaultListen is the address a node listens on when Config.Listen is empty.
	DefaultListen = ":7001"
	// DefaultCapacity is the space a node offers when Config.Capacity is zero: 10 GiB.
	DefaultCapacity = 10 << 30
	// DefaultCheckInInterval is the check-in period of docs/spec.md §7.1.
	DefaultCheckInInterval = 30 * time.Second
	// DefaultShutdownGrace is how long Run lets requests in flight finish
	// when its context ends before closing their connections.
	DefaultShutdownGrace = 5 * time.Second
)

// File names inside Config.DataDir.
const (
	IdentityFile       = "identity.pem"
	CoordinatorKeyFile = "coordinator.id"
)

// Timeouts of the HTTPS server. Bodies get more time, see transferTimeout.
const (
	readHeaderTimeout = 10 * time.Second
	requestTimeout    = time.Minute // reading or writing a request without a piece body
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
	// minTransferRate is the slowest average rate, in bytes per second, a
	// piece transfer may have before the node gives up on it.
	minTransferRate = 64 << 10
	// clientTimeout bounds one call to the coordinator with the default client.
	clientTimeout = 30 * time.Second
)

// Config configures a Node.
type Config struct {
	// DataDir holds the node's identity (identity.pem, created if absent),
	// the pinned coordinator key (coordinator.id) and the pieces.
	DataDir string
	// Listen is the TCP address to listen on (DefaultListen if empty;
	// "127.0.0.1:0" picks a free port). New binds it, so Addr is known.
	Listen string
	// Advertise is the address given to the coordinator; it defaults to the
	// actual listen address. Set it when listening on a wildcard address or
	// behind NAT.
	Advertise string
	// Capacity is the space offered for pieces, in bytes (DefaultCapacity if 0).
	Capacity int64
	// Coordinator is the coordinator's base URL, e.g. http://127.0.0.1:8080.
	// If empty the node never checks in (tests, in-process networks).
	Coordinator string
	// CoordinatorKey, if set, is the only coordinator (with
	// TrustedCoordinators) whose orders the node accepts. If nil and
	// TrustedCoordinators is empty, the node trusts the key pinned in
	// DataDir/coordinator.id, or learns it from GET {Coordinator}/api/v1/info
	// on first contact and pins it there (trust on first use). A pinned node
	// whose coordinator later presents another key logs an error on every
	// check-in and keeps refusing orders signed by the new key.
	CoordinatorKey *identity.ID
	// TrustedCoordinators are further trusted coordinator keys, for
	// in-process use. Setting any disables trust on first use.
	TrustedCoordinators []identity.ID
	// CheckInInterval is the period of check-ins (DefaultCheckInInterval if 0).
	CheckInInterval time.Duration
	// ShutdownGrace is how long Run waits for requests in flight when its
	// context ends (DefaultShutdownGrace if 0).
	ShutdownGrace time.Duration
	// Logger receives structured logs (slog.Default() if nil).
	Logger *slog.Logger
	// HTTPClient talks to the coordinator (a client with a 30 s timeout if nil).
	HTTPClient *http.Client
}

// Node is a storage node. Create it with New, then call Run.
type Node struct {
	cfg         Config
	ident       *identity.Identity
	id          identity.ID
	store       *piecestore.Store
	log         *slog.Logger
	ln          net.Listener
	srv         *http.Server
	advertise   string
	coordinator string // base URL without a trailing slash
	client      *http.Client
	ownClient   bool
	pinPath     string

	trust   trustSet
	serials serialSet

	running atomic.Bool

	// Handlers in flight, so that Run and Close return only after them.
	mu       sync.Mutex
	stopped  bool
	inflight sync.WaitGroup
}

// New loads (or creates) the node's identity, opens its piece store and
// binds its TLS listener. Call Run to serve, or Close to release it.
func New(cfg Config) (*Node, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("node: Config.DataDir is required")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.Capacity < 0 {
		return nil, fmt.Errorf("node: negative capacity %d", cfg.Capacity)
	}
	if cfg.CheckInInterval <= 0 {
		cfg.CheckInInterval = DefaultCheckInInterval
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{cfg: cfg, pinPath: filepath.Join(cfg.DataDir, CoordinatorKeyFile)}
	if cfg.Coordinator != "" {
		u, err := url.Parse(cfg.Coordinator)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("node: coordinator URL %q: want http(s)://host[:port]", cfg.Coordinator)
		}
		n.coordinator = strings.TrimRight(cfg.Coordinator, "/")
	}

	ident, err := identity.LoadOrCreate(filepath.Join(cfg.DataDir, IdentityFile))
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.ident, n.id = ident, ident.ID()
	n.log = cfg.Logger.With("node", n.id.Short())

	if err := n.setupTrust(); err != nil {
		return nil, err
	}

	n.store, err = piecestore.Open(cfg.DataDir, cfg.Capacity)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}

	n.client = cfg.HTTPClient
	if n.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		n.client = &http.Client{Timeout: clientTimeout, Transport: tr}
		n.ownClient = true
	}

	tlsConf, err := ident.ServerTLSConfig()
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	tlsConf.NextProtos = []string{"http/1.1"}
	tcp, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("node: listen: %w", err)
	}
	n.ln = bulktls.NewListener(tcp, tlsConf)
	n.advertise = cfg.Advertise
	if n.advertise == "" {
		n.advertise = tcp.Addr().String()
	}
	if len(n.advertise) >= 1<<16 {
		tcp.Close()
		return nil, errors.New("node: advertised address too long")
	}
	if host, _, err := net.SplitHostPort(n.advertise); err == nil && n.coordinator != "" {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			n.log.Warn("advertising a wildcard address: the coordinator cannot reach it; set the advertised address", "address", n.advertise)
		}
	}

	// HTTP/1.1 only: pieces are bulk transfers, each on its own connection,
	// with an exact Content-Length.
	var protos http.Protocols
	protos.SetHTTP1(true)
	n.srv = &http.Server{
		Handler:           n.routes(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       requestTimeout,
		WriteTimeout:      requestTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		Protocols:         &protos,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	return n, nil
}

// ID returns the node ID (its Ed25519 public key).
func (n *Node) ID() identity.ID { return n.id }

// Addr returns the host:port the node listens on.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Store returns the node's piece store.
func (n *Node) Store() *piecestore.Store { return n.store }

// Run serves HTTPS and checks in with the coordinator (if configured) until
// ctx ends, then shuts down: it stops accepting connections, lets requests in
// flight finish for Config.ShutdownGrace, closes what remains and returns
// nil. It returns an error only if serving fails. Run may be called once.
func (n *Node) Run(ctx context.Context) error {
	if !n.running.CompareAndSwap(false, true) {
		return errors.New("node: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	serveErr := make(chan error, 1)
	go func() { serveErr <- n.srv.Serve(n.ln) }()
	var wg sync.WaitGroup
	wg.Go(func() { n.checkInLoop(ctx) })
	n.log.Info("node serving", "addr", n.Addr(), "advertise", n.advertise,
		"capacity", n.store.Capacity(), "used", n.store.Used())

	var err error
	select {
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.Background(), n.cfg.ShutdownGrace)
		if serr := n.srv.Shutdown(sctx); serr != nil {
			n.log.Warn("shutdown grace over; closing connections in flight", "err", serr)
			n.srv.Close()
		}
		scancel()
		<-serveErr
	case err = <-serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil // Close was called
		} else {
			n.srv.Close()
		}
	}
	cancel()
	wg.Wait()
	n.waitHandlers()
	if n.ownClient {
		n.client.CloseIdleConnections()
	}
	if err != nil {
		return fmt.Errorf("node: serve: %w", err)
	}
	n.log.Info("node stopped")
	return nil
}

// Close stops the node at once, as a crash would look to its clients: it
// closes the listener and every connection, then waits for the handlers
// that were running to return. It is safe to call more than once, and with
// or without Run.
func (n *Node) Close() error {
	err := n.srv.Close()
	if lerr := n.ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) && err == nil {
		err = lerr
	}
	n.waitHandlers()
	if n.ownClient {
		n.client.CloseIdleConnections()
	}
	if err != nil {
		return fmt.Errorf("node: close: %w", err)
	}
	return nil
}

// enter registers a handler in flight; it reports false once the node is
// stopping.
func (n *Node) enter() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return false
	}
	n.inflight.Add(1)
	return true
}

func (n *Node) leave() { n.inflight.Done() }

func (n *Node) waitHandlers() {
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	n.inflight.Wait()
}
