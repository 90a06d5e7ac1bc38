// Package compare judges a current run (or repeated runs) against a
// baseline, metric by metric, with statistics that respect noise: a rank
// test on per-run values when each side has repeats, a block bootstrap on
// per-interval values when each has a single run. It is the gate CI uses.
package compare

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/squallbench/squall/internal/stats"
)

// Verdicts of a row.
const (
	Regression  = "regression"
	Improvement = "improvement"
	NoChange    = "no change"
	TooFew      = "not enough samples"
)

// Methods of a row.
const (
	MethodRankTest     = "mann-whitney"
	MethodBootstrap    = "block-bootstrap"
	MethodAnyIncrease  = "any increase"
	MethodNotCompared  = "-"
	singleRunCaveat    = "single runs: per-interval values compared with a moving-block bootstrap; weaker than repeated runs (it sees only the noise within a run, not between runs): prefer 8 runs a side"
	defaultMaxRegress  = 0.10
	defaultAlpha       = 0.05
	minRunsForRankTest = 4
)

// Options of a comparison.
type Options struct {
	// Alpha is the significance level (default 0.05).
	Alpha float64
	// MaxRegression is the tolerated worsening, as a fraction (0.10 is 10 %),
	// and per metric name overrides of it.
	MaxRegression float64
	PerMetric     map[string]float64
	// AllowDifferent compares inputs whose plans or versions differ.
	AllowDifferent bool
	// AllowVersions accepts a squall or server version that differs
	// between base and current (each side's repeats must still agree): a
	// CI gate compares two commits, or a server upgrade, on purpose.
	AllowVersions bool
	// Holm adjusts each scenario's p-values for the number of metrics
	// compared. Off by default: on this machine's calibration the plain
	// tests (with the 10 % tolerance) raised no false alarms and Holm
	// halved the power (README, "Calibration").
	Holm bool
}

// ParseTolerance reads a --max-regression value: "10%" for every metric,
// "p99=20%" for one. It returns the metric ("" for all) and the fraction.
func ParseTolerance(s string) (string, float64, error) {
	metric, val, found := strings.Cut(s, "=")
	if !found {
		metric, val = "", s
	} else if _, ok := metricByName(metric); !ok {
		return "", 0, fmt.Errorf("--max-regression %q: unknown metric %q; metrics: %s", s, metric, strings.Join(MetricNames(), ", "))
	}
	num, ok := strings.CutSuffix(strings.TrimSpace(val), "%")
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 0 {
		return "", 0, fmt.Errorf("--max-regression %q: want a percentage such as 10%% or p99=20%%", s)
	}
	return metric, f / 100, nil
}

// Result is a comparison: one row per scenario and metric.
type Result struct {
	Base    string `json:"base"`
	Current string `json:"current"`
	// BaseRuns and CurrentRuns count the runs on each side.
	BaseRuns    int     `json:"base_runs"`
	CurrentRuns int     `json:"current_runs"`
	Alpha       float64 `json:"alpha"`
	// Method says how significance was judged, Caveat what that implies.
	Method string `json:"method"`
	Caveat string `json:"caveat,omitempty"`
	// Differences between the inputs: listed, and accepted only with
	// --allow-different (plans, versions); Notes are differences that do
	// not make the inputs incomparable (fault schedules).
	Differences []string `json:"differences,omitempty"`
	Notes       []string `json:"notes,omitempty"`
	Rows        []Row    `json:"rows"`
	// Regressions counts rows that fail the gate.
	Regressions int `json:"regressions"`
}

// Row is one scenario's metric compared.
type Row struct {
	Scenario string `json:"scenario"`
	Metric   string `json:"metric"`
	Unit     string `json:"unit"`
	Worse    string `json:"worse"` // "up" or "down": the direction of a regression
	// Base and Current are medians of the per-run values (the largest for
	// metrics that must not grow); N how many runs had a value.
	Base     float64 `json:"base"`
	Current  float64 `json:"current"`
	BaseN    int     `json:"base_n"`
	CurrentN int     `json:"current_n"`
	// ChangePct is (current − base) / base in percent; null when base is 0.
	ChangePct *float64 `json:"change_pct"`
	// P is the p-value of "no difference"; CILowPct/CIHighPct bound the
	// change at 1−alpha (block bootstrap only, in percent of base).
	P *float64 `json:"p,omitempty"`
	// PAdj is P adjusted for the number of metrics compared in the
	// scenario (Holm); the verdict is judged on it.
	PAdj      *float64 `json:"p_adjusted,omitempty"`
	CILowPct  *float64 `json:"ci_low_pct,omitempty"`
	CIHighPct *float64 `json:"ci_high_pct,omitempty"`
	Method    string   `json:"method"`
	Tolerance float64  `json:"tolerance_pct"`
	Verdict   string   `json:"verdict"`
	Note      string   `json:"note,omitempty"`
}

// IncomparableError lists why two inputs cannot be compared.
type IncomparableError struct{ Differences []string }

func (e *IncomparableError) Error() string {
	return "the inputs are not comparable (pass --allow-different to compare them anyway): " + strings.Join(e.Differences, "; ")
}

// Compare judges current against base.
func Compare(base, current *Side, o Options) (*Result, error) {
	if o.Alpha == 0 {
		o.Alpha = defaultAlpha
	}
	if o.Alpha <= 0 || o.Alpha >= 1 {
		return nil, fmt.Errorf("--alpha %v: want a significance level between 0 and 1, e.g. 0.05", o.Alpha)
	}
	res := &Result{Base: base.Path, Current: current.Path, BaseRuns: len(base.Runs), CurrentRuns: len(current.Runs), Alpha: o.Alpha, Rows: []Row{}}
	diffs, notes := differences(base, current, o.AllowVersions)
	res.Notes = notes
	if len(diffs) > 0 {
		if !o.AllowDifferent {
			return nil, &IncomparableError{Differences: diffs}
		}
		res.Differences = diffs
	}
	single := len(base.Runs) == 1 && len(current.Runs) == 1
	switch {
	case single:
		res.Method, res.Caveat = MethodBootstrap, singleRunCaveat
	default:
		res.Method = MethodRankTest
		if len(base.Runs) < minRunsForRankTest || len(current.Runs) < minRunsForRankTest {
			res.Caveat = fmt.Sprintf("%d vs %d runs: with fewer than %d runs a side no difference can be significant at alpha %.2f; prefer 8 runs a side",
				len(base.Runs), len(current.Runs), minRunsForRankTest, o.Alpha)
		}
	}
	for _, name := range scenarioNames(base, current) {
		var rows []Row
		for _, m := range Metrics {
			tol := o.MaxRegression
			if t, ok := o.PerMetric[m.Name]; ok {
				tol = t
			}
			rows = append(rows, compareMetric(m, name, base, current, single, o.Alpha, tol))
		}
		if o.Holm {
			holm(rows, o.Alpha)
		}
		for _, row := range rows {
			if row.Verdict == Regression {
				res.Regressions++
			}
		}
		res.Rows = append(res.Rows, rows...)
	}
	return res, nil
}

// holm adjusts the p-values of one scenario's tested metrics for their
// number (Holm–Bonferroni step-down) and takes back the verdicts that are
// not significant once adjusted. A scenario is judged on a dozen metrics:
// were they independent and noisier than the tolerance, identical code
// would be flagged on one of them far more often than alpha; the
// step-down keeps the chance of any false alarm per scenario at alpha.
func holm(rows []Row, alpha float64) {
	var tested []int
	for i, r := range rows {
		if r.P != nil {
			tested = append(tested, i)
		}
	}
	sort.SliceStable(tested, func(a, b int) bool { return *rows[tested[a]].P < *rows[tested[b]].P })
	m := len(tested)
	running := 0.0
	for k, i := range tested {
		adj := math.Min(1, float64(m-k)**rows[i].P)
		running = math.Max(running, adj) // adjusted p-values never decrease
		a := running
		r := &rows[i]
		r.PAdj = &a
		if a <= alpha {
			continue
		}
		switch {
		case r.Verdict == Regression || r.Verdict == Improvement:
			r.Note = fmt.Sprintf("p %.3g, but %.3g adjusted for the %d metrics compared (Holm): not significant", *r.P, a, m)
			r.Verdict = NoChange
		case strings.HasPrefix(r.Note, "significantly worse"):
			r.Note = ""
		}
	}
}

// scenarioNames are the scenarios present on both sides, in base order;
// with --allow-different a scenario on one side only is not compared.
func scenarioNames(base, current *Side) []string {
	cur := map[string]bool{}
	for _, s := range current.Runs[0].Report.Scenarios {
		cur[s.Label()] = true
	}
	var out []string
	for _, s := range base.Runs[0].Report.Scenarios {
		if cur[s.Label()] {
			out = append(out, s.Label())
		}
	}
	return out
}

func values(m Metric, name string, side *Side) []float64 {
	var out []float64
	for _, r := range side.Runs {
		for i := range r.Report.Scenarios {
			s := &r.Report.Scenarios[i]
			if s.Label() != name {
				continue
			}
			if v, ok := m.Read(r.Report, s); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

func intervals(m Metric, name string, side *Side) []float64 {
	var out []float64
	for _, s := range side.Runs[0].Report.Scenarios {
		if s.Label() != name {
			continue
		}
		// The first and last intervals are partial: the load ramps up into
		// the first and the last holds the drain.
		for i := 1; i < len(s.Intervals)-1; i++ {
			dt := s.Intervals[i].OffsetS - s.Intervals[i-1].OffsetS
			if v, ok := m.Interval(s.Intervals[i], dt); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

func compareMetric(m Metric, name string, base, current *Side, single bool, alpha, tol float64) Row {
	row := Row{Scenario: name, Metric: m.Name, Unit: m.Unit(), Worse: m.Worse.String(), Method: MethodNotCompared, Tolerance: tol * 100}
	bv, cv := values(m, name, base), values(m, name, current)
	row.BaseN, row.CurrentN = len(bv), len(cv)
	if len(bv) == 0 || len(cv) == 0 {
		row.Verdict, row.Note = TooFew, "no value on one side (no samples recorded)"
		return row
	}
	if m.MustNotGrow {
		row.Base, row.Current = maxOf(bv), maxOf(cv)
		row.ChangePct = change(row.Base, row.Current)
		row.Method, row.Tolerance = MethodAnyIncrease, 0
		switch {
		case row.Current > row.Base:
			row.Verdict, row.Note = Regression, "must not grow: the worst current run has more than the worst base run"
		case row.Current < row.Base:
			row.Verdict = Improvement
		default:
			row.Verdict = NoChange
		}
		return row
	}
	row.Base, _ = stats.Median(bv)
	row.Current, _ = stats.Median(cv)
	row.ChangePct = change(row.Base, row.Current)
	worse := (m.Worse == Up && row.Current > row.Base) || (m.Worse == Down && row.Current < row.Base)
	better := row.Current != row.Base && !worse
	var p float64
	if single {
		if m.Interval == nil {
			row.Verdict, row.Note = TooFew, "a single run has no per-interval "+m.Name+": repeat the runs (8 a side)"
			return row
		}
		bi, ci := intervals(m, name, base), intervals(m, name, current)
		if len(bi) < minIntervals || len(ci) < minIntervals {
			row.Verdict = TooFew
			row.Note = fmt.Sprintf("%d and %d usable intervals; a single-run comparison needs %d a side (a longer run, or repeats)", len(bi), len(ci), minIntervals)
			return row
		}
		b := BlockBootstrap(bi, ci, alpha, seedFor(name, m.Name))
		p = b.P
		row.Method, row.P = MethodBootstrap, &p
		if mb := mean(bi); mb != 0 {
			// Every compared metric is a count, a rate, a latency or CPU
			// time: none falls below zero, so no change is below −100 %
			// however wide the bootstrap's interval.
			lo, hi := max(b.Low/math.Abs(mb)*100, -100), max(b.High/math.Abs(mb)*100, -100)
			row.CILowPct, row.CIHighPct = &lo, &hi
		}
		// The per-interval means and the whole-run value can disagree in
		// direction (one bad second dominates a whole-run max): the change
		// must be significant in the direction the whole-run value moved.
		if (b.Diff > 0) != (row.Current > row.Base) {
			p = 1
		}
	} else {
		if mp := minP(len(bv), len(cv)); mp > alpha {
			row.Method, row.Verdict = MethodRankTest, TooFew
			row.Note = fmt.Sprintf("%d vs %d runs: the smallest possible p-value is %.3f > alpha %.2f; use ≥ %d runs a side", len(bv), len(cv), mp, alpha, minRunsForRankTest)
			return row
		}
		p = MannWhitney(bv, cv)
		row.Method, row.P = MethodRankTest, &p
	}
	significant := p <= alpha
	switch {
	case significant && worse && beyond(row.ChangePct, tol):
		row.Verdict = Regression
	case significant && worse:
		row.Verdict = NoChange
		row.Note = fmt.Sprintf("significantly worse, but within the %.0f%% tolerance", tol*100)
	case significant && better:
		row.Verdict = Improvement
	default:
		row.Verdict = NoChange
	}
	return row
}

// beyond: a change from zero is beyond any tolerance.
func beyond(changePct *float64, tol float64) bool {
	return changePct == nil || math.Abs(*changePct) > tol*100
}

func change(base, cur float64) *float64 {
	if base == 0 {
		if cur == 0 {
			z := 0.0
			return &z
		}
		return nil
	}
	c := (cur - base) / math.Abs(base) * 100
	return &c
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, a := range v[1:] {
		m = max(m, a)
	}
	return m
}

// seedFor gives every scenario and metric its own reproducible stream.
func seedFor(scenario, metric string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(scenario + "\x00" + metric))
	return h.Sum64() ^ bootstrapSeed
}
