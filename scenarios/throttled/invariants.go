package throttled

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/fakes"
)

// LaneReport is one strategy's figures, from the API's own log (report
// details under "strategies").
type LaneReport struct {
	Limiter string `json:"limiter"`
	Config  string `json:"config"`
	Limit   int    `json:"limit"`
	Window  string `json:"window"`

	Iterations int `json:"iterations"` // started (acked)
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`

	Requests  int64 `json:"requests"` // every request the API received
	Accepted  int64 `json:"accepted"`
	Throttled int64 `json:"throttled_429"`
	Failures  int64 `json:"failed_503"`

	// PeakInWindow is the most requests the API received within any window
	// of its limit's length (sliding, every start); over Limit is a
	// violation.
	PeakInWindow     int     `json:"peak_in_window"`
	PeakAtS          float64 `json:"peak_at_s"` // offset of that window from the first request
	PeakUtilisation  float64 `json:"peak_utilisation"`
	AchievedPerS     float64 `json:"achieved_per_s"` // accepted requests over the active span
	LimitPerS        float64 `json:"limit_per_s"`
	MeanUtilisation  float64 `json:"mean_utilisation"`
	ActiveSpanS      float64 `json:"active_span_s"`
	DuplicateSuccess int     `json:"duplicate_successes"` // keys accepted more than once
	// PerWindow counts requests in consecutive fixed windows from the
	// first request (at most 120), for plots.
	PerWindow       []int         `json:"per_window,omitempty"`
	LimiterWorkflow *LimiterStats `json:"limiter_workflow,omitempty"`
	LogFile         string        `json:"log_file,omitempty"` // the API's request log, in the run directory
}

// peakOf is the sliding check over a log.
func peakOf(log []fakes.Entry, window time.Duration) fakes.WindowPeak {
	return fakes.MaxInWindow(fakes.Arrivals(log, nil), window)
}

func (d *driver) report(l *lane, log []fakes.Entry) LaneReport {
	c := l.api.Counts()
	l.mu.Lock()
	r := LaneReport{Limiter: l.kind, Config: l.config, Limit: d.limit, Window: d.window.String(),
		Iterations: len(l.started), Completed: l.done, Failed: l.errs, LimiterWorkflow: l.stats}
	l.mu.Unlock()
	r.Requests, r.Accepted, r.Throttled, r.Failures = c.Requests, c.OK, c.Throttled, c.Failed
	r.LimitPerS = float64(d.limit) / d.window.Seconds()
	p := peakOf(log, d.window)
	r.PeakInWindow = p.Max
	r.PeakUtilisation = float64(p.Max) / float64(d.limit)
	if len(log) > 0 {
		first, last := log[0].At, log[len(log)-1].At
		r.PeakAtS = float64(p.Start-first) / 1e9
		span := time.Duration(last - first)
		if span < d.window {
			span = d.window // a burst inside one window: rate over that window
		}
		r.ActiveSpanS = span.Seconds()
		r.AchievedPerS = float64(c.OK) / span.Seconds()
		r.MeanUtilisation = r.AchievedPerS / r.LimitPerS
		for _, e := range log {
			b := int((e.At - first) / int64(d.window))
			if b >= 120 {
				break
			}
			for len(r.PerWindow) <= b {
				r.PerWindow = append(r.PerWindow, 0)
			}
			r.PerWindow[b]++
		}
	}
	return r
}

// Invariants, per strategy, from the API's own log: every call succeeded;
// the limit held in every window; the API's online limiter and the offline
// check agree; the limiter workflow drained.
func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	var out []scenarios.Invariant
	var reports []LaneReport
	for _, l := range d.lanes {
		log := l.api.Log()
		r := d.report(l, log)
		if d.env.Dir != "" {
			// The ground truth, kept for inspection.
			if err := l.api.WriteLog(filepath.Join(d.env.Dir, "api-"+l.kind+".jsonl")); err != nil {
				r.LogFile = "not written: " + err.Error()
			} else {
				r.LogFile = "api-" + l.kind + ".jsonl"
			}
		}
		success := map[string]int{}
		for _, e := range log {
			if e.Status == http.StatusOK {
				success[e.Key]++
			}
		}
		l.mu.Lock()
		started, unacked := append([]string(nil), l.started...), l.unacked
		errs, firstErr := l.errs, l.firstErr
		l.mu.Unlock()
		missing, expected := 0, 0
		var example string
		for _, id := range started {
			for i := 0; i < d.calls; i++ {
				expected++
				k := Key(id, i)
				switch n := success[k]; {
				case n == 0:
					missing++
					if example == "" {
						example = k
					}
				case n > 1:
					r.DuplicateSuccess++
				}
			}
		}
		detail := fmt.Sprintf("%d of %d calls of %d iterations accepted by the API (its own log); %d workflow errors, %d starts unacknowledged; %d requests, %d answered 429",
			expected-missing, expected, len(started), errs, unacked, r.Requests, r.Throttled)
		if example != "" {
			detail += "; e.g. no success for " + example
		}
		if firstErr != "" {
			detail += "; first error: " + firstErr
		}
		out = append(out, scenarios.Invariant{Name: "every-call-succeeded[" + l.kind + "]",
			OK: missing == 0 && errs == 0 && unacked == 0 && expected > 0, Detail: detail})

		held := r.PeakInWindow <= d.limit
		detail = fmt.Sprintf("peak %d requests in a %s window (limit %d, %.0f%%) at +%.1fs; %s",
			r.PeakInWindow, d.window, d.limit, 100*r.PeakUtilisation, r.PeakAtS, l.config)
		if !held {
			detail = "VIOLATED: " + detail
		}
		out = append(out, scenarios.Invariant{Name: "rate-limit-respected[" + l.kind + "]", OK: held, Detail: detail})

		agree := (r.PeakInWindow > d.limit) == (r.Throttled > 0)
		out = append(out, scenarios.Invariant{Name: "api-limiter-agrees[" + l.kind + "]", OK: agree,
			Detail: fmt.Sprintf("offline window check over the log (peak %d vs limit %d) and the API's own 429s (%d) %s",
				r.PeakInWindow, d.limit, r.Throttled, map[bool]string{true: "agree", false: "DISAGREE"}[agree])})

		if l.limiterID != "" {
			ok := l.stats != nil && l.stats.Grants == l.stats.Releases+l.stats.FailedGrants && l.stats.UnknownReleases == 0
			detail := "limiter workflow " + l.limiterID + ": "
			if l.stats == nil {
				detail += "no result: " + l.statsErr
			} else {
				detail += fmt.Sprintf("%d grants, %d releases, %d grants to vanished callers, %d unknown releases, %d waiting at most, %d runs (continue-as-new)",
					l.stats.Grants, l.stats.Releases, l.stats.FailedGrants, l.stats.UnknownReleases, l.stats.MaxWaiters, l.stats.Runs)
			}
			out = append(out, scenarios.Invariant{Name: "limiter-drained[" + l.kind + "]", OK: ok, Detail: detail})
		}
		reports = append(reports, r)
	}
	d.env.Emit("strategies", reports)
	return out
}
