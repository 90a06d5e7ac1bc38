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

// A soak in small: --fault-every places a fault every 5 s of the kinds in
// turn (worker-kill, server-pause, worker-kill), each lasting --fault-for,
// and --verify-every verifies closed workflows in batches while the load
// runs. Every fault was injected and healed where it was placed, nothing
// was lost, and the report says how much was verified during the load.
func TestSoakFaultEveryVerifyEvery(t *testing.T) {
	res := squalltest.Run(t, 4*time.Minute, "--scenario", "noop", "--rate", "10/s", "--duration", "16s", "--workers", "1",
		"--fault-every", "5s", "--fault-kinds", "worker-kill,server-pause", "--fault-for", "1s", "--verify-every", "3s")
	rep := res.Report
	if rep == nil {
		t.Fatalf("no report (exit %d)\n%s", res.Exit, res.Stderr)
	}
	if res.Exit != 0 || rep.Verdict != reports.VerdictPass {
		t.Errorf("exit %d verdict %s: want 0 and pass\n%s", res.Exit, rep.Verdict, res.Stderr)
	}
	var kinds []string
	for i, f := range rep.Faults {
		kinds = append(kinds, f.Kind)
		want := float64(5 * (i + 1))
		if f.Error != "" || f.Skipped != "" || f.FromS < want-1 || f.FromS > want+2 || f.ToS-f.FromS < 0.9 {
			t.Errorf("fault %d (%s): %.1f..%.1f s, error %q, skipped %q: want one injected at %.0f s for 1 s", i, f.Kind, f.FromS, f.ToS, f.Error, f.Skipped, want)
		}
	}
	if strings.Join(kinds, ",") != "worker-kill,server-pause,worker-kill" {
		t.Errorf("faults %v: want worker-kill, server-pause, worker-kill (in turn, every 5 s of 16 s)", kinds)
	}
	s := squalltest.Scenario(t, rep, "noop")
	squalltest.InvariantsHold(t, s, "no-lost-workflows", "expected-end-state")
	v := s.Verification
	if v == nil || v.Journaled != 160 || v.Batches < 3 || v.VerifiedDuringLoad < 60 || v.VerifiedDuringLoad > v.Journaled {
		t.Fatalf("verification %+v: want 160 journaled, 3 or more batches during the load settling most of them", v)
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, reports.FileMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "journaled workflows verified during the load") {
		t.Errorf("report.md does not say what was verified during the load")
	}
	t.Logf("verified %d of %d during the load in %d batches; after it: %s", v.VerifiedDuringLoad, v.Journaled, v.Batches, v.Duration)
}

// Bad --fault-every input is exit 2 with one line, before any load.
func TestFaultEveryBadInputIsUsage(t *testing.T) {
	res := squalltest.Exec(t, time.Minute, "run", "--scenario", "noop", "--duration", "1m", "--workers", "1",
		"--fault-every", "10s", "--fault-kinds", "worker-kill,meteor")
	if res.Exit != 2 || !strings.Contains(res.Stderr, `unknown fault kind "meteor"`) || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q: want exit 2 and one line naming the unknown kind", res.Exit, res.Stderr)
	}
}
