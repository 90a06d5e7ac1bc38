package cli_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/squalltest"
)

// squall ping answers for a cluster that serves (exit 0, its version) and
// names the address of one that does not (exit 2, one line, no hint to
// fall back on a server ping never starts).
func TestPing(t *testing.T) {
	squalltest.SkipIfShort(t)
	port := squalltest.ServerPort(t)
	stop := squalltest.StartServer(t, filepath.Join(t.TempDir(), "ping.db"), port)
	defer stop()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	res := squalltest.Exec(t, time.Minute, "ping", "--address", addr)
	if res.Exit != 0 || !strings.Contains(res.Stdout, "answers: "+addr) || !strings.Contains(res.Stdout, "Temporal server "+cluster.ServerVersion) {
		t.Errorf("ping %s: exit %d, stdout %q, stderr %q: want 0 and the server's version", addr, res.Exit, res.Stdout, res.Stderr)
	}
	res = squalltest.Exec(t, time.Minute, "ping", "--address", addr, "--namespace", "no-such-namespace")
	if res.Exit != 2 || !strings.Contains(res.Stderr, `namespace "no-such-namespace"`) {
		t.Errorf("ping an unknown namespace: exit %d, stderr %q: want 2 naming the namespace", res.Exit, res.Stderr)
	}
	closed := fmt.Sprintf("127.0.0.1:%d", squalltest.FreePort(t))
	res = squalltest.Exec(t, time.Minute, "ping", "--address", closed, "--connect-timeout", "2s")
	if res.Exit != 2 || !strings.Contains(res.Stderr, closed) || strings.Contains(res.Stderr, "embedded") ||
		strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Errorf("ping %s (nothing there): exit %d, stderr %q: want 2 and one line naming the address", closed, res.Exit, res.Stderr)
	}
}
