package capacity

import (
	"fmt"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
)

// Probe is one offered rate and what the system did with it over the
// probe's steady part.
type Probe struct {
	Entry      string  `json:"entry"` // its section of the run directory
	Rate       float64 `json:"offered_per_s"`
	Throughput float64 `json:"throughput_per_s"`
	P50MS      float64 `json:"p50_ms"`
	P99MS      float64 `json:"p99_ms"`
	LatencyMS  float64 `json:"slo_latency_ms"` // the SLO's quantile, measured
	LateFrac   float64 `json:"late_fraction"`
	// InFlightGrowth is how much the work in flight grew over the steady
	// part (least-squares slope times its length): a backlog that grows
	// fails the probe even while the quantile still looks fine.
	InFlightGrowth float64 `json:"in_flight_growth"`
	// Signals are the server's and the processes' saturation signals over
	// the steady part (names in signals.go).
	Signals map[string]float64 `json:"signals,omitempty"`
	Pass    bool               `json:"pass"`
	Why     string             `json:"why,omitempty"` // what failed it
}

// SLO is the latency objective: the corrected quantile Q (0–1) below Max.
type SLO struct {
	Q   float64
	Max time.Duration
}

func (s SLO) String() string { return fmt.Sprintf("p%s<%s", trimQ(s.Q), s.Max) }

func trimQ(q float64) string {
	s := fmt.Sprintf("%g", q*100)
	return strings.ReplaceAll(s, ".", "")
}

// Criteria are the pass rules beside the SLO.
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
	Start, End time.Time
	Counts     bench.Counts
	InFlight   int64
	Corrected  *bench.Histogram // may be nil (nothing completed)
}

// Judge evaluates a probe at rate from its intervals after settle (the
// steady part), merging their histograms (never averaging quantiles).
func Judge(c Criteria, rate float64, steady []Interval) Probe {
	c = c.withDefaults()
	p := Probe{Rate: rate}
	if len(steady) < 3 {
		p.Why = fmt.Sprintf("only %d steady intervals: make --probe longer than the settle time", len(steady))
		return p
	}
	h := bench.NewHistogram()
	var counts bench.Counts
	for _, iv := range steady {
		counts.Add(iv.Counts)
		if iv.Corrected != nil {
			h.Merge(iv.Corrected)
		}
	}
	secs := steady[len(steady)-1].End.Sub(steady[0].Start).Seconds()
	p.Throughput = float64(counts.Completed) / secs
	p.P50MS, p.P99MS = bench.MS(h.Quantile(0.5)), bench.MS(h.Quantile(0.99))
	p.LatencyMS = bench.MS(h.Quantile(c.SLO.Q))
	if started := counts.Started + counts.Dropped; started > 0 {
		p.LateFrac = float64(counts.Late+counts.Dropped) / float64(started)
	}
	p.InFlightGrowth = growth(steady)

	var why []string
	if h.Count() == 0 {
		why = append(why, "nothing completed")
	} else if lat := h.Quantile(c.SLO.Q); lat >= c.SLO.Max {
		why = append(why, fmt.Sprintf("%s broken: %.0f ms", c.SLO, p.LatencyMS))
	}
	if p.Throughput < c.MinThroughput*rate {
		why = append(why, fmt.Sprintf("throughput %.1f/s below %.0f%% of %.1f/s", p.Throughput, c.MinThroughput*100, rate))
	}
	if p.LateFrac > c.MaxLate {
		why = append(why, fmt.Sprintf("%.1f%% of starts late or dropped", p.LateFrac*100))
	}
	if limit := c.MaxGrowthSeconds * rate; p.InFlightGrowth > limit && p.InFlightGrowth > 2 {
		why = append(why, fmt.Sprintf("in flight grew by %.0f (backlog piling up)", p.InFlightGrowth))
	}
	p.Pass = len(why) == 0
	p.Why = strings.Join(why, "; ")
	return p
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
