package throttled

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
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

	Requests  int64 `json:"requests"` // every request the API received
	Accepted  int64 `json:"accepted"`
	Throttled int64 `json:"throttled_429"`
	Failures  int64 `json:"failed_503"`

	// PeakInWindow is the most requests the API received within any window
	// of its limit's length (sliding, every start; aggregated as they
	// arrive); over Limit is a violation.
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

func (d *driver) report(l *lane) LaneReport {
	c := l.api.Counts()
	l.mu.Lock()
	r := LaneReport{Limiter: l.kind, Config: l.config, Limit: d.limit, Window: d.window.String(),
		Iterations: l.started, Completed: l.done, LimiterWorkflow: l.stats}
	l.mu.Unlock()
	r.Requests, r.Accepted, r.Throttled, r.Failures = c.Requests, c.OK, c.Throttled, c.Failed
	r.LimitPerS = float64(d.limit) / d.window.Seconds()
	m := l.meter.snapshot()
	r.PeakInWindow = m.peak.Max
	r.PeakUtilisation = float64(m.peak.Max) / float64(d.limit)
	r.PerWindow = m.perWindow
	if m.n > 0 {
		r.PeakAtS = float64(m.peak.Start-m.first) / 1e9
		span := max(time.Duration(m.last-m.first), d.window) // a burst inside one window: rate over that window
		r.ActiveSpanS = span.Seconds()
		r.AchievedPerS = float64(c.OK) / span.Seconds()
		r.MeanUtilisation = r.AchievedPerS / r.LimitPerS
	}
	r.DuplicateSuccess = l.calls.totals().Duplicate
	if d.env.Dir != "" {
		// The ground truth, kept for inspection.
		if err := l.api.WriteLog(filepath.Join(d.env.Dir, "api-"+l.kind+".jsonl")); err != nil {
			r.LogFile = "not written: " + err.Error()
		} else {
			r.LogFile = "api-" + l.kind + ".jsonl"
		}
	}
	return r
}

// Invariants, per strategy, from what the API saw as it happened: every
// call succeeded once; the limit held in every window; the API's online
// limiter and the sliding check agree; the limiter workflow drained.
func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	var out []scenarios.Invariant
	for _, l := range d.lanes {
		for _, c := range []func(*lane) scenarios.Invariant{d.checkCalls, d.checkLimit, d.checkAgree, d.checkDrained} {
			if inv := c(l); inv.Name != "" {
				out = append(out, inv)
			}
		}
	}
	return out
}

// every-call-succeeded[kind]: each call of every acknowledged caller was
// accepted by the API. (A second acceptance is counted, not failed: an
// attempt accepted but whose answer was lost is retried, as at-least-once
// delivery allows.)
func (d *driver) checkCalls(l *lane) scenarios.Invariant {
	t := l.calls.totals()
	c := l.api.Counts()
	l.mu.Lock()
	started := l.started
	l.mu.Unlock()
	detail := fmt.Sprintf("%d of %d calls of %d iterations accepted by the API (as it answered them), %d accepted more than once; %d requests, %d answered 429",
		t.Checked-t.Missing, t.Checked, started, t.Duplicate, c.Requests, c.Throttled)
	if t.MissingExample != "" {
		detail += "; e.g. no success for " + t.MissingExample
	}
	return check.That("every-call-succeeded["+l.kind+"]", t.Missing == 0 && t.Checked > 0, "%s", detail)
}

// rate-limit-respected[kind]: no window of the API's length held more
// requests than its limit.
func (d *driver) checkLimit(l *lane) scenarios.Invariant {
	m := l.meter.snapshot()
	held := m.peak.Max <= d.limit
	detail := fmt.Sprintf("peak %d requests in a %s window (limit %d, %.0f%%) at +%.1fs; %s",
		m.peak.Max, d.window, d.limit, 100*float64(m.peak.Max)/float64(d.limit), float64(m.peak.Start-m.first)/1e9, l.config)
	if !held {
		detail = "VIOLATED: " + detail
	}
	return check.That("rate-limit-respected["+l.kind+"]", held, "%s", detail)
}

// api-limiter-agrees[kind]: the sliding check and the API's own 429s tell
// the same story.
func (d *driver) checkAgree(l *lane) scenarios.Invariant {
	peak, throttled := l.meter.snapshot().peak.Max, l.api.Counts().Throttled
	agree := (peak > d.limit) == (throttled > 0)
	return check.That("api-limiter-agrees["+l.kind+"]", agree,
		"sliding window check over the arrivals (peak %d vs limit %d) and the API's own 429s (%d) %s",
		peak, d.limit, throttled, map[bool]string{true: "agree", false: "DISAGREE"}[agree])
}

// limiter-drained[kind] (workflow-side strategies): every grant released.
func (d *driver) checkDrained(l *lane) scenarios.Invariant {
	if l.limiterID == "" {
		return scenarios.Invariant{}
	}
	l.mu.Lock()
	st, stErr := l.stats, l.statsErr
	l.mu.Unlock()
	name := "limiter-drained[" + l.kind + "]"
	if st == nil {
		return check.Fail(name, "limiter workflow %s: no result: %s", l.limiterID, stErr)
	}
	return check.That(name, st.Grants == st.Releases+st.FailedGrants && st.UnknownReleases == 0,
		"limiter workflow %s: %d grants, %d releases, %d grants to vanished callers, %d unknown releases, %d waiting at most, %d runs (continue-as-new)",
		l.limiterID, st.Grants, st.Releases, st.FailedGrants, st.UnknownReleases, st.MaxWaiters, st.Runs)
}
