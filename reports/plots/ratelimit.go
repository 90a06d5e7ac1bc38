package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
)

// Lane is one limiter strategy's calls to a rate-limited API, counted in
// consecutive fixed windows from its first request.
type Lane struct {
	Name    string
	WindowS float64
	Counts  []int
}

// RateLimitSVG draws requests per window for every lane against the
// API's limit per window: a lane above the dashed line broke the limit.
func RateLimitSVG(lanes []Lane, limit int, window string) ([]byte, error) {
	n := 0
	for _, l := range lanes {
		n += len(l.Counts)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no lane counted requests", ErrNoData)
	}
	p := newPlot("Requests to the rate-limited API per "+window+" window", "seconds since the lane's first request", "requests per window")
	hi, xMax := float64(limit), 0.0
	for i, l := range lanes {
		w := l.WindowS
		if w <= 0 {
			w = 1
		}
		// Steps: a count holds for its whole window.
		xys := make(plotter.XYs, 0, 2*len(l.Counts))
		for j, c := range l.Counts {
			xys = append(xys, plotter.XY{X: float64(j) * w, Y: float64(c)}, plotter.XY{X: float64(j+1) * w, Y: float64(c)})
			hi = math.Max(hi, float64(c))
		}
		xMax = math.Max(xMax, float64(len(l.Counts))*w)
		if err := line(p, l.Name, xys, palette[i%len(palette)], 1.8, false); err != nil {
			return nil, err
		}
	}
	if limit > 0 {
		if err := hline(p, fmt.Sprintf("limit %d per %s", limit, window), float64(limit), 0, xMax, colGrey); err != nil {
			return nil, err
		}
	}
	p.X.Min, p.X.Max = 0, xMax
	p.Y.Min, p.Y.Max = 0, hi*1.4
	return render(p)
}
