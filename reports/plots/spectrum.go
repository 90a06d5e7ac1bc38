package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// Percentile is one point of a percentile spectrum: the latency (ms) at
// percentile P (0–100).
type Percentile struct {
	P  float64
	MS float64
}

// Spectrum is one run's HDR percentile spectrum, corrected and
// uncorrected. Label names the run when several are overlaid.
type Spectrum struct {
	Label       string
	Corrected   []Percentile
	Uncorrected []Percentile
}

// spectrumTicks are the x axis marks, 1/(1−p) for the percentiles people
// quote.
var spectrumTicks = []struct {
	x     float64
	label string
}{{1, "0%"}, {2, "50%"}, {10, "90%"}, {100, "99%"}, {1e3, "99.9%"}, {1e4, "99.99%"}, {1e5, "99.999%"}, {1e6, "99.9999%"}}

// minSpectrumPoints is the fewest points worth a spectrum: about four
// samples, at HdrHistogram's spacing of five points per halving.
const minSpectrumPoints = 10

// SpectrumSVG plots latency against percentile on a log 1/(1−p) axis (as
// wrk2 and HdrHistogram's plotter do), corrected and uncorrected: the gap
// between them is what coordinated omission hides. Further runs (a
// baseline) are overlaid dashed.
func SpectrumSVG(runs ...Spectrum) ([]byte, error) {
	if len(runs) == 0 {
		return nil, errNoRuns
	}
	p := newPlot("Latency by percentile (HDR spectrum)", "percentile", "latency (ms)")
	p.X.Scale = plot.LogScale{}
	xMax, hi, longest := 1.0, 0.0, 0
	for _, r := range runs {
		for _, pts := range [][]Percentile{r.Corrected, r.Uncorrected} {
			longest = max(longest, len(pts))
			for _, pt := range pts {
				if pt.P < 100 {
					xMax = math.Max(xMax, 1/(1-pt.P/100))
				}
				hi = math.Max(hi, pt.MS)
			}
		}
	}
	if hi == 0 || longest < minSpectrumPoints {
		// A handful of samples (a few iterations) has no spectrum to
		// speak of: the tables show their values.
		return nil, fmt.Errorf("%w: the spectrum has fewer than %d points", ErrNoData, minSpectrumPoints)
	}
	var ticks []plot.Tick
	for _, t := range spectrumTicks {
		if t.x <= xMax*1.0001 {
			ticks = append(ticks, plot.Tick{Value: t.x, Label: t.label})
		}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	// Room right of the last point for its tick label.
	p.X.Min, p.X.Max = 1, math.Max(xMax, 2)*1.25
	p.Y.Min, p.Y.Max = 0, hi*1.3
	for i, r := range runs {
		for _, s := range []struct {
			name string
			pts  []Percentile
			dark bool
		}{{"corrected", r.Corrected, true}, {"uncorrected", r.Uncorrected, false}} {
			// corrected wide under uncorrected narrow: where they agree
			// (no late starts) both stay visible.
			xys := make(plotter.XYs, 0, len(s.pts))
			for _, pt := range s.pts {
				if pt.P >= 100 {
					continue // 1/(1−p) is infinite: the max is the last point below it
				}
				xys = append(xys, plotter.XY{X: 1 / (1 - pt.P/100), Y: pt.MS})
			}
			col, width := colOrange, 1.5
			if s.dark {
				col, width = colRed, 3.5
			}
			if err := line(p, seriesName(s.name, r.Label, len(runs)), xys, col, width, i > 0); err != nil {
				return nil, err
			}
		}
	}
	return render(p)
}
