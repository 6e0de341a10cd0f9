package bulktls

import (
	"crypto/tls"
	"testing"

	"github.com/nuage-storage/nuage/internal/identity"
)

// testConfigs returns a node-style server configuration and a client
// configuration pinned to it.
func testConfigs(tb testing.TB) (srv, cli *tls.Config) {
	tb.Helper()
	id, err := identity.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	srv, err = id.ServerTLSConfig()
	if err != nil {
		tb.Fatal(err)
	}
	return srv, identity.PinnedClientTLSConfig(id.ID())
}
