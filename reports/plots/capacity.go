package plots

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/squallbench/squall/internal/stats"
)

// CapacityPoint is one probe of a capacity search.
type CapacityPoint struct {
	Offered, Throughput, LatencyMS float64
	Pass                           bool
	Dropped                        bool // left out of the fit
	Canary                         bool
	Minute                         float64 // when it began, since the search's first probe
}

// CurvePoint is a fitted curve at one rate, with its band.
type CurvePoint struct{ Rate, Mid, Lo, Hi float64 }

// CapacityCurve is one search (one worker count): its probes, the fitted
// curves with their bands, and the sustainable rate with its band (0:
// none).
type CapacityCurve struct {
	Label                string
	Knee, KneeLo, KneeHi float64
	Probe                []CapacityPoint
	Latency              []CurvePoint // fitted latency (ms)
	Throughput           []CurvePoint // fitted throughput (per second)
}

// CapacityLatencySVG draws the SLO quantile's latency against the offered
// rate on a log scale: every probe as a point where its rate puts it
// (passed, failed, left out of the fit), the fitted curve with its band,
// the SLO's bound and the sustainable rate with its band.
func CapacityLatencySVG(quantile string, sloMS float64, curves ...CapacityCurve) ([]byte, error) {
	p := newPlot("Capacity: "+quantile+" latency against offered rate", "offered rate (starts per second)", quantile+" ms (corrected, log scale)")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	lo, hi := math.Inf(1), 0.0
	for _, c := range curves {
		for _, pt := range c.Probe {
			if pt.LatencyMS > 0 {
				lo, hi = math.Min(lo, pt.LatencyMS), math.Max(hi, pt.LatencyMS)
			}
		}
	}
	if sloMS > 0 {
		lo, hi = math.Min(lo, sloMS), math.Max(hi, sloMS)
	}
	if hi == 0 {
		return nil, fmt.Errorf("%w: no capacity probes", ErrNoData)
	}
	lo, hi = lo/1.5, hi*8 // room above for the legend
	return capacityPlot(p, curves, lo, hi,
		func(c CapacityPoint) float64 { return c.LatencyMS },
		func(c CapacityCurve) []CurvePoint { return c.Latency },
		func(p *plot.Plot, xMax float64) error {
			if sloMS <= 0 {
				return nil
			}
			return hline(p, fmt.Sprintf("SLO %s < %s ms", quantile, formatNum(sloMS)), sloMS, 0, xMax, colGrey)
		})
}

// CapacityThroughputSVG draws throughput against the offered rate, with
// the line where the two are equal: where the fit leaves it, the cluster
// stopped keeping up.
func CapacityThroughputSVG(curves ...CapacityCurve) ([]byte, error) {
	p := newPlot("Capacity: throughput against offered rate", "offered rate (starts per second)", "completed per second")
	hi := 0.0
	for _, c := range curves {
		for _, pt := range c.Probe {
			hi = math.Max(hi, math.Max(pt.Throughput, pt.Offered))
		}
	}
	if hi == 0 {
		return nil, fmt.Errorf("%w: no capacity probes", ErrNoData)
	}
	return capacityPlot(p, curves, 0, hi*1.5,
		func(c CapacityPoint) float64 { return c.Throughput },
		func(c CapacityCurve) []CurvePoint { return c.Throughput },
		func(p *plot.Plot, xMax float64) error {
			l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: xMax, Y: xMax}})
			if err != nil {
				return err
			}
			l.Color, l.Dashes = colGrey, baseDashes
			p.Add(l)
			p.Legend.Add("throughput = offered", l)
			return nil
		})
}

// translucent is c at the given opacity: a band under its line.
func translucent(c color.Color, alpha uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), alpha}
}

func capacityPlot(p *plot.Plot, curves []CapacityCurve, yLo, yHi float64, y func(CapacityPoint) float64,
	fit func(CapacityCurve) []CurvePoint, ref func(*plot.Plot, float64) error) ([]byte, error) {
	xMax, drawn := 0.0, 0
	for _, c := range curves {
		for _, pt := range c.Probe {
			xMax = math.Max(xMax, pt.Offered)
		}
	}
	legend := map[string]bool{}
	for i, c := range curves {
		if len(c.Probe) == 0 {
			continue
		}
		col := palette[i%len(palette)]
		// The sustainable rate's band, full height, under everything.
		if c.Knee > 0 && c.KneeHi > c.KneeLo {
			poly, err := plotter.NewPolygon(plotter.XYs{{X: c.KneeLo, Y: yLo}, {X: c.KneeHi, Y: yLo}, {X: c.KneeHi, Y: yHi}, {X: c.KneeLo, Y: yHi}})
			if err != nil {
				return nil, err
			}
			poly.Color, poly.LineStyle.Width = translucent(col, 0x22), 0
			p.Add(poly)
		}
		// The fitted curve and its band.
		if f := fit(c); len(f) > 0 {
			var band plotter.XYs
			for _, cp := range f {
				band = append(band, plotter.XY{X: cp.Rate, Y: cp.Lo})
			}
			for j := len(f) - 1; j >= 0; j-- {
				band = append(band, plotter.XY{X: f[j].Rate, Y: f[j].Hi})
			}
			if len(f) > 1 && positive(band) {
				poly, err := plotter.NewPolygon(band)
				if err != nil {
					return nil, err
				}
				poly.Color, poly.LineStyle.Width = translucent(col, 0x40), 0
				p.Add(poly)
			}
			var mid plotter.XYs
			for _, cp := range f {
				mid = append(mid, plotter.XY{X: cp.Rate, Y: cp.Mid})
			}
			if err := line(p, "fit "+c.Label+" (90 % band shaded)", mid, col, 2, false); err != nil {
				return nil, err
			}
		}
		// Every probe where its rate puts it: no path through them.
		groups := []struct {
			name  string
			keep  func(CapacityPoint) bool
			col   color.Color
			shape draw.GlyphDrawer
			r     float64
		}{
			{"probe passed", func(pt CapacityPoint) bool { return pt.Pass && !pt.Dropped && !pt.Canary }, col, draw.CircleGlyph{}, 3},
			{"canary", func(pt CapacityPoint) bool { return pt.Canary && !pt.Dropped }, col, boldGlyph{triangle}, 4},
			{"probe failed", func(pt CapacityPoint) bool { return !pt.Pass && !pt.Dropped && !pt.Canary }, colRed, boldGlyph{cross}, 4},
			{"left out of the fit", func(pt CapacityPoint) bool { return pt.Dropped }, colGrey, boldGlyph{ring}, 4.5},
		}
		for _, g := range groups {
			var xys plotter.XYs
			for _, pt := range c.Probe {
				if v := y(pt); g.keep(pt) && v > 0 {
					xys = append(xys, plotter.XY{X: pt.Offered, Y: math.Min(v, yHi)})
				}
			}
			if len(xys) == 0 {
				continue
			}
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = g.col, vg.Points(g.r), g.shape
			p.Add(sc)
			name := g.name
			if g.col != colRed && g.col != colGrey && len(curves) > 1 {
				name += " (" + c.Label + ")"
			}
			if !legend[name] {
				legend[name] = true
				p.Legend.Add(name, sc)
			}
		}
		if c.Knee > 0 {
			name := fmt.Sprintf("sustainable %s: %s/s (band %s–%s/s)", c.Label, rate3(c.Knee), rate3(c.KneeLo), rate3(c.KneeHi))
			if err := vline(p, name, c.Knee, yLo, yHi, col); err != nil {
				return nil, err
			}
		}
		drawn++
	}
	if drawn == 0 {
		return nil, fmt.Errorf("%w: no capacity probes", ErrNoData)
	}
	if err := ref(p, xMax*1.05); err != nil {
		return nil, err
	}
	p.X.Min, p.X.Max = 0, xMax*1.05
	p.Y.Min, p.Y.Max = yLo, yHi
	return render(p)
}

func positive(xys plotter.XYs) bool {
	for _, xy := range xys {
		if !(xy.Y > 0) {
			return false
		}
	}
	return true
}

// CanarySeries is one search's canary: its median latency at each run.
type CanarySeries struct {
	Label  string
	Rate   float64
	Drift  float64 // (max − min) / median, a share
	Points []CanaryPoint
}

// CanaryPoint is one canary probe: when, and its p50.
type CanaryPoint struct {
	Minute, P50MS float64
	Pass          bool
}

// CanarySVG draws the canary's median latency over the search: the same
// rate, re-run every few probes, so what moves is the machine.
func CanarySVG(series ...CanarySeries) ([]byte, error) {
	p := newPlot("Canary: the same rate over the search (the machine's drift)", "minutes since the search began", "p50 ms (corrected)")
	hi, xMax, drawn := 0.0, 0.0, 0
	for i, s := range series {
		if len(s.Points) == 0 {
			continue
		}
		col := palette[i%len(palette)]
		var xys plotter.XYs
		for _, pt := range s.Points {
			xys = append(xys, plotter.XY{X: pt.Minute, Y: pt.P50MS})
			hi, xMax = math.Max(hi, pt.P50MS), math.Max(xMax, pt.Minute)
		}
		name := fmt.Sprintf("canary %s at %s/s: drift %.0f %%", s.Label, rate3(s.Rate), s.Drift*100)
		if err := line(p, name, xys, col, 1.5, false); err != nil {
			return nil, err
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = col, vg.Points(4), boldGlyph{triangle}
		p.Add(sc)
		if m := median(s.Points); m > 0 {
			if err := hline(p, fmt.Sprintf("its median, %s ms", formatNum(math.Round(m*10)/10)), m, 0, xMax*1.05, translucent(col, 0xa0)); err != nil {
				return nil, err
			}
		}
		drawn++
	}
	if drawn == 0 {
		return nil, fmt.Errorf("%w: no canary probes", ErrNoData)
	}
	p.X.Min, p.X.Max = 0, math.Max(xMax*1.05, 1)
	p.Y.Min, p.Y.Max = 0, hi*1.6
	return render(p)
}

// ProbeOrderSVG draws every probe at the minute it began and its offered
// rate: the bracket stepping up, then the interleaved rounds jumping
// between the candidates in their shuffled order, the canary every few
// probes.
func ProbeOrderSVG(curves ...CapacityCurve) ([]byte, error) {
	p := newPlot("Probes in the order run", "minutes since the search began", "offered rate (starts per second)")
	hi, xMax, drawn := 0.0, 0.0, 0
	legend := map[string]bool{}
	for _, c := range curves {
		for _, g := range []struct {
			name  string
			keep  func(CapacityPoint) bool
			col   color.Color
			shape draw.GlyphDrawer
		}{
			{"passed", func(pt CapacityPoint) bool { return pt.Pass && !pt.Canary && !pt.Dropped }, colBlue, draw.CircleGlyph{}},
			{"failed", func(pt CapacityPoint) bool { return !pt.Pass && !pt.Canary && !pt.Dropped }, colRed, boldGlyph{cross}},
			{"canary", func(pt CapacityPoint) bool { return pt.Canary && !pt.Dropped }, colGreen, boldGlyph{triangle}},
			{"left out of the fit", func(pt CapacityPoint) bool { return pt.Dropped }, colGrey, boldGlyph{ring}},
		} {
			var xys plotter.XYs
			for _, pt := range c.Probe {
				if g.keep(pt) {
					xys = append(xys, plotter.XY{X: pt.Minute, Y: pt.Offered})
					hi, xMax = math.Max(hi, pt.Offered), math.Max(xMax, pt.Minute)
				}
			}
			if len(xys) == 0 {
				continue
			}
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = g.col, vg.Points(3.5), g.shape
			p.Add(sc)
			if !legend[g.name] {
				legend[g.name] = true
				p.Legend.Add(g.name, sc)
			}
			drawn++
		}
	}
	if drawn == 0 {
		return nil, fmt.Errorf("%w: no capacity probes", ErrNoData)
	}
	p.X.Min, p.X.Max = 0, math.Max(xMax*1.05, 1)
	p.Y.Min, p.Y.Max = 0, hi*1.5
	return render(p)
}

// rate3 is a rate with three significant digits, as people read them.
func rate3(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

func median(ps []CanaryPoint) float64 {
	v := make([]float64, 0, len(ps))
	for _, p := range ps {
		v = append(v, p.P50MS)
	}
	m, _ := stats.Median(v) // 0 without points
	return m
}

// boldGlyph draws an outline glyph with a line wide enough to read at a
// glance (gonum's outline glyphs are drawn half a point wide).
type boldGlyph struct{ shape int }

const (
	cross = iota
	triangle
	ring
)

var _ draw.GlyphDrawer = boldGlyph{}

func (g boldGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	ls := draw.LineStyle{Color: sty.Color, Width: vg.Points(1.4)}
	r := sty.Radius
	switch g.shape {
	case cross:
		c.StrokeLine2(ls, pt.X-r, pt.Y-r, pt.X+r, pt.Y+r)
		c.StrokeLine2(ls, pt.X-r, pt.Y+r, pt.X+r, pt.Y-r)
	case triangle:
		h := r * vg.Length(math.Sqrt(3)) / 2
		c.StrokeLines(ls, []vg.Point{{X: pt.X, Y: pt.Y + r}, {X: pt.X - h, Y: pt.Y - r/2}, {X: pt.X + h, Y: pt.Y - r/2}, {X: pt.X, Y: pt.Y + r}})
	default:
		var path vg.Path
		path.Move(vg.Point{X: pt.X + r, Y: pt.Y})
		path.Arc(pt, r, 0, 2*math.Pi)
		path.Close()
		c.SetLineStyle(ls)
		c.Stroke(path)
	}
}
