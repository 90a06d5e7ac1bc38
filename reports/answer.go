package reports

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/capacity"
)

// Answer is what every rendering of a report opens with: the verdict and
// why, then the answer to the question the command asked (how fast, for
// a capacity search; when to continue as new, for a can-sweep). report.md
// and report.html both render it, so they say the same thing first.
type Answer struct {
	Verdict string // pass, fail or interrupted
	// Why: the reasons for the verdict, as sentences; when nothing failed,
	// one sentence saying what held.
	Why []string
	// Capacity: one sentence per worker count, the sustainable rate and
	// what saturated first (capacity searches only).
	Capacity []string
	// CAN: the continue-as-new answer of each scenario that swept history
	// lengths.
	CAN []CANAnswer
}

// CANAnswer is a continue-as-new sweep's answer: one sentence, and the
// rules of thumb judged against the sweep.
type CANAnswer struct {
	Scenario string
	Sentence string
	Rules    []CANRule
}

// CANRule is one rule of thumb and the sweep's p99 at its length, as
// can-sweep records it.
type CANRule struct {
	Rule     string  `json:"rule"`
	Events   int     `json:"events"`
	P99MS    float64 `json:"p99_ms"`
	Source   string  `json:"source"`
	InBudget bool    `json:"within_budget"`
}

// Names of the details a continue-as-new sweep emits.
const (
	detailRecommendation = "recommendation"
	detailSweep          = "sweep"
)

// AnswerOf reads rep's answer.
func AnswerOf(rep *Report) Answer {
	a := Answer{Verdict: rep.Verdict, Why: why(rep)}
	if c := rep.Capacity; c != nil {
		for _, s := range c.Searches {
			a.Capacity = append(a.Capacity, capacityAnswer(s))
		}
	}
	for i := range rep.Scenarios {
		if ca, ok := canAnswer(&rep.Scenarios[i]); ok {
			a.CAN = append(a.CAN, ca)
		}
	}
	return a
}

// why lists the reasons for rep's verdict in the order Build weighs them.
func why(rep *Report) []string {
	var out []string
	if rep.Run.Error != "" {
		out = append(out, "The run stopped on an error: "+rep.Run.Error+".")
	}
	if rep.Capacity != nil {
		out = append(out, capacityWhy(rep)...)
	} else {
		out = append(out, runWhy(rep)...)
	}
	if rep.Verdict == VerdictInterrupted {
		out = append([]string{"Interrupted: the load was stopped before the plan was done; what ran is reported, and it is no benchmark result."}, out...)
	}
	return out
}

// runWhy: what failed among the invariants and thresholds, or what held.
func runWhy(rep *Report) []string {
	var out []string
	if len(rep.Scenarios) == 0 {
		out = append(out, "No scenario ran.")
	}
	invariants, thresholds, warnings := 0, 0, 0
	for _, s := range rep.Scenarios {
		if s.Verification == nil {
			out = append(out, fmt.Sprintf("%s was not verified: nothing says whether its workflows reached their end state.", s.Label()))
		}
		for _, inv := range s.Invariants {
			invariants++
			switch {
			case inv.Fails():
				out = append(out, fmt.Sprintf("Invariant %s failed (%s): %s.", inv.Name, s.Label(), strings.TrimSuffix(inv.Detail, ".")))
			case !inv.OK:
				warnings++
			}
		}
		for _, t := range s.Thresholds {
			thresholds++
			if !t.OK {
				line := fmt.Sprintf("Threshold %s failed (%s): measured %s", t.Expr, s.Label(), t.Measured)
				if t.Detail != "" {
					line += ", " + t.Detail
				}
				out = append(out, line+".")
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	held := fmt.Sprintf("All %d invariant(s) and %d threshold(s) held", invariants, thresholds)
	if warnings > 0 {
		held += fmt.Sprintf(" (%d with a warning)", warnings)
	}
	return []string{held + "."}
}

// capacityWhy: a capacity search overloads the cluster on purpose, so its
// probes' failures are findings; it fails when no rate was found or a
// workflow was lost.
func capacityWhy(rep *Report) []string {
	var out []string
	if len(rep.Capacity.Searches) == 0 {
		out = append(out, "The capacity search recorded no search.")
	}
	for _, s := range rep.Capacity.Searches {
		if !s.Found {
			out = append(out, fmt.Sprintf("No sustainable rate was found with %s.", s.Label()))
		}
	}
	for _, s := range rep.Scenarios {
		switch v := s.Verification; {
		case v == nil:
			out = append(out, fmt.Sprintf("%s was not verified: nothing says whether its workflows reached their end state.", s.Label()))
		case v.Lost > 0 || v.Unverifiable > 0:
			out = append(out, fmt.Sprintf("%s: %d workflow(s) lost, %d unverifiable.", s.Label(), v.Lost, v.Unverifiable))
		}
	}
	if len(out) > 0 {
		return out
	}
	return []string{"A sustainable rate was found in every case searched, and no workflow was lost."}
}

// capacityAnswer: the sustainable rate of one case and what
// saturated first.
func capacityAnswer(s capacity.Outcome) string {
	line := fmt.Sprintf("%s: %s", s.Label(), s.Headline())
	switch {
	case s.Error != "":
		line += "; the search stopped on an error: " + s.Error
	case len(s.Findings) > 0:
		f := s.Findings[0]
		what := f.Resource + ": " + f.Evidence
		if strings.HasPrefix(f.Evidence, f.Resource) { // "configured limit RPS_LIMIT …" names itself
			what = f.Evidence
		}
		line += fmt.Sprintf("; saturated first, at %s: %s", bench.ShowRate(f.AtRate), what)
	default:
		line += "; nothing the search watches saturated"
	}
	return line + "."
}

// canAnswer reads a continue-as-new sweep's recommendation and table from
// s's details; ok is false when s recorded none.
func canAnswer(s *Scenario) (CANAnswer, bool) {
	raw, ok := s.Details[detailRecommendation]
	if !ok {
		return CANAnswer{}, false
	}
	var rec struct {
		BudgetMS        float64   `json:"budget_ms"`
		MaxEvents       int64     `json:"recommended_max_events"`
		MaxBytes        int64     `json:"recommended_max_bytes"`
		FirstOverBudget int64     `json:"first_over_budget_events"`
		EstimatedAt     int64     `json:"estimated_events_at_budget"`
		Rules           []CANRule `json:"rules"`
	}
	if err := json.Unmarshal(upgradeRecommendation(raw), &rec); err != nil {
		return CANAnswer{Scenario: s.Label(), Sentence: "no continue-as-new answer: the recommendation could not be read: " + err.Error() + "."}, true
	}
	var rows []struct {
		Events int64 `json:"events"`
		Bytes  int64 `json:"bytes"`
		Task   struct {
			Count int     `json:"count"`
			P99   float64 `json:"p99"`
		} `json:"task_ms"`
		Error string `json:"error"`
	}
	if b, ok := s.Details[detailSweep]; ok {
		_ = json.Unmarshal(b, &rows) // without the table, the sentence leaves out the p99
	}
	p99At := func(events int64) string {
		for _, r := range rows {
			if r.Events == events && r.Error == "" && r.Task.Count > 0 {
				return fmt.Sprintf("cold replay p99 %s ms at %s events", msNumber(r.Task.P99), thousands(events))
			}
		}
		return fmt.Sprintf("cold replay p99 not recorded at %s events", thousands(events))
	}
	measured, longest := 0, int64(0)
	for _, r := range rows {
		if r.Error == "" && r.Task.Count > 0 {
			measured++
			longest = max(longest, r.Events)
		}
	}
	budget := msNumber(rec.BudgetMS) + " ms"
	var sentence string
	switch {
	case rec.MaxEvents > 0 && rec.FirstOverBudget == 0 && rec.MaxEvents >= longest:
		sentence = fmt.Sprintf("continue as new at ≤ %s events / %s: %s, within your budget of %s. The budget held across the whole sweep, so the limit lies after %s events",
			thousands(rec.MaxEvents), mibOf(rec.MaxBytes), p99At(rec.MaxEvents), budget, thousands(rec.MaxEvents))
		if rec.EstimatedAt > rec.MaxEvents {
			sentence += fmt.Sprintf(" (the fitted line reaches the budget near %s events)", thousands(rec.EstimatedAt))
		}
		sentence += "."
	case rec.MaxEvents > 0:
		sentence = fmt.Sprintf("continue as new at ≤ %s events / %s: %s, within your budget of %s",
			thousands(rec.MaxEvents), mibOf(rec.MaxBytes), p99At(rec.MaxEvents), budget)
		if rec.FirstOverBudget > 0 {
			sentence += fmt.Sprintf("; at %s events it is over budget (%s)", thousands(rec.FirstOverBudget), p99At(rec.FirstOverBudget))
		}
		sentence += "."
	case rec.FirstOverBudget > 0:
		sentence = fmt.Sprintf("continue as new before %s events, the shortest history tested: %s, over your budget of %s; test shorter histories, or raise the budget.",
			thousands(rec.FirstOverBudget), p99At(rec.FirstOverBudget), budget)
	case measured == 0:
		sentence = "no continue-as-new answer: no history length was measured (the sweep's table says why)."
	default:
		sentence = fmt.Sprintf("no continue-as-new answer within your budget of %s: the sweep's lengths did not measure in order (the sweep's table says why).", budget)
	}
	return CANAnswer{Scenario: s.Label(), Sentence: sentence, Rules: rec.Rules}, true
}

// msNumber shows a latency in milliseconds: whole above 10 ms, one decimal below.
func msNumber(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f", math.Round(v))
	}
	return fmt.Sprintf("%.1f", v)
}

// thousands groups an integer's digits by three: 10,000.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mibOf(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
