package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/capacity"
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
	r := rep.Run
	w("| run | |\n|---|---|\n")
	w("| squall | %s (commit %s) |\n", r.SquallVersion, r.Commit)
	w("| cluster | %s %s, Temporal server %s, namespace %s |\n", r.Cluster, r.Address, r.ServerVersion, r.Namespace)
	tuning, _ := json.Marshal(r.WorkerTuning)
	w("| workers | %d, tuning `%s` (0: SDK default) |\n", r.Workers, tuning)
	w("| machine | %d cores, %s, %s |\n", r.Cores, r.OS, r.GoVersion)
	w("| time | %s → %s (%s) |\n", r.StartTime.Format("2006-01-02 15:04:05Z07:00"), r.EndTime.Format("15:04:05"), r.EndTime.Sub(r.StartTime).Round(1e9))
	w("| flags | `%s` |\n", strings.Join(r.Flags, " "))
	w("| CPU | driver %.1f s, server and workers %.1f s |\n", r.DriverCPUSeconds, r.ChildrenCPUSeconds)
	if r.Interrupted {
		w("| interrupted | yes: the load was stopped early; results cover what ran |\n")
	}
	if r.Error != "" {
		w("| error | %s |\n", r.Error)
	}
	w("\n")
	if rep.Capacity != nil {
		w("%s", capacityMarkdown(rep.Capacity))
	}
	if len(rep.Faults) > 0 {
		w("## Fault windows\n\n")
		w("| fault | injected | healed | started | completed | failed | late | dropped | lost | max corrected ms | recovered after s | note |\n")
		w("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
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
			w("| `%s` | %s | %s | %d | %d | %d | %d | %d | %d | %.0f | %s | %s |\n", f.Spec, clock(f.InjectedAt), clock(f.HealedAt),
				f.Started, f.Completed, f.Failed, f.Late, f.Dropped, f.Lost, f.MaxCorrectedMS, recovered, note)
		}
		w("\n")
	}
	for _, s := range rep.Scenarios {
		w("## %s\n\n", s.Label())
		w("%s", planLine(s.ScenarioPlan))
		w("| started | completed | failed | lost | abandoned | throughput/s | late starts | dropped starts |\n")
		w("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		w("| %d | %d | %d | %d | %d | %.1f | %d | %d |\n\n", s.Started, s.Completed, s.Failed, s.Lost, s.Abandoned,
			s.ThroughputPerS, s.LateStarts, s.DroppedStarts)
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
		w("| invariant | ok | detail |\n|---|---|---|\n")
		for _, inv := range s.Invariants {
			ok := "✅"
			if !inv.OK {
				ok = "❌"
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
			w("\n**%s**\n\n```json\n%s\n```\n", k, indentJSON(s.Details[k]))
		}
		if len(s.Errors) > 0 {
			w("\nFirst errors:\n\n")
			for _, e := range s.Errors {
				w("- `%s`\n", e)
			}
		}
		if len(s.Intervals) > 0 {
			w("\n<details><summary>Per-interval time series (%d rows)</summary>\n\n", len(s.Intervals))
			w("| t (s) | started | completed | failed | late | dropped | in flight | p50 ms | p99 ms | max ms | fault |\n")
			w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
			for _, iv := range s.Intervals {
				w("| %.0f | %d | %d | %d | %d | %d | %d | %.1f | %.1f | %.1f | %s |\n", iv.OffsetS, iv.Started, iv.Completed,
					iv.Failed, iv.Late, iv.Dropped, iv.InFlight, iv.P50MS, iv.P99MS, iv.MaxMS, strings.Join(iv.Faults, ", "))
			}
			w("\n</details>\n")
		}
		w("\n")
	}
	w("%s", rep.ServerSignals.Markdown(squallP99(rep)))
	return b.String()
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
			if !inv.OK {
				mark = "FAIL"
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
		fmt.Fprintf(&b, "fault %s: started %d  completed %d  failed %d  lost %d  max corrected %.0f ms; %s\n",
			f.Spec, f.Started, f.Completed, f.Failed, f.Lost, f.MaxCorrectedMS, recovered)
	}
	if rep.Run.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", rep.Run.Error)
	}
	fmt.Fprintf(&b, "cpu: driver %.1f s, server+workers %.1f s\n", rep.Run.DriverCPUSeconds, rep.Run.ChildrenCPUSeconds)
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

// votes renders a rate's vote as " (2 of 3 probes)", or nothing for a
// single probe or a run recorded before votes.
func votes(s capacity.Outcome, rate float64) string {
	d, ok := s.DecisionAt(rate)
	if !ok || d.Probes < 2 {
		return ""
	}
	return fmt.Sprintf(" (%s probes)", d.Votes())
}

// capacityMarkdown renders a capacity search: the answer per worker count,
// what saturated first, then every probe.
func capacityMarkdown(c *capacity.Report) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("## Capacity (SLO %s, probes of %s judged after %s)\n\n", c.SLO, c.Probe, c.Settle)
	w("| workers | max sustainable | bracket | first to saturate |\n|---:|---:|---|---|\n")
	for _, s := range c.Searches {
		rate, bracket := "none", fmt.Sprintf("start rate %s failed", bench.ShowRate(s.FirstFail))
		if s.Found {
			rate = bench.ShowRate(s.Rate)
			bracket = bench.ShowRate(s.LastPass) + " passed" + votes(s, s.LastPass)
			if s.FirstFail > 0 {
				bracket += ", " + bench.ShowRate(s.FirstFail) + " failed" + votes(s, s.FirstFail)
			} else {
				bracket += " (the maximum probed)"
			}
		}
		sat := "-"
		if len(s.Findings) > 0 {
			sat = s.Findings[0].Evidence
		}
		if s.Error != "" {
			sat = "error: " + s.Error
		}
		w("| %d | %s | %s | %s |\n", s.Workers, rate, bracket, sat)
	}
	for _, s := range c.Searches {
		w("\n### Probes with %d worker(s)\n\n", s.Workers)
		w("| probe | offered/s | done/s | p50 ms | p99 ms | late | in-flight growth | verdict |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, p := range s.Probes {
			v := "pass"
			if !p.Pass {
				v = "fail: " + p.Why
			}
			w("| %s | %s | %s | %.0f | %.0f | %.1f%% | %.0f | %s |\n", p.Entry, strings.TrimSuffix(bench.ShowRate(p.Rate), "/s"), strings.TrimSuffix(bench.ShowRate(p.Throughput), "/s"), p.P50MS, p.P99MS, p.LateFrac*100, p.InFlightGrowth, v)
		}
		if len(s.Findings) > 0 {
			w("\nSaturation, in the order seen:\n\n")
			for _, f := range s.Findings {
				w("- at %s, %s: %s\n", bench.ShowRate(f.AtRate), f.Resource, f.Evidence)
			}
		}
	}
	w("\n")
	return b.String()
}
