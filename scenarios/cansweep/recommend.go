package cansweep

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/scenarios/check"
)

// What the recommendation is compared with: the server's defaults, and
// the common rules of thumb for continue-as-new (slowdown noticeable from
// about 10,000 events; 50,000 as a practical maximum).
const (
	ServerSuggestEvents    = check.HistoryEventsSuggest
	ServerSuggestBytes     = check.HistoryBytesSuggest
	ServerErrorEvents      = check.HistoryEventsError
	RuleCANBeyondEvents    = 10000 // guidance: replay slows noticeably from about here
	RulePracticalMaxEvents = 50000 // guidance: the practical maximum of a history
)

// Recommendation is the sweep's answer: the largest history length whose
// p99 workflow-task latency without sticky cache stays within the budget,
// next to the server's suggestion and the rules of thumb above.
type Recommendation struct {
	BudgetMS float64 `json:"budget_ms"`
	// MaxEvents: the largest tested length such that it and every shorter
	// tested length kept p99 under the budget (0: not even the shortest).
	MaxEvents int   `json:"recommended_max_events"`
	MaxBytes  int64 `json:"recommended_max_bytes"`
	// FirstOverBudget: the shortest tested length over the budget (0: none).
	FirstOverBudget int `json:"first_over_budget_events,omitempty"`
	// Linear fits over the tested lengths (least squares, per 1,000 events).
	ReplayMSPer1k  float64 `json:"replay_ms_per_1k_events"`
	TaskP99MSPer1k float64 `json:"task_p99_ms_per_1k_events"`
	// ReplayMSPer1kShortest/Longest: cold replay per 1,000 events at the
	// shortest and the longest measured history. A growing ratio means
	// replay cost is superlinear in the history length.
	ReplayMSPer1kShortest float64 `json:"replay_ms_per_1k_events_shortest"`
	ReplayMSPer1kLongest  float64 `json:"replay_ms_per_1k_events_longest"`
	// EstimatedEventsAtBudget: where the fitted p99 line meets the budget
	// (extrapolated beyond the tested lengths; 0 if the fit has no slope).
	EstimatedEventsAtBudget int `json:"estimated_events_at_budget,omitempty"`
	// The server's default suggestion and where this sweep saw it.
	ServerSuggestEvents int   `json:"server_suggest_events"`
	ServerSuggestBytes  int64 `json:"server_suggest_bytes"`
	SuggestionSeenAt    int   `json:"suggestion_seen_at_events,omitempty"`
	// Rules: the server's suggestion and the rules of thumb above, each
	// judged by this sweep's p99 at its length.
	Rules   []RuleCheck `json:"rules"`
	Summary string      `json:"summary"`
}

// RuleCheck judges one rule of thumb against the measured (or fitted) p99.
type RuleCheck struct {
	Rule     string  `json:"rule"`
	Events   int     `json:"events"`
	P99MS    float64 `json:"p99_ms"`
	Source   string  `json:"source"` // measured or fitted
	InBudget bool    `json:"within_budget"`
}

func recommend(rows []Row, budget time.Duration) Recommendation {
	r := Recommendation{BudgetMS: bench.MS(budget), ServerSuggestEvents: ServerSuggestEvents, ServerSuggestBytes: ServerSuggestBytes}
	var xs, replay, task []float64
	prefixOK := true
	for _, row := range rows {
		if row.Error != "" || row.TaskMS.Count == 0 {
			prefixOK = false
			continue
		}
		x := float64(row.Events)
		xs = append(xs, x)
		replay = append(replay, row.ReplayMS.Median)
		task = append(task, row.TaskMS.P99)
		if row.UnderBudget && prefixOK {
			r.MaxEvents, r.MaxBytes = int(row.Events), row.Bytes
		} else if !row.UnderBudget {
			prefixOK = false
			if r.FirstOverBudget == 0 {
				r.FirstOverBudget = int(row.Events)
			}
		}
		if row.ReplayMSPer1k > 0 {
			if r.ReplayMSPer1kShortest == 0 {
				r.ReplayMSPer1kShortest = round3(row.ReplayMSPer1k)
			}
			r.ReplayMSPer1kLongest = round3(row.ReplayMSPer1k)
		}
		if row.Suggested && (r.SuggestionSeenAt == 0 || row.SuggestedAtEvents < r.SuggestionSeenAt) {
			r.SuggestionSeenAt = row.SuggestedAtEvents
		}
	}
	rSlope, _, okR := fit(xs, replay)
	tSlope, tIcpt, okT := fit(xs, task)
	if okR {
		r.ReplayMSPer1k = round3(rSlope * 1000)
	}
	if okT {
		r.TaskP99MSPer1k = round3(tSlope * 1000)
		if tSlope > 0 {
			r.EstimatedEventsAtBudget = int(math.Max(0, (r.BudgetMS-tIcpt)/tSlope))
		}
	}
	p99At := func(events int) (float64, string, bool) {
		for _, row := range rows {
			if row.Error == "" && row.TaskMS.Count > 0 && math.Abs(float64(row.Events-int64(events))) <= 0.05*float64(events) {
				return row.TaskMS.P99, "measured", true
			}
		}
		// Extrapolate only along a rising line: a flat or falling fit over
		// noisy points says nothing about longer histories.
		if okT && tSlope > 0 {
			return round3(math.Max(0, tIcpt+tSlope*float64(events))), "fitted", true
		}
		return 0, "", false
	}
	for _, rule := range []struct {
		name   string
		events int
	}{
		{"server default: suggest continue-as-new", ServerSuggestEvents},
		{"guidance: continue-as-new beyond 10,000 events", RuleCANBeyondEvents},
		{"guidance: 50,000 events practical maximum", RulePracticalMaxEvents},
	} {
		if p, src, ok := p99At(rule.events); ok {
			r.Rules = append(r.Rules, RuleCheck{Rule: rule.name, Events: rule.events, P99MS: p, Source: src, InBudget: p < r.BudgetMS})
		}
	}
	r.Summary = r.summary(rows)
	return r
}

func (r Recommendation) summary(rows []Row) string {
	var b strings.Builder
	budget := fmt.Sprintf("%gms", r.BudgetMS)
	switch {
	case len(rows) == 0:
		return "no lengths were measured"
	case r.MaxEvents == 0:
		fmt.Fprintf(&b, "Even the shortest tested history (%d events) exceeds the p99 budget of %s for a workflow task without sticky cache: "+
			"continue-as-new well before that, or raise the budget.", rows[0].Target, budget)
	case r.FirstOverBudget == 0:
		fmt.Fprintf(&b, "Every tested length up to %d events (%s) keeps the p99 workflow-task latency without sticky cache under %s; "+
			"continue-as-new at up to %d events is within budget here", r.MaxEvents, mib(r.MaxBytes), budget, r.MaxEvents)
		if r.EstimatedEventsAtBudget > r.MaxEvents {
			fmt.Fprintf(&b, " (the fitted line reaches the budget near %d events, beyond what was tested", r.EstimatedEventsAtBudget)
			if r.EstimatedEventsAtBudget > ServerErrorEvents {
				fmt.Fprintf(&b, " and beyond the server's %d-event hard limit", ServerErrorEvents)
			}
			b.WriteString(")")
		}
		b.WriteString(".")
	default:
		fmt.Fprintf(&b, "Recommended continue-as-new threshold: at most %d events (%s), the largest tested length whose p99 "+
			"workflow-task latency without sticky cache stays under %s; at %d events it is over budget.",
			r.MaxEvents, mib(r.MaxBytes), budget, r.FirstOverBudget)
	}
	if r.ReplayMSPer1k > 0 {
		fmt.Fprintf(&b, " Cold replay costs %.2f ms per 1,000 events (fitted)", r.ReplayMSPer1k)
		if r.TaskP99MSPer1k > 0 {
			fmt.Fprintf(&b, "; a workflow task without sticky cache %.2f ms more p99 per 1,000 events", r.TaskP99MSPer1k)
		}
		b.WriteString(".")
	}
	if r.ReplayMSPer1kShortest > 0 && r.ReplayMSPer1kLongest > 2*r.ReplayMSPer1kShortest {
		fmt.Fprintf(&b, " Cold replay per 1,000 events grows from %.1f ms (shortest history) to %.1f ms (longest): superlinear. "+
			"The Go SDK's replayer holds the whole history in memory and copies the remaining events after every workflow task "+
			"(internal history.prepareTask), so replayer time overstates what a worker pays on long histories; a worker "+
			"without sticky cache loads the history page by page, and its task latency is what the recommendation uses.",
			r.ReplayMSPer1kShortest, r.ReplayMSPer1kLongest)
	}
	if r.SuggestionSeenAt > 0 {
		fmt.Fprintf(&b, " The server suggested continue-as-new from event %d on", r.SuggestionSeenAt)
	} else {
		b.WriteString(" The server never suggested continue-as-new in these histories")
	}
	fmt.Fprintf(&b, " (default %d events / %s)", ServerSuggestEvents, mib(ServerSuggestBytes))
	if r.MaxEvents > 0 && r.SuggestionSeenAt > 0 {
		fmt.Fprintf(&b, ": following it keeps histories %.1fx below the recommended maximum", float64(r.MaxEvents)/float64(r.SuggestionSeenAt))
	}
	b.WriteString(".")
	for _, c := range r.Rules {
		verdict := "within"
		if !c.InBudget {
			verdict = "over"
		}
		fmt.Fprintf(&b, " %s (%d events): p99 %.0f ms (%s), %s budget.", c.Rule, c.Events, c.P99MS, c.Source, verdict)
	}
	return b.String()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// fit is an ordinary least-squares line y = a*x + b; ok is false with fewer
// than two distinct x.
func fit(xs, ys []float64) (a, b float64, ok bool) {
	n := float64(len(xs))
	if len(xs) < 2 {
		return 0, 0, false
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, 0, false
	}
	a = (n*sxy - sx*sy) / den
	b = (sy - a*sx) / n
	return a, b, true
}
