package plots

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// TypeHistory is the history size distribution of one workflow type.
type TypeHistory struct {
	Type                  string
	MeanLength, MaxLength float64 // events
	MeanBytes, MaxBytes   float64
}

// HistorySVG draws, per workflow type, the mean and largest history in
// events (top) and in bytes (bottom), against the server's
// continue-as-new suggestion where a type comes near it.
func HistorySVG(types []TypeHistory) ([]byte, error) {
	if len(types) == 0 {
		return nil, fmt.Errorf("%w: no workflow type has a history", ErrNoData)
	}
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.Type
	}
	panel := func(title, unit string, mean, maxv func(TypeHistory) float64, suggest float64, suggestText string) (*plot.Plot, error) {
		p := newPlot(title, "", unit)
		p.NominalX(names...)
		hi := 0.0
		var means, maxs plotter.Values
		for _, t := range types {
			means, maxs = append(means, mean(t)), append(maxs, maxv(t))
			hi = max(hi, maxv(t))
		}
		w := vg.Points(min(40, 300/float64(len(types))))
		for i, s := range []struct {
			name string
			v    plotter.Values
			c    color.Color
		}{{"mean", means, colBlue}, {"max", maxs, colOrange}} {
			b, err := plotter.NewBarChart(s.v, w)
			if err != nil {
				return nil, fmt.Errorf("%s bars: %w", title, err)
			}
			b.Color, b.LineStyle.Width = s.c, 0
			b.Offset = w * vg.Length(float64(i)-0.5)
			p.Add(b)
			p.Legend.Add(s.name, b)
		}
		p.Legend.Left = false
		p.Legend.XOffs = vg.Points(-8)
		if hi >= suggest/2 {
			if err := hline(p, "server suggests continue-as-new at "+suggestText, suggest, -0.5, float64(len(types))-0.5, colRed); err != nil {
				return nil, err
			}
			hi = max(hi, suggest)
		}
		p.X.Min, p.X.Max = -0.5, float64(len(types))-0.5
		p.Y.Min, p.Y.Max = 0, max(hi*1.35, 1)
		return p, nil
	}
	top, err := panel("History length per workflow type", "events", func(t TypeHistory) float64 { return t.MeanLength },
		func(t TypeHistory) float64 { return t.MaxLength }, 4096, "4,096 events")
	if err != nil {
		return nil, err
	}
	bottom, err := panel("History size per workflow type", "bytes", func(t TypeHistory) float64 { return t.MeanBytes },
		func(t TypeHistory) float64 { return t.MaxBytes }, 4<<20, "4 MiB")
	if err != nil {
		return nil, err
	}
	bottom.Y.Tick.Marker = bytesTicks{}
	h := Height * 1.6
	c := vgsvg.New(Width, h)
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(12), PadTop: vg.Points(4), PadBottom: vg.Points(4)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	return finish(c)
}

// bytesTicks marks a byte axis at round numbers of its unit (KiB or
// MiB), not at round numbers of bytes (4.77 MiB).
type bytesTicks struct{}

func (bytesTicks) Ticks(lo, hi float64) []plot.Tick {
	unit := 1.0
	switch {
	case hi >= 1<<20:
		unit = 1 << 20
	case hi >= 1<<10:
		unit = 1 << 10
	}
	ts := plot.DefaultTicks{}.Ticks(lo/unit, hi/unit)
	for i := range ts {
		ts[i].Value *= unit
		if ts[i].Label != "" {
			ts[i].Label = formatBytes(ts[i].Value)
		}
	}
	return ts
}

func formatBytes(v float64) string {
	switch {
	case v >= 1<<20:
		return fmt.Sprintf("%.3g MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.3g KiB", v/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", v)
	}
}
