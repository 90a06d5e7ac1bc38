package capacity

import (
	"fmt"
	"slices"
	"strings"

	"github.com/squallbench/squall/bench"
)

// Report is a capacity run's outcome as the result stream and
// report.json keep it: one search per worker count.
type Report struct {
	SLO    string `json:"slo"`
	Probe  string `json:"probe"`  // probe length
	Settle string `json:"settle"` // the part of each probe not judged
	// Budget the run was given ("": none, the rounds decided).
	Budget   string    `json:"budget,omitempty"`
	Searches []Outcome `json:"searches"`
}

// Outcome is one case's search (a worker count, a cluster shape; or
// --repeat searches, pooled): the sustainable rate, its band, the
// canary, every probe.
type Outcome struct {
	Case
	Found bool `json:"found"`
	// Rate is the point estimate: where the fit over every counted probe
	// crosses the SLO (the highest rate probed when every one passed).
	Rate float64 `json:"max_sustainable_per_s"`
	// Band is the interval for Rate at its confidence (absent in runs
	// recorded before bands existed).
	Band    *Band `json:"band,omitempty"`
	AtLeast bool  `json:"at_least,omitempty"` // every rate probed passed
	// CanaryDrift is how far the canary's median latency moved over the
	// search, a share (absent without a canary).
	CanaryDrift *float64 `json:"canary_drift,omitempty"`
	Canary      *Canary  `json:"canary,omitempty"`
	// LastPass, FirstFail: the (first) search's bracket.
	LastPass  float64 `json:"last_pass_per_s"`
	FirstFail float64 `json:"first_fail_per_s,omitempty"` // 0: even the maximum passed
	Seed      uint64  `json:"seed"`                       // of the interleaved order and the bootstrap
	Rounds    int     `json:"rounds,omitempty"`
	Stopped   string  `json:"stopped,omitempty"` // why the search ended
	Used      int     `json:"probes_used"`
	Dropped   int     `json:"probes_dropped"`
	// Repeats: with --repeat, each search's own answer, side by side
	// (the fields above pool them).
	Repeats []Answer `json:"repeats,omitempty"`
	// AtRates: the inverse question, latency expected at a rate.
	AtRates []AtRate `json:"at_rate,omitempty"`
	// Unmeasured are the SLO's server objectives no probe measured (the
	// server reported no such observations): not judged at all.
	Unmeasured []string  `json:"objectives_unmeasured,omitempty"`
	Probes     []Probe   `json:"probes"` // in the order run
	Findings   []Finding `json:"saturation"`
	Error      string    `json:"error,omitempty"`
}

// AtRate is the SLO quantile's latency the fitted curve expects at a
// rate, with its band.
type AtRate struct {
	Rate       float64 `json:"offered_per_s"`
	Quantile   string  `json:"quantile"` // p99
	MS         float64 `json:"expected_ms,omitempty"`
	Lo         float64 `json:"lo_ms,omitempty"`
	Hi         float64 `json:"hi_ms,omitempty"`
	Confidence float64 `json:"confidence,omitempty"`
	// Note qualifies the answer: a rate above the band's low end is one
	// where probes failed, and latency there includes a backlog's wait.
	Note  string `json:"note,omitempty"`
	Error string `json:"error,omitempty"` // no answer, and why
}

// OutcomeOf renders a search's result; at are the rates the inverse
// question is asked for.
func OutcomeOf(c Case, slo SLO, r Result, err error, at []float64) Outcome {
	o := Outcome{Case: c, Found: r.Found, Rate: r.Rate, AtLeast: r.AtLeast, LastPass: r.LastPass, FirstFail: r.FirstFail,
		Seed: r.Seed, Rounds: r.Rounds, Stopped: r.Stopped, Used: r.Used, Dropped: r.Dropped, Probes: r.Probes, Findings: r.Saturation}
	if r.Analysis != nil && r.Used > 0 {
		b := r.Band
		o.Band = &b
	}
	if r.Canary.Probes > 0 {
		c := r.Canary
		o.Canary = &c
		if r.Canary.Probes > 1 {
			o.CanaryDrift = &c.Drift
		}
	}
	if len(r.Searches) > 1 {
		o.Repeats = r.Searches
	}
	for _, obj := range slo {
		if obj.Server() && !slices.ContainsFunc(r.Probes, func(p Probe) bool { _, ok := p.Objectives[obj.Name]; return ok }) {
			o.Unmeasured = append(o.Unmeasured, obj.String())
		}
	}
	q := "p99"
	if l, ok := slo.Latency(); ok {
		q = l.Name
	}
	for _, rate := range at {
		a := AtRate{Rate: rate, Quantile: q}
		if r.Analysis == nil {
			a.Error = "no probes to fit"
		} else if mid, lo, hi, err := r.Analysis.LatencyAt(rate); err != nil {
			a.Error = err.Error()
		} else {
			a.MS, a.Lo, a.Hi, a.Confidence = mid, lo, hi, r.Analysis.Confidence
			if o.Band != nil && rate > o.Band.Lo {
				a.Note = "at or above the sustainable band: probes there failed, and their latency includes a backlog's wait"
			}
		}
		o.AtRates = append(o.AtRates, a)
	}
	if o.Probes == nil {
		o.Probes = []Probe{}
	}
	if err != nil {
		o.Error = err.Error()
	}
	return o
}

// Headline is the answer in one line: "sustainable 44/s (90 % band
// 40–48/s; 21 probes; canary drift 6 %)".
func (o Outcome) Headline() string {
	if !o.Found {
		if o.FirstFail > 0 {
			return fmt.Sprintf("none sustainable: even %s broke the SLO", bench.ShowRate(o.FirstFail))
		}
		return "none sustainable"
	}
	s := "sustainable " + bench.ShowRate(o.Rate)
	if o.AtLeast {
		s = "sustainable at least " + bench.ShowRate(o.Rate) + " (every rate probed passed)"
	}
	if o.Band == nil {
		return s // recorded before bands
	}
	var parts []string
	parts = append(parts, fmt.Sprintf("%.0f %% band %s", o.Band.Confidence*100, ShowBand(*o.Band)))
	n := fmt.Sprintf("%d probes", o.Used)
	if o.Dropped > 0 {
		n += fmt.Sprintf(", %d dropped", o.Dropped)
	}
	parts = append(parts, n)
	if o.CanaryDrift != nil {
		parts = append(parts, fmt.Sprintf("canary drift %.0f %%", *o.CanaryDrift*100))
	}
	if o.AtLeast {
		return s + "; " + strings.Join(parts, "; ")
	}
	return s + " (" + strings.Join(parts, "; ") + ")"
}

// ShowBand renders a band as "40–48/s".
func ShowBand(b Band) string {
	return strings.TrimSuffix(bench.ShowRate(b.Lo), "/s") + "–" + bench.ShowRate(b.Hi)
}

// Drifted is the warning a report puts at its top when the canary moved
// DriftFlag or more ("" otherwise).
func (o Outcome) Drifted() string {
	if o.CanaryDrift == nil || *o.CanaryDrift < DriftFlag {
		return ""
	}
	s := fmt.Sprintf("the machine drifted %.0f %% during this search", *o.CanaryDrift*100)
	if o.Band != nil && o.Band.Widened {
		return s + "; the band below is widened accordingly"
	}
	return s + "; the band below already spans it"
}
