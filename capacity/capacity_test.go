package capacity

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/metrics"
)

func steady(c float64) func(time.Duration) float64 { return func(time.Duration) float64 { return c } }

func TestSearchFindsTheKnee(t *testing.T) {
	// p99 = 10 ms/(1-r/100) < 500 ms  <=>  r < 98/s.
	sys := newSystem(steady(100))
	res, err := Search{Start: 5, Max: 2000, Seed: 1, Now: sys.clock}.Run(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || res.Rate < 98*0.95 || res.Rate > 98*1.05 {
		t.Errorf("found %v at %.1f/s, want within 5%% of the knee at 98/s", res.Found, res.Rate)
	}
	// A machine that does not drift: every probe agrees, the knee lies in
	// the gap between the highest rate that passed and the lowest that
	// failed, and the band spans most of that gap (the probes cannot tell
	// where in it), not much more.
	pass, fail := 0.0, 1e9
	for _, p := range res.Probes {
		if p.Pass {
			pass = max(pass, p.Rate)
		} else {
			fail = min(fail, p.Rate)
		}
	}
	inGap := min(res.Band.Hi, fail) - max(res.Band.Lo, pass)
	if pass > 98 || fail <= 98 || res.Rate < pass || res.Rate > fail || inGap < 0.8*(fail-pass) || res.Band.HalfWidth(res.Rate) > 0.06 {
		t.Errorf("point %.1f/s, band %.1f–%.1f/s, gap %.1f–%.1f/s: want the gap around the knee at 98/s, the point in it, "+
			"the band over most of it and within ±6%%", res.Rate, res.Band.Lo, res.Band.Hi, pass, fail)
	}
	if res.FirstFail == 0 || res.FirstFail/res.LastPass > 1.2 {
		t.Errorf("bracket %.1f–%.1f/s: want it bisected to 20 %%", res.LastPass, res.FirstFail)
	}
	phases := map[string]int{}
	for _, p := range res.Probes {
		phases[p.Phase]++
	}
	// Bracket 5, 10, …, 160, then two bisections; 3 rounds of 4 candidates
	// and what the rounds add; a canary every 5 probes and at the end.
	if phases[PhaseBracket] < 7 || phases[PhaseInterleaved] < 12 || phases[PhaseCanary] < 3 || len(res.Probes) > 30 {
		t.Errorf("probes by phase %v (%d in all): want a bracket, three rounds of four rates and a canary", phases, len(res.Probes))
	}
	if res.Canary.Rate <= 0 || res.Canary.Drift != 0 {
		t.Errorf("canary %+v: a steady system's canary is at half the first failing rate and does not move", res.Canary)
	}
	if res.Dropped != 0 || res.Used != len(res.Probes) {
		t.Errorf("%d used, %d dropped of %d: a simulated system obeys Little's law", res.Used, res.Dropped, len(res.Probes))
	}
	// What saturated reaches the caller, named from the probes' signals.
	if len(res.Saturation) == 0 || res.Saturation[0].Resource != "server CPU" {
		t.Errorf("saturation %+v: want server CPU first", res.Saturation)
	}
}

func TestSearchStartRateFails(t *testing.T) {
	sys := newSystem(steady(3))
	res, err := Search{Start: 5, Max: 100, Now: sys.clock}.Run(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	if res.Found || res.FirstFail != 5 || len(res.Probes) != 2 || !strings.Contains(res.Stopped, "start rate") {
		t.Errorf("a start rate above capacity: found %v first fail %.1f after %d probes (%s), want it confirmed and the search to end there",
			res.Found, res.FirstFail, len(res.Probes), res.Stopped)
	}
}

func TestSearchMaxPasses(t *testing.T) {
	sys := newSystem(steady(1000))
	res, err := Search{Start: 5, Max: 50, Rounds: 1, Now: sys.clock}.Run(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || !res.AtLeast || res.Rate != 50 || res.FirstFail != 0 {
		t.Errorf("max within capacity: found %v at %.1f (at least: %v), first fail %.1f", res.Found, res.Rate, res.AtLeast, res.FirstFail)
	}
}

func TestJudgeGrowingBacklogFailsThoughP99Looks(t *testing.T) {
	slo := SLO{{Name: "p99", Q: 0.99, Bound: 1000}}
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
	p := Judge(Criteria{SLO: slo}, 20, ivs, nil)
	if p.Pass || !strings.Contains(p.Why, "backlog") {
		t.Errorf("in flight grew 10→67 at 20/s: pass=%v why=%q", p.Pass, p.Why)
	}
	for i := range ivs {
		ivs[i].InFlight = 1 + int64(i%2) // wobble, no growth
	}
	if p := Judge(Criteria{SLO: slo}, 20, ivs, nil); !p.Pass || p.Excluded != "" {
		t.Errorf("steady system: pass=%v why=%q excluded=%q", p.Pass, p.Why, p.Excluded)
	}
	ivs[5].Counts.Late = 10
	if p := Judge(Criteria{SLO: slo}, 20, ivs, nil); p.Pass || !strings.Contains(p.Why, "late") {
		t.Errorf("2.5%% late starts: pass=%v why=%q", p.Pass, p.Why)
	}
}

// Signal series as recorded on this machine's kind of runs, one per probe.
func probesWith(sig string, vals []float64, failFrom int) []Probe {
	var out []Probe
	for i, v := range vals {
		p := Probe{Rate: float64(10 * (i + 1)), Pass: i < failFrom, P99MS: float64(100 * (i + 1)),
			Signals: map[string]float64{metrics.SigMachineCores: 2, sig: v}}
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
		{"server CPU", probesWith(metrics.SigServerCPU, []float64{0.4, 0.9, 1.5, 1.78, 1.96}, 4), "server CPU", "1.78 of 2 cores"},
		{"persistence", probesWith(metrics.SigPersistenceP99, []float64{4, 6, 30, 210}, 3), "persistence", "4 → 210 ms"},
		{"workers", probesWith(metrics.SigWorkflowS2SP99, []float64{8, 9, 40, 900}, 3), "workers", "8 → 900 ms: workers"},
		{"busy workers", withSignal(withSignal(probesWith(metrics.SigWorkflowS2SP99, []float64{8, 9, 40, 900}, 3), metrics.SigWorkers, 1), metrics.SigWorkersCPU, 0.9),
			"workers", "8 → 900 ms: workers"},
		// Measured on the embedded SQLite server at 40/s: the workers idle,
		// the tasks waiting in the server.
		{"idle workers", withSignal(withSignal(probesWith(metrics.SigWorkflowS2SP99, []float64{18, 20, 17, 164}, 3), metrics.SigWorkers, 1), metrics.SigWorkersCPU, 0.12),
			"matching (server)", "18 → 164 ms while the workers used 0.12 cores (1 worker processes)"},
		{"nothing crossed", probesWith(metrics.SigPersistenceP99, []float64{4, 5, 6}, 2), "unattributed", "no saturation signal"},
	}
	for _, c := range cases {
		got := Attribute(c.probes)
		if len(got) == 0 || got[0].Resource != c.want || !strings.Contains(got[0].Evidence, c.ev) {
			t.Errorf("%s: %+v, want first %s with %q", c.name, got, c.want, c.ev)
		}
	}
	// The driver falling behind first says so, before the server signals
	// it caused to look bad.
	ps := probesWith(metrics.SigServerCPU, []float64{0.4, 0.8, 1.9}, 2)
	ps[1].LateFrac = 0.2
	if got := Attribute(ps); got[0].Resource != "driver" || !strings.Contains(got[0].Evidence, "add drivers") {
		t.Errorf("driver first: %+v", got)
	}
}
