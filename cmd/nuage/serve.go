package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/cluster"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/node"
)

// envDefault returns the environment variable's value, or def.
func envDefault(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func defaultDataDir() string {
	if d := os.Getenv("NUAGE_DATA"); d != "" {
		return d
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".local", "share", "nuage")
	}
	return "nuage-data"
}

// sizeFlag is a byte count given in human form ("10GiB", "500MB").
type sizeFlag int64

func (s *sizeFlag) String() string {
	if *s == 0 {
		return "0"
	}
	return humanize.IBytes(uint64(*s))
}
func (s *sizeFlag) Type() string { return "size" }
func (s *sizeFlag) Set(v string) error {
	n, err := humanize.ParseBytes(v)
	if err != nil {
		return fmt.Errorf("%q is not a size (try 10GiB or 500MB)", v)
	}
	*s = sizeFlag(n)
	return nil
}

func (a *app) serveCommand() *cobra.Command {
	var (
		listen, data      string
		nodes, k, n, succ int
		nodeCap, segment  sizeFlag
	)
	nodeCap = 10 << 30
	cmd := &cobra.Command{
		Use:     "serve",
		GroupID: "run",
		Short:   "Run a coordinator and storage nodes on this machine",
		Long: `Run a coordinator, with its metadata in an embedded SQLite database, and
--nodes storage nodes in the same process, all data under --data.

With --nodes 0 only the coordinator runs; start nodes separately with
'nuage node --coordinator URL'. The coordinator never holds a key: it stores
accounts, encrypted metadata and where pieces are.

The default erasure scheme stores each segment as 6 pieces on 6 different
nodes, any 4 of which rebuild it: any 2 nodes can be lost.`,
		Example: `  nuage serve
  nuage serve --listen 0.0.0.0:8080 --nodes 0 --data /srv/nuage`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 0 || nodes > 256 {
				return usagef("--nodes must be between 0 and 256")
			}
			if err := os.MkdirAll(data, 0o700); err != nil {
				return fmt.Errorf("data directory: %w", err)
			}
			log := a.serverLogger()
			c, err := cluster.Start(cmd.Context(), cluster.Config{
				DataDir:      data,
				Listen:       listen,
				Nodes:        nodes,
				NodeCapacity: int64(nodeCap),
				Scheme:       api.Scheme{K: k, N: n, Success: succ},
				SegmentSize:  int64(segment),
				Logger:       log,
			})
			if err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			err = c.WaitNodes(wctx, nodes)
			cancel()
			if err != nil {
				c.Close()
				return err
			}
			fmt.Fprintf(a.stdout, "nuage coordinator listening on %s\n", c.URL)
			fmt.Fprintf(a.stdout, "  coordinator ID %s\n", c.Identity.ID())
			fmt.Fprintf(a.stdout, "  data under %s\n", data)
			for _, nd := range c.Nodes() {
				fmt.Fprintf(a.stdout, "  storage node %d on %s (ID %s)\n", nd.Index, nd.Addr(), nd.ID().Short())
			}
			if nodes == 0 {
				fmt.Fprintf(a.stdout, "  no in-process nodes: start some with\n    nuage node --coordinator %s --data DIR --listen 127.0.0.1:7001\n", c.URL)
			}
			fmt.Fprintf(a.stdout, "Try: NUAGE_SERVER=%s nuage signup you@example.org\n", c.URL)
			<-cmd.Context().Done()
			fmt.Fprintln(a.stderr, "shutting down")
			return c.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", envDefault("NUAGE_LISTEN", "127.0.0.1:8080"), "coordinator address (env NUAGE_LISTEN)")
	f.StringVar(&data, "data", defaultDataDir(), "directory for all data (env NUAGE_DATA)")
	f.IntVar(&nodes, "nodes", 6, "storage nodes to run in this process")
	f.Var(&nodeCap, "node-capacity", "capacity of each in-process node")
	f.IntVar(&k, "k", 0, "pieces needed to rebuild a segment (default 4)")
	f.IntVar(&n, "n", 0, "pieces stored per segment (default 6)")
	f.IntVar(&succ, "success", 0, "pieces after which an upload cuts the slowest (default n)")
	f.Var(&segment, "segment-size", "plaintext bytes per segment (default 16MiB)")
	return cmd
}

func (a *app) serverLogger() *slog.Logger {
	if a.verbose {
		return a.logger()
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func (a *app) nodeCommand() *cobra.Command {
	var (
		coordURL, data, listen, advertise, coordKey string
		capacity                                    sizeFlag
	)
	capacity = 10 << 30
	cmd := &cobra.Command{
		Use:     "node",
		GroupID: "run",
		Short:   "Run one storage node that joins a coordinator",
		Long: `Run a storage node: it keeps encrypted pieces on disk under --data and
serves them over TLS to clients holding orders signed by its coordinator.

The node's identity (an Ed25519 key) is created on first start in --data and
kept: restart it with the same --data. On first contact the node learns and
pins the coordinator's key; it refuses orders from any other key afterwards.`,
		Example: `  nuage node --coordinator http://127.0.0.1:8080 --data ~/nuage-node --listen 127.0.0.1:7001 --capacity 100GiB`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if coordURL == "" {
				return usagef("--coordinator is required")
			}
			cfg := node.Config{
				DataDir:     data,
				Listen:      listen,
				Advertise:   advertise,
				Capacity:    int64(capacity),
				Coordinator: coordURL,
				Logger:      a.serverLogger(),
			}
			if coordKey != "" {
				id, err := identity.ParseID(coordKey)
				if err != nil {
					return usagef("--coordinator-key: %v", err)
				}
				cfg.CoordinatorKey = &id
			}
			nd, err := node.New(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "nuage storage node %s listening on %s, capacity %s, data under %s\n",
				nd.ID(), nd.Addr(), humanize.IBytes(uint64(capacity)), data)
			err = nd.Run(cmd.Context())
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&coordURL, "coordinator", os.Getenv("NUAGE_COORDINATOR"), "coordinator URL (env NUAGE_COORDINATOR)")
	f.StringVar(&coordKey, "coordinator-key", "", "pin this coordinator ID instead of learning it on first contact")
	f.StringVar(&data, "data", envDefault("NUAGE_NODE_DATA", "nuage-node"), "directory for the node's identity and pieces (env NUAGE_NODE_DATA)")
	f.StringVar(&listen, "listen", envDefault("NUAGE_NODE_LISTEN", "127.0.0.1:7001"), "address to serve pieces on (env NUAGE_NODE_LISTEN)")
	f.StringVar(&advertise, "advertise", "", "address clients should use (default: the listen address)")
	f.Var(&capacity, "capacity", "disk space to offer")
	return cmd
}
