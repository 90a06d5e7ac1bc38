package faults_test

import (
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/squallbench/squall/internal/squalltest"
)

// runContainerFault runs noop on --cluster container with worker
// containers and one container fault; nothing may be lost and the window
// must be injected and healed without error.
func runContainerFault(t *testing.T, fault string) {
	t.Helper()
	squalltest.SkipIfShort(t)
	testcontainers.SkipIfProviderIsNotHealthy(t)
	res := squalltest.Run(t, 8*time.Minute, "--scenario", "noop", "--cluster", "container", "--worker-containers", "--workers", "2",
		"--rate", "5/s", "--duration", "15s", "--grace", "150s", "--verify-wait", "90s", "--fault", fault)
	s := squalltest.Scenario(t, res.Report, "noop")
	if res.Exit != 0 || res.Report.Verdict != "pass" || s.Lost != 0 || s.Completed != s.Started {
		t.Errorf("%s: exit %d verdict %s started %d completed %d lost %d; errors %v", fault, res.Exit, res.Report.Verdict, s.Started, s.Completed, s.Lost, s.Errors)
	}
	if len(res.Report.Faults) != 1 {
		t.Fatalf("%d fault windows, want 1", len(res.Report.Faults))
	}
	if w := res.Report.Faults[0]; w.Error != "" || w.Skipped != "" || !w.HealedAt.After(w.InjectedAt) {
		t.Errorf("fault window %+v: want injected, then healed, no error", w)
	}
}

func TestContainerPauseServer(t *testing.T) { runContainerFault(t, "container-pause at=4s for=3s") }

func TestContainerStopWorker(t *testing.T) {
	runContainerFault(t, "container-stop at=4s for=3s target=worker=1")
}

func TestContainerKillServer(t *testing.T) { runContainerFault(t, "container-kill at=4s for=3s") }

func TestContainerNetDisconnectServer(t *testing.T) {
	runContainerFault(t, "container-net-disconnect at=4s for=3s")
}

// Without --cluster container there is no container to act on: refused
// before any load, as a usage error.
func TestContainerFaultNeedsContainerCluster(t *testing.T) {
	res := squalltest.Exec(t, time.Minute, "run", "--scenario", "noop", "--rate", "5/s", "--duration", "5s",
		"--fault", "container-kill at=1s for=1s", "--out", t.TempDir())
	if res.Exit != 2 || !strings.Contains(res.Stderr, "needs --cluster container") {
		t.Errorf("exit %d stderr %q: want exit 2 naming --cluster container", res.Exit, res.Stderr)
	}
	res = squalltest.Exec(t, time.Minute, "run", "--scenario", "noop", "--cluster", "container", "--rate", "5/s", "--duration", "5s",
		"--fault", "container-pause at=1s for=1s target=worker=0", "--out", t.TempDir())
	if res.Exit != 2 || !strings.Contains(res.Stderr, "needs --worker-containers") {
		t.Errorf("exit %d stderr %q: want exit 2 naming --worker-containers", res.Exit, res.Stderr)
	}
}
