package cli

import (
	"testing"

	"github.com/squallbench/squall/internal/squalltest"
)

func freePort(t *testing.T) int { return squalltest.FreePort(t) }

// startServer runs `squall server` until the returned stop function is called.
func startServer(t *testing.T, db string, port int) (stop func()) {
	return squalltest.StartServer(t, db, port)
}
