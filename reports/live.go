package reports

import (
	"fmt"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
)

// LiveThresholds judges a run's thresholds while its load runs, over a
// trailing window of its one-second intervals, and says when one has been
// broken at every check for long enough that the run has clearly failed
// (--abort-on-fail): a six-hour soak that broke its SLO in the first
// minutes stops there, with its report.
type LiveThresholds struct {
	scenario string
	ths      []Threshold
	after    time.Duration // how long a breach must last
	window   time.Duration // what each check looks back over

	ivs   []liveInterval
	since map[string]time.Time // when each threshold's current breach began
}

type liveInterval struct {
	iv    bench.Interval
	hists map[string]*bench.Histogram
}

// LiveWindow is the longest stretch a live check looks back over: long
// enough for a p99 to mean something at tens of workflows a second,
// short enough that a recovery shows within it. A shorter abort time
// looks back over half of itself, so that one bad second cannot keep a
// threshold broken for the whole abort time.
const LiveWindow = 30 * time.Second

// NewLiveThresholds prepares the live check of exprs for one scenario:
// after is how long a threshold must stay broken before the load stops.
func NewLiveThresholds(scenario string, exprs []string, after time.Duration) (*LiveThresholds, error) {
	ths, err := ParseThresholds(exprs)
	if err != nil {
		return nil, err
	}
	return &LiveThresholds{scenario: scenario, ths: ths, after: after, window: min(after/2, LiveWindow), since: map[string]time.Time{}}, nil
}

// LiveBreach is a threshold broken at every check for the abort time.
type LiveBreach struct {
	Expr     string
	Since    time.Time // the first check that found it broken
	At       time.Time // the check that stopped the load
	Measured string    // over the last window
	Window   time.Duration
}

func (b LiveBreach) String() string {
	return fmt.Sprintf("%s broken at every check for %s straight (since %s; last %s over the trailing %s): the load was stopped at %s",
		b.Expr, b.At.Sub(b.Since).Round(time.Second), b.Since.Format("15:04:05"), b.Measured, b.Window, b.At.Format("15:04:05"))
}

// Observe adds one interval and checks every threshold over the window
// ending with it. It returns the breach that has lasted long enough, if
// any. A latency threshold over a window with no completions while work
// is in flight counts as broken: a stalled cluster must not read as fine.
func (l *LiveThresholds) Observe(iv bench.Interval) (*LiveBreach, error) {
	li := liveInterval{iv: iv, hists: map[string]*bench.Histogram{}}
	for name, enc := range iv.Hists {
		h, err := bench.DecodeHistogram(enc)
		if err != nil {
			return nil, err
		}
		li.hists[name] = h
	}
	l.ivs = append(l.ivs, li)
	for len(l.ivs) > 1 && iv.End.Sub(l.ivs[1].iv.Start) >= l.window {
		l.ivs = l.ivs[1:]
	}
	if iv.End.Sub(l.ivs[0].iv.Start) < l.window-time.Second/2 {
		return nil, nil // not a whole window yet
	}
	s := l.windowScenario()
	for _, t := range l.ths {
		r := t.Evaluate(s)
		broken := !r.OK
		if r.Detail != "" && !strings.Contains(r.Detail, "no samples") {
			broken = false // a histogram the scenario does not record: the end-of-run check says so
		} else if r.Detail != "" {
			broken = iv.InFlight > 0
			r.Measured = fmt.Sprintf("no completion with %d in flight", iv.InFlight)
		}
		if !broken {
			delete(l.since, t.Expr)
			continue
		}
		since, ok := l.since[t.Expr]
		if !ok {
			l.since[t.Expr] = iv.End
			since = iv.End
		}
		if iv.End.Sub(since) >= l.after {
			return &LiveBreach{Expr: t.Expr, Since: since, At: iv.End, Measured: r.Measured, Window: l.window}, nil
		}
	}
	return nil, nil
}

// windowScenario is the window's intervals as the thresholds read a
// scenario: counts summed, throughput over the window, latencies from the
// intervals' own histograms.
func (l *LiveThresholds) windowScenario() *Scenario {
	s := &Scenario{ScenarioPlan: ScenarioPlan{Name: l.scenario}, HistogramsMS: map[string]Quantiles{}}
	merged := map[string]*bench.Histogram{}
	for _, li := range l.ivs {
		c := li.iv.Counts
		s.Started += c.Started
		s.Completed += c.Completed
		s.Failed += c.Failed
		s.LateStarts += c.Late
		s.DroppedStarts += c.Dropped
		s.Abandoned += c.Abandoned
		for name, h := range li.hists {
			if merged[name] == nil {
				merged[name] = bench.NewHistogram()
			}
			merged[name].Merge(h)
		}
	}
	secs := l.ivs[len(l.ivs)-1].iv.End.Sub(l.ivs[0].iv.Start).Seconds()
	s.LoadSeconds = secs
	if secs > 0 {
		s.ThroughputPerS = float64(s.Completed) / secs
	}
	for name, h := range merged {
		q := quantiles(h)
		switch name {
		case bench.HistCorrected:
			s.LatencyMS.Corrected = q
		case bench.HistUncorrected:
			s.LatencyMS.Uncorrected = q
		case bench.HistLateness:
			s.LatenessMS = q
		default:
			s.HistogramsMS[name] = q
		}
	}
	return s
}
