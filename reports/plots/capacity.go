package plots

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"
)

// CapacityPoint is one probe of a capacity search.
type CapacityPoint struct {
	Offered, Throughput, P99MS float64
	Pass                       bool
}

// CapacityCurve is one search (one worker count): its probes and the
// highest sustainable rate it found (0: none).
type CapacityCurve struct {
	Label string
	Knee  float64
	Probe []CapacityPoint
}

// CapacityLatencySVG draws p99 against the offered rate, one line per
// search, with the SLO's bound and each knee marked.
func CapacityLatencySVG(sloMS float64, curves ...CapacityCurve) ([]byte, error) {
	return capacityPlot("Capacity: p99 latency against offered rate", "p99 ms (corrected)", curves,
		func(c CapacityPoint) float64 { return c.P99MS },
		func(p *plot.Plot, xMax float64) error {
			return hline(p, fmt.Sprintf("SLO %g ms", sloMS), sloMS, 0, xMax, colGrey)
		})
}

// CapacityThroughputSVG draws throughput against the offered rate, with
// the line where the two are equal: where a curve leaves it, the cluster
// stopped keeping up.
func CapacityThroughputSVG(curves ...CapacityCurve) ([]byte, error) {
	return capacityPlot("Capacity: throughput against offered rate", "completed per second", curves,
		func(c CapacityPoint) float64 { return c.Throughput },
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

func capacityPlot(title, yLabel string, curves []CapacityCurve, y func(CapacityPoint) float64, ref func(*plot.Plot, float64) error) ([]byte, error) {
	p := newPlot(title, "offered rate (starts per second)", yLabel)
	xMax, yMax, drawn := 0.0, 0.0, 0
	for i, c := range curves {
		pts := append([]CapacityPoint(nil), c.Probe...)
		sort.Slice(pts, func(a, b int) bool { return pts[a].Offered < pts[b].Offered })
		if len(pts) == 0 {
			continue
		}
		col := palette[i%len(palette)]
		xys := make(plotter.XYs, len(pts))
		var fails plotter.XYs
		for j, pt := range pts {
			xys[j] = plotter.XY{X: pt.Offered, Y: y(pt)}
			xMax, yMax = math.Max(xMax, pt.Offered), math.Max(yMax, y(pt))
			if !pt.Pass {
				fails = append(fails, xys[j])
			}
		}
		if err := line(p, c.Label, xys, col, 2, false); err != nil {
			return nil, err
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Radius = col, 2.5
		p.Add(sc)
		if len(fails) > 0 {
			fs, err := plotter.NewScatter(fails)
			if err != nil {
				return nil, err
			}
			fs.GlyphStyle.Color, fs.GlyphStyle.Radius = colRed, 4
			fs.GlyphStyle.Shape = draw.CrossGlyph{}
			p.Add(fs)
			if i == 0 {
				p.Legend.Add("probe failed", fs)
			}
		}
		drawn++
	}
	for i, c := range curves {
		if c.Knee > 0 {
			if err := vline(p, fmt.Sprintf("knee %s: %s/s", c.Label, formatNum(c.Knee)), c.Knee, 0, yMax*1.6, palette[i%len(palette)]); err != nil {
				return nil, err
			}
		}
	}
	if drawn == 0 {
		return nil, fmt.Errorf("%w: no capacity probes", ErrNoData)
	}
	if err := ref(p, xMax); err != nil {
		return nil, err
	}
	p.X.Min, p.X.Max = 0, xMax*1.05
	p.Y.Min, p.Y.Max = 0, yMax*1.6
	return render(p)
}
