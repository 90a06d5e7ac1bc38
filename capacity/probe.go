package capacity

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/metrics"
)

// Probe is one offered rate and what the system did with it over the
// probe's steady part.
type Probe struct {
	Entry string `json:"entry"` // its section of the run directory
	// Start is when the probe's load began: the canary's drift and the
	// interleaving are read against it.
	Start time.Time `json:"start,omitzero"`
	// Phase is why the search ran it (PhaseBracket, PhaseInterleaved,
	// PhaseCanary); Search is which of the --repeat searches (1-based; 0
	// for the canary, which serves them all).
	Phase      string  `json:"phase,omitempty"`
	Search     int     `json:"search,omitempty"`
	Rate       float64 `json:"offered_per_s"`
	Throughput float64 `json:"throughput_per_s"`
	P50MS      float64 `json:"p50_ms"`
	P99MS      float64 `json:"p99_ms"`
	LatencyMS  float64 `json:"slo_latency_ms"` // the SLO's quantile, measured
	// UncorrectedMS is the SLO's quantile from the actual starts: what the
	// cluster served, without the time the driver was late.
	UncorrectedMS float64 `json:"uncorrected_slo_latency_ms,omitempty"`
	MeanMS        float64 `json:"mean_ms,omitempty"` // mean corrected latency
	LateFrac      float64 `json:"late_fraction"`     // late or dropped starts
	// LateOnlyFrac counts late starts only: the driver falling behind its
	// own schedule, not starts dropped at --max-in-flight.
	LateOnlyFrac float64 `json:"late_only_fraction,omitempty"`
	// InFlightGrowth is how much the work in flight grew over the steady
	// part (least-squares slope times its length): a backlog that grows
	// fails the probe even while the quantile still looks fine.
	InFlightGrowth float64 `json:"in_flight_growth"`
	InFlightMean   float64 `json:"in_flight_mean,omitempty"`
	// Steady is how many one-second intervals were judged.
	Steady int `json:"steady_intervals,omitempty"`
	// Signals are the server's and the processes' saturation signals over
	// the steady part (metrics' vocabulary; signals.go names those judged).
	Signals map[string]float64 `json:"signals,omitempty"`
	// Refusals: the RESOURCE_EXHAUSTED answers by cause over the steady
	// part, each kind at its mean rate.
	Refusals []metrics.Refusal `json:"refusals,omitempty"`
	// Objectives: each server-signal objective's value over the steady
	// part (the median of the samples), by the objective's name.
	Objectives map[string]float64 `json:"objectives,omitempty"`
	Pass       bool               `json:"pass"`
	Why        string             `json:"why,omitempty"` // what failed it
	// Excluded says why the probe is left out of the fit ("": it counts):
	// the driver fell behind, or Little's law does not hold.
	Excluded string `json:"excluded,omitempty"`
}

// Why the search ran a probe.
const (
	PhaseBracket     = "bracket"     // stepping up, then narrowing, to find where the knee is
	PhaseInterleaved = "interleaved" // the candidate rates in randomized order
	PhaseCanary      = "canary"      // the fixed reference rate that measures the machine
)

// Criteria are the pass rules: the SLO's objectives, and beside them
// that the cluster keeps up, the driver keeps its schedule and the
// backlog does not pile up.
type Criteria struct {
	SLO SLO
	// MinThroughput is the share of the offered rate completions must keep
	// up with (default 0.95).
	MinThroughput float64
	// MaxLate is the largest share of late starts (default 0.01): more, and
	// the driver itself could not keep the schedule.
	MaxLate float64
	// MaxGrowthSeconds bounds the backlog's growth over the steady part, in
	// seconds' worth of arrivals (default 1): in-flight may wobble, it may
	// not pile up.
	MaxGrowthSeconds float64
}

func (c Criteria) withDefaults() Criteria {
	if c.MinThroughput <= 0 {
		c.MinThroughput = 0.95
	}
	if c.MaxLate <= 0 {
		c.MaxLate = 0.01
	}
	if c.MaxGrowthSeconds <= 0 {
		c.MaxGrowthSeconds = 1
	}
	return c
}

// Interval is one second of a probe as the result stream has it.
type Interval struct {
	Start, End  time.Time
	Counts      bench.Counts
	InFlight    int64
	Corrected   *bench.Histogram // may be nil (nothing completed)
	Uncorrected *bench.Histogram // may be nil (streams and tests without it)
}

// Judge evaluates a probe at rate from its intervals after settle (the
// steady part), merging their histograms (never averaging quantiles),
// and from the server's samples over the same time (each a sample's
// signals, for the SLO's server objectives; none: not judged).
func Judge(c Criteria, rate float64, steady []Interval, server []map[string]float64) Probe {
	c = c.withDefaults()
	p := Probe{Rate: rate, Steady: len(steady)}
	if len(steady) < 3 {
		p.Why = fmt.Sprintf("only %d steady intervals: make --probe longer than the settle time", len(steady))
		p.Excluded = p.Why
		return p
	}
	h, u := bench.NewHistogram(), bench.NewHistogram()
	var counts bench.Counts
	var inFlight float64
	for _, iv := range steady {
		counts.Add(iv.Counts)
		inFlight += float64(iv.InFlight)
		if iv.Corrected != nil {
			h.Merge(iv.Corrected)
		}
		if iv.Uncorrected != nil {
			u.Merge(iv.Uncorrected)
		}
	}
	q := c.SLO.quantile()
	secs := steady[len(steady)-1].End.Sub(steady[0].Start).Seconds()
	p.Throughput = float64(counts.Completed) / secs
	p.P50MS, p.P99MS = bench.MS(h.Quantile(0.5)), bench.MS(h.Quantile(0.99))
	p.LatencyMS = bench.MS(h.Quantile(q))
	p.MeanMS = bench.MS(h.Mean())
	if u.Count() > 0 {
		p.UncorrectedMS = bench.MS(u.Quantile(q))
	}
	if started := counts.Started + counts.Dropped; started > 0 {
		p.LateFrac = float64(counts.Late+counts.Dropped) / float64(started)
		p.LateOnlyFrac = float64(counts.Late) / float64(started)
	}
	p.InFlightGrowth = growth(steady)
	p.InFlightMean = inFlight / float64(len(steady))

	var why []string
	for _, o := range c.SLO {
		if o.Server() {
			v, ok := serverValue(server, o.Signal)
			if !ok {
				continue // not measured in this probe: not judged
			}
			if p.Objectives == nil {
				p.Objectives = map[string]float64{}
			}
			p.Objectives[o.Name] = v
			if o.broken(v) {
				why = append(why, fmt.Sprintf("%s broken: %s", o, o.show(v)))
			}
			continue
		}
		if h.Count() == 0 {
			continue // "nothing completed" below
		}
		lat := bench.MS(h.Quantile(o.Q))
		if o.broken(lat) {
			why = append(why, fmt.Sprintf("%s broken: %.0f ms", o, lat))
		}
	}
	if h.Count() == 0 {
		why = append(why, "nothing completed")
	}
	if need := c.MinThroughput * rate; p.Throughput < need {
		why = append(why, fmt.Sprintf("throughput %.1f/s below %.0f%% of %.1f/s", p.Throughput, c.MinThroughput*100, rate))
	}
	if p.LateFrac > c.MaxLate {
		why = append(why, fmt.Sprintf("%.1f%% of starts late or dropped", p.LateFrac*100))
	}
	limit := math.Max(c.MaxGrowthSeconds*rate, 2) // a backlog of one or two is no trend
	if p.InFlightGrowth > limit {
		why = append(why, fmt.Sprintf("in flight grew by %.0f (backlog piling up)", p.InFlightGrowth))
	}
	p.Pass = len(why) == 0
	p.Why = strings.Join(why, "; ")
	p.Excluded = Screen(c, p)
	return p
}

// serverValue is a server signal over a probe: the median of the samples
// that observed it (each sample's value is already that interval's
// quantile; a median of them says what most of the probe saw, as an
// alert over a window does).
func serverValue(samples []map[string]float64, signal string) (float64, bool) {
	var vs []float64
	for _, s := range samples {
		if v, ok := s[signal]; ok && !math.IsNaN(v) {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	sort.Float64s(vs)
	if n := len(vs); n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2, true
	}
	return vs[len(vs)/2], true
}

// growth is the least-squares slope of in-flight over time, times the
// span: how much the backlog grew, robust to one-second wobble.
func growth(ivs []Interval) float64 {
	t0 := ivs[0].End
	var n, sx, sy, sxx, sxy float64
	for _, iv := range ivs {
		x, y := iv.End.Sub(t0).Seconds(), float64(iv.InFlight)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	slope := (n*sxy - sx*sy) / den
	return slope * ivs[len(ivs)-1].End.Sub(t0).Seconds()
}
