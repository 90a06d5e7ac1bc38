package compare

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"
)

// Bootstrap settings for comparing two single runs.
const (
	resamples = 2000
	// minIntervals per side (after dropping the first and last) below which
	// a single-run comparison says "not enough samples".
	minIntervals = 10
	// bootstrapSeed makes a comparison reproducible: the same two runs give
	// the same p-value every time.
	bootstrapSeed = 0x5eed
)

// BootstrapResult is a block-bootstrap comparison of two series' means.
type BootstrapResult struct {
	// Diff is mean(y) − mean(x); Low and High bound it at 1−alpha.
	Diff, Low, High float64
	// P is the two-sided p-value of "no difference".
	P float64
	// Block is the block length used; DF the degrees of freedom of the
	// t reference.
	Block int
	DF    float64
}

// blocksPerSeries: blocks of a quarter of the series. Per-interval
// latencies are autocorrelated (a slow second is followed by another:
// queues drain slowly), so values cannot be resampled one by one without
// making the noise look smaller than it is. Long blocks keep correlations
// of several seconds inside a block; the usual n^(1/3) or √n rules, tuned
// for long series, gave 9–11 % false alarms at α 0.05 on AR(1) series
// (φ 0.5) of a minute in the tests, a quarter gives about 5 %.
const blocksPerSeries = 4

func blockLength(n int) int {
	return max(2, (n+blocksPerSeries-1)/blocksPerSeries)
}

// BlockBootstrap compares the means of two autocorrelated series with a
// moving-block bootstrap: each side is rebuilt from randomly placed blocks
// of consecutive values, resamples times, and the spread of the rebuilt
// means estimates each mean's standard error with its autocorrelation.
// Two small-sample corrections keep the false-alarm rate near alpha with
// only a few blocks per side: the block variance is divided by (1 − l/n)
// (a resampled block mean varies around the series' own mean, not the true
// one, which makes it look l/n too steady), and the difference is judged
// against Student's t with the blocks' degrees of freedom (Welch), not the
// normal distribution. It is weaker than repeated runs: it sees only the
// noise within a run, not what differs from one run to the next (a server
// warming up, the machine's other load), so it can call a run-to-run
// difference significant. seed makes it reproducible.
func BlockBootstrap(x, y []float64, alpha float64, seed uint64) BootstrapResult {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	vx, dfx, lx := bootVariance(rng, x)
	vy, dfy, ly := bootVariance(rng, y)
	res := BootstrapResult{Diff: mean(y) - mean(x), Block: max(lx, ly), P: 1}
	se := math.Sqrt(vx + vy)
	if se == 0 {
		// Both series constant: any difference is exact, none is none.
		res.Low, res.High = res.Diff, res.Diff
		if res.Diff != 0 {
			res.P = 0
		}
		return res
	}
	res.DF = (vx + vy) * (vx + vy) / (vx*vx/dfx + vy*vy/dfy)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: res.DF}
	res.P = math.Min(1, 2*t.CDF(-math.Abs(res.Diff)/se))
	half := t.Quantile(1-alpha/2) * se
	res.Low, res.High = res.Diff-half, res.Diff+half
	return res
}

// bootVariance is the moving-block bootstrap variance of v's mean, with
// its degrees of freedom (blocks − 1) and block length.
func bootVariance(rng *rand.Rand, v []float64) (variance, df float64, l int) {
	n := len(v)
	l = min(blockLength(n), n)
	means := make([]float64, resamples)
	for i := range means {
		means[i] = resampleMean(rng, v, l)
	}
	m := mean(means)
	for _, a := range means {
		variance += (a - m) * (a - m)
	}
	variance /= float64(resamples - 1)
	if l < n {
		variance /= 1 - float64(l)/float64(n)
	}
	return variance, max(1, float64(n)/float64(l)-1), l
}

// resampleMean is the mean of one moving-block resample of v: blocks of l
// consecutive values starting anywhere, concatenated to len(v).
func resampleMean(rng *rand.Rand, v []float64, l int) float64 {
	n := len(v)
	l = min(l, n)
	var sum float64
	taken := 0
	for taken < n {
		start := rng.IntN(n - l + 1)
		for j := start; j < start+l && taken < n; j++ {
			sum += v[j]
			taken++
		}
	}
	return sum / float64(n)
}

func mean(v []float64) float64 {
	var s float64
	for _, a := range v {
		s += a
	}
	return s / float64(len(v))
}
