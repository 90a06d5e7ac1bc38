package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Markdown renders rep for people and CI job summaries.
func Markdown(rep *Report) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	verdict := "✅ pass"
	switch rep.Verdict {
	case VerdictFail:
		verdict = "❌ fail"
	case VerdictInterrupted:
		verdict = "⚠️ interrupted (covers part of the planned load)"
	}
	w("# squall report: %s\n\n", verdict)
	// A drifting machine qualifies the answer: the warning comes first.
	for _, d := range capacityDrifted(rep.Capacity) {
		w("> ⚠️ **%s.**\n\n", d)
	}
	w("%s", answerMarkdown(AnswerOf(rep)))
	r := rep.Run
	w("| run | |\n|---|---|\n")
	w("| squall | %s (commit %s) |\n", r.SquallVersion, r.Commit)
	from := ""
	if r.AddressFrom != "" {
		from = " (from " + r.AddressFrom + ")"
	}
	w("| cluster | %s %s%s, Temporal server %s, namespace %s |\n", r.Cluster, r.Address, from, r.ServerVersion, r.Namespace)
	tuning, _ := json.Marshal(r.WorkerTuning)
	w("| workers | %d, tuning `%s` (0: SDK default) |\n", r.Workers, tuning)
	w("| machine | %d cores, %s, %s |\n", r.Cores, r.OS, r.GoVersion)
	w("| time | %s → %s (%s) |\n", r.StartTime.Format("2006-01-02 15:04:05Z07:00"), r.EndTime.Format("15:04:05"), r.EndTime.Sub(r.StartTime).Round(1e9))
	w("| flags | `%s` |\n", strings.Join(r.Flags, " "))
	w("| CPU | driver %.1f s%s, server and workers %.1f s |\n", r.DriverCPUSeconds, per1k(r), r.ChildrenCPUSeconds)
	for _, g := range r.Resumes {
		w("| resumed | the driver stopped about %s and a new one continued at %s (`squall run --resume`): the schedule moved %s, on at iteration %d; %d iterations due around the stop were not started again (those the journal holds are verified; any started unrecorded are not) |\n",
			g.Stopped.Format("15:04:05"), g.Resumed.Format("15:04:05"), time.Duration(g.ShiftSeconds*float64(time.Second)).Round(time.Second), g.From, g.Unaccounted())
	}
	if r.Interrupted {
		w("| interrupted | yes: the load was stopped early; results cover what ran |\n")
	}
	if r.Error != "" {
		w("| error | %s |\n", r.Error)
	}
	w("\n")
	w("%s", topologyMarkdown(r.Topology))
	if rep.Capacity != nil {
		w("%s", capacityMarkdown(rep.Capacity))
	}
	if len(rep.Faults) > 0 {
		w("## Fault windows\n\n")
		w("| fault | injected | healed | started | completed | failed | late | dropped | lost | held | held p99 ms | held max ms | recovered after s | note |\n")
		w("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, f := range rep.Faults {
			note := f.Error
			if f.Skipped != "" {
				note = "skipped: " + f.Skipped
			}
			recovered := "-"
			if f.RecoveredAfterS != nil {
				recovered = fmt.Sprintf("%.0f", *f.RecoveredAfterS)
			} else if f.Recovery != "" {
				note = strings.TrimPrefix(note+"; "+f.Recovery, "; ")
			}
			held, p99, hmax := heldCells(f)
			w("| `%s` | %s | %s | %d | %d | %d | %d | %d | %d | %s | %s | %s | %s | %s |\n", f.Spec, clock(f.InjectedAt), clock(f.HealedAt),
				f.Started, f.Completed, f.Failed, f.Late, f.Dropped, f.Lost, held, p99, hmax, recovered, note)
		}
		w("\n")
		w("%s", evidenceMarkdown(rep.Faults))
	}
	for _, s := range rep.Scenarios {
		w("## %s\n\n", s.Label())
		w("%s", planLine(s.ScenarioPlan))
		w("| started | completed | failed | lost | abandoned | throughput/s | late starts | dropped starts |\n")
		w("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		w("| %d | %d | %d | %d | %d | %.1f | %d | %d |\n\n", s.Started, s.Completed, s.Failed, s.Lost, s.Abandoned,
			s.ThroughputPerS, s.LateStarts, s.DroppedStarts)
		w("%s", throughputLine(s))
		w("| latency (ms) | count | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|\n")
		row := func(name string, q Quantiles) {
			w("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", name, q.Count, q.P50, q.P90, q.P99, q.P999, q.Max)
		}
		row("corrected (from intended start)", s.LatencyMS.Corrected)
		row("uncorrected (from actual start)", s.LatencyMS.Uncorrected)
		if s.LatenessMS.Count > 0 {
			row("start lateness (late starts)", s.LatenessMS)
		}
		names := make([]string, 0, len(s.HistogramsMS))
		for n := range s.HistogramsMS {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			row(n, s.HistogramsMS[n])
		}
		w("\nHistory: max %d events, max %d bytes.\n\n", s.History.MaxLength, s.History.MaxBytes)
		if v := s.Verification; v != nil && v.Batches > 0 {
			w("Verification: %d of %d journaled workflows verified during the load (%d batches), the rest after it in %s.\n\n",
				v.VerifiedDuringLoad, v.Journaled, v.Batches, v.Duration)
		}
		w("| invariant | ok | detail |\n|---|---|---|\n")
		for _, inv := range s.Invariants {
			ok := "✅"
			if inv.Fails() {
				ok = "❌"
			} else if !inv.OK {
				ok = "⚠️"
			}
			w("| %s | %s | %s |\n", inv.Name, ok, strings.ReplaceAll(inv.Detail, "|", "\\|"))
		}
		if len(s.Thresholds) > 0 {
			w("\n| threshold | measured | ok | detail |\n|---|---:|---|---|\n")
			for _, t := range s.Thresholds {
				ok := "✅"
				if !t.OK {
					ok = "❌"
				}
				w("| `%s` | %s | %s | %s |\n", t.Expr, t.Measured, ok, strings.ReplaceAll(t.Detail, "|", "\\|"))
			}
		}
		dkeys := make([]string, 0, len(s.Details))
		for k := range s.Details {
			dkeys = append(dkeys, k)
		}
		sort.Strings(dkeys)
		for _, k := range dkeys {
			if k == detailRecommendation {
				w("\n%s", recommendationMarkdown(s.Details[k]))
				continue // its answer and rules open the report
			}
			if k == detailSweep {
				if t := sweepMarkdown(s.Details[k]); t != "" {
					w("\n%s", t)
					continue
				}
			}
			w("\n**%s**\n\n```json\n%s\n```\n", k, indentJSON(s.Details[k]))
		}
		if len(s.Errors) > 0 {
			w("\nFirst errors:\n\n")
			for _, e := range s.Errors {
				w("- `%s`\n", e)
			}
		}
		if tr := s.Trends; tr != nil {
			w("%s", trendsMarkdown(tr))
		}
		if len(s.Intervals) > 0 {
			w("\n<details><summary>Per-interval time series (%d rows)</summary>\n\n", len(s.Intervals))
			w("| t (s) | started | completed | failed | late | dropped | in flight | p50 ms | p99 ms | max ms | fault |\n")
			w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
			for _, iv := range s.Intervals {
				w("| %.0f | %d | %d | %d | %d | %d | %d | %s | %s | %s | %s |\n", iv.OffsetS, iv.Started, iv.Completed,
					iv.Failed, iv.Late, iv.Dropped, iv.InFlight, intervalMS(iv, iv.P50MS), intervalMS(iv, iv.P99MS), intervalMS(iv, iv.MaxMS), strings.Join(iv.Faults, ", "))
			}
			w("\n</details>\n")
		}
		w("\n")
	}
	w("%s", rep.ServerSignals.Markdown(squallP99(rep)))
	return b.String()
}

// throughputLine says what throughput divides by: the load phase, not
// the drain after it.
func throughputLine(s Scenario) string {
	if s.throughputSeconds() <= 0 {
		return ""
	}
	if s.LoadSeconds < minLoadPhase {
		return fmt.Sprintf("Throughput %.1f/s over the %.1f s of load and drain (%d completed; the load phase, %.1f s, is too short to divide by).\n\n",
			s.ThroughputPerS, s.LoadSeconds+s.DrainSeconds, s.Completed, s.LoadSeconds)
	}
	line := fmt.Sprintf("Throughput %.1f/s over the %.1f s load phase (%d completed ÷ load time", s.ThroughputPerS, s.LoadSeconds, s.Completed)
	if s.DrainSeconds > 0 {
		line += fmt.Sprintf("; the %.1f s drain after the last start is not in the divisor", s.DrainSeconds)
	}
	return line + ").\n\n"
}

// answerMarkdown: the verdict's reasons, then each question's answer.
func answerMarkdown(a Answer) string {
	var b strings.Builder
	if len(a.Why) == 1 {
		fmt.Fprintf(&b, "%s\n\n", a.Why[0])
	} else {
		for _, line := range a.Why {
			fmt.Fprintf(&b, "- %s\n", line)
		}
		b.WriteString("\n")
	}
	for _, line := range a.Capacity {
		fmt.Fprintf(&b, "**Capacity**, %s\n\n", line)
	}
	for _, c := range a.CAN {
		fmt.Fprintf(&b, "**%s**: %s\n\n", c.Scenario, c.Sentence)
		if len(c.Rules) > 0 {
			b.WriteString("| rule | events | p99 ms | source | within budget |\n|---|---:|---:|---|---|\n")
			for _, r := range c.Rules {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Rule, thousands(int64(r.Events)), msNumber(r.P99MS), r.Source, yesNo(r.InBudget))
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// recommendationMarkdown is the prose of a continue-as-new sweep's
// recommendation (its answer and rules open the report).
func recommendationMarkdown(raw []byte) string {
	var rec struct {
		Summary string `json:"summary"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil || rec.Summary == "" {
		return ""
	}
	return "**recommendation**: " + rec.Summary + "\n"
}

// recommendationSummary is that prose for report.html ("" for a scenario
// without a recommendation).
func recommendationSummary(s *Scenario) string {
	raw, ok := s.Details[detailRecommendation]
	if !ok {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(recommendationMarkdown(raw), "**recommendation**: "), "\n")
}

// intervalMS shows one of an interval's latencies: "-" when nothing
// completed in it (no latency was measured, which is not 0 ms).
func intervalMS(iv IntervalRow, v float64) string {
	if iv.Completed == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func planLine(p ScenarioPlan) string {
	var parts []string
	if p.Executor == "arrival-rate" {
		parts = append(parts, fmt.Sprintf("open loop (%s, max in flight %d, late after %s)", p.Pacer, p.MaxInFlight, p.LateAfter))
	} else {
		parts = append(parts, fmt.Sprintf("closed loop (concurrency %d)", p.Concurrency))
	}
	if p.Duration != "" {
		parts = append(parts, "for "+p.Duration)
	}
	if p.Iterations > 0 {
		parts = append(parts, fmt.Sprintf("%d iterations", p.Iterations))
	}
	keys := make([]string, 0, len(p.Options))
	for k := range p.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+p.Options[k])
	}
	return strings.Join(parts, "; ") + "\n\n"
}

// Summary is the one-screen summary printed at the end of a run.
func Summary(rep *Report, dir string) string {
	var b strings.Builder
	for _, s := range rep.Scenarios {
		c := s.LatencyMS.Corrected
		fmt.Fprintf(&b, "%-12s started %d  completed %d  failed %d  lost %d  late %d  dropped %d\n", s.Label(),
			s.Started, s.Completed, s.Failed, s.Lost, s.LateStarts, s.DroppedStarts)
		fmt.Fprintf(&b, "%-12s throughput %.1f/s  corrected p50 %.1f ms  p99 %.1f ms  p99.9 %.1f ms  max %.1f ms (uncorrected p99 %.1f ms)\n",
			"", s.ThroughputPerS, c.P50, c.P99, c.P999, c.Max, s.LatencyMS.Uncorrected.P99)
		for _, inv := range s.Invariants {
			mark := "ok  "
			if inv.Fails() {
				mark = "FAIL"
			} else if !inv.OK {
				mark = "WARN"
			}
			fmt.Fprintf(&b, "%-12s %s %s: %s\n", "", mark, inv.Name, inv.Detail)
		}
		for _, t := range s.Thresholds {
			mark := "ok  "
			if !t.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(&b, "%-12s %s threshold %s: measured %s %s\n", "", mark, t.Expr, t.Measured, t.Detail)
		}
	}
	for _, f := range rep.Faults {
		recovered := f.Recovery
		if f.RecoveredAfterS != nil {
			recovered = fmt.Sprintf("backlog cleared %.1f s after the heal", *f.RecoveredAfterS)
		}
		if f.Skipped != "" || f.Error != "" {
			recovered = strings.TrimPrefix(f.Skipped+" "+f.Error, " ")
		}
		_, p99, hmax := heldCells(f)
		fmt.Fprintf(&b, "fault %s: started %d  completed %d  failed %d  lost %d  held %d (p99 %s ms, max %s ms); %s\n",
			f.Spec, f.Started, f.Completed, f.Failed, f.Lost, f.Held, p99, hmax, recovered)
	}
	if rep.Run.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", rep.Run.Error)
	}
	b.WriteString(capacitySummary(rep.Capacity))
	fmt.Fprintf(&b, "cpu: driver %.1f s%s, server+workers %.1f s\n", rep.Run.DriverCPUSeconds, per1k(rep.Run), rep.Run.ChildrenCPUSeconds)
	fmt.Fprintf(&b, "verdict: %s\nreport: %s/%s\nplots:  %s/%s\n", rep.Verdict, dir, FileMarkdown, dir, FileHTML)
	return b.String()
}

func indentJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("15:04:05.000")
}

// per1k is the driver's CPU per 1,000 workflows, for the CPU line.
func per1k(r RunInfo) string {
	if r.DriverCPUPer1k == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.3f s per 1,000 workflows)", r.DriverCPUPer1k)
}

// heldCells shows the work a fault window held: its count and corrected
// p99 and max, "-" when nothing was held (or in a run recorded before held
// work was measured, the max over completions inside the window).
func heldCells(f FaultWindow) (held, p99, maxMS string) {
	switch {
	case f.Held > 0:
		held = fmt.Sprint(f.Held)
		if f.HeldFailed > 0 {
			held += fmt.Sprintf(" (%d failed)", f.HeldFailed)
		}
		if f.Held == f.HeldFailed {
			return held, "-", "-"
		}
		return held, fmt.Sprintf("%.0f", f.HeldP99MS), fmt.Sprintf("%.0f", f.HeldMaxMS)
	case f.Completed > 0 && f.MaxCorrectedMS > 0:
		return "-", "-", fmt.Sprintf("%.0f (in window)", f.MaxCorrectedMS)
	}
	return "0", "-", "-"
}

// sweepMarkdown shows a continue-as-new sweep's rungs as a table (its
// every field stays in report.json); "" when the detail does not read as one.
func sweepMarkdown(raw []byte) string {
	var rungs []struct {
		Target   int     `json:"target_events"`
		Events   int     `json:"events"`
		Bytes    int64   `json:"bytes"`
		FetchMS  float64 `json:"fetch_ms"`
		ReplayMS struct {
			Median float64 `json:"median"`
			Max    float64 `json:"max"`
		} `json:"replay_ms"`
		TaskMS struct {
			Count int     `json:"count"`
			P50   float64 `json:"p50"`
			P99   float64 `json:"p99"`
		} `json:"task_ms"`
		ReplayErrors int  `json:"replay_errors"`
		Suggested    bool `json:"suggested"`
		UnderBudget  bool `json:"p99_under_budget"`
	}
	if json.Unmarshal(raw, &rungs) != nil || len(rungs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("**sweep**: each history length, built then replayed cold and probed without sticky cache\n\n")
	b.WriteString("| events | bytes | fetch ms | cold replay ms (median / max) | workflow task p50 / p99 ms (n) | replay errors | server suggested CAN | p99 within budget |\n")
	b.WriteString("|---:|---:|---:|---|---|---:|---|---|\n")
	for _, r := range rungs {
		fmt.Fprintf(&b, "| %d | %s | %.1f | %.1f / %.1f | %.1f / %.1f (%d) | %d | %s | %s |\n", r.Events, mibOf(r.Bytes), r.FetchMS,
			r.ReplayMS.Median, r.ReplayMS.Max, r.TaskMS.P50, r.TaskMS.P99, r.TaskMS.Count, r.ReplayErrors, yesNo(r.Suggested), yesNo(r.UnderBudget))
	}
	return b.String()
}
