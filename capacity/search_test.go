package capacity

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// The interleaved order is a function of the seed: the same seed runs the
// same probes in the same order, another seed another order; each round
// probes every candidate once; the order is recorded in the probes.
func TestInterleavedOrderIsSeededAndRecorded(t *testing.T) {
	order := func(seed uint64) []float64 {
		sys := newSystem(steady(45))
		res, err := Search{Start: 5, Max: 2000, Seed: seed, Now: sys.clock}.Run(context.Background(), sys)
		if err != nil {
			t.Fatal(err)
		}
		var out []float64
		for _, p := range res.Probes {
			if p.Phase == PhaseInterleaved {
				out = append(out, p.Rate)
			}
		}
		return out
	}
	a, b, c := order(7), order(7), order(8)
	if !slices.Equal(a, b) {
		t.Errorf("seed 7 twice: %v and %v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 ran the same order %v", a)
	}
	// The first round: each of the four candidates once, not ascending.
	first := slices.Clone(a[:4])
	if slices.IsSorted(first) && slices.IsSorted(c[:4]) {
		t.Errorf("first rounds %v and %v both ascending: not shuffled", a[:4], c[:4])
	}
	slices.Sort(first)
	if len(slices.Compact(first)) != 4 {
		t.Errorf("first round %v: want four distinct candidates", a[:4])
	}
}

// A machine that slows by a fifth halfway through: the canary sees it,
// the report says so at its top, and the band is widened to cover it.
func TestCanaryFlagsAndWidens(t *testing.T) {
	sys := newSystem(func(t time.Duration) float64 {
		if t > 8*time.Minute {
			return 36
		}
		return 45
	})
	res, err := Search{Start: 5, Max: 2000, Seed: 3, Now: sys.clock}.Run(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	o := OutcomeOf(Case{Workers: 1}, simSLO, res, nil, nil)
	if o.CanaryDrift == nil || *o.CanaryDrift < DriftFlag || o.Canary.Probes < 4 {
		t.Fatalf("canary %+v: want a drift of at least %.0f%% over four or more canary probes", o.Canary, DriftFlag*100)
	}
	if !o.Band.Widened || o.Band.HalfWidth(o.Rate) < *o.CanaryDrift/2-1e-9 {
		t.Errorf("band %+v around %.1f: want it widened to ±%.0f%%", o.Band, o.Rate, *o.CanaryDrift*50)
	}
	want := "the machine drifted " // the number follows
	if got := o.Drifted(); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "% during this search; the band below is widened accordingly") {
		t.Errorf("Drifted() = %q", got)
	}
	// The canary ran at half the first failing rate, every five probes,
	// and last.
	if res.Canary.Rate < 15 || res.Canary.Rate > 30 || res.Probes[len(res.Probes)-1].Phase != PhaseCanary {
		t.Errorf("canary at %.1f/s, last probe %s", res.Canary.Rate, res.Probes[len(res.Probes)-1].Phase)
	}
	if quiet := OutcomeOf(Case{Workers: 1}, simSLO, mustRun(t, Search{Start: 5, Max: 2000, Seed: 3}, steady(45)), nil, nil); quiet.Drifted() != "" {
		t.Errorf("a steady machine: %q", quiet.Drifted())
	}
}

func mustRun(t *testing.T, s Search, capAt func(time.Duration) float64) Result {
	t.Helper()
	sys := newSystem(capAt)
	s.Now = sys.clock
	res, err := s.Run(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// --repeat 3: three whole searches, their probes taking turns, each with
// its own answer, and the pooled answer over all of them.
func TestRepeatInterleavesAndPools(t *testing.T) {
	res := mustRun(t, Search{Start: 5, Max: 2000, Seed: 11, Repeat: 3}, drifts[3].capAt(11))
	if len(res.Searches) != 3 {
		t.Fatalf("%d answers, want 3", len(res.Searches))
	}
	var turns []int
	for _, p := range res.Probes[:6] {
		turns = append(turns, p.Search)
	}
	if !slices.Equal(turns, []int{1, 2, 3, 1, 2, 3}) {
		t.Errorf("first probes by search %v: want them taking turns", turns)
	}
	n := res.Canary.Probes
	for _, a := range res.Searches {
		if !a.Found || !a.Band.Contains(a.Rate) || a.Rounds != 3 {
			t.Errorf("search %d: %+v", a.Search, a)
		}
		n += a.Probes
	}
	if n != len(res.Probes) || res.Used+res.Dropped != n {
		t.Errorf("%d probes in the searches and the canary, %d run, %d used + %d dropped", n, len(res.Probes), res.Used, res.Dropped)
	}
	widths := []float64{}
	for _, a := range res.Searches {
		widths = append(widths, a.Band.Hi-a.Band.Lo)
	}
	if pooled := res.Band.Hi - res.Band.Lo; pooled > slices.Max(widths) {
		t.Errorf("pooled band %.1f wide, wider than every search's own %v", pooled, widths)
	}
	o := OutcomeOf(Case{Workers: 1}, simSLO, res, nil, nil)
	if len(o.Repeats) != 3 {
		t.Errorf("report carries %d repeats", len(o.Repeats))
	}
}

// --budget: rounds start only while they are expected to fit; the search
// says whether the budget or the band's width ended it.
func TestBudget(t *testing.T) {
	short := mustRun(t, Search{Start: 5, Max: 2000, Seed: 1, Budget: 12 * time.Minute}, steady(45))
	elapsed := time.Duration(len(short.Probes)) * 40 * time.Second
	if !strings.HasPrefix(short.Stopped, "budget 12m0s: ") || elapsed > 12*time.Minute+40*time.Second {
		t.Errorf("12 min budget: stopped %q after %s (%d probes)", short.Stopped, elapsed, len(short.Probes))
	}
	long := mustRun(t, Search{Start: 5, Max: 2000, Seed: 1, Budget: 2 * time.Hour, Resolution: 0.05}, drifts[2].capAt(1))
	if !strings.HasPrefix(long.Stopped, "band within ±5 %") && !strings.HasPrefix(long.Stopped, "budget") {
		t.Errorf("2 h budget: stopped %q", long.Stopped)
	}
	if long.Rounds < 2 || long.Band.HalfWidth(long.Rate) > short.Band.HalfWidth(short.Rate)+0.05 {
		t.Errorf("more budget: %d rounds, band ±%.1f%% (the short one ±%.1f%%)", long.Rounds, long.Band.HalfWidth(long.Rate)*100, short.Band.HalfWidth(short.Rate)*100)
	}
	tight := mustRun(t, Search{Start: 5, Max: 2000, Seed: 1, Budget: time.Minute}, steady(45))
	if !strings.Contains(tight.Stopped, "no interleaved round fit after the bracket") || !tight.Found {
		t.Errorf("1 min budget: %q, found %v", tight.Stopped, tight.Found)
	}
}

// The inverse question: the latency the fitted curve expects at a rate,
// with its band; a rate outside the probed ones has no answer.
func TestAtRate(t *testing.T) {
	res := mustRun(t, Search{Start: 5, Max: 2000, Seed: 1}, steady(100))
	o := OutcomeOf(Case{Workers: 1}, simSLO, res, nil, []float64{50, 90, 5000})
	// p99 = 10 ms / (1 − ρ): 20 ms at 50/s, 100 ms at 90/s; between the
	// probed rates the fit interpolates in log-log.
	for i, want := range []float64{20, 100} {
		a := o.AtRates[i]
		if a.Error != "" || a.Quantile != "p99" || a.MS < want*0.8 || a.MS > want*1.6 || a.Lo > a.MS || a.Hi < a.MS || a.Note != "" {
			t.Errorf("at %.0f/s: %+v, want about %.0f ms", a.Rate, a, want)
		}
	}
	if a := o.AtRates[2]; a.Error == "" || !strings.Contains(a.Error, "outside the rates probed") {
		t.Errorf("at 5000/s: %+v", a)
	}
	if h := o.Headline(); !strings.HasPrefix(h, "sustainable ") || !strings.Contains(h, "(90 % band ") || !strings.Contains(h, " probes; canary drift 0 %)") {
		t.Errorf("headline %q", h)
	}
}
