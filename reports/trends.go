package reports

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/metrics"
)

// Trends are a long run's figures per window of time, and findings when
// one of them moved: the leaks and creeps that only show over hours.
type Trends struct {
	WindowS  float64       `json:"window_s"`
	Windows  []TrendWindow `json:"windows"`
	Findings []string      `json:"findings"`
}

// TrendWindow is one window: offsets from the load's first interval.
type TrendWindow struct {
	StartS         float64 `json:"start_s"`
	EndS           float64 `json:"end_s"`
	Completed      int64   `json:"completed"`
	ThroughputPerS float64 `json:"throughput_per_s"`
	P99MS          float64 `json:"p99_ms"`
	InFlightMean   float64 `json:"in_flight_mean"`
	InFlightMax    int64   `json:"in_flight_max"`
	// RSSMB and CPUCores are the mean of each process scope's samples
	// (driver, worker_0, server, server_history, …) in the window.
	RSSMB    map[string]float64 `json:"rss_mb,omitempty"`
	CPUCores map[string]float64 `json:"cpu_cores,omitempty"`
}

// Trend thresholds: what counts as a move worth a finding.
const (
	minTrendRun       = 6 * time.Minute  // shorter loads get no trends
	longRunWindow     = 10 * time.Minute // the window of loads of an hour or more
	trendP99Growth    = 0.25             // p99 of the last full window vs the first
	trendP99MinMS     = 5.0
	trendRSSMinMB     = 20.0 // growth over the fitted span
	trendRSSMinR2     = 0.6  // a steady climb, not one jump
	trendInFlightGrow = 1.5
)

// trendWidth is the window for a load planned to last planned: ten
// minutes from an hour on, else a sixth of it in whole minutes; 0 (no
// trends) under six minutes.
func trendWidth(planned time.Duration) time.Duration {
	switch {
	case planned < minTrendRun:
		return 0
	case planned >= time.Hour:
		return longRunWindow
	}
	return max(time.Minute, (planned / 6).Truncate(time.Minute))
}

type trendAcc struct {
	width time.Duration
	first time.Time
	wins  map[int]*trendWin
}

type trendWin struct {
	hist                  *bench.Histogram
	completed, inFlightSn int64
	n                     int64
	inFlightMax           int64
	end                   time.Time
}

func newTrendAcc(planned time.Duration) *trendAcc {
	w := trendWidth(planned)
	if w == 0 {
		return nil
	}
	return &trendAcc{width: w, wins: map[int]*trendWin{}}
}

// add takes one interval (its corrected histogram decoded, or nil).
func (t *trendAcc) add(iv *bench.Interval, corrected *bench.Histogram) {
	if t.first.IsZero() {
		t.first = iv.Start
	}
	i := int(iv.Start.Sub(t.first) / t.width)
	w := t.wins[i]
	if w == nil {
		w = &trendWin{hist: bench.NewHistogram()}
		t.wins[i] = w
	}
	if corrected != nil {
		w.hist.Merge(corrected)
	}
	w.completed += iv.Completed
	w.inFlightSn += iv.InFlight
	w.n++
	w.inFlightMax = max(w.inFlightMax, iv.InFlight)
	if iv.End.After(w.end) {
		w.end = iv.End
	}
}

// build makes the windows and their findings; samples are the run's
// server and process samples (those in the windows' time are used).
func (t *trendAcc) build(samples []metrics.Sample) *Trends {
	if t == nil || len(t.wins) < 2 {
		return nil
	}
	idx := slices.Sorted(maps.Keys(t.wins))
	tr := &Trends{WindowS: t.width.Seconds()}
	full := []int{} // indexes into tr.Windows of windows that ran their whole width
	for _, i := range idx {
		w := t.wins[i]
		start := t.first.Add(time.Duration(i) * t.width)
		end := start.Add(t.width)
		if w.end.Before(end) {
			end = w.end
		}
		tw := TrendWindow{StartS: start.Sub(t.first).Seconds(), EndS: end.Sub(t.first).Seconds(), Completed: w.completed,
			InFlightMax: w.inFlightMax, InFlightMean: round1(float64(w.inFlightSn) / float64(max(w.n, 1)))}
		if secs := end.Sub(start).Seconds(); secs > 0 {
			tw.ThroughputPerS = round1(float64(w.completed) / secs)
		}
		if w.hist.Count() > 0 {
			tw.P99MS = quantiles(w.hist).P99
		}
		tw.RSSMB, tw.CPUCores = sampleMeans(samples, start, end)
		if end.Sub(start) >= t.width*8/10 {
			full = append(full, len(tr.Windows))
		}
		tr.Windows = append(tr.Windows, tw)
	}
	tr.Findings = trendFindings(tr, full, samples, t.first.Add(t.width))
	return tr
}

// sampleMeans are the mean RSS and CPU of each aggregate process scope
// over the samples that began in [start, end).
func sampleMeans(samples []metrics.Sample, start, end time.Time) (rss, cpu map[string]float64) {
	type acc struct{ sum, n float64 }
	sums := map[string]map[string]acc{"rss": {}, "cpu": {}}
	for _, s := range samples {
		if s.Start.Before(start) || !s.Start.Before(end) {
			continue
		}
		for k, v := range s.Signals {
			if scope, what, ok := processScope(k); ok {
				a := sums[what][scope]
				sums[what][scope] = acc{a.sum + v, a.n + 1}
			}
		}
	}
	mean := func(m map[string]acc, digits float64) map[string]float64 {
		if len(m) == 0 {
			return nil
		}
		out := map[string]float64{}
		for scope, a := range m {
			out[scope] = math.Round(a.sum/a.n*digits) / digits
		}
		return out
	}
	return mean(sums["rss"], 10), mean(sums["cpu"], 1000)
}

// processScope is metrics.ScopeOf for the scopes trends show: one per
// squall process, the server and each of its services (not each process
// of a service, nor the machine).
func processScope(sig string) (scope, what string, ok bool) {
	scope, what, ok = metrics.ScopeOf(sig)
	if strings.Contains(scope, "@") || scope == "machine" {
		return "", "", false
	}
	return scope, what, ok
}

// trendFindings says what moved: p99 and in-flight from the first full
// window to the last, and each process's RSS as a fitted slope over the
// samples after the first window (the warm-up: caches and pools filling).
func trendFindings(tr *Trends, full []int, samples []metrics.Sample, warm time.Time) []string {
	var out []string
	if len(full) >= 2 {
		a, b := tr.Windows[full[0]], tr.Windows[full[len(full)-1]]
		if a.P99MS > 0 && b.P99MS-a.P99MS >= trendP99MinMS && b.P99MS >= a.P99MS*(1+trendP99Growth) {
			out = append(out, fmt.Sprintf("p99 %+.0f %% from the first full window to the last (%.0f ms → %.0f ms)", (b.P99MS/a.P99MS-1)*100, a.P99MS, b.P99MS))
		}
		if b.InFlightMean >= a.InFlightMean*trendInFlightGrow && b.InFlightMean-a.InFlightMean >= 5 {
			out = append(out, fmt.Sprintf("in flight %.0f → %.0f from the first full window to the last: the cluster is falling behind the schedule", a.InFlightMean, b.InFlightMean))
		}
		if a.ThroughputPerS > 0 && b.ThroughputPerS < a.ThroughputPerS*0.9 {
			out = append(out, fmt.Sprintf("throughput %+.0f %% from the first full window to the last (%.1f/s → %.1f/s)", (b.ThroughputPerS/a.ThroughputPerS-1)*100, a.ThroughputPerS, b.ThroughputPerS))
		}
	}
	// RSS over seconds since the warm-up, by scope.
	xs, ys := map[string][]float64{}, map[string][]float64{}
	for _, s := range samples {
		if s.End.Before(warm) {
			continue
		}
		for k, v := range s.Signals {
			if scope, what, ok := processScope(k); ok && what == "rss" {
				xs[scope] = append(xs[scope], s.End.Sub(warm).Seconds())
				ys[scope] = append(ys[scope], v)
			}
		}
	}
	for _, scope := range slices.Sorted(maps.Keys(xs)) {
		x, y := xs[scope], ys[scope]
		if len(x) < 10 {
			continue
		}
		alpha, slope := stat.LinearRegression(x, y, nil, false)
		r2 := stat.RSquared(x, y, nil, alpha, slope)
		span := x[len(x)-1] - x[0]
		if grew := slope * span; math.Abs(grew) >= trendRSSMinMB && r2 >= trendRSSMinR2 {
			out = append(out, fmt.Sprintf("%s RSS %+.0f MB/h (%+.0f MB over %s after the first window, R² %.2f)",
				scope, slope*3600, grew, time.Duration(span*float64(time.Second)).Round(time.Minute), r2))
		}
	}
	if len(out) == 0 {
		out = append(out, "no trend: p99, in-flight, throughput and every process's RSS held steady from window to window")
	}
	return out
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// trendsMarkdown is the trends section: findings first, then the windows
// with the driver's, workers' and server's memory beside latency.
func trendsMarkdown(tr *Trends) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Trends (%s windows)\n\n", time.Duration(tr.WindowS*float64(time.Second)))
	for _, f := range tr.Findings {
		fmt.Fprintf(&b, "- %s\n", f)
	}
	scopes := map[string]bool{}
	for _, w := range tr.Windows {
		for s := range w.RSSMB {
			scopes[s] = true
		}
	}
	names := slices.Sorted(maps.Keys(scopes))
	b.WriteString("\n| window (min) | completed | per s | p99 ms | in flight mean / max |")
	for _, s := range names {
		fmt.Fprintf(&b, " %s RSS MB |", s)
	}
	b.WriteString("\n|---|---:|---:|---:|---:|" + strings.Repeat("---:|", len(names)) + "\n")
	for _, w := range tr.Windows {
		fmt.Fprintf(&b, "| %.0f–%.0f | %d | %.1f | %.0f | %.1f / %d |", w.StartS/60, w.EndS/60, w.Completed, w.ThroughputPerS, w.P99MS, w.InFlightMean, w.InFlightMax)
		for _, s := range names {
			if v, ok := w.RSSMB[s]; ok {
				fmt.Fprintf(&b, " %.0f |", v)
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
