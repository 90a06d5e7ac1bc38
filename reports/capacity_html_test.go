package reports

import (
	"os"
	"strings"
	"testing"

	"github.com/squallbench/squall/capacity"
)

// A capacity run's page draws its curves: p99 and throughput against the
// offered rate per worker count, the SLO line and the knees.
func TestCapacityPage(t *testing.T) {
	probes := func(scale float64) []capacity.Probe {
		var ps []capacity.Probe
		for _, r := range []float64{5, 10, 20, 40, 28, 34, 31} {
			p := capacity.Probe{Rate: r * scale, Throughput: min(r, 30) * scale, P99MS: 40 / (1.02 - min(r/32, 1)), Pass: r <= 31}
			ps = append(ps, p)
		}
		return ps
	}
	rep := &Report{SchemaVersion: SchemaVersion, Verdict: VerdictPass, Capacity: &capacity.Report{SLO: "p99<500ms", Probe: "30s", Settle: "10s",
		Searches: []capacity.Outcome{
			{Workers: 1, Found: true, Rate: 31, LastPass: 31, FirstFail: 34, Probes: probes(1),
				Decisions: []capacity.Decision{{Rate: 31, Probes: 3, Passed: 2, Pass: true}, {Rate: 34, Probes: 3, Passed: 1}},
				Findings:  []capacity.Finding{{Resource: "server CPU", AtRate: 34, Evidence: "server CPU 1.9 of 2 cores"}}},
			{Workers: 2, Found: true, Rate: 37, LastPass: 37, FirstFail: 40, Probes: probes(1.2)},
		}}}
	page, err := HTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{`id="plot-capacity-latency"`, `id="plot-capacity-throughput"`, "server CPU 1.9 of 2 cores", "knee 1 worker(s)", "31.0 (2 of 3 probes)", "34.0 (2 of 3 probes)"} {
		if !strings.Contains(string(page), id) {
			t.Errorf("page lacks %s", id)
		}
	}
	if dir := os.Getenv("SQUALL_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(dir+"/capacity.html", page, 0o644)
	}
}
