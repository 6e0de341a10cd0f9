package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/order"
	"github.com/nuage-storage/nuage/internal/piece"
)

// fuzzSeeds returns Nuage-Order headers: valid ones (for node, by coord)
// and near misses.
func fuzzSeeds(t testing.TB, coord *identity.Identity, node identity.ID, id piece.ID) []string {
	var seeds []string
	for _, a := range []order.Action{order.Put, order.Get, order.Delete} {
		o := order.New(a, node, id, 100, time.Hour)
		seeds = append(seeds, EncodeOrder(o.Sign(coord)))
	}
	valid := seeds[0]
	return append(seeds, "", "A", strings.Repeat("A", len(valid)), strings.Repeat("_", len(valid)),
		valid[:len(valid)-1]+"B", valid[:len(valid)-1], valid+"A", valid+"==")
}

func FuzzDecodeOrder(f *testing.F) {
	coord, err := identity.Generate()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range fuzzSeeds(f, coord, identity.ID{1}, piece.ID{2}) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, hdr string) {
		o, err := DecodeOrder(hdr)
		if err != nil {
			if !errors.Is(err, order.ErrMalformed) && !errors.Is(err, order.ErrBadSignature) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrBadSignature", err)
			}
			return
		}
		if got := EncodeOrder(o.Marshal()); got != hdr {
			t.Fatalf("order decoded from %q encodes to %q", hdr, got)
		}
	})
}

// FuzzOrderHeader sends requests with arbitrary Nuage-Order headers through
// the node's handler: it must answer every one with a JSON error, except
// the valid orders.
func FuzzOrderHeader(f *testing.F) {
	coord, err := identity.Generate()
	if err != nil {
		f.Fatal(err)
	}
	n, err := New(Config{DataDir: f.TempDir(), Listen: "127.0.0.1:0", Capacity: 1 << 20,
		TrustedCoordinators: []identity.ID{coord.ID()}, Logger: discardLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { n.Close() })
	_, id := randomPiece(1, 100)
	methods := []string{http.MethodPut, http.MethodGet, http.MethodDelete, http.MethodHead}
	actions := []order.Action{order.Put, order.Get, order.Delete, order.Get}
	for _, s := range fuzzSeeds(f, coord, n.ID(), id) {
		for m := range methods {
			f.Add(uint8(m), s)
		}
	}
	path := "/v1/pieces/" + id.String()
	f.Fuzz(func(t *testing.T, m uint8, hdr string) {
		method, action := methods[int(m)%len(methods)], actions[int(m)%len(methods)]
		req := httptest.NewRequest(method, path, bytes.NewReader(make([]byte, 100)))
		req.Header[order.Header] = []string{hdr}
		w := httptest.NewRecorder()
		n.srv.Handler.ServeHTTP(w, req)
		switch {
		case w.Code == http.StatusNoContent && method == http.MethodDelete,
			w.Code == http.StatusOK && method == http.MethodPut:
			if o, err := DecodeOrder(hdr); err != nil || o.Check(time.Now(), n.ID(), action, id, n.trust.trusted) != nil {
				t.Fatalf("%s with order %q answered %d", method, hdr, w.Code)
			}
			n.store.Delete(id)
		case w.Code >= 400 && w.Code < 500:
			if method == http.MethodHead {
				return
			}
			var e api.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code == "" || e.Error == "" {
				t.Fatalf("%d answer %q is not an api.Error", w.Code, w.Body.Bytes())
			}
		default:
			t.Fatalf("%s with order %q answered %d %s", method, hdr, w.Code, w.Body.Bytes())
		}
	})
}
