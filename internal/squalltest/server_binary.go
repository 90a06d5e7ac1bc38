package squalltest

import "testing"

var officialCmd = &command{env: "SQUALL_SERVER_BINARY", pkg: "go.temporal.io/server/cmd/server", name: "temporal-server", make: "make temporal-server"}

// OfficialServer returns an official temporal-server binary (the
// go.temporal.io/server/cmd/server command): $SQUALL_SERVER_BINARY (the
// Makefile builds bin/temporal-server and sets it), or one built once per
// test process at the server version squall embeds (go.mod's tool line).
func OfficialServer(t testing.TB) string {
	t.Helper()
	SkipIfShort(t)
	return officialCmd.get(t)
}
