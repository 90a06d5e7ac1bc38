package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot/plotter"
)

// SweepPoint is one history length of a continue-as-new sweep, in ms.
type SweepPoint struct {
	Events       float64
	TaskP50MS    float64 // workflow task without sticky cache
	TaskP99MS    float64
	ReplayMS     float64 // cold replay, median
	FetchMS      float64 // reading the whole history
	HistoryBytes float64
}

// CanSweepSVG draws the sweep's curve: non-sticky task latency (p50, p99),
// cold replay and history fetch against history length, the latency
// budget, and the recommended continue-as-new threshold (0: none) next to
// the history length at which the server suggested continuing as new (0:
// none seen).
func CanSweepSVG(points []SweepPoint, budgetMS float64, recommendedEvents, serverSuggestEvents float64) ([]byte, error) {
	if len(points) == 0 {
		return nil, fmt.Errorf("%w: the sweep has no measured length", ErrNoData)
	}
	p := newPlot("Continue-as-new sweep: latency against history length", "history length (events)", "milliseconds")
	type ser struct {
		name string
		v    func(SweepPoint) float64
	}
	all := []ser{
		{"task p99 (no sticky cache)", func(s SweepPoint) float64 { return s.TaskP99MS }},
		{"task p50 (no sticky cache)", func(s SweepPoint) float64 { return s.TaskP50MS }},
		{"cold replay (median)", func(s SweepPoint) float64 { return s.ReplayMS }},
		{"history fetch", func(s SweepPoint) float64 { return s.FetchMS }},
	}
	cols := []color.Color{colRed, colOrange, colBlue, colGrey}
	xMax, hi := 0.0, budgetMS
	for _, pt := range points {
		xMax = math.Max(xMax, pt.Events)
		for _, s := range all {
			hi = math.Max(hi, s.v(pt))
		}
	}
	for i, s := range all {
		xys := make(plotter.XYs, len(points))
		for j, pt := range points {
			xys[j] = plotter.XY{X: pt.Events, Y: s.v(pt)}
		}
		if err := line(p, s.name, xys, cols[i], 2, false); err != nil {
			return nil, err
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Radius = cols[i], 2.5
		p.Add(sc)
	}
	hi *= 1.6 // room for the legend
	if budgetMS > 0 {
		if err := hline(p, fmt.Sprintf("budget %g ms", budgetMS), budgetMS, 0, xMax, colGrey); err != nil {
			return nil, err
		}
	}
	if recommendedEvents > 0 {
		if err := vline(p, fmt.Sprintf("recommended: continue-as-new by %s events", formatNum(recommendedEvents)), recommendedEvents, 0, hi, colGreen); err != nil {
			return nil, err
		}
	}
	if serverSuggestEvents > 0 && serverSuggestEvents <= xMax {
		if err := vline(p, fmt.Sprintf("server suggested continue-as-new from event %s", formatNum(serverSuggestEvents)), serverSuggestEvents, 0, hi, colPurple); err != nil {
			return nil, err
		}
	}
	p.X.Min, p.X.Max = 0, xMax*1.02
	p.Y.Min, p.Y.Max = 0, hi
	return render(p)
}
