package reports

import (
	"math"

	"github.com/squallbench/squall/bench"
)

// Spectrum is a run's HDR percentile spectrum: latency at percentiles
// spaced as HdrHistogram prints them (five steps per halving of the
// distance to 100 %), up to the last percentile the sample count
// resolves. Kept in the report because the whole-run histograms are not:
// the spectrum plot is rebuilt from report.json or the result stream.
type Spectrum struct {
	Corrected   []PercentilePoint `json:"corrected"`
	Uncorrected []PercentilePoint `json:"uncorrected"`
}

// PercentilePoint is the latency (ms) at percentile P (0–100).
type PercentilePoint struct {
	P  float64 `json:"p"`
	MS float64 `json:"ms"`
}

// spectrumTicksPerHalf is HdrHistogram's default resolution of its
// percentile distribution output.
const spectrumTicksPerHalf = 5

// spectrumMaxLevel bounds the spectrum at 1 − 2⁻²⁰ (about 99.9999 %).
const spectrumMaxLevel = 20

func spectrumOf(corrected, uncorrected *bench.Histogram) *Spectrum {
	c, u := spectrumPoints(corrected), spectrumPoints(uncorrected)
	if c == nil && u == nil {
		return nil
	}
	return &Spectrum{Corrected: c, Uncorrected: u}
}

func spectrumPoints(h *bench.Histogram) []PercentilePoint {
	if h == nil || h.Count() == 0 {
		return nil
	}
	// Beyond 1 − 1/count every quantile is the largest value: stop there,
	// with the max as the last point.
	last := 1 - 1/float64(h.Count())
	var out []PercentilePoint
	for level := 0; level < spectrumMaxLevel; level++ {
		lo, hi := 1-math.Pow(2, -float64(level)), 1-math.Pow(2, -float64(level+1))
		for t := range spectrumTicksPerHalf {
			q := lo + (hi-lo)*float64(t)/spectrumTicksPerHalf
			if q >= last {
				return append(out, PercentilePoint{P: 100 * last, MS: bench.MS(h.Max())})
			}
			out = append(out, PercentilePoint{P: 100 * q, MS: bench.MS(h.Quantile(q))})
		}
	}
	return append(out, PercentilePoint{P: 100 * (1 - math.Pow(2, -spectrumMaxLevel)), MS: bench.MS(h.Max())})
}
