package coordinator

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// MaxCheckInSkew is how far a check-in's time may be from the
// coordinator's clock (spec §7.1).
const MaxCheckInSkew = 5 * time.Minute

// maxAddressLen bounds a node's advertised address.
const maxAddressLen = 255

func (c *Coordinator) handleInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, api.Info{
		Version:     Version,
		Coordinator: c.id.ID(),
		Scheme:      c.scheme,
		SegmentSize: c.segmentSize,
		InlineMax:   c.inlineMax,
	})
}

func (c *Coordinator) handleUsage(w http.ResponseWriter, r *http.Request, s session) {
	u, err := c.db.Usage(r.Context(), s.account)
	if err != nil {
		c.fail(w, r, err, "account")
		return
	}
	writeJSON(w, api.Usage{Used: u.Bytes, Quota: c.quota, Files: u.Files, Folders: u.Folders})
}

// checkAddress checks that a node address is host:port with a port in 1..65535.
func checkAddress(addr string) error {
	if len(addr) > maxAddressLen {
		return fmt.Errorf("address is longer than %d bytes", maxAddressLen)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q is not host:port: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", addr)
	}
	for _, r := range host {
		if r <= ' ' || r == '/' || r == '@' || r == '?' || r == '#' || r > '~' {
			return fmt.Errorf("address %q has a character not allowed in a host name", addr)
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
		return fmt.Errorf("address %q has no valid port", addr)
	}
	return nil
}

func (c *Coordinator) handleCheckIn(w http.ResponseWriter, r *http.Request) {
	var ci api.CheckIn
	if herr := decode(w, r, &ci, false); herr != nil {
		c.fail(w, r, herr, "")
		return
	}
	if ci.Node.IsZero() {
		c.fail(w, r, badRequest("node is required"), "")
		return
	}
	if !api.VerifyCheckIn(ci) {
		writeError(w, http.StatusUnauthorized, api.Error{
			Error: "check-in signature does not verify under the node ID", Code: api.CodeUnauthorized,
			Hint: "the node must sign with the key its ID names",
		})
		return
	}
	now := c.now()
	if skew := now.Sub(time.Unix(ci.Time, 0)); skew > MaxCheckInSkew || skew < -MaxCheckInSkew {
		c.fail(w, r, &httpError{http.StatusBadRequest, api.Error{
			Error: fmt.Sprintf("check-in time is %s away from the coordinator's clock (at most %s allowed)",
				skew.Abs().Round(time.Second), MaxCheckInSkew),
			Code: api.CodeBadRequest,
			Hint: "synchronise the node's clock (NTP)",
		}}, "")
		return
	}
	if err := checkAddress(ci.Address); err != nil {
		c.fail(w, r, badRequest("%v", err), "")
		return
	}
	if ci.Capacity < 0 || ci.Used < 0 {
		c.fail(w, r, badRequest("capacity and used must not be negative"), "")
		return
	}
	n := metadb.Node{ID: ci.Node, Address: ci.Address, Capacity: ci.Capacity, Used: ci.Used, LastSeen: now, Created: now}
	if err := c.db.UpsertNode(r.Context(), n); err != nil {
		c.fail(w, r, err, "node")
		return
	}
	c.log.Debug("node checked in", "node", ci.Node.Short(), "address", ci.Address, "free", ci.Capacity-ci.Used)
	writeJSON(w, api.CheckInResponse{Coordinator: c.id.ID()})
}
