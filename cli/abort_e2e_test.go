package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

// A threshold that stays broken stops a long run after the abort time,
// not at its end: the run fails with its report, which says which
// threshold stopped it and when; what was started is still verified.
func TestAbortOnFailStopsTheLoad(t *testing.T) {
	began := time.Now()
	res := squalltest.Run(t, 4*time.Minute, "--scenario", "noop", "--rate", "10/s", "--duration", "10m",
		"--threshold", "p99<1ms", "--abort-on-fail", "4s")
	took := time.Since(began)
	rep := res.Report
	if rep == nil {
		t.Fatalf("no report (exit %d)\n%s", res.Exit, res.Stderr)
	}
	if res.Exit != 1 || rep.Verdict != reports.VerdictFail {
		t.Errorf("exit %d verdict %s: want 1 and fail", res.Exit, rep.Verdict)
	}
	s := squalltest.Scenario(t, rep, "noop")
	var stopped bool
	for _, inv := range s.Invariants {
		if inv.Name == "thresholds-held-during-load" {
			stopped = !inv.OK && strings.Contains(inv.Detail, "p99<1ms broken at every check for") && strings.Contains(inv.Detail, "the load was stopped")
			t.Logf("%s: %s", inv.Name, inv.Detail)
		}
	}
	if !stopped {
		t.Errorf("no failed thresholds-held-during-load naming p99<1ms: %+v", s.Invariants)
	}
	// A 2 s window, then 4 s of breach: the load stops within seconds of
	// the first check, far from the 10 minutes planned.
	if s.Started > 200 || took > 3*time.Minute {
		t.Errorf("started %d in %s: want the load stopped after about 6 s", s.Started, took)
	}
	if s.Lost != 0 || s.Verification == nil {
		t.Errorf("lost %d, verification %v: what was started must still be verified", s.Lost, s.Verification)
	}
	if _, err := os.Stat(filepath.Join(res.Dir, reports.FileMarkdown)); err != nil {
		t.Error(err)
	}
	if !strings.Contains(res.Stdout, "threshold p99<1ms broken") {
		t.Errorf("stdout does not say the threshold stopped the load:\n%s", res.Stdout)
	}
}

// --abort-on-fail without a threshold has nothing to judge: exit 2, one line.
func TestAbortOnFailNeedsAThreshold(t *testing.T) {
	res := squalltest.Exec(t, time.Minute, "run", "--scenario", "noop", "--duration", "5s", "--abort-on-fail", "5m")
	if res.Exit != 2 || !strings.Contains(res.Stderr, "add one, e.g. --threshold") || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q: want exit 2 and one line asking for --threshold", res.Exit, res.Stderr)
	}
}
