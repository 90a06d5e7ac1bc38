package capacity

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
)

// queue is a simulated system: one server of capacity c per second, so
// p99 grows like base/(1-ρ) and above capacity the backlog piles up. Each
// probe's capacity may jitter (a noisy machine).
type queue struct {
	c, jitter float64
	base      time.Duration
	rng       *rand.Rand
	probes    int
	lastC     float64
}

func (q *queue) Probe(_ context.Context, rate float64) (Probe, error) {
	q.probes++
	c := q.c
	if q.jitter > 0 {
		c *= 1 + q.jitter*(2*q.rng.Float64()-1)
	}
	q.lastC = c
	pr := Judge(Criteria{SLO: SLO{Q: 0.99, Max: 500 * time.Millisecond}}, rate, q.intervals(rate, c))
	// The server's CPU follows the load: all of it at capacity.
	pr.Signals = map[string]float64{SigMachineCores: 2, SigServerCPU: 2 * min(rate/c, 1)}
	return pr, nil
}

// intervals renders 20 steady seconds of the system at rate.
func (q *queue) intervals(rate, c float64) []Interval {
	t0 := time.Unix(1_700_000_000, 0)
	rho := rate / c
	var ivs []Interval
	backlog := 5.0
	for i := range 20 {
		done := rate
		lat := time.Duration(float64(q.base) / (1 - rho))
		if rho >= 1 {
			done = c
			backlog += rate - c
			lat = time.Duration(backlog/c*float64(time.Second)) + q.base
		}
		h := bench.NewHistogram()
		for range int(done) {
			h.Record(lat)
		}
		ivs = append(ivs, Interval{Start: t0.Add(time.Duration(i) * time.Second), End: t0.Add(time.Duration(i+1) * time.Second),
			Counts: bench.Counts{Started: int64(rate), Completed: int64(done)}, InFlight: int64(backlog), Corrected: h})
	}
	return ivs
}

func TestSearchFindsTheKnee(t *testing.T) {
	// p99 = 10 ms/(1-r/100) < 500 ms  <=>  r < 98/s.
	q := &queue{c: 100, base: 10 * time.Millisecond}
	res, err := Search{Start: 5, Max: 2000, Resolution: 0.05, Votes: 1}.Run(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || res.Rate < 98*0.95 || res.Rate >= 98 {
		t.Errorf("found %v at %.1f/s (bracket %.1f–%.1f), want within 5%% below the knee at 98/s", res.Found, res.Rate, res.LastPass, res.FirstFail)
	}
	if res.FirstFail/res.LastPass-1 > 0.05 {
		t.Errorf("bracket %.1f–%.1f wider than the resolution", res.LastPass, res.FirstFail)
	}
	if q.probes > 15 {
		t.Errorf("%d probes: geometric steps then bisection need about 11", q.probes)
	}
	// Votes (the default, 3) on a system that always answers the same:
	// the same answer, two probes per rate.
	q2 := &queue{c: 100, base: 10 * time.Millisecond}
	res2, err := Search{Start: 5, Max: 2000, Resolution: 0.05}.Run(context.Background(), q2)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Rate != res.Rate || q2.probes != 2*len(res2.Decisions) {
		t.Errorf("votes on a steady system: %.1f/s after %d probes for %d rates, want %.1f/s at 2 probes a rate", res2.Rate, q2.probes, len(res2.Decisions), res.Rate)
	}
	// What saturated reaches the caller, named from the probes' signals.
	if len(res.Saturation) == 0 || res.Saturation[0].Resource != "server CPU" {
		t.Errorf("saturation %+v: want server CPU first", res.Saturation)
	}
}

func TestSearchOnNoisySystemNeitherOscillatesNorStopsEarly(t *testing.T) {
	for seed := range uint64(20) {
		q := &queue{c: 100, jitter: 0.05, base: 10 * time.Millisecond, rng: rand.New(rand.NewPCG(seed, 1))}
		res, err := Search{Start: 5, Max: 2000, Resolution: 0.05, Confirmations: 2}.Run(context.Background(), q)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		// Capacity varies within 95–105/s per probe; a rate a little over
		// one probe's capacity grows a backlog too small to see within one
		// probe, so the answer is the knee to within the resolution.
		if !res.Found || res.Rate < 85 || res.Rate > 105*1.05 {
			t.Errorf("seed %d: %.1f/s after %d probes, want near the knee (93–105/s)", seed, res.Rate, q.probes)
		}
		if q.probes > 40 {
			t.Errorf("seed %d: %d probes: the search oscillates", seed, q.probes)
		}
	}
}

// A system whose knee wanders from probe to probe, as the embedded server's
// does on a 2-core machine: each probe's capacity is anywhere in 35–48/s,
// so a rate in that band holds in one probe and collapses in the next.
// With one probe per rate the answer is wherever the coin flips land; a
// majority of three per rate is a steeper test and the answers of
// repeated searches lie closer together.
func TestVotesNarrowABimodalKnee(t *testing.T) {
	spread := func(votes int) (lo, med, hi float64, probes int) {
		var rates []float64
		for seed := range uint64(40) {
			q := &queue{c: 41.5, jitter: 0.16, base: 10 * time.Millisecond, rng: rand.New(rand.NewPCG(seed, 7))}
			res, err := Search{Start: 5, Max: 2000, Resolution: 0.05, Votes: votes}.Run(context.Background(), q)
			if err != nil {
				t.Fatalf("votes %d seed %d: %v", votes, seed, err)
			}
			if !res.Found {
				t.Fatalf("votes %d seed %d: nothing found", votes, seed)
			}
			rates = append(rates, res.Rate)
			probes += q.probes
		}
		slices.Sort(rates)
		// The middle 80 % of the answers: what three runs will usually show.
		return rates[4], rates[len(rates)/2], rates[len(rates)-5], probes / len(rates)
	}
	lo1, med1, hi1, n1 := spread(1)
	lo3, med3, hi3, n3 := spread(3)
	t.Logf("one probe a rate: %.1f–%.1f/s (median %.1f) in %d probes; votes of 3: %.1f–%.1f/s (median %.1f) in %d probes", lo1, hi1, med1, n1, lo3, hi3, med3, n3)
	if w1, w3 := (hi1-lo1)/med1, (hi3-lo3)/med3; w3 > 0.15 || w3 >= w1 {
		t.Errorf("spread of answers: %.0f%% with votes of 3 (want ≤ 15%% and below the %.0f%% of one probe a rate)", w3*100, w1*100)
	}
	if med3 < 0.98*41.5*0.9 || med3 > 0.98*41.5*1.1 {
		t.Errorf("votes of 3: median %.1f/s, want within 10%% of the middle of the band (40.7/s)", med3)
	}
	if n3 > 3*n1 {
		t.Errorf("votes cost %d probes against %d: more than three times", n3, n1)
	}
}

// The votes shown beside a rate count the probes that carried its verdict.
func TestDecisionVotesCountTheVerdict(t *testing.T) {
	for _, c := range []struct {
		d    Decision
		want string
	}{
		{Decision{Probes: 3, Passed: 2, Pass: true}, "2 of 3"},
		{Decision{Probes: 3, Passed: 1}, "2 of 3"},
		{Decision{Probes: 2, Passed: 0}, "2 of 2"},
	} {
		if got := c.d.Votes(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.d, got, c.want)
		}
	}
}

func TestSearchStartRateFails(t *testing.T) {
	q := &queue{c: 3, base: 10 * time.Millisecond}
	res, err := Search{Start: 5, Max: 100}.Run(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Found || res.FirstFail != 5 || len(res.Probes) != 2 {
		t.Errorf("a start rate above capacity: found %v first fail %.1f after %d probes, want it voted down in two", res.Found, res.FirstFail, len(res.Probes))
	}
}

func TestSearchMaxPasses(t *testing.T) {
	q := &queue{c: 1000, base: time.Millisecond}
	res, err := Search{Start: 5, Max: 50}.Run(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || res.Rate != 50 || res.FirstFail != 0 {
		t.Errorf("max within capacity: found %v at %.1f, first fail %.1f", res.Found, res.Rate, res.FirstFail)
	}
}

func TestJudgeGrowingBacklogFailsThoughP99Looks(t *testing.T) {
	t0 := time.Unix(0, 0)
	var ivs []Interval
	for i := range 20 {
		h := bench.NewHistogram()
		for range 20 {
			h.Record(50 * time.Millisecond)
		}
		ivs = append(ivs, Interval{Start: t0.Add(time.Duration(i) * time.Second), End: t0.Add(time.Duration(i+1) * time.Second),
			Counts: bench.Counts{Started: 20, Completed: 20}, InFlight: int64(10 + 3*i), Corrected: h})
	}
	p := Judge(Criteria{SLO: SLO{Q: 0.99, Max: time.Second}}, 20, ivs)
	if p.Pass || !strings.Contains(p.Why, "backlog") {
		t.Errorf("in flight grew 10→67 at 20/s: pass=%v why=%q", p.Pass, p.Why)
	}
	for i := range ivs {
		ivs[i].InFlight = 10 + int64(i%2) // wobble, no growth
	}
	if p := Judge(Criteria{SLO: SLO{Q: 0.99, Max: time.Second}}, 20, ivs); !p.Pass {
		t.Errorf("steady system failed: %s", p.Why)
	}
	ivs[5].Counts.Late = 10
	if p := Judge(Criteria{SLO: SLO{Q: 0.99, Max: time.Second}}, 20, ivs); p.Pass || !strings.Contains(p.Why, "late") {
		t.Errorf("2.5%% late starts: pass=%v why=%q", p.Pass, p.Why)
	}
}

// Signal series as recorded on this machine's kind of runs, one per probe.
func probesWith(sig string, vals []float64, failFrom int) []Probe {
	var out []Probe
	for i, v := range vals {
		p := Probe{Rate: float64(10 * (i + 1)), Pass: i < failFrom, P99MS: float64(100 * (i + 1)),
			Signals: map[string]float64{SigMachineCores: 2, sig: v}}
		if !p.Pass {
			p.Why = "p99<500ms broken"
		}
		out = append(out, p)
	}
	return out
}

func withSignal(ps []Probe, sig string, v float64) []Probe {
	for i := range ps {
		ps[i].Signals[sig] = v
	}
	return ps
}

func TestAttribute(t *testing.T) {
	cases := []struct {
		name   string
		probes []Probe
		want   string // first finding's resource
		ev     string // in its evidence
	}{
		{"server CPU", probesWith(SigServerCPU, []float64{0.4, 0.9, 1.5, 1.78, 1.96}, 4), "server CPU", "1.78 of 2 cores"},
		{"persistence", probesWith(SigPersistenceP99, []float64{4, 6, 30, 210}, 3), "persistence", "4 → 210 ms"},
		{"workers", probesWith(SigWorkflowS2SP99, []float64{8, 9, 40, 900}, 3), "workers", "8 → 900 ms: workers"},
		{"busy workers", withSignal(withSignal(probesWith(SigWorkflowS2SP99, []float64{8, 9, 40, 900}, 3), SigWorkers, 1), SigWorkerCPU, 0.9),
			"workers", "8 → 900 ms: workers"},
		// Measured on the embedded SQLite server at 40/s: the workers idle,
		// the tasks waiting in the server.
		{"idle workers", withSignal(withSignal(probesWith(SigWorkflowS2SP99, []float64{18, 20, 17, 164}, 3), SigWorkers, 1), SigWorkerCPU, 0.12),
			"matching (server)", "18 → 164 ms while the workers used 0.12 cores (1 worker processes)"},
		{"nothing crossed", probesWith(SigPersistenceP99, []float64{4, 5, 6}, 2), "unattributed", "no saturation signal"},
	}
	for _, c := range cases {
		got := Attribute(c.probes)
		if len(got) == 0 || got[0].Resource != c.want || !strings.Contains(got[0].Evidence, c.ev) {
			t.Errorf("%s: %+v, want first %s with %q", c.name, got, c.want, c.ev)
		}
	}
	// The driver falling behind first says so, before the server signals
	// it caused to look bad.
	ps := probesWith(SigServerCPU, []float64{0.4, 0.8, 1.9}, 2)
	ps[1].LateFrac = 0.2
	if got := Attribute(ps); got[0].Resource != "driver" || !strings.Contains(got[0].Evidence, "add drivers") {
		t.Errorf("driver first: %+v", got)
	}
}
