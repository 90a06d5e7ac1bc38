package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

// A capacity search end to end at small scale: rates the embedded server
// sustains easily, so every probe passes up to --max: the bracket steps
// 2, 4, 6/s, one interleaved round probes the candidates below 6/s, and
// the canary runs at half of 6/s before and after it.
func TestCapacityNoopEndToEnd(t *testing.T) {
	squalltest.SkipIfShort(t)
	dir := filepath.Join(t.TempDir(), "cap")
	res := squalltest.Exec(t, 5*time.Minute, "capacity", "--scenario", "noop", "--slo", "p99<3s", "--start", "2/s", "--max", "6/s",
		"--probe", "6s", "--settle", "2s", "--warmup", "0s", "--rounds", "1", "--canary-every", "4", "--seed", "7", "--at-rate", "5/s",
		"--server-sample-interval", "1s", "--out", dir)
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
	phases := map[string]int{}
	for _, p := range s.Probes {
		phases[p.Phase]++
		if p.Throughput <= 0 || p.P99MS <= 0 || p.Signals["machine_cores"] <= 0 || p.Start.IsZero() {
			t.Errorf("probe %s has no measurements: %+v", p.Entry, p)
		}
		// The server's own signals reach the probe that recorded them.
		if p.Signals["server_cpu_cores"] <= 0 || p.Signals["persistence_p99_ms"] <= 0 {
			t.Errorf("probe %s has no server signals: %v", p.Entry, p.Signals)
		}
	}
	if !s.Found || !s.AtLeast || s.Rate != 6 || s.Band == nil || s.Band.Confidence != 0.9 || s.Seed != 7 {
		t.Errorf("found %v at %.1f/s (at least %v), band %+v, seed %d: want at least 6/s (the maximum), a 90 %% band, seed 7", s.Found, s.Rate, s.AtLeast, s.Band, s.Seed)
	}
	if phases[capacity.PhaseBracket] != 3 || phases[capacity.PhaseInterleaved] < 3 || phases[capacity.PhaseCanary] < 2 || s.CanaryDrift == nil {
		t.Errorf("probes by phase %v, canary drift %v: want 2, 4, 6/s, a round, and the canary at least twice", phases, s.CanaryDrift)
	}
	if len(s.AtRates) != 1 || s.AtRates[0].MS <= 0 || s.AtRates[0].Lo > s.AtRates[0].MS {
		t.Errorf("--at-rate 5/s: %+v", s.AtRates)
	}
	if len(rep.Scenarios) != len(s.Probes) {
		t.Errorf("%d sections for %d probes: each probe is its own section", len(rep.Scenarios), len(s.Probes))
	}
	md, _ := os.ReadFile(filepath.Join(dir, reports.FileMarkdown))
	if !strings.Contains(string(md), "## Capacity") || !strings.Contains(string(md), "sustainable at least 6/s (every rate probed passed); 90 % band") {
		t.Errorf("report.md has no capacity section with the band:\n%s", md)
	}
	js, _ := os.ReadFile(filepath.Join(dir, reports.FileJSON))
	for _, key := range []string{`"max_sustainable_per_s"`, `"band": {`, `"confidence": 0.9`, `"canary_drift"`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("report.json lacks %s", key)
		}
	}
	if !strings.Contains(res.Stdout, "capacity 1 worker(s): sustainable at least 6/s") {
		t.Errorf("summary lacks the headline:\n%s", res.Stdout)
	}
	bad := squalltest.Exec(t, time.Minute, "capacity", "--scenario", "noop", "--slo", "p99 soon", "--start", "9/s", "--max", "3/s")
	if bad.Exit != 2 || !strings.Contains(bad.Stderr, "bad --slo") || !strings.Contains(bad.Stderr, "--max 3/s is below --start 9/s") {
		t.Errorf("bad input: exit %d, %s", bad.Exit, bad.Stderr)
	}
	if bad := squalltest.Exec(t, time.Minute, "capacity", "--scenario", "noop", "--repeat", "0", "--budget", "10s"); bad.Exit != 2 ||
		!strings.Contains(bad.Stderr, "bad --repeat 0") || !strings.Contains(bad.Stderr, "bad --budget 10s") {
		t.Errorf("--repeat 0 --budget 10s: exit %d, %s", bad.Exit, bad.Stderr)
	}
	if bad := squalltest.Exec(t, time.Minute, "capacity", "--scenario", "noop", "--slo", "server.wft_schedule_to_start.p95<150ms",
		"--address", "127.0.0.1:1"); bad.Exit != 2 || !strings.Contains(bad.Stderr, "--server-metrics") {
		t.Errorf("server objective without the server's metrics: exit %d, %s", bad.Exit, bad.Stderr)
	}
	if bad := squalltest.Exec(t, time.Minute, "capacity", "--scenario", "noop", "--rate", "5/s"); bad.Exit != 2 {
		t.Errorf("--rate (capacity sets the load itself): exit %d, want 2", bad.Exit)
	}
}
