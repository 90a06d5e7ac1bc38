package compare

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Known values: R's wilcox.test(x, y, exact=TRUE)$p.value and
// (for the large sample) wilcox.test(..., exact=FALSE, correct=TRUE).
func TestMannWhitneyKnownValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y []float64
		want float64
	}{
		// Complete separation, 4 vs 4: 2/C(8,4) = 2/70.
		{"separated 4v4", []float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}, 2.0 / 70},
		// 3 vs 3 can never be below 0.1: why fewer than 4 runs never show a difference.
		{"separated 3v3", []float64{1, 2, 3}, []float64{4, 5, 6}, 0.1},
		{"identical", []float64{1, 1, 1}, []float64{1, 1, 1}, 1},
		// x ranks 1,2,3,6: U = 2 of 16; P(U<=2) = (1+1+2)/70, both tails 8/70.
		{"overlap", []float64{1, 2, 3, 6}, []float64{4, 5, 7, 8}, 8.0 / 70},
	} {
		if got := MannWhitney(tc.x, tc.y); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: p = %.6f, want %.6f", tc.name, got, tc.want)
		}
	}
	// With ties, exact conditional: x={1,1,2} y={2,3,3}. Doubled mid-ranks
	// 3,3,7,7,11,11; x sums to 13. Of the C(6,3)=20 subsets, the sums as far
	// from the mean 21 as 13 (<=13 or >=29): {3,3,7}x2 and {7,11,11}x2 = 4.
	if got := MannWhitney([]float64{1, 1, 2}, []float64{2, 3, 3}); math.Abs(got-4.0/20) > 1e-9 {
		t.Errorf("ties: p = %v, want 0.2", got)
	}
	// Normal approximation above exactLimit agrees with the exact test in
	// absolute terms (30 a side, a 0.4 sd shift).
	rng := rand.New(rand.NewPCG(3, 4))
	x, y := make([]float64, 30), make([]float64, 30)
	for i := range x {
		x[i], y[i] = rng.NormFloat64(), rng.NormFloat64()+0.4
	}
	ranks, _ := midRanks(x, y)
	var r1 int
	for i := range x {
		r1 += ranks[i]
	}
	exact, approx := exactP(ranks, len(x), r1), MannWhitney(x, y)
	if math.Abs(exact-approx) > 0.1*exact {
		t.Errorf("normal approximation %.5f far from the exact %.5f", approx, exact)
	}
	if exact < 0.005 || exact > 0.5 {
		t.Errorf("exact p %.5f: pick a sample in the middle of the range", exact)
	}
	if minP(4, 4) != 2.0/70 || minP(3, 3) <= 0.05 {
		t.Errorf("minP(4,4) = %v, minP(3,3) = %v", minP(4, 4), minP(3, 3))
	}
}

// The rank test on per-run values, at the documented sample size of 8 runs
// a side. Noise model: a run's value is 100 ms × exp(N(0, 0.1²)), a 10 %
// run-to-run spread (lognormal: latency is skewed and cannot go negative),
// independent runs. With 2000 trials, the false-alarm rate's standard
// error is 0.5 %, so the slack of 1 % is two of them.
func TestMannWhitneyFalseAlarmsAndPower(t *testing.T) {
	const trials, alpha = 2000, 0.05
	rng := rand.New(rand.NewPCG(11, 12))
	sample := func(n int, center float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = center * math.Exp(0.1*rng.NormFloat64())
		}
		return v
	}
	for _, tc := range []struct {
		n        int
		minPower float64
	}{
		{5, 0.5}, // 5 a side: the false-alarm rate holds; power for 20 % about 0.6
		{8, 0.85},
	} {
		alarms, caught := 0, 0
		for range trials {
			base := sample(tc.n, 100)
			if MannWhitney(base, sample(tc.n, 100)) <= alpha {
				alarms++
			}
			if MannWhitney(base, sample(tc.n, 120)) <= alpha {
				caught++
			}
		}
		rate, power := float64(alarms)/trials, float64(caught)/trials
		t.Logf("n=%d per side: false alarms %.3f, power for +20%% %.3f", tc.n, rate, power)
		if rate > alpha+0.01 {
			t.Errorf("n=%d: false-alarm rate %.3f > alpha %.2f", tc.n, rate, alpha)
		}
		if power < tc.minPower {
			t.Errorf("n=%d: power %.3f for a 20%% shift, want ≥ %.2f", tc.n, power, tc.minPower)
		}
	}
}

// ar1 is an AR(1) series around mu: e[i] = phi·e[i−1] + N(0, sd²),
// started from its stationary distribution.
func ar1(rng *rand.Rand, n int, phi, mu, sd float64) []float64 {
	v := make([]float64, n)
	e := rng.NormFloat64() * sd / math.Sqrt(1-phi*phi)
	for i := range v {
		e = phi*e + sd*rng.NormFloat64()
		v[i] = mu + e
	}
	return v
}

// The single-run block bootstrap on per-interval values. Noise model: a
// 60 s run's 58 inner intervals (first and last dropped) as an AR(1)
// series, φ 0.5 (a slow second makes the next one slow too), innovations
// of 10 % of the mean. Independent values resampled one by one would give
// far more false alarms on such a series; the blocks keep it near alpha.
func TestBlockBootstrapFalseAlarmsAndPower(t *testing.T) {
	const trials, alpha, n = 1000, 0.05, 58
	rng := rand.New(rand.NewPCG(21, 22))
	alarms, caught := 0, 0
	for i := range trials {
		base := ar1(rng, n, 0.5, 100, 10)
		if BlockBootstrap(base, ar1(rng, n, 0.5, 100, 10), alpha, uint64(i)).P <= alpha {
			alarms++
		}
		if BlockBootstrap(base, ar1(rng, n, 0.5, 120, 10), alpha, uint64(i)).P <= alpha {
			caught++
		}
	}
	rate, power := float64(alarms)/trials, float64(caught)/trials
	t.Logf("AR(1) φ=0.5, %d intervals: false alarms %.3f, power for +20%% %.3f", n, rate, power)
	// Standard error of the rate at 1000 trials: 0.7 %; slack 2 %.
	if rate > alpha+0.02 {
		t.Errorf("false-alarm rate %.3f > alpha %.2f", rate, alpha)
	}
	if power < 0.95 {
		t.Errorf("power %.3f for a 20%% shift, want ≥ 0.95", power)
	}
	// Resampling one value at a time (block 1) on the same series is what
	// the blocks are for: it must alarm clearly more often.
	naive := 0
	for range 300 {
		x, y := ar1(rng, n, 0.5, 100, 10), ar1(rng, n, 0.5, 100, 10)
		se := math.Sqrt(variance(x)/n + variance(y)/n)
		if math.Abs(mean(y)-mean(x))/se > 1.96 {
			naive++
		}
	}
	if float64(naive)/300 < 2*alpha {
		t.Errorf("independent resampling alarmed only %d of 300 times: the synthetic series is not autocorrelated enough to test the blocks", naive)
	}
	// Reproducible: the same inputs give the same answer.
	x, y := ar1(rng, n, 0.5, 100, 10), ar1(rng, n, 0.5, 105, 10)
	if BlockBootstrap(x, y, alpha, bootstrapSeed) != BlockBootstrap(x, y, alpha, bootstrapSeed) {
		t.Error("the bootstrap is not reproducible with a fixed seed")
	}
}

func variance(v []float64) float64 {
	m := mean(v)
	var s float64
	for _, a := range v {
		s += (a - m) * (a - m)
	}
	return s / float64(len(v)-1)
}

// A scenario is judged on a dozen metrics: without an adjustment a run
// of identical code would be flagged on one of them about
// 1-(1-alpha/2)^k of the time. Holm keeps the verdicts whose adjusted
// p-value is still below alpha.
func TestHolmAdjustsForTheMetricsCompared(t *testing.T) {
	pv := func(v float64) *float64 { return &v }
	chg := pv(25)
	rows := []Row{
		{Metric: "p50", P: pv(0.0002), ChangePct: chg, Verdict: Regression},
		{Metric: "p99", P: pv(0.03), ChangePct: chg, Verdict: Regression},
		{Metric: "max", P: pv(0.04), ChangePct: chg, Verdict: Improvement},
		{Metric: "p90", P: pv(0.02), Verdict: NoChange, Note: "significantly worse, but within the 10% tolerance"},
		{Metric: "lost", Verdict: NoChange}, // not tested: untouched
	}
	for range 8 {
		rows = append(rows, Row{Metric: "other", P: pv(0.6), Verdict: NoChange})
	}
	holm(rows, 0.05)
	if rows[0].Verdict != Regression || math.Abs(*rows[0].PAdj-0.0002*12) > 1e-12 {
		t.Errorf("p50: %s, adjusted %v; want a regression at 12 × 0.0002", rows[0].Verdict, *rows[0].PAdj)
	}
	if rows[1].Verdict != NoChange || !strings.Contains(rows[1].Note, "Holm") || rows[2].Verdict != NoChange {
		t.Errorf("p99 %s (%s), max %s: single p 0.03/0.04 among 12 metrics is not significant", rows[1].Verdict, rows[1].Note, rows[2].Verdict)
	}
	if rows[3].Note != "" || rows[4].PAdj != nil {
		t.Errorf("p90 note %q, lost adjusted %v", rows[3].Note, rows[4].PAdj)
	}
	// Adjusted p-values keep the raw order.
	if *rows[3].PAdj < *rows[0].PAdj || *rows[1].PAdj < *rows[3].PAdj {
		t.Errorf("adjusted p not monotone: %v %v %v", *rows[0].PAdj, *rows[3].PAdj, *rows[1].PAdj)
	}

	// Identical code, 12 independent metrics, 8 runs a side: how often is
	// anything flagged? With Holm at most alpha.
	rng := rand.New(rand.NewPCG(7, 11))
	const trials = 2000
	raw, adjusted := 0, 0
	for range trials {
		var rs []Row
		for range 12 {
			a, b := make([]float64, 8), make([]float64, 8)
			for i := range a {
				a[i], b[i] = rng.NormFloat64(), rng.NormFloat64()
			}
			p := MannWhitney(a, b)
			rs = append(rs, Row{P: &p, Verdict: map[bool]string{true: Regression, false: NoChange}[p <= 0.05]})
		}
		if slices.ContainsFunc(rs, func(r Row) bool { return r.Verdict == Regression }) {
			raw++
		}
		holm(rs, 0.05)
		if slices.ContainsFunc(rs, func(r Row) bool { return r.Verdict == Regression }) {
			adjusted++
		}
	}
	if fa := float64(adjusted) / trials; fa > 0.06 {
		t.Errorf("with Holm %.3f of identical comparisons flag a metric, want ≤ alpha", fa)
	}
	if float64(raw)/trials < 0.3 {
		t.Errorf("without the adjustment %.3f flagged: the test does not exercise multiplicity", float64(raw)/trials)
	}
	t.Logf("identical code, 12 metrics: flagged %.3f unadjusted, %.3f with Holm", float64(raw)/trials, float64(adjusted)/trials)
}
