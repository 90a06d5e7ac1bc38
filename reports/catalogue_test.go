package reports

import (
	"slices"
	"strings"
	"testing"

	"github.com/squallbench/squall/scenarios"
)

// The names users write in thresholds and read in compare's rows are a
// contract: the catalogue must keep them, in this order.
func TestCatalogueNames(t *testing.T) {
	var compared []string
	for _, m := range Catalogue {
		if m.Compared {
			compared = append(compared, m.Name)
		}
	}
	if got, want := strings.Join(compared, ","), "p50,p90,p99,p999,max,throughput,late_starts,dropped_starts,failed,lost,invariant_violations,driver_cpu_per_1k,cluster_cpu_per_1k,history.max_bytes"; got != want {
		t.Errorf("compared metrics\n got %s\nwant %s", got, want)
	}
	if got, want := strings.Join(ThresholdMetrics(), ","), "p50,p90,p99,p999,max,"+
		"uncorrected.p50,uncorrected.p90,uncorrected.p99,uncorrected.p999,uncorrected.max,"+
		"lateness.p50,lateness.p90,lateness.p99,lateness.p999,lateness.max,throughput,history.max_bytes,"+
		"abandoned,completed,dropped_starts,failed,history.max_length,late_starts,lost,started,"+
		"HISTOGRAM.p50|p90|p99|p999|max (a scenario histogram by name)"; got != want {
		t.Errorf("threshold metrics\n got %s\nwant %s", got, want)
	}
	seen := map[string]bool{}
	for _, m := range Catalogue {
		if seen[m.Name] {
			t.Errorf("%s listed twice", m.Name)
		}
		seen[m.Name] = true
		if m.Read == nil || m.Worse == 0 {
			t.Errorf("%s: no reader or no direction", m.Name)
		}
	}
}

// A threshold reads a scenario alone (no run around it): every metric a
// threshold can name must read the scenario's own figure without the run.
func TestThresholdMetricsReadTheScenarioAlone(t *testing.T) {
	s := &Scenario{Started: 11, Completed: 12, Failed: 13, Lost: 14, Abandoned: 15, LateStarts: 16, DroppedStarts: 17,
		ThroughputPerS: 18.5, LoadSeconds: 2, History: History{MaxLength: 19, MaxBytes: 20},
		LatencyMS:  Latency{Corrected: Quantiles{Count: 1, P50: 1, P90: 2, P99: 3, P999: 4, Max: 5}},
		Invariants: []scenarios.Invariant{{Name: "x", OK: false}}}
	want := map[string]float64{"p50": 1, "p90": 2, "p99": 3, "p999": 4, "max": 5, "throughput": 18.5,
		"started": 11, "completed": 12, "failed": 13, "lost": 14, "abandoned": 15, "late_starts": 16, "dropped_starts": 17,
		"history.max_length": 19, "history.max_bytes": 20}
	for _, m := range Catalogue {
		if !m.Threshold {
			continue
		}
		v, _ := m.Read(nil, s)
		if w, ok := want[m.Name]; !ok || v != w {
			t.Errorf("%s read %v from the scenario, want %v (listed: %v)", m.Name, v, w, ok)
		}
		bound := map[MetricKind]string{KindLatency: "1h", KindThroughput: "1000/s", KindBytes: "1GiB", KindCount: "1000"}[m.Kind]
		th, err := ParseThreshold(m.Name + "<" + bound)
		if err != nil {
			t.Errorf("%s: %v", m.Name, err)
			continue
		}
		if r := th.Evaluate(s); r.Value != want[m.Name] || r.Unit != m.Unit() {
			t.Errorf("threshold on %s: %+v", m.Name, r)
		}
	}
	for _, name := range []string{"invariant_violations", "driver_cpu_per_1k", "cluster_cpu_per_1k"} {
		if slices.Contains(ThresholdMetrics(), name) {
			t.Errorf("%s is compare's alone, yet thresholds list it", name)
		}
	}
}
