package capacity

import (
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/metrics"
)

func TestParseSLO(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"p99<1s", "p99<1s"},
		{"p999<2s", "p999<2s"},
		{"p99.9<2s", "p999<2s"},
		{" p50 < 200ms ", "p50<200ms"},
		{"server.wft_schedule_to_start.p95<150ms", "server.wft_schedule_to_start.p95<150ms"},
		{"server.sync_match>=95%", "server.sync_match>=95%"},
		{"server.sync_match>0.9", "server.sync_match>90%"},
		{"p99<500ms,server.persistence.p99<=50ms", "p99<500ms, server.persistence.p99<=50ms"},
		{"temporal-benchmark", "server.start_workflow.p95<150ms, server.wft_schedule_to_start.p95<150ms, server.activity_schedule_to_start.p95<150ms"},
		{"p99<1s, temporal-worker-health", "p99<1s, server.wft_schedule_to_start.p99<200ms, server.activity_schedule_to_start.p99<200ms, server.sync_match>=95%"},
	} {
		s, err := ParseSLO(c.in)
		if err != nil || s.String() != c.want {
			t.Errorf("ParseSLO(%q) = %q, %v; want %q", c.in, s, err, c.want)
			continue
		}
		// What a report records parses back to the same objectives.
		if again, err := ParseSLO(s.String()); err != nil || again.String() != c.want {
			t.Errorf("ParseSLO(%q) again = %q, %v", s.String(), again, err)
		}
	}
	for _, c := range []struct{ in, why string }{
		{"p99 soon", "bad --slo"},
		{"p100<1s", "not a quantile"},
		{"p99>1s", "below its bound"},
		{"p99<fast", "not a positive duration"},
		{"server.wft_schedule_to_start.p42<1s", "known: server.activity_schedule_to_start.p95"},
		{"server.sync_match>=150%", "not a share"},
		{"server.frontend.p99>1s", "below its bound"},
		{"temporal-benchmarks", "preset (temporal-benchmark, temporal-worker-health)"},
	} {
		if _, err := ParseSLO(c.in); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseSLO(%q): %v, want an error saying %q", c.in, err, c.why)
		}
	}
}

// Server objectives are judged from the server's samples over the probe:
// the median of what each sample saw. An objective no sample measured is
// not judged.
func TestJudgeServerObjectives(t *testing.T) {
	slo, err := ParseSLO("p99<1s, temporal-worker-health")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(0, 0)
	var ivs []Interval
	for i := range 10 {
		h := bench.NewHistogram()
		for range 10 {
			h.Record(40 * time.Millisecond)
		}
		ivs = append(ivs, Interval{Start: t0.Add(time.Duration(i) * time.Second), End: t0.Add(time.Duration(i+1) * time.Second),
			Counts: bench.Counts{Started: 10, Completed: 10}, InFlight: 0, Corrected: h, Uncorrected: h})
	}
	samples := []map[string]float64{
		{metrics.SigWorkflowS2SP99: 40, metrics.SigSyncMatch: 0.99},
		{metrics.SigWorkflowS2SP99: 260, metrics.SigSyncMatch: 0.97},
		{metrics.SigWorkflowS2SP99: 120, metrics.SigSyncMatch: 0.90},
	}
	p := Judge(Criteria{SLO: slo}, 10, ivs, samples)
	if !p.Pass || p.Objectives["server.wft_schedule_to_start.p99"] != 120 || p.Objectives["server.sync_match"] != 0.97 {
		t.Errorf("medians within their bounds: pass=%v why=%q objectives %v", p.Pass, p.Why, p.Objectives)
	}
	if _, ok := p.Objectives["server.activity_schedule_to_start.p99"]; ok {
		t.Errorf("activity schedule-to-start was never sampled, yet judged: %v", p.Objectives)
	}
	samples[0][metrics.SigSyncMatch] = 0.5
	samples[1][metrics.SigSyncMatch] = 0.8
	p = Judge(Criteria{SLO: slo}, 10, ivs, samples)
	if p.Pass || !strings.Contains(p.Why, "server.sync_match>=95% broken: 80%") {
		t.Errorf("sync match 80%%: pass=%v why=%q", p.Pass, p.Why)
	}
}
