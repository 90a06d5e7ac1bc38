package capacity

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/squallbench/squall/internal/stats"
)

// The fit: every probe that counts, not only the last two around the
// knee, decides the sustainable rate.
//
// Why monotone fits and not the Universal Scalability Law. The USL,
// X(N) = λN / (1 + σ(N−1) + κN(N−1)), describes throughput against
// concurrency in a closed system. A capacity search offers open-loop
// rates and asks where an SLO breaks: below the knee throughput equals the
// offered rate whatever σ and κ are, so the probes that matter carry no
// information about the USL's parameters, and the SLO's latency bound is
// no point of the USL curve at all. Fitting it would need in-flight as its
// abscissa and still say nothing about p99. What holds for every cluster
// is monotony: offering more load does not make a probe likelier to pass,
// latency lower, or the share of the offered load that completes higher.
// So each curve is an isotonic regression, which assumes only that.
//
// The sustainable rate comes from the share of probes that passed at
// each rate, made non-increasing (pool adjacent violators, weighted by
// the probes at each rate). On a drifting machine that share is, at every
// rate, the part of the search's time the knee lay above it: a
// distribution of the knee over time, which the interleaved order samples
// evenly. Its mean in log rate (the Spearman–Kärber estimator: each drop
// in the share placed in the middle of its gap) is the sustainable rate,
// the knee's geometric mean over the search. It uses every rate where
// probes disagree, so one unlucky probe moves it by a fraction of a gap,
// where the last rate that passed would jump a whole gap. For a machine
// that does not drift it is the middle of the gap between the last rate
// that passed and the first that failed.
//
// The band is a bootstrap: the probes at each rate resampled (each rate
// keeps its number of probes), the fit repeated, and each drop placed
// anywhere in its gap instead of its middle, since between two probed
// rates the probes cannot tell where the knee lies.

// groups are the counted probes by offered rate, ascending.
type rateGroup struct {
	rate   float64
	x      float64 // ln rate
	probes []Probe
}

func groupByRate(ps []Probe) []rateGroup {
	byRate := map[float64][]Probe{}
	for _, p := range ps {
		if p.Excluded != "" || p.Rate <= 0 {
			continue
		}
		byRate[p.Rate] = append(byRate[p.Rate], p)
	}
	out := make([]rateGroup, 0, len(byRate))
	for r, g := range byRate {
		out = append(out, rateGroup{rate: r, x: math.Log(r), probes: g})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rate < out[j].rate })
	return out
}

// fitted is one fit of the three curves at the groups' rates.
type fitted struct {
	pass    []float64 // share of probes that passed, non-increasing
	lnLat   []float64 // ln of the SLO-quantile latency (ms), non-decreasing
	lnShare []float64 // ln of throughput / offered, non-increasing
}

// fitOnce fits every probe once.
func fitOnce(gs []rateGroup) fitted {
	draws := make([][]int, len(gs))
	for gi, g := range gs {
		for i := range g.probes {
			draws[gi] = append(draws[gi], i)
		}
	}
	return fitDraw(gs, draws, true)
}

// fitDraw fits the probes drawn (per group, the indices of its probes;
// a group drawn empty is left out, NaN in the fit): the pass shares, and
// with curves the latency and throughput curves too.
func fitDraw(gs []rateGroup, draws [][]int, curves bool) fitted {
	var fail, w []float64
	var l, s [][]float64
	for gi, g := range gs {
		if len(draws[gi]) == 0 {
			continue
		}
		f, ls, ss := 0.0, []float64(nil), []float64(nil)
		for _, i := range draws[gi] {
			p := g.probes[i]
			if !p.Pass {
				f++
			}
			if curves {
				ls = append(ls, math.Log(math.Max(p.LatencyMS, 0.001)))
				ss = append(ss, -math.Log(math.Max(p.Throughput/p.Rate, 1e-3)))
			}
		}
		fail = append(fail, f/float64(len(draws[gi])))
		w = append(w, float64(len(draws[gi])))
		l, s = append(l, ls), append(s, ss)
	}
	// The failing share is non-decreasing; the passing share is its rest.
	pass := isotonicMean(fail, w)
	for i := range pass {
		pass[i] = 1 - pass[i]
	}
	var lat, share []float64
	if curves {
		lat, share = isotonicMedian(l), isotonicMedian(s)
		for i := range share {
			share[i] = -share[i]
		}
	}
	// Back onto every group, NaN where none was drawn.
	f := fitted{pass: make([]float64, len(gs))}
	if curves {
		f.lnLat, f.lnShare = make([]float64, len(gs)), make([]float64, len(gs))
	}
	k := 0
	for gi := range gs {
		if len(draws[gi]) == 0 {
			f.pass[gi] = math.NaN()
			if curves {
				f.lnLat[gi], f.lnShare[gi] = math.NaN(), math.NaN()
			}
			continue
		}
		f.pass[gi] = pass[k]
		if curves {
			f.lnLat[gi], f.lnShare[gi] = lat[k], share[k]
		}
		k++
	}
	return f
}

// isotonicMean is the non-decreasing sequence closest to v in weighted
// squares: pool adjacent violators at their weighted mean.
func isotonicMean(v, w []float64) []float64 {
	type block struct {
		sum, w float64
		n      int
	}
	var st []block
	for i := range v {
		b := block{v[i] * w[i], w[i], 1}
		for len(st) > 0 && st[len(st)-1].sum*b.w > b.sum*st[len(st)-1].w {
			top := st[len(st)-1]
			st = st[:len(st)-1]
			b = block{top.sum + b.sum, top.w + b.w, top.n + b.n}
		}
		st = append(st, b)
	}
	out := make([]float64, 0, len(v))
	for _, b := range st {
		for range b.n {
			out = append(out, b.sum/b.w)
		}
	}
	return out
}

// isotonicMedian is the non-decreasing sequence closest to the groups'
// values in absolute deviation: pool adjacent violators, each pooled
// block valued at the median of all its members.
func isotonicMedian(groups [][]float64) []float64 {
	type block struct {
		vals []float64
		n    int // groups pooled
		med  float64
	}
	var st []block
	for _, g := range groups {
		b := block{vals: slices.Clone(g), n: 1, med: median(g)}
		for len(st) > 0 && st[len(st)-1].med > b.med {
			top := st[len(st)-1]
			st = st[:len(st)-1]
			b = block{vals: append(top.vals, b.vals...), n: top.n + b.n}
			b.med = median(b.vals)
		}
		st = append(st, b)
	}
	out := make([]float64, 0, len(groups))
	for _, b := range st {
		for range b.n {
			out = append(out, b.med)
		}
	}
	return out
}

// median is stats.Median, NaN for no values (the fit's "unknown").
func median(v []float64) float64 {
	if m, ok := stats.Median(v); ok {
		return m
	}
	return math.NaN()
}

// knee is the Spearman–Kärber mean, in log rate, of the knee's
// distribution the pass shares describe: each drop in the share between
// two rates placed at fraction at(i) of its gap (nil: the middle); the
// share still failing at the lowest rate is placed there, the share still
// passing at the highest rate there. Rates without a share (NaN: none
// drawn) are skipped.
func knee(gs []rateGroup, pass []float64, at func(i int) float64) float64 {
	var idx []int
	for i, p := range pass {
		if !math.IsNaN(p) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return math.NaN()
	}
	first, last := idx[0], idx[len(idx)-1]
	sum := (1-pass[first])*gs[first].x + pass[last]*gs[last].x
	for n := range len(idx) - 1 {
		i, j := idx[n], idx[n+1]
		m := pass[i] - pass[j]
		if m <= 0 {
			continue
		}
		t := 0.5
		if at != nil {
			t = at(i)
		}
		sum += m * (gs[i].x + t*(gs[j].x-gs[i].x))
	}
	return math.Exp(sum)
}

// Band is an interval for the sustainable rate at a confidence.
type Band struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Confidence float64 `json:"confidence"`
	// Widened: the canary moved more than the probes' spread alone
	// showed, and the band was widened to cover half its drift either way.
	Widened bool `json:"widened_by_canary,omitempty"`
}

// Contains: v lies in the band.
func (b Band) Contains(v float64) bool { return v >= b.Lo && v <= b.Hi }

// HalfWidth is the band's half width relative to the point.
func (b Band) HalfWidth(point float64) float64 {
	if point <= 0 {
		return math.Inf(1)
	}
	return (b.Hi - b.Lo) / 2 / point
}

// widen makes the band cover point × (1 ± drift/2): a machine whose own
// speed moved by drift during the search could have given any answer in
// that range, whatever the probes agreed on.
func (b Band) widen(point, drift float64) Band {
	lo, hi := point*(1-drift/2), point*(1+drift/2)
	if lo < b.Lo || hi > b.Hi {
		b.Lo, b.Hi, b.Widened = math.Min(b.Lo, lo), math.Max(b.Hi, hi), true
	}
	return b
}

// Analysis is the fit over a search's counted probes and its bootstrap:
// the point estimates, and the same fit on resampled probes (stratified
// by rate, so that each rate keeps its number of probes) for the bands.
type Analysis struct {
	Confidence float64
	groups     []rateGroup
	point      fitted
	reps       []fitted    // pass shares only
	curveReps  []fitted    // the curves too, fitted once asked for
	draws      [][][]int   // each replicate's resample: per group, the probes drawn
	repAt      [][]float64 // each replicate's place of each drop within its gap
	Used       int         // probes fitted
	Dropped    int         // probes left out (Excluded)
}

// Replicates is the bootstrap's size: enough for the 5th and 95th
// percentiles to settle to about 1 % of the band.
const Replicates = 1000

// Analyze fits the probes and bootstraps the fit with the seed (the same
// probes and seed give the same band).
func Analyze(ps []Probe, confidence float64, seed uint64) *Analysis {
	return analyze(ps, confidence, seed, Replicates)
}

// analyze with n replicates (0: the point fit alone).
func analyze(ps []Probe, confidence float64, seed uint64, n int) *Analysis {
	a := &Analysis{Confidence: confidence, groups: groupByRate(ps)}
	for _, p := range ps {
		if p.Excluded != "" {
			a.Dropped++
		} else if p.Rate > 0 {
			a.Used++
		}
	}
	if len(a.groups) == 0 {
		return a
	}
	a.point = fitOnce(a.groups)
	rng := rand.New(rand.NewPCG(seed, 0xb007))
	// Resampling every counted probe (not rate by rate): a rate probed
	// once, or whose few probes happened to agree, weighs in or drops out
	// as chance would have had it.
	type ref struct{ g, i int }
	var all []ref
	for gi, g := range a.groups {
		for i := range g.probes {
			all = append(all, ref{gi, i})
		}
	}
	for range n {
		draws := make([][]int, len(a.groups))
		for range all {
			d := all[rng.IntN(len(all))]
			draws[d.g] = append(draws[d.g], d.i)
		}
		a.draws = append(a.draws, draws)
		a.reps = append(a.reps, fitDraw(a.groups, draws, false))
		at := make([]float64, len(a.groups))
		for i := range at {
			at[i] = rng.Float64()
		}
		a.repAt = append(a.repAt, at)
	}
	return a
}

// Estimate is the sustainable rate with its band.
type Estimate struct {
	Found bool    // the lowest rate probed passed at least half the time
	Rate  float64 // the point estimate
	Band  Band
	// AtLeast: the highest rate probed passed at least half the time;
	// Rate is that rate.
	AtLeast bool
}

// Sustainable is the knee's mean over the fitted pass shares, and its
// band over the bootstrap.
func (a *Analysis) Sustainable() Estimate {
	if len(a.groups) == 0 {
		return Estimate{}
	}
	k := len(a.groups) - 1
	e := Estimate{Found: a.point.pass[0] >= 0.5, Rate: knee(a.groups, a.point.pass, nil)}
	if !e.Found {
		e.Rate = 0
	}
	if e.Found && a.point.pass[k] >= 0.5 {
		e.AtLeast, e.Rate = true, a.groups[k].rate
	}
	var xs []float64
	for i, r := range a.reps {
		xs = append(xs, knee(a.groups, r.pass, func(g int) float64 { return a.repAt[i][g] }))
	}
	lo, hi := percentiles(xs, a.Confidence)
	e.Band = Band{Lo: lo, Hi: hi, Confidence: a.Confidence}
	if e.Found {
		// The point belongs in its own band even where the bootstrap's
		// draws in the gaps lean to one side.
		e.Band.Lo, e.Band.Hi = math.Min(e.Band.Lo, e.Rate), math.Max(e.Band.Hi, e.Rate)
	}
	if e.AtLeast {
		e.Band.Hi = e.Rate // nothing above the highest rate probed is known
	}
	return e
}

// gap is the pair of probed rates around r (the outermost pair when r
// lies beyond them).
func (a *Analysis) gap(r float64) (lo, hi float64) {
	j := sort.Search(len(a.groups), func(i int) bool { return a.groups[i].rate >= r })
	j = max(1, min(j, len(a.groups)-1))
	return a.groups[j-1].rate, a.groups[j].rate
}

// PassShare is the fitted share of probes passing at each probed rate.
func (a *Analysis) PassShare() []float64 { return slices.Clone(a.point.pass) }

// percentiles of xs at (1 ∓ conf)/2, NaNs left out.
func percentiles(xs []float64, conf float64) (lo, hi float64) {
	s := slices.DeleteFunc(slices.Clone(xs), math.IsNaN)
	if len(s) == 0 {
		return math.NaN(), math.NaN()
	}
	slices.Sort(s)
	at := func(q float64) float64 {
		i := q * float64(len(s)-1)
		f := math.Floor(i)
		if int(f) >= len(s)-1 {
			return s[len(s)-1]
		}
		return s[int(f)] + (i-f)*(s[int(f)+1]-s[int(f)])
	}
	return at((1 - conf) / 2), at((1 + conf) / 2)
}

// CurvePoint is a fitted curve at one probed rate, with its band.
type CurvePoint struct {
	Rate, Mid, Lo, Hi float64
}

// LatencyCurve is the fitted SLO-quantile latency (ms) at every probed rate.
func (a *Analysis) LatencyCurve() []CurvePoint {
	return a.curve(func(f fitted, i int) float64 { return math.Exp(f.lnLat[i]) })
}

// ThroughputCurve is the fitted throughput at every probed rate.
func (a *Analysis) ThroughputCurve() []CurvePoint {
	return a.curve(func(f fitted, i int) float64 { return a.groups[i].rate * math.Exp(f.lnShare[i]) })
}

// withCurves fits the curves on every replicate, once.
func (a *Analysis) withCurves() []fitted {
	if a.curveReps == nil {
		for _, d := range a.draws {
			a.curveReps = append(a.curveReps, fitDraw(a.groups, d, true))
		}
	}
	return a.curveReps
}

func (a *Analysis) curve(v func(fitted, int) float64) []CurvePoint {
	out := make([]CurvePoint, len(a.groups))
	reps := a.withCurves()
	for i, g := range a.groups {
		xs := make([]float64, len(reps))
		for k, r := range reps {
			xs[k] = v(r, i)
		}
		lo, hi := percentiles(xs, a.Confidence)
		out[i] = CurvePoint{Rate: g.rate, Mid: v(a.point, i), Lo: lo, Hi: hi}
	}
	return out
}

// Rates are the distinct rates fitted, ascending.
func (a *Analysis) Rates() []float64 {
	out := make([]float64, len(a.groups))
	for i, g := range a.groups {
		out[i] = g.rate
	}
	return out
}

// LatencyAt answers the inverse question: the SLO-quantile latency
// expected at rate, from the fitted curve (interpolated in log-log
// between the probed rates around it), with its band. A rate outside the
// probed ones has no answer: a monotone fit does not extrapolate.
func (a *Analysis) LatencyAt(rate float64) (mid, lo, hi float64, err error) {
	if len(a.groups) == 0 {
		return 0, 0, 0, fmt.Errorf("no probes to fit")
	}
	first, last := a.groups[0].rate, a.groups[len(a.groups)-1].rate
	if rate < first || rate > last {
		return 0, 0, 0, fmt.Errorf("%.4g/s is outside the rates probed (%.4g–%.4g/s): a monotone fit does not extrapolate", rate, first, last)
	}
	x := math.Log(rate)
	at := func(f fitted) float64 {
		j := sort.Search(len(a.groups), func(i int) bool { return a.groups[i].x >= x })
		if a.groups[j].x == x || j == 0 {
			return math.Exp(f.lnLat[j])
		}
		t := (x - a.groups[j-1].x) / (a.groups[j].x - a.groups[j-1].x)
		return math.Exp(f.lnLat[j-1] + t*(f.lnLat[j]-f.lnLat[j-1]))
	}
	reps := a.withCurves()
	xs := make([]float64, len(reps))
	for i, r := range reps {
		xs[i] = at(r)
	}
	lo, hi = percentiles(xs, a.Confidence)
	mid = at(a.point)
	return mid, math.Min(lo, mid), math.Max(hi, mid), nil
}

// Drift is how far the canary's median latency moved over the search:
// (max − min) / median of its probes (0 with fewer than two). The same
// work at the same rate took that much longer at one moment than at
// another: the machine's own noise floor.
func Drift(canary []Probe) (float64, bool) {
	var v []float64
	for _, p := range canary {
		if p.P50MS > 0 && p.Excluded == "" { // a probe the driver distorted measured the driver
			v = append(v, p.P50MS)
		}
	}
	if len(v) < 2 {
		return 0, false
	}
	m := median(v)
	return (slices.Max(v) - slices.Min(v)) / m, true
}
