package reports

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/metrics"
)

// A 12-minute load whose latency creeps up and whose server leaks memory
// gets two-minute windows and findings naming both; the driver's flat
// memory gets none.
func TestTrendsFindGrowth(t *testing.T) {
	dir := t.TempDir()
	st, err := bench.CreateStream(filepath.Join(dir, FileStream))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	st.Write(bench.Record{Time: t0, Kind: bench.KindRunStart}, RunInfo{StartTime: t0})
	st.Write(bench.Record{Time: t0, Kind: bench.KindScenarioStart, Scenario: "noop"}, ScenarioPlan{Name: "noop", Executor: "arrival-rate", Duration: "12m"})
	const secs = 12 * 60
	for i := range secs {
		h := bench.NewHistogram()
		base := 20 + 30*float64(i)/secs // 20 ms creeping to 50 ms
		for range 10 {
			h.Record(time.Duration((base + rng.Float64()*5) * float64(time.Millisecond)))
		}
		enc, err := h.Encode()
		if err != nil {
			t.Fatal(err)
		}
		start := t0.Add(time.Duration(i) * time.Second)
		st.Write(bench.Record{Time: start.Add(time.Second), Kind: bench.KindInterval, Scenario: "noop", Interval: &bench.Interval{
			Start: start, End: start.Add(time.Second), InFlight: 3, Counts: bench.Counts{Started: 10, Completed: 10},
			Hists: map[string]string{bench.HistCorrected: enc},
		}}, nil)
		st.Write(bench.Record{Time: start.Add(time.Second), Kind: bench.KindServerSample, Scenario: "noop"}, metrics.Sample{
			Start: start, End: start.Add(time.Second), OffsetS: float64(i + 1),
			Signals: map[string]float64{
				metrics.RSS("server"): 200 + float64(i)/6 + rng.Float64()*3, // +10 MB a minute
				metrics.RSS("driver"): 60 + rng.Float64()*3,
				metrics.CPU("server"): 0.8,
			},
		})
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Rebuild(dir)
	if err != nil {
		t.Fatal(err)
	}
	tr := rep.Scenarios[0].Trends
	if tr == nil || tr.WindowS != 120 || len(tr.Windows) != 6 {
		t.Fatalf("trends %+v: want six two-minute windows", tr)
	}
	if w := tr.Windows[5]; w.Completed != 1200 || w.ThroughputPerS != 10 || w.RSSMB["server"] < 300 || w.CPUCores["server"] != 0.8 {
		t.Errorf("last window %+v", w)
	}
	all := strings.Join(tr.Findings, "\n")
	t.Log(all)
	if !strings.Contains(all, "p99 +") || !strings.Contains(all, "server RSS +6") || strings.Contains(all, "driver RSS") {
		t.Errorf("findings %q: want p99 growth and server RSS at about +600 MB/h, nothing on the driver", all)
	}
	md := trendsMarkdown(tr)
	if !strings.Contains(md, "### Trends (2m0s windows)") || !strings.Contains(md, "server RSS MB") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestTrendWidth(t *testing.T) {
	for _, c := range []struct{ planned, want time.Duration }{
		{5 * time.Minute, 0}, {6 * time.Minute, time.Minute}, {30 * time.Minute, 5 * time.Minute},
		{45 * time.Minute, 7 * time.Minute}, {time.Hour, 10 * time.Minute}, {6 * time.Hour, 10 * time.Minute},
	} {
		if got := trendWidth(c.planned); got != c.want {
			t.Errorf("trendWidth(%s) = %s, want %s", c.planned, got, c.want)
		}
	}
}
