package coordinator

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/order"
	"github.com/nuage-storage/nuage/internal/piece"
)

// Bounds of one deletion pass.
const (
	deletionBatch      = 100 // deletions fetched per query
	deletionMaxBatches = 10  // batches per node per pass
	deletionWorkers    = 4   // nodes served at once
	maxCachedClients   = 1024

	dialTimeout      = 5 * time.Second
	handshakeTimeout = 5 * time.Second
	headerTimeout    = 10 * time.Second
	requestTimeout   = 15 * time.Second
)

// errDelivery reports a node that did not accept a deletion.
var errDelivery = errors.New("node did not accept the deletion")

// DeliverDeletions makes one pass over the queued piece deletions: for
// each node that has some, it sends signed DELETE orders over TLS pinned to
// the node's ID, removes the deletions the node acknowledged (204 or 404)
// and counts a failed attempt for the first one it did not, then moves on.
// Nodes that have not checked in within NodeOnline are skipped until they
// do; a node that is down or slow does not hold up the others. The returned
// error reports database failures only; delivery failures are logged and
// retried on the next pass.
func (c *Coordinator) DeliverDeletions(ctx context.Context) error {
	ids, err := c.db.NodesWithDeletions(ctx)
	if err != nil {
		return fmt.Errorf("coordinator: nodes with deletions: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	work := make(chan identity.ID)
	errs := make([]error, deletionWorkers)
	var wg sync.WaitGroup
	for w := range min(deletionWorkers, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if err := c.deliverTo(ctx, id); err != nil {
					errs[w] = errors.Join(errs[w], err)
				}
			}
		}()
	}
feed:
	for _, id := range ids {
		select {
		case work <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// deliverTo delivers the pending deletions of one node, batch by batch,
// until none is left, a delivery fails or the pass's bound is reached.
func (c *Coordinator) deliverTo(ctx context.Context, id identity.ID) error {
	nd, err := c.db.NodeByID(ctx, id)
	if errors.Is(err, metadb.ErrNotFound) {
		c.log.Warn("deletions queued for an unknown node", "node", id.Short())
		return nil
	}
	if err != nil {
		return fmt.Errorf("coordinator: node %s: %w", id.Short(), err)
	}
	if nd.LastSeen.Before(c.now().Add(-c.nodeOnline)) {
		return nil // offline: retried once it checks in again
	}
	client := c.client(id)
	for range deletionMaxBatches {
		ds, err := c.db.PendingDeletions(ctx, id, deletionBatch)
		if err != nil {
			return fmt.Errorf("coordinator: pending deletions of %s: %w", id.Short(), err)
		}
		if len(ds) == 0 {
			return nil
		}
		done := make([]piece.ID, 0, len(ds))
		var failed error
		for _, d := range ds {
			if failed = c.deleteOne(ctx, client, nd, d.Piece); failed != nil {
				if ctx.Err() == nil {
					if err := c.db.FailedDeletions(ctx, id, []piece.ID{d.Piece}); err != nil {
						failed = errors.Join(failed, err)
					}
				}
				break
			}
			done = append(done, d.Piece)
		}
		if len(done) > 0 {
			// Record what was delivered even if ctx was cancelled meanwhile.
			if err := c.db.DoneDeletions(context.WithoutCancel(ctx), id, done); err != nil {
				return fmt.Errorf("coordinator: record deletions on %s: %w", id.Short(), err)
			}
			c.log.Debug("deleted pieces", "node", id.Short(), "pieces", len(done))
		}
		if failed != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("piece deletion failed; will retry", "node", id.Short(), "address", nd.Address, "err", failed)
			return nil
		}
		if len(ds) < deletionBatch {
			return nil
		}
	}
	return nil
}

// deleteOne sends one DELETE order to a node.
func (c *Coordinator) deleteOne(ctx context.Context, client *http.Client, nd metadb.Node, p piece.ID) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, "https://"+nd.Address+"/v1/pieces/"+p.String(), nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errDelivery, err)
	}
	req.Header.Set(order.Header, base64.RawURLEncoding.EncodeToString(c.signOrder(order.Delete, nd.ID, p, 0)))
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errDelivery, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusNotFound, http.StatusOK:
		return nil
	}
	return fmt.Errorf("%w: %s: %s", errDelivery, resp.Status, msg)
}

// client returns the cached HTTP client pinned to node id.
func (c *Coordinator) client(id identity.ID) *http.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[id]; ok {
		return cl
	}
	if len(c.clients) >= maxCachedClients {
		for k, cl := range c.clients {
			cl.CloseIdleConnections()
			delete(c.clients, k)
			if len(c.clients) < maxCachedClients/2 {
				break
			}
		}
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       identity.PinnedClientTLSConfig(id),
		TLSHandshakeTimeout:   handshakeTimeout,
		ResponseHeaderTimeout: headerTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     true,
	}
	cl := &http.Client{
		Transport: tr,
		Timeout:   requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a node never redirects a deletion
		},
	}
	c.clients[id] = cl
	return cl
}

// closeClients closes the idle connections of every cached client.
func (c *Coordinator) closeClients() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, cl := range c.clients {
		cl.CloseIdleConnections()
		delete(c.clients, k)
	}
}
