package plots

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// Interval is one row of a run's per-interval time series.
type Interval struct {
	EndS      float64 // interval end, seconds since the load began
	DurationS float64 // the interval's length (under 1 s: taken as 1 s)
	Started   int64
	Completed int64
	Failed    int64
	Late      int64
	Dropped   int64
	InFlight  int64 // at the interval's end
	// Latency of the iterations that ended in the interval, in ms; 0 when
	// none did (drawn as a gap).
	P50MS, P99MS, MaxMS float64
	UncorrectedP99MS    float64
}

// Window is a fault window in seconds since the load began.
type Window struct {
	Kind       string
	FromS, ToS float64
}

// Timeline is one run's time series. Label names the run when several
// are overlaid ("base", "current"); the first run passed to a plot is
// drawn solid, the others dashed in the same colours.
type Timeline struct {
	Label     string
	Intervals []Interval
	Faults    []Window
}

// seconds is what a count in the interval is divided by for a rate.
// Intervals are 1 s except the last ones of a run, cut short when the load
// or the grace period ends: one completion in such a 30 ms tail would read
// as 33/s, so a short interval counts as a whole second.
func (iv Interval) seconds() float64 {
	return max(iv.DurationS, 1)
}

// seriesName is a series' legend entry: the metric, and the run's label
// when runs are overlaid.
func seriesName(metric, label string, runs int) string {
	if runs > 1 && label != "" {
		return metric + " (" + label + ")"
	}
	return metric
}

// ErrNoData is returned (wrapped) by a plot given nothing to draw: the
// page leaves such a plot out instead of showing an empty frame.
var ErrNoData = errors.New("nothing to plot")

var errNoRuns = fmt.Errorf("%w: no run given", ErrNoData)

// minCurvePoints is the fewest intervals with a latency worth a curve.
const minCurvePoints = 3

// LatencyOverTimeSVG plots corrected p50, p99 and max and uncorrected p99
// per interval on a log scale (a fault's spike and the quiet p50 both
// stay readable), with fault windows shaded and labelled with their kind.
// Further runs (a baseline) are overlaid dashed.
func LatencyOverTimeSVG(runs ...Timeline) ([]byte, error) {
	if len(runs) == 0 {
		return nil, errNoRuns
	}
	p := newPlot("Latency per interval (corrected for coordinated omission)", "seconds since the load began", "latency (ms, log scale)")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	metrics := []struct {
		name  string
		color color.Color
		width float64
		v     func(Interval) float64
	}{
		// Wide lines under narrow ones: with few samples per interval p99,
		// max and the uncorrected p99 often coincide, and all stay visible.
		{"max", colGrey, 4.5, func(iv Interval) float64 { return iv.MaxMS }},
		{"p99", colRed, 3, func(iv Interval) float64 { return iv.P99MS }},
		{"p50", colBlue, 2, func(iv Interval) float64 { return iv.P50MS }},
		{"uncorrected p99", colOrange, 1.2, func(iv Interval) float64 { return iv.UncorrectedP99MS }},
	}
	lo, hi, xMax, withData := math.Inf(1), 0.0, 0.0, 0
	for _, r := range runs {
		for _, iv := range r.Intervals {
			xMax = math.Max(xMax, iv.EndS)
			if iv.P50MS > 0 {
				withData++
			}
			for _, m := range metrics {
				if v := m.v(iv); v > 0 {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
	}
	if withData < minCurvePoints {
		// A latency or two are numbers (in the tables), not a curve.
		return nil, fmt.Errorf("%w: fewer than %d intervals have a completed iteration", ErrNoData, minCurvePoints)
	}
	// Room above the data for the legend and the fault labels.
	lo, hi = lo/1.5, hi*6
	p.Y.Min, p.Y.Max = lo, hi
	if err := shadeFaults(p, runs, lo, hi); err != nil {
		return nil, err
	}
	for i, r := range runs {
		for _, m := range metrics {
			xys := make(plotter.XYs, 0, len(r.Intervals))
			for _, iv := range r.Intervals {
				v := m.v(iv)
				if v <= 0 {
					v = nan
				}
				xys = append(xys, plotter.XY{X: iv.EndS, Y: v})
			}
			if err := line(p, seriesName(m.name, r.Label, len(runs)), xys, m.color, m.width, i > 0); err != nil {
				return nil, err
			}
		}
	}
	p.X.Min, p.X.Max = 0, xMax
	return render(p)
}

// ThroughputSVG plots started, completed and failed iterations per second
// and the iterations in flight at each interval's end. Further runs are
// overlaid dashed.
func ThroughputSVG(runs ...Timeline) ([]byte, error) {
	if len(runs) == 0 {
		return nil, errNoRuns
	}
	p := newPlot("Throughput and work in flight", "seconds since the load began", "per second / in flight")
	metrics := []struct {
		name  string
		color color.Color
		v     func(Interval) float64
	}{
		{"started/s", colBlue, func(iv Interval) float64 { return float64(iv.Started) / iv.seconds() }},
		{"completed/s", colGreen, func(iv Interval) float64 { return float64(iv.Completed) / iv.seconds() }},
		{"failed/s", colRed, func(iv Interval) float64 { return float64(iv.Failed) / iv.seconds() }},
		{"in flight", colPurple, func(iv Interval) float64 { return float64(iv.InFlight) }},
	}
	return countsPlot(p, runs, metrics)
}

// StartProblemsSVG plots late and dropped starts per second: the open
// loop's admission that it could not keep the schedule. Further runs are
// overlaid dashed.
func StartProblemsSVG(runs ...Timeline) ([]byte, error) {
	if len(runs) == 0 {
		return nil, errNoRuns
	}
	p := newPlot("Late and dropped starts", "seconds since the load began", "starts per second")
	metrics := []struct {
		name  string
		color color.Color
		v     func(Interval) float64
	}{
		{"late starts/s", colOrange, func(iv Interval) float64 { return float64(iv.Late) / iv.seconds() }},
		{"dropped starts/s", colRed, func(iv Interval) float64 { return float64(iv.Dropped) / iv.seconds() }},
	}
	return countsPlot(p, runs, metrics)
}

func countsPlot(p *plot.Plot, runs []Timeline, metrics []struct {
	name  string
	color color.Color
	v     func(Interval) float64
}) ([]byte, error) {
	hi, xMax, n := 0.0, 0.0, 0
	for _, r := range runs {
		for _, iv := range r.Intervals {
			n++
			xMax = math.Max(xMax, iv.EndS)
			for _, m := range metrics {
				hi = math.Max(hi, m.v(iv))
			}
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no intervals", ErrNoData)
	}
	if hi == 0 {
		hi = 1 // all zero (no late starts): a flat line at 0 is the finding
		p.Title.Text += ": none"
	}
	hi *= 1.4
	p.Y.Min, p.Y.Max = 0, hi
	if err := shadeFaults(p, runs, 0, hi); err != nil {
		return nil, err
	}
	for i, r := range runs {
		for _, m := range metrics {
			xys := make(plotter.XYs, 0, len(r.Intervals))
			for _, iv := range r.Intervals {
				xys = append(xys, plotter.XY{X: iv.EndS, Y: m.v(iv)})
			}
			if err := line(p, seriesName(m.name, r.Label, len(runs)), xys, m.color, 1.8, i > 0); err != nil {
				return nil, err
			}
		}
	}
	p.X.Min, p.X.Max = 0, xMax
	return render(p)
}

// shadeFaults draws every run's fault windows (once each when overlaid
// runs share a schedule) as shaded bands between lo and hi, labelled with
// the fault's kind at the top.
func shadeFaults(p *plot.Plot, runs []Timeline, lo, hi float64) error {
	seen := map[Window]bool{}
	for _, r := range runs {
		for _, w := range r.Faults {
			if seen[w] || w.ToS < w.FromS {
				continue
			}
			seen[w] = true
			to := w.ToS
			if to == w.FromS {
				to += 0.2 // an instant fault (a kill) is still visible
			}
			poly, err := plotter.NewPolygon(plotter.XYs{{X: w.FromS, Y: lo}, {X: to, Y: lo}, {X: to, Y: hi}, {X: w.FromS, Y: hi}})
			if err != nil {
				return err
			}
			poly.Color = colFault
			poly.LineStyle.Width = 0
			p.Add(poly)
			if err := text(p, w.Kind, w.FromS, hi, colRed); err != nil {
				return err
			}
		}
	}
	return nil
}
