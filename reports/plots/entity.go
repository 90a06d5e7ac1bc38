package plots

import (
	"fmt"
	"sort"
	"strconv"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// RunsPerEntitySVG draws how many entities ended with how many runs
// (continue-as-new chains): one bar per run count. A strategy that
// continues on schedule gives one tall bar; a spread shows entities that
// received more signals, or continued early.
func RunsPerEntitySVG(runsByEntity map[string]int) ([]byte, error) {
	if len(runsByEntity) == 0 {
		return nil, fmt.Errorf("%w: no entity", ErrNoData)
	}
	byRuns := map[int]int{}
	for _, r := range runsByEntity {
		byRuns[r]++
	}
	counts := make([]int, 0, len(byRuns))
	for r := range byRuns {
		counts = append(counts, r)
	}
	sort.Ints(counts)
	names := make([]string, len(counts))
	vals := make(plotter.Values, len(counts))
	hi := 0.0
	for i, r := range counts {
		names[i] = strconv.Itoa(r)
		vals[i] = float64(byRuns[r])
		hi = max(hi, vals[i])
	}
	p := newPlot(fmt.Sprintf("Runs per entity (%d entities)", len(runsByEntity)), "runs in the entity's chain (1 + continue-as-new)", "entities")
	p.NominalX(names...)
	b, err := plotter.NewBarChart(vals, vg.Points(min(40, 500/float64(len(vals)))))
	if err != nil {
		return nil, err
	}
	b.Color, b.LineStyle.Width = colBlue, 0
	p.Add(b)
	p.X.Min, p.X.Max = -0.5, float64(len(vals))-0.5
	p.Y.Min, p.Y.Max = 0, hi*1.2
	return render(p)
}
