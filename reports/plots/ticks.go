package plots

import (
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// logTicks marks a log axis at 1, 2 and 5 times each power of ten, so a
// range inside one decade (3–9 ms) still gets labels; plot.LogTicks
// labels powers of ten only.
type logTicks struct{ unit string }

var _ plot.Ticker = logTicks{}

func (t logTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	var major, all []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		d := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * d
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			lbl := formatNum(v) + t.unit
			all = append(all, plot.Tick{Value: v, Label: lbl})
			if m == 1 || m == 2 || m == 5 {
				major = append(major, plot.Tick{Value: v, Label: lbl})
			} else {
				major = append(major, plot.Tick{Value: v})
			}
		}
	}
	labelled := 0
	for _, tk := range major {
		if tk.Label != "" {
			labelled++
		}
	}
	if labelled < 2 {
		return all
	}
	return major
}

// formatNum prints an axis value compactly: 0.5, 20, 1k, 2.5M.
func formatNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

// compactTicks are plot.DefaultTicks labelled as formatNum does (750, not
// 750.00; 20k, not 20000).
type compactTicks struct{}

var _ plot.Ticker = compactTicks{}

func (compactTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = formatNum(ts[i].Value)
		}
	}
	return ts
}
