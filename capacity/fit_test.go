package capacity

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"
)

func TestIsotonic(t *testing.T) {
	// Weighted means: 0.5 (weight 1) above 0.25 (weight 3) pool at 0.3125.
	if got := isotonicMean([]float64{0, 0.5, 0.25, 1}, []float64{1, 1, 3, 1}); !slices.Equal(got, []float64{0, 0.3125, 0.3125, 1}) {
		t.Errorf("isotonicMean = %v", got)
	}
	// Medians: one collapsed probe among three does not move the block.
	got := isotonicMedian([][]float64{{1, 2, 3}, {9, 1, 1}, {2}, {5, 6}})
	if !slices.Equal(got, []float64{1.5, 1.5, 2, 5.5}) {
		t.Errorf("isotonicMedian = %v", got)
	}
}

// The knee's mean over the pass shares: a clean drop lands in the middle
// of its gap (in log rate); a drop spread over two gaps lands between.
func TestKnee(t *testing.T) {
	gs := []rateGroup{{rate: 10, x: math.Log(10)}, {rate: 20, x: math.Log(20)}, {rate: 40, x: math.Log(40)}}
	if k := knee(gs, []float64{1, 1, 0}, nil); math.Abs(k-math.Sqrt(800)) > 1e-9 {
		t.Errorf("clean drop between 20 and 40: %v, want %v", k, math.Sqrt(800))
	}
	if k := knee(gs, []float64{1, 0.5, 0}, nil); math.Abs(k-math.Sqrt(math.Sqrt(200)*math.Sqrt(800))) > 1e-9 {
		t.Errorf("half the drop in each gap: %v", k)
	}
	if k := knee(gs, []float64{1, math.NaN(), 0}, func(int) float64 { return 0 }); math.Abs(k-10) > 1e-9 {
		t.Errorf("rate 20 undrawn, the drop at the start of its gap: %v, want 10", k)
	}
}

// recordedProbes are the probes of a real search (squall capacity
// --scenario noop --slo 'p99<1s' --probe 12s --settle 4s --rounds 2, on
// the embedded server while the machine was busy with other builds at
// first and quieter later), as report.json keeps them.
func recordedProbes(t *testing.T) []Probe {
	t.Helper()
	b, err := os.ReadFile("testdata/noop-loaded.probes.json")
	if err != nil {
		t.Fatal(err)
	}
	var ps []Probe
	if err := json.Unmarshal(b, &ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

// The fit over a real search's probes. The machine was loaded during the
// bracket (16/s failed once and passed twice, 8/s failed once) and
// quieter during the rounds (23.3/s passed once, failed once): the pass
// shares, made monotone, spread the knee from 8 to 26/s, the answer lies
// inside that, the band is wide, and the latency curve answers the
// inverse question between the probed rates only.
func TestFitOnRecordedProbes(t *testing.T) {
	ps := recordedProbes(t)
	slo, _ := ParseSLO("p99<1s")
	for _, p := range ps {
		// Little's law and the driver check find nothing wrong with them:
		// the sound probes stay in the fit.
		if why := Screen(Criteria{SLO: slo}, p); why != "" {
			t.Errorf("%s left out: %s", p.Entry, why)
		}
	}
	a := Analyze(ps, 0.9, 42)
	pass := a.PassShare()
	rates := a.Rates()
	for i := 1; i < len(pass); i++ {
		if pass[i] > pass[i-1] {
			t.Errorf("pass share rises from %.2f at %.1f/s to %.2f at %.1f/s", pass[i-1], rates[i-1], pass[i], rates[i])
		}
	}
	if pass[0] != 1 || pass[len(pass)-1] != 0 {
		t.Errorf("pass shares %v over %v: want every probe at 2/s passing and every one at 32/s failing", pass, rates)
	}
	e := a.Sustainable()
	if !e.Found || e.AtLeast || e.Rate < 8 || e.Rate > 26.2 || !e.Band.Contains(e.Rate) || e.Band.HalfWidth(e.Rate) < 0.1 {
		t.Errorf("sustainable %.1f/s, band %.1f–%.1f: want an answer between 8 and 26.2/s inside a wide band", e.Rate, e.Band.Lo, e.Band.Hi)
	}
	t.Logf("sustainable %.1f/s (band %.1f–%.1f/s) from %d probes", e.Rate, e.Band.Lo, e.Band.Hi, a.Used)
	// The same probes and seed: the same band, as report.json recorded it.
	if again := Analyze(ps, 0.9, 42).Sustainable(); again != e {
		t.Errorf("refit %+v, first %+v", again, e)
	}
	mid, lo, hi, err := a.LatencyAt(10)
	if err != nil || mid < 100 || mid > 1000 || lo > mid || hi < mid {
		t.Errorf("p99 at 10/s: %.0f ms (%.0f–%.0f), %v", mid, lo, hi, err)
	}
	if _, _, _, err := a.LatencyAt(1); err == nil {
		t.Errorf("p99 at 1/s, below every probe: answered")
	}
	// Throughput follows the offered rate up to the knee, then falls
	// behind it.
	thr := a.ThroughputCurve()
	if first, last := thr[0], thr[len(thr)-1]; first.Mid < 0.95*first.Rate || last.Mid > 0.8*last.Rate {
		t.Errorf("throughput curve %+v … %+v", first, last)
	}
}
