package cli

import (
	"testing"

	"github.com/squallbench/squall/internal/squalltest"
)

// startServer runs `squall server` until the returned stop function is called.
func startServer(t *testing.T, db string, port int) (stop func()) {
	return squalltest.StartServer(t, db, port)
}
