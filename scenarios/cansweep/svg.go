package cansweep

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
)

// PlotFile is the sweep's curve, written into the run directory.
const PlotFile = "can-sweep.svg"

// writeSVG draws the sweep as a small self-contained SVG line chart:
// non-sticky task latency (p50, p99), cold replay time and history fetch
// time against history length, with the budget as a dashed line. It
// returns the file's path ("" when there is nothing to draw).
func writeSVG(dir string, rows []Row, budget time.Duration) (string, error) {
	type pt struct{ x, y float64 }
	series := []struct {
		name, color string
		pts         []pt
	}{
		{"task p99 (no sticky cache)", "#d62728", nil},
		{"task p50 (no sticky cache)", "#ff7f0e", nil},
		{"cold replay (median)", "#1f77b4", nil},
		{"history fetch", "#7f7f7f", nil},
	}
	maxX, maxY := 0.0, bench.MS(budget)
	for _, r := range rows {
		if r.Error != "" || r.Events == 0 {
			continue
		}
		x := float64(r.Events)
		for i, y := range []float64{r.TaskMS.P99, r.TaskMS.P50, r.ReplayMS.Median, r.FetchMS} {
			series[i].pts = append(series[i].pts, pt{x, y})
			maxY = math.Max(maxY, y)
		}
		maxX = math.Max(maxX, x)
	}
	if dir == "" || maxX == 0 {
		return "", nil
	}
	maxX, maxY = niceCeil(maxX), niceCeil(maxY*1.05)
	const w, h, left, right, top, bottom = 760.0, 420.0, 70.0, 230.0, 30.0, 50.0
	px := func(x float64) float64 { return left + x/maxX*(w-left-right) }
	py := func(y float64) float64 { return h - bottom - y/maxY*(h-top-bottom) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%g" y="18" font-size="14">continue-as-new sweep: latency vs history length</text>`+"\n", left)
	for i := 0; i <= 5; i++ {
		x, y := maxX*float64(i)/5, maxY*float64(i)/5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", px(0), py(y), px(maxX), py(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", px(0)-6, py(y)+4, trimFloat(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), h-bottom+18, trimFloat(x))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", px(0), py(0), px(maxX), py(0))
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", px(0), py(0), px(0), py(maxY))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">history length (events)</text>`+"\n", (px(0)+px(maxX))/2, h-12)
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">milliseconds</text>`+"\n", (py(0)+py(maxY))/2)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-dasharray="6 4"/>`+"\n", px(0), py(bench.MS(budget)), px(maxX), py(bench.MS(budget)))
	legend := func(i int, color, name string, dashed bool) {
		y := top + 20 + float64(i)*20
		dash := ""
		if dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", w-right+15, y, w-right+40, y, color, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", w-right+46, y+4, name)
	}
	for i, s := range series {
		var path []string
		for _, p := range s.pts {
			path = append(path, fmt.Sprintf("%.1f,%.1f", px(p.x), py(p.y)))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(p.x), py(p.y), s.color)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.color, strings.Join(path, " "))
		legend(i, s.color, s.name, false)
	}
	legend(len(series), "black", fmt.Sprintf("budget %s", budget), true)
	b.WriteString("</svg>\n")
	path := filepath.Join(dir, PlotFile)
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	if v >= 1000 && math.Mod(v, 1000) == 0 {
		return fmt.Sprintf("%gk", v/1000)
	}
	return fmt.Sprintf("%g", math.Round(v*100)/100)
}
