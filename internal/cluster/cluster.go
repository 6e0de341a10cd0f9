// Package cluster runs a coordinator and any number of storage nodes in one
// process, each with its own data directory: what `nuage serve` starts, and
// what the test harness (internal/testnet) builds on.
package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/coordinator"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb/sqlite"
	"github.com/nuage-storage/nuage/internal/node"
)

// Config describes a one-machine network.
type Config struct {
	// DataDir holds everything: coordinator/ (database, identity, secret)
	// and nodes/N/ (identity, pieces).
	DataDir string
	// Listen is the coordinator's address (host:port; port 0 picks one).
	Listen string
	// Nodes is how many storage nodes to run in this process.
	Nodes int
	// NodeHost is the interface nodes listen on (default 127.0.0.1). Node i
	// reuses the port it had before when restarted.
	NodeHost string
	// NodeCapacity is each node's capacity in bytes (0: node default).
	NodeCapacity int64
	// Scheme, SegmentSize and InlineMax configure the coordinator (zero: its defaults).
	Scheme      api.Scheme
	SegmentSize int64
	InlineMax   int64
	// Quota is each account's storage quota in ciphertext bytes (0: unlimited).
	Quota int64
	// CheckInInterval and DeletionInterval (zero: defaults).
	CheckInInterval  time.Duration
	DeletionInterval time.Duration
	NodeOnline       time.Duration
	Logger           *slog.Logger
}

// Cluster is a running coordinator with its in-process nodes.
type Cluster struct {
	cfg         Config
	Coordinator *coordinator.Coordinator
	DB          *sqlite.DB
	Identity    *identity.Identity
	URL         string
	log         *slog.Logger

	srv    *http.Server
	fresh  freshConns
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	nodes []*Node
}

// Node is one in-process storage node.
type Node struct {
	Index   int
	DataDir string
	addr    string
	n       *node.Node
	cancel  context.CancelFunc
	done    chan struct{}
}

// ID returns the node's identity.
func (n *Node) ID() identity.ID { return n.n.ID() }

// Addr returns the node's listen address.
func (n *Node) Addr() string { return n.addr }

// Running reports whether the node is serving.
func (n *Node) Running() bool { return n.cancel != nil }

// Start opens the coordinator's database, starts its HTTP server and the
// configured nodes, and returns once everything listens.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NodeHost == "" {
		cfg.NodeHost = "127.0.0.1"
	}
	if cfg.DataDir == "" {
		return nil, errors.New("cluster: no data directory")
	}
	cdir := filepath.Join(cfg.DataDir, "coordinator")
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	ident, err := identity.LoadOrCreate(filepath.Join(cdir, "identity.pem"))
	if err != nil {
		return nil, err
	}
	secret, err := loadOrCreateSecret(filepath.Join(cdir, "secret"))
	if err != nil {
		return nil, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(cdir, "meta.db"))
	if err != nil {
		return nil, err
	}
	coord, err := coordinator.New(coordinator.Config{
		DB:               db,
		Identity:         ident,
		Scheme:           cfg.Scheme,
		SegmentSize:      cfg.SegmentSize,
		InlineMax:        cfg.InlineMax,
		DeletionInterval: cfg.DeletionInterval,
		NodeOnline:       cfg.NodeOnline,
		Quota:            cfg.Quota,
		Secret:           secret,
		Logger:           cfg.Logger.With("role", "coordinator"),
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("coordinator: listen on %s: %w", cfg.Listen, err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{
		cfg: cfg, Coordinator: coord, DB: db, Identity: ident, log: cfg.Logger,
		URL: "http://" + ln.Addr().String(), ln: ln, ctx: cctx, cancel: cancel,
		srv: &http.Server{Handler: coord.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
	}
	c.srv.ConnState = c.fresh.track
	c.srv.RegisterOnShutdown(c.fresh.close)
	c.wg.Go(func() {
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("coordinator server stopped", "err", err)
		}
	})
	c.wg.Go(func() {
		if err := coord.Run(cctx); err != nil {
			c.log.Error("coordinator background work stopped", "err", err)
		}
	})
	for i := range cfg.Nodes {
		if _, err := c.AddNode(); err != nil {
			c.Close()
			return nil, fmt.Errorf("start node %d: %w", i, err)
		}
	}
	return c, nil
}

// AddNode starts one more in-process node.
func (c *Cluster) AddNode() (*Node, error) {
	c.mu.Lock()
	i := len(c.nodes)
	n := &Node{Index: i, DataDir: filepath.Join(c.cfg.DataDir, "nodes", strconv.Itoa(i)), addr: net.JoinHostPort(c.cfg.NodeHost, "0")}
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	return n, c.StartNode(i)
}

// Nodes returns the in-process nodes.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// StartNode (re)starts node i on its data directory and former address.
func (c *Cluster) StartNode(i int) error {
	c.mu.Lock()
	n := c.nodes[i]
	c.mu.Unlock()
	if n.cancel != nil {
		return fmt.Errorf("node %d is already running", i)
	}
	coordID := c.Identity.ID()
	nd, err := node.New(node.Config{
		DataDir:         n.DataDir,
		Listen:          n.addr,
		Capacity:        c.cfg.NodeCapacity,
		Coordinator:     c.URL,
		CoordinatorKey:  &coordID,
		CheckInInterval: c.cfg.CheckInInterval,
		Logger:          c.log.With("role", "node", "node", i),
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	n.n, n.cancel, n.done, n.addr = nd, cancel, make(chan struct{}), nd.Addr()
	go func() {
		defer close(n.done)
		if err := nd.Run(ctx); err != nil {
			c.log.Error("node stopped", "node", i, "err", err)
		}
	}()
	return nil
}

// KillNode stops node i abruptly: listener and connections close at once,
// as a crash looks to clients.
func (c *Cluster) KillNode(i int) {
	c.mu.Lock()
	n := c.nodes[i]
	c.mu.Unlock()
	if n.cancel == nil {
		return
	}
	_ = n.n.Close()
	n.cancel()
	<-n.done
	n.cancel = nil
}

// WaitNodes waits until the coordinator has seen want nodes check in.
func (c *Cluster) WaitNodes(ctx context.Context, want int) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		ns, err := c.DB.Nodes(ctx, time.Now().Add(-time.Hour))
		if err == nil && len(ns) >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d nodes to check in (have %d): %w", want, len(ns), ctx.Err())
		case <-t.C:
		}
	}
}

// Close stops the nodes, the coordinator, and closes the database.
func (c *Cluster) Close() error {
	for _, n := range c.Nodes() {
		if n.cancel != nil {
			n.cancel()
			<-n.done
			n.cancel = nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.srv.Shutdown(ctx)
	c.cancel()
	c.wg.Wait()
	return errors.Join(err, c.DB.Close())
}

// freshConns tracks the coordinator server's connections that have not
// sent a request yet (http.StateNew). A graceful shutdown waits up to 5 s
// for each (browsers open such connections ahead of need, and HTTP clients
// leave spare ones in their pools); close closes them, as no request is in
// flight on them, once Shutdown has closed the listener.
type freshConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (f *freshConns) track(c net.Conn, s http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s != http.StateNew {
		delete(f.conns, c)
		return
	}
	if f.conns == nil {
		f.conns = make(map[net.Conn]struct{})
	}
	f.conns[c] = struct{}{}
}

func (f *freshConns) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
	}
	clear(f.conns)
}

func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("coordinator secret %s has %d bytes, want 32", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write coordinator secret: %w", err)
	}
	return b, nil
}
