package cli

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
)

// startWorker runs `squall worker` on a task queue until stopped, as a
// user's own worker would be.
func startWorker(t *testing.T, addr, taskQueue string) (stop func()) {
	t.Helper()
	cmd := exec.Command(squalltest.Binary(t), "worker", "--address", addr, "--task-queue", taskQueue)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
}

// Bring your own workflows: the user's worker serves the type on the
// user's queue; squall starts no workers of its own and verifies as usual.
// A type nobody serves, or a queue nobody polls, fails fast and clearly.
func TestWorkflowScenarioOnUsersWorkers(t *testing.T) {
	squalltest.SkipIfShort(t)
	dir := t.TempDir()
	port := squalltest.ServerPort(t)
	stopServer := startServer(t, filepath.Join(dir, "t.db"), port)
	defer stopServer()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	stopWorker := startWorker(t, addr, "my-q")
	defer stopWorker()

	res := squalltest.Run(t, 3*time.Minute, "--scenario", "workflow", "--option", "type=squall.noop", "--option", "task-queue=my-q",
		"--option", "input=1", "--address", addr, "--rate", "10/s", "--duration", "10s")
	if res.Exit != 0 {
		t.Fatalf("exit %d: %s", res.Exit, res.Stderr)
	}
	s := squalltest.Scenario(t, res.Report, "workflow")
	if s.Completed != 100 || s.Lost != 0 || res.Report.Run.Workers != 0 {
		t.Errorf("completed %d lost %d workers %d: want 100 completed on the user's worker, none of squall's", s.Completed, s.Lost, res.Report.Run.Workers)
	}

	began := time.Now()
	res = squalltest.Run(t, 2*time.Minute, "--scenario", "workflow", "--option", "type=acme.Unknown", "--option", "task-queue=my-q",
		"--address", addr, "--rate", "10/s", "--duration", "30s")
	if res.Exit != 2 || !strings.Contains(res.Stderr, `workflow type "acme.Unknown"`) || !strings.Contains(res.Stderr, "unable to find workflow type") {
		t.Errorf("unknown type: exit %d, stderr %q: want exit 2 naming the type and the worker's answer", res.Exit, res.Stderr)
	}
	if took := time.Since(began); took > 25*time.Second {
		t.Errorf("unknown type took %s to report: it must fail fast, not wait out the load", took)
	}

	res = squalltest.Run(t, 2*time.Minute, "--scenario", "workflow", "--option", "type=squall.noop", "--option", "task-queue=nobody-polls",
		"--option", "first-task-timeout=3s", "--address", addr, "--duration", "10s")
	if res.Exit != 2 || !strings.Contains(res.Stderr, `no worker polls task queue "nobody-polls"`) {
		t.Errorf("unpolled queue: exit %d, stderr %q", res.Exit, res.Stderr)
	}
}
