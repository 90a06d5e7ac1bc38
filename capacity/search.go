// Package capacity finds the highest rate a cluster sustains within an
// SLO, and says what ran out first. Sustainable means held without
// latency or backlog growing: a probe at a rate passes when, over its
// steady part, the SLO holds, throughput keeps up with the offered rate,
// few starts are late, and the work in flight is not piling up.
//
// The search is a pure function of its prober, so it is tested against
// simulated systems; the squall capacity command probes a real cluster.
package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Prober runs one probe at an offered rate (starts per second).
type Prober interface {
	Probe(ctx context.Context, rate float64) (Probe, error)
}

// Search says how to look for the knee.
type Search struct {
	Start      float64 // first rate probed (after the warm-up)
	Max        float64 // highest rate probed
	Resolution float64 // stop bisecting when the bracket is this narrow, relative (0.05: 5 %)
	Growth     float64 // factor between rates while stepping up (default 2)
	// Votes is how many probes decide a rate (default 3): the rate passes
	// when most of them pass, and probing it stops as soon as the majority
	// is settled either way (two of three). Near its knee a real system is
	// often bimodal, the same rate holding in one probe and collapsing in
	// the next; one probe per rate then returns one coin flip of that band.
	// 1: a single probe decides each rate.
	Votes int
	// Confirmations is how often the boundary's last passing rate is decided
	// again before it is believed (default 1 with single-probe votes, else
	// 0: a majority of probes already confirmed it). A noisy system that
	// fails the re-decision moves the bracket down instead of reporting luck.
	Confirmations int
}

// Result is what the search found.
type Result struct {
	// Found: some rate passed. Rate is the highest passing rate; the knee
	// lies in [LastPass, FirstFail) (FirstFail 0: even Max passed).
	Found               bool
	Rate                float64
	LastPass, FirstFail float64
	Probes              []Probe    // in the order run
	Decisions           []Decision // one per vote on a rate, in the order taken
	// Saturation: what ran out first, with the evidence, most telling first.
	Saturation []Finding
}

// Decision is the verdict on one rate from its probes' votes.
type Decision struct {
	Rate   float64 `json:"offered_per_s"`
	Probes int     `json:"probes"`
	Passed int     `json:"passed"`
	Pass   bool    `json:"pass"`
}

// Votes renders how many probes carried the verdict, so that it reads
// right after either word: "passed (2 of 3)" counts passes, "failed
// (2 of 3)" counts fails.
func (d Decision) Votes() string {
	agreed := d.Passed
	if !d.Pass {
		agreed = d.Probes - d.Passed
	}
	return fmt.Sprintf("%d of %d", agreed, d.Probes)
}

// ErrTooManyProbes guards against a search that cannot settle.
var ErrTooManyProbes = errors.New("capacity search did not settle within its probe budget")

const maxProbes = 60

// Run searches: step the rate up geometrically from Start until a rate
// fails (or Max passes), bisect between the last pass and the first fail
// to the resolution, then confirm the boundary. Every rate is decided by
// a majority of Votes probes.
func (s Search) Run(ctx context.Context, p Prober) (res Result, err error) {
	if s.Growth <= 1 {
		s.Growth = 2
	}
	if s.Resolution <= 0 {
		s.Resolution = 0.05
	}
	if s.Votes <= 0 {
		s.Votes = 3
	}
	if s.Confirmations <= 0 && s.Votes == 1 {
		s.Confirmations = 1
	}
	if s.Start <= 0 || s.Max < s.Start {
		return Result{}, fmt.Errorf("capacity: bad rates: start %g, max %g", s.Start, s.Max)
	}
	need := s.Votes/2 + 1 // passes for a majority
	decide := func(rate float64) (bool, error) {
		d := Decision{Rate: rate}
		for d.Passed < need && d.Probes-d.Passed <= s.Votes-need {
			if len(res.Probes) >= maxProbes {
				return false, ErrTooManyProbes
			}
			pr, err := p.Probe(ctx, rate)
			if err != nil {
				return false, err
			}
			pr.Rate = rate
			res.Probes = append(res.Probes, pr)
			d.Probes++
			if pr.Pass {
				d.Passed++
			}
		}
		d.Pass = d.Passed >= need
		res.Decisions = append(res.Decisions, d)
		return d.Pass, nil
	}
	// res is the named result: the deferred attribution reaches the caller.
	defer func() { res.Saturation = Attribute(res.Probes) }()

	ok, err := decide(s.Start)
	if err != nil {
		return res, err
	}
	if !ok {
		res.FirstFail = s.Start
		return res, nil // even the start rate breaks the SLO
	}
	res.LastPass = s.Start
	for res.FirstFail == 0 && res.LastPass < s.Max {
		next := math.Min(res.LastPass*s.Growth, s.Max)
		ok, err := decide(next)
		if err != nil {
			return res, err
		}
		if ok {
			res.LastPass = next
		} else {
			res.FirstFail = next
		}
	}
	// Bisect (geometrically: rates span decades) and confirm the boundary;
	// a confirmation that fails lowers the bracket and bisects again.
	for confirms := 0; ; {
		for res.FirstFail > 0 && res.FirstFail/res.LastPass-1 > s.Resolution {
			mid := math.Sqrt(res.LastPass * res.FirstFail)
			ok, err := decide(mid)
			if err != nil {
				return res, err
			}
			if ok {
				res.LastPass = mid
			} else {
				res.FirstFail = mid
			}
		}
		if confirms >= s.Confirmations {
			break
		}
		confirms++
		ok, err := decide(res.LastPass)
		if err != nil {
			return res, err
		}
		if ok {
			break
		}
		// The boundary did not hold: the highest rate below it that was
		// never voted down becomes the last pass.
		res.FirstFail = res.LastPass
		res.LastPass = highestSteadyPass(res.Decisions, res.FirstFail)
		if res.LastPass == 0 {
			return res, nil
		}
	}
	res.Found, res.Rate = true, res.LastPass
	return res, nil
}

// highestSteadyPass is the highest rate below limit that was never voted
// down.
func highestSteadyPass(ds []Decision, limit float64) float64 {
	failed := map[float64]bool{}
	for _, d := range ds {
		if !d.Pass {
			failed[d.Rate] = true
		}
	}
	best := 0.0
	for _, d := range ds {
		if d.Pass && !failed[d.Rate] && d.Rate < limit && d.Rate > best {
			best = d.Rate
		}
	}
	return best
}

// DecisionAt is the last vote on rate (false when it was never decided).
func (o Outcome) DecisionAt(rate float64) (Decision, bool) {
	for i := len(o.Decisions) - 1; i >= 0; i-- {
		if o.Decisions[i].Rate == rate {
			return o.Decisions[i], true
		}
	}
	return Decision{}, false
}

// Report is a capacity run's outcome as the result stream and
// report.json keep it: one search per worker count.
type Report struct {
	SLO      string    `json:"slo"`
	Probe    string    `json:"probe"`  // probe length
	Settle   string    `json:"settle"` // the part of each probe not judged
	Searches []Outcome `json:"searches"`
}

// Outcome is one search: at how many workers, and what it found.
type Outcome struct {
	Workers   int     `json:"workers"`
	Found     bool    `json:"found"`
	Rate      float64 `json:"max_sustainable_per_s"`
	LastPass  float64 `json:"last_pass_per_s"`
	FirstFail float64 `json:"first_fail_per_s,omitempty"` // 0: even the maximum passed
	Probes    []Probe `json:"probes"`
	// Decisions: the vote on each rate decided (a rate voted on again
	// appears again); absent in runs recorded before votes existed.
	Decisions []Decision `json:"decisions,omitempty"`
	Findings  []Finding  `json:"saturation"`
	Error     string     `json:"error,omitempty"`
}

// OutcomeOf renders a search's result.
func OutcomeOf(workers int, r Result, err error) Outcome {
	o := Outcome{Workers: workers, Found: r.Found, Rate: r.Rate, LastPass: r.LastPass, FirstFail: r.FirstFail,
		Probes: r.Probes, Decisions: r.Decisions, Findings: r.Saturation}
	if o.Probes == nil {
		o.Probes = []Probe{}
	}
	if err != nil {
		o.Error = err.Error()
	}
	return o
}

// ParseSLO reads "p99<1s", "p50<200ms", "p99.9<2s".
func ParseSLO(s string) (SLO, error) {
	q, d, ok := strings.Cut(strings.TrimSpace(s), "<")
	if !ok || !strings.HasPrefix(q, "p") {
		return SLO{}, fmt.Errorf("bad --slo %q: want a latency quantile below a bound, e.g. p99<1s or p50<200ms", s)
	}
	digits := strings.TrimPrefix(q, "p")
	pct, err := strconv.ParseFloat(digits, 64)
	if err == nil && !strings.Contains(digits, ".") && pct > 100 {
		pct /= math.Pow(10, float64(len(digits)-2)) // p999 is 99.9, as elsewhere in squall
	}
	if err != nil || pct <= 0 || pct >= 100 {
		return SLO{}, fmt.Errorf("bad --slo %q: %q is not a quantile (p50, p99, p99.9)", s, q)
	}
	max, err := time.ParseDuration(strings.TrimSpace(d))
	if err != nil || max <= 0 {
		return SLO{}, fmt.Errorf("bad --slo %q: %q is not a positive duration", s, d)
	}
	return SLO{Q: pct / 100, Max: max}, nil
}
