package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

// maxAnswer bounds the coordinator answers the node reads.
const maxAnswer = 1 << 20

// checkInLoop checks in at once, then every CheckInInterval, until ctx
// ends. While the coordinator is unreachable it retries with exponential
// backoff (from one second up to the interval), logging once per streak of
// failures; a coordinator presenting an untrusted key is logged every time.
func (n *Node) checkInLoop(ctx context.Context) {
	if n.coordinator == "" {
		return
	}
	interval := n.cfg.CheckInInterval
	initial := min(time.Second, interval)
	backoff := initial
	failing := false
	infoChecked := false
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := n.checkIn(ctx, &infoChecked)
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		switch {
		case err == nil:
			if failing {
				n.log.Info("coordinator reachable again", "coordinator", n.coordinator)
			}
			failing, backoff = false, initial
			// ±10 % jitter keeps many nodes from checking in in lockstep.
			wait = interval - interval/10 + rand.N(interval/5+1)
		case errors.Is(err, errCoordinatorChanged):
			n.log.Error("refusing coordinator", "coordinator", n.coordinator, "err", err)
			failing, wait = true, interval
		default:
			if !failing {
				n.log.Warn("check-in failed; retrying with backoff", "coordinator", n.coordinator, "err", err)
			} else {
				n.log.Debug("check-in failed again", "err", err, "retry_in", backoff)
			}
			failing, wait = true, backoff
			backoff = min(2*backoff, interval)
		}
		timer.Reset(wait)
	}
}

// checkIn checks the coordinator's key (once per Run, and again after every
// failure to do so) and sends one signed check-in.
func (n *Node) checkIn(ctx context.Context, infoChecked *bool) error {
	if !*infoChecked {
		var info api.Info
		if err := n.call(ctx, http.MethodGet, api.Prefix+"/info", nil, &info); err != nil {
			return err
		}
		if err := n.acceptCoordinator(info.Coordinator); err != nil {
			return err
		}
		*infoChecked = true
	}
	c := api.CheckIn{
		Address:  n.advertise,
		Capacity: n.store.Capacity(),
		Used:     n.store.Used(),
		Time:     time.Now().Unix(),
	}
	api.SignCheckIn(&c, n.ident)
	var resp api.CheckInResponse
	if err := n.call(ctx, http.MethodPost, api.Prefix+"/nodes/checkin", c, &resp); err != nil {
		return err
	}
	if !resp.Coordinator.IsZero() && !n.trust.trusted(resp.Coordinator) {
		*infoChecked = false
		return n.acceptCoordinator(resp.Coordinator)
	}
	n.log.Debug("checked in", "used", c.Used, "capacity", c.Capacity)
	return nil
}

// call sends a JSON request to the coordinator and decodes its JSON answer.
func (n *Node) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("node: encode %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.coordinator+path, body)
	if err != nil {
		return fmt.Errorf("node: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("node: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 != 2 {
		var e api.Error
		if dec.Decode(&e) == nil && e.Error != "" {
			return fmt.Errorf("node: %s %s: %s: %s (%s)", method, path, resp.Status, e.Error, e.Code)
		}
		return fmt.Errorf("node: %s %s: %s", method, path, resp.Status)
	}
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("node: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}
