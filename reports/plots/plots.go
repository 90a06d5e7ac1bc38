// Package plots draws squall's report plots with gonum/plot as SVG
// documents small enough to inline in an HTML page. It knows nothing of
// reports: every plot takes plain input types, so the run report and the
// comparison of two runs draw the same pictures (the over-time and
// spectrum plots take several runs and overlay them, the first one solid).
package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Size of every plot. SVG scales; this fixes the proportions and the
// size of the text relative to the data.
const (
	Width  vg.Length = 720 // points
	Height vg.Length = 300
)

// sans is the one typeface of every plot. The SVG names it; Arial and
// Helvetica, metric-compatible with Liberation Sans, stand in where the
// viewer lacks it, so text measured here still fits there.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// palette: one colour per series role, stable across plots (p99 is
// always the same red), readable on white and for most colour-blind eyes.
var (
	colBlue   = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colOrange = color.RGBA{0xff, 0x7f, 0x0e, 0xff}
	colGreen  = color.RGBA{0x2c, 0xa0, 0x2c, 0xff}
	colRed    = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	colPurple = color.RGBA{0x94, 0x67, 0xbd, 0xff}
	colBrown  = color.RGBA{0x8c, 0x56, 0x4b, 0xff}
	colGrey   = color.RGBA{0x55, 0x55, 0x55, 0xff}
	colFault  = color.NRGBA{0xd6, 0x27, 0x28, 0x2a} // translucent: the lines stay visible
	palette   = []color.Color{colBlue, colOrange, colGreen, colRed, colPurple, colBrown, colGrey}
)

// baseDashes is how an overlaid run (a baseline) is drawn: same colour as
// the run it is compared with, dashed.
var baseDashes = []vg.Length{vg.Points(5), vg.Points(3)}

// newPlot returns a plot with squall's fonts, a grid and a legend in the
// top left corner.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 13)
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 11)
		a.Tick.Label.Font = font.From(sans, 10)
		a.Tick.Marker = compactTicks{}
	}
	p.Legend.TextStyle.Font = font.From(sans, 10)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), vg.Points(-4)
	p.Legend.Padding = vg.Points(1)
	p.Legend.ThumbnailWidth = vg.Points(22)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{0xe4}
	grid.Horizontal.Color = color.Gray{0xe4}
	p.Add(grid)
	return p
}

// render draws p into an SVG element for inlining: no XML prolog, and a
// font list the browser can satisfy.
func render(p *plot.Plot) ([]byte, error) {
	return renderSize(p, Width, Height)
}

func renderSize(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	return finish(c)
}

func finish(c *vgsvg.Canvas) ([]byte, error) {
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("render svg: %w", err)
	}
	out := b.Bytes()
	if i := bytes.Index(out, []byte("<svg")); i > 0 {
		out = out[i:]
	}
	out = bytes.ReplaceAll(out, []byte("font-family:Liberation Sans;"), []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
	return out, nil
}

// line adds a series to p, split into segments where a Y is NaN (an
// interval without data is a gap, not a straight line across it), with
// one legend entry.
func line(p *plot.Plot, name string, xys plotter.XYs, c color.Color, width float64, dashed bool) error {
	var segs []plotter.XYs
	var cur plotter.XYs
	for _, pt := range xys {
		if math.IsNaN(pt.Y) || math.IsInf(pt.Y, 0) {
			if len(cur) > 0 {
				segs = append(segs, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, pt)
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	var first *plotter.Line
	for _, s := range segs {
		l, err := plotter.NewLine(s)
		if err != nil {
			return fmt.Errorf("series %s: %w", name, err)
		}
		l.Color, l.Width = c, vg.Points(width)
		if dashed {
			l.Dashes = baseDashes
		}
		if len(s) == 1 { // a lone point would be invisible as a line
			l.Width = vg.Points(width * 2.5)
			l.Dashes = nil
			s = append(s, plotter.XY{X: s[0].X + 1e-9*math.Max(1, math.Abs(s[0].X)), Y: s[0].Y})
			l.XYs = s
		}
		p.Add(l)
		if first == nil {
			first = l
		}
	}
	if first != nil && name != "" {
		p.Legend.Add(name, first)
	}
	return nil
}

// hline draws a horizontal reference line (a limit, a budget).
func hline(p *plot.Plot, name string, y, x0, x1 float64, c color.Color) error {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: y}, {X: x1, Y: y}})
	if err != nil {
		return err
	}
	l.Color, l.Width, l.Dashes = c, vg.Points(1.5), []vg.Length{vg.Points(6), vg.Points(4)}
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

// vline draws a vertical reference line, named in the legend (a label
// beside the line would collide with the legend or the data).
func vline(p *plot.Plot, name string, x, y0, y1 float64, c color.Color) error {
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: y0}, {X: x, Y: y1}})
	if err != nil {
		return err
	}
	l.Color, l.Width, l.Dashes = c, vg.Points(1.5), []vg.Length{vg.Points(2), vg.Points(3)}
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

// text puts a small label just right of and below (x, y).
func text(p *plot.Plot, s string, x, y float64, c color.Color) error {
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: x, Y: y}}, Labels: []string{s}})
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font = font.From(sans, 9)
		lb.TextStyle[i].Color = c
		lb.TextStyle[i].YAlign = draw.YTop
	}
	lb.Offset = vg.Point{X: vg.Points(3), Y: vg.Points(-2)}
	p.Add(lb)
	return nil
}

// nan marks a missing value in a series.
var nan = math.NaN()
