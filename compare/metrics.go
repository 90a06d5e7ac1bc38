package compare

import (
	"github.com/squallbench/squall/reports"
)

// Worse says which way a metric moves when things get worse.
type Worse int

const (
	Up   Worse = iota + 1 // latency, counts, CPU, bytes: more is worse
	Down                  // throughput: less is worse
)

func (w Worse) String() string {
	if w == Down {
		return "down"
	}
	return "up"
}

// Metric is one compared quantity: how to read it from a run, and from one
// interval of a run's time series when single runs are compared.
type Metric struct {
	Name string
	Unit string
	// Worse is the direction of a regression.
	Worse Worse
	// MustNotGrow metrics regress on any increase, whatever the tolerance
	// and without statistics: one more lost workflow is never noise.
	MustNotGrow bool
	// Run reads the metric from one run's scenario; false when the run
	// holds no value for it (no samples).
	Run func(r *reports.Report, s *reports.Scenario) (float64, bool)
	// Interval reads it from one interval of dt seconds; nil when the
	// intervals do not carry it (single runs then cannot be compared on it).
	Interval func(iv reports.IntervalRow, dt float64) (float64, bool)
}

func latency(q func(reports.Quantiles) float64) func(*reports.Report, *reports.Scenario) (float64, bool) {
	return func(_ *reports.Report, s *reports.Scenario) (float64, bool) {
		c := s.LatencyMS.Corrected
		return q(c), c.Count > 0
	}
}

// intervalLatency skips intervals in which nothing completed: their zero
// is the absence of a measurement, not a fast one.
func intervalLatency(f func(reports.IntervalRow) float64) func(reports.IntervalRow, float64) (float64, bool) {
	return func(iv reports.IntervalRow, _ float64) (float64, bool) { return f(iv), iv.Completed > 0 }
}

func count(f func(*reports.Scenario) int64) func(*reports.Report, *reports.Scenario) (float64, bool) {
	return func(_ *reports.Report, s *reports.Scenario) (float64, bool) { return float64(f(s)), true }
}

// perThousand is a run-wide CPU figure per 1,000 completed workflows. The
// driver and the cluster serve every scenario of a run at once, so it is
// divided by the completions of all of them.
func perThousand(cpu func(reports.RunInfo) float64) func(*reports.Report, *reports.Scenario) (float64, bool) {
	return func(r *reports.Report, _ *reports.Scenario) (float64, bool) {
		var done int64
		for _, s := range r.Scenarios {
			done += s.Completed
		}
		if done == 0 || cpu(r.Run) == 0 {
			return 0, false
		}
		return cpu(r.Run) / float64(done) * 1000, true
	}
}

// Metrics is the one table of what compare looks at and which way is worse.
var Metrics = []Metric{
	{Name: "p50", Unit: "ms", Worse: Up, Run: latency(func(q reports.Quantiles) float64 { return q.P50 }),
		Interval: intervalLatency(func(iv reports.IntervalRow) float64 { return iv.P50MS })},
	{Name: "p90", Unit: "ms", Worse: Up, Run: latency(func(q reports.Quantiles) float64 { return q.P90 })},
	{Name: "p99", Unit: "ms", Worse: Up, Run: latency(func(q reports.Quantiles) float64 { return q.P99 }),
		Interval: intervalLatency(func(iv reports.IntervalRow) float64 { return iv.P99MS })},
	{Name: "p999", Unit: "ms", Worse: Up, Run: latency(func(q reports.Quantiles) float64 { return q.P999 })},
	{Name: "max", Unit: "ms", Worse: Up, Run: latency(func(q reports.Quantiles) float64 { return q.Max }),
		Interval: intervalLatency(func(iv reports.IntervalRow) float64 { return iv.MaxMS })},
	{Name: "throughput", Unit: "/s", Worse: Down,
		Run: func(_ *reports.Report, s *reports.Scenario) (float64, bool) {
			return s.ThroughputPerS, s.LoadSeconds > 0
		},
		Interval: func(iv reports.IntervalRow, dt float64) (float64, bool) {
			return float64(iv.Completed) / dt, dt > 0
		}},
	{Name: "late_starts", Unit: "", Worse: Up, Run: count(func(s *reports.Scenario) int64 { return s.LateStarts }),
		Interval: func(iv reports.IntervalRow, _ float64) (float64, bool) { return float64(iv.Late), true }},
	{Name: "dropped_starts", Unit: "", Worse: Up, Run: count(func(s *reports.Scenario) int64 { return s.DroppedStarts }),
		Interval: func(iv reports.IntervalRow, _ float64) (float64, bool) { return float64(iv.Dropped), true }},
	{Name: "failed", Unit: "", Worse: Up, MustNotGrow: true, Run: count(func(s *reports.Scenario) int64 { return s.Failed })},
	{Name: "lost", Unit: "", Worse: Up, MustNotGrow: true, Run: count(func(s *reports.Scenario) int64 { return s.Lost })},
	{Name: "invariant_violations", Unit: "", Worse: Up, MustNotGrow: true, Run: count(func(s *reports.Scenario) int64 {
		var n int64
		for _, inv := range s.Invariants {
			if !inv.OK {
				n++
			}
		}
		return n
	})},
	{Name: "driver_cpu_per_1k", Unit: "cpu-s", Worse: Up, Run: perThousand(func(r reports.RunInfo) float64 { return r.DriverCPUSeconds })},
	{Name: "cluster_cpu_per_1k", Unit: "cpu-s", Worse: Up, Run: perThousand(func(r reports.RunInfo) float64 { return r.ChildrenCPUSeconds })},
	{Name: "history.max_bytes", Unit: "B", Worse: Up,
		Run: func(_ *reports.Report, s *reports.Scenario) (float64, bool) {
			return float64(s.History.MaxBytes), s.Verification != nil
		}},
}

// MetricNames lists Metrics' names, for errors and help.
func MetricNames() []string {
	out := make([]string, len(Metrics))
	for i, m := range Metrics {
		out[i] = m.Name
	}
	return out
}

func metricByName(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}
