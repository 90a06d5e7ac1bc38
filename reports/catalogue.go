package reports

// The metric catalogue: every named quantity of a scenario's results that
// a threshold (p99<500ms) or squall compare (its table rows) can name, with
// its unit, which way is worse and how it is read from a report. Both read
// this one list, so a name means the same number in both.

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

// MetricKind is what a metric measures: its unit, how a threshold writes a
// value of it and how a measured value prints.
type MetricKind int

const (
	KindLatency    MetricKind = iota // milliseconds, from a histogram
	KindThroughput                   // completed workflows per second
	KindCount                        // a plain count
	KindBytes                        // bytes
	KindCPU                          // CPU-seconds per 1,000 completed workflows
)

// Unit is the kind's unit as reports print it.
func (k MetricKind) Unit() string {
	switch k {
	case KindLatency:
		return "ms"
	case KindThroughput:
		return "/s"
	case KindBytes:
		return "B"
	case KindCPU:
		return "cpu-s"
	}
	return ""
}

// Metric is one entry of the catalogue.
type Metric struct {
	Name  string
	Kind  MetricKind
	Worse Worse
	// MustNotGrow metrics regress on any increase, whatever the tolerance
	// and without statistics: one more lost workflow is never noise.
	MustNotGrow bool
	// Read reads the metric from scenario s of run r; false when the run
	// holds no value for it (no samples, nothing measured). Metrics a
	// threshold can name read s alone: r is nil when a threshold reads them.
	Read func(r *Report, s *Scenario) (float64, bool)
	// Interval reads it from one interval of dt seconds; nil when the
	// intervals do not carry it (single runs then cannot be compared on it).
	Interval func(iv IntervalRow, dt float64) (float64, bool)
	// Threshold: a threshold can name it. Compared: squall compare tables it.
	Threshold, Compared bool
}

// Unit is the metric's unit as reports print it.
func (m Metric) Unit() string { return m.Kind.Unit() }

// quantile is one percentile of a latency histogram, by name.
type quantile struct {
	name string
	of   func(Quantiles) float64
}

// quantileTable: the percentiles every latency histogram has, in the
// order reports list them.
var quantileTable = []quantile{
	{"p50", func(q Quantiles) float64 { return q.P50 }},
	{"p90", func(q Quantiles) float64 { return q.P90 }},
	{"p99", func(q Quantiles) float64 { return q.P99 }},
	{"p999", func(q Quantiles) float64 { return q.P999 }},
	{"max", func(q Quantiles) float64 { return q.Max }},
}

// intervalQuantiles are the percentiles an interval row carries.
var intervalQuantiles = map[string]func(IntervalRow) float64{
	"p50": func(iv IntervalRow) float64 { return iv.P50MS },
	"p99": func(iv IntervalRow) float64 { return iv.P99MS },
	"max": func(iv IntervalRow) float64 { return iv.MaxMS },
}

// Catalogue is every metric, in the order compare's table lists them.
var Catalogue = catalogue()

func catalogue() []Metric {
	var out []Metric
	for _, q := range quantileTable {
		m := Metric{Name: q.name, Kind: KindLatency, Worse: Up, Threshold: true, Compared: true,
			Read: func(_ *Report, s *Scenario) (float64, bool) {
				c := s.LatencyMS.Corrected
				return q.of(c), c.Count > 0
			}}
		if f := intervalQuantiles[q.name]; f != nil {
			// An interval in which nothing completed has no latency: its
			// zero is the absence of a measurement, not a fast one.
			m.Interval = func(iv IntervalRow, _ float64) (float64, bool) { return f(iv), iv.Completed > 0 }
		}
		out = append(out, m)
	}
	count := func(name string, worse Worse, mustNotGrow, threshold, compared bool, f func(*Scenario) int64) Metric {
		return Metric{Name: name, Kind: KindCount, Worse: worse, MustNotGrow: mustNotGrow, Threshold: threshold, Compared: compared,
			Read: func(_ *Report, s *Scenario) (float64, bool) { return float64(f(s)), true }}
	}
	lateStarts := count("late_starts", Up, false, true, true, func(s *Scenario) int64 { return s.LateStarts })
	lateStarts.Interval = func(iv IntervalRow, _ float64) (float64, bool) { return float64(iv.Late), true }
	droppedStarts := count("dropped_starts", Up, false, true, true, func(s *Scenario) int64 { return s.DroppedStarts })
	droppedStarts.Interval = func(iv IntervalRow, _ float64) (float64, bool) { return float64(iv.Dropped), true }
	return append(out,
		Metric{Name: "throughput", Kind: KindThroughput, Worse: Down, Threshold: true, Compared: true,
			Read: func(_ *Report, s *Scenario) (float64, bool) { return s.ThroughputPerS, s.LoadSeconds > 0 },
			Interval: func(iv IntervalRow, dt float64) (float64, bool) {
				return float64(iv.Completed) / dt, dt > 0
			}},
		lateStarts,
		droppedStarts,
		count("failed", Up, true, true, true, func(s *Scenario) int64 { return s.Failed }),
		count("lost", Up, true, true, true, func(s *Scenario) int64 { return s.Lost }),
		count("invariant_violations", Up, true, false, true, func(s *Scenario) int64 {
			var n int64
			for _, inv := range s.Invariants {
				if inv.Fails() {
					n++
				}
			}
			return n
		}),
		Metric{Name: "driver_cpu_per_1k", Kind: KindCPU, Worse: Up, Compared: true,
			Read: perThousand(func(r RunInfo) float64 { return r.DriverCPUSeconds })},
		Metric{Name: "cluster_cpu_per_1k", Kind: KindCPU, Worse: Up, Compared: true,
			Read: perThousand(func(r RunInfo) float64 { return r.ChildrenCPUSeconds })},
		Metric{Name: "history.max_bytes", Kind: KindBytes, Worse: Up, Threshold: true, Compared: true,
			Read: func(_ *Report, s *Scenario) (float64, bool) {
				return float64(s.History.MaxBytes), s.Verification != nil
			}},
		count("started", Down, false, true, false, func(s *Scenario) int64 { return s.Started }),
		count("completed", Down, false, true, false, func(s *Scenario) int64 { return s.Completed }),
		count("abandoned", Up, false, true, false, func(s *Scenario) int64 { return s.Abandoned }),
		count("history.max_length", Up, false, true, false, func(s *Scenario) int64 { return s.History.MaxLength }),
	)
}

// perThousand is a run-wide CPU figure per 1,000 completed workflows. The
// driver and the cluster serve every scenario of a run at once, so it is
// divided by the completions of all of them.
func perThousand(cpu func(RunInfo) float64) func(*Report, *Scenario) (float64, bool) {
	return func(r *Report, _ *Scenario) (float64, bool) {
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

// MetricByName finds a catalogue entry.
func MetricByName(name string) (Metric, bool) {
	for _, m := range Catalogue {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}
