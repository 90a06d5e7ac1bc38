package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

// A capacity search end to end at small scale: rates the embedded server
// sustains easily, so every probe passes up to --max, each rate settled by
// a majority of the default three votes (two passes).
func TestCapacityNoopEndToEnd(t *testing.T) {
	squalltest.SkipIfShort(t)
	dir := filepath.Join(t.TempDir(), "cap")
	res := squalltest.Exec(t, 5*time.Minute, "capacity", "--scenario", "noop", "--slo", "p99<3s", "--start", "2/s", "--max", "6/s",
		"--probe", "8s", "--settle", "3s", "--warmup", "0s", "--server-sample-interval", "1s", "--out", dir)
	if res.Exit != 0 {
		t.Fatalf("exit %d\n%s\n%s", res.Exit, res.Stdout, res.Stderr)
	}
	rep, err := reports.Rebuild(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Capacity
	if c == nil || len(c.Searches) != 1 {
		t.Fatalf("report has no capacity search: %+v", c)
	}
	s := c.Searches[0]
	if !s.Found || s.Rate != 6 || len(s.Probes) < 6 || len(s.Decisions) < 3 {
		t.Errorf("found %v at %.1f/s after %d probes for %d rates, want 6/s (the maximum) after at least 2/s, 4/s, 6/s, two probes each", s.Found, s.Rate, len(s.Probes), len(s.Decisions))
	}
	for _, p := range s.Probes {
		if p.Throughput <= 0 || p.P99MS <= 0 || p.Signals["machine_cores"] <= 0 {
			t.Errorf("probe %s has no measurements: %+v", p.Entry, p)
		}
		// The server's own signals reach the probe that recorded them.
		if p.Signals["server_cpu_cores"] <= 0 || p.Signals["persistence_p99_ms"] <= 0 {
			t.Errorf("probe %s has no server signals: %v", p.Entry, p.Signals)
		}
	}
	if len(rep.Scenarios) != len(s.Probes) {
		t.Errorf("%d sections for %d probes: each probe is its own section", len(rep.Scenarios), len(s.Probes))
	}
	md, _ := os.ReadFile(filepath.Join(dir, reports.FileMarkdown))
	if !strings.Contains(string(md), "## Capacity") || !strings.Contains(string(md), "6/s passed (2 of 2 probes)") {
		t.Errorf("report.md has no capacity section with the boundary's votes:\n%s", md)
	}
	bad := squalltest.Exec(t, time.Minute, "capacity", "--scenario", "noop", "--slo", "p99 soon", "--start", "9/s", "--max", "3/s")
	if bad.Exit != 2 || !strings.Contains(bad.Stderr, "bad --slo") || !strings.Contains(bad.Stderr, "--max 3/s is below --start 9/s") {
		t.Errorf("bad input: exit %d, %s", bad.Exit, bad.Stderr)
	}
	if bad := squalltest.Exec(t, time.Minute, "capacity", "--scenario", "noop", "--votes", "0"); bad.Exit != 2 || !strings.Contains(bad.Stderr, "bad --votes 0") {
		t.Errorf("--votes 0: exit %d, %s", bad.Exit, bad.Stderr)
	}
	if bad := squalltest.Exec(t, time.Minute, "capacity", "--scenario", "noop", "--rate", "5/s"); bad.Exit != 2 {
		t.Errorf("--rate (capacity sets the load itself): exit %d, want 2", bad.Exit)
	}
}
