package compare

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Formats of the output (html: a page with plots, see HTML).
var Formats = []string{"table", "md", "json", "html"}

// Render writes res in one of Formats.
func Render(res *Result, format string) (string, error) {
	switch format {
	case "", "table":
		return Table(res), nil
	case "md":
		return Markdown(res), nil
	case "json":
		b, err := json.MarshalIndent(res, "", "  ")
		return string(b) + "\n", err
	}
	return "", fmt.Errorf("--format %q: want one of %s", format, strings.Join(Formats, ", "))
}

func header(res *Result) []string {
	method := fmt.Sprintf("Mann–Whitney U on per-run values, %d base vs %d current runs", res.BaseRuns, res.CurrentRuns)
	if res.Method == MethodBootstrap {
		method = "moving-block bootstrap on per-interval values of one run a side"
	}
	out := []string{
		fmt.Sprintf("base %s, current %s", res.Base, res.Current),
		fmt.Sprintf("method: %s, alpha %.2f", method, res.Alpha),
	}
	if res.Caveat != "" {
		out = append(out, "note: "+res.Caveat)
	}
	for _, d := range res.Differences {
		out = append(out, "allowed difference: "+d)
	}
	for _, n := range res.Notes {
		out = append(out, "note: "+n)
	}
	return out
}

func footer(res *Result) string {
	if res.Regressions == 0 {
		return "gate: pass (no metric regressed significantly beyond its tolerance)"
	}
	return fmt.Sprintf("gate: FAIL (%d metric(s) regressed significantly beyond tolerance)", res.Regressions)
}

// answer is what a comparison opens with: each metric that regressed,
// with its change, or that nothing did.
func answer(res *Result) []string {
	var out []string
	for _, r := range res.Rows {
		if r.Verdict == Regression {
			out = append(out, fmt.Sprintf("regressed: %s %s %s → %s (%s, tolerance %g%%)", r.Scenario, r.Metric,
				value(r.Base, r.Unit), value(r.Current, r.Unit), changeText(r), r.Tolerance))
		}
	}
	if len(out) > 0 {
		return out
	}
	improved, few := 0, 0
	for _, r := range res.Rows {
		switch r.Verdict {
		case Improvement:
			improved++
		case TooFew:
			few++
		}
	}
	line := fmt.Sprintf("no regression: %d metric(s) compared", len(res.Rows))
	if improved > 0 {
		line += fmt.Sprintf(", %d improved", improved)
	}
	if few > 0 {
		line += fmt.Sprintf(", %d with too few data to judge", few)
	}
	return []string{line}
}

// Table is the terminal rendering.
func Table(res *Result) string {
	var b strings.Builder
	for _, a := range answer(res) {
		b.WriteString(a + "\n")
	}
	b.WriteString("\n")
	for _, h := range header(res) {
		b.WriteString(h + "\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tmetric\tbase\tcurrent\tchange\tp / CI\tverdict\tnote")
	for _, r := range res.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Metric, value(r.Base, r.Unit), value(r.Current, r.Unit),
			changeText(r), stat(r), verdictText(r), r.Note)
	}
	tw.Flush()
	b.WriteString("\n" + footer(res) + "\n")
	return b.String()
}

// Markdown is the CI job summary rendering.
func Markdown(res *Result) string {
	var b strings.Builder
	mark := "✅"
	if res.Regressions > 0 {
		mark = "❌"
	}
	fmt.Fprintf(&b, "# squall compare: %s %s\n\n", mark, footer(res))
	for _, a := range answer(res) {
		fmt.Fprintf(&b, "- **%s**\n", a)
	}
	b.WriteString("\n")
	for _, h := range header(res) {
		fmt.Fprintf(&b, "- %s\n", h)
	}
	b.WriteString("\n| scenario | metric | base | current | change | p / CI | verdict | note |\n|---|---|---:|---:|---:|---|---|---|\n")
	for _, r := range res.Rows {
		v := verdictText(r)
		switch r.Verdict {
		case Regression:
			v = "❌ " + v
		case Improvement:
			v = "🟢 " + v
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Scenario, r.Metric, value(r.Base, r.Unit), value(r.Current, r.Unit),
			changeText(r), stat(r), v, strings.ReplaceAll(r.Note, "|", "\\|"))
	}
	return b.String()
}

func value(v float64, unit string) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if v == float64(int64(v)) && unit != "ms" {
		s = strconv.FormatInt(int64(v), 10)
	}
	if unit == "cpu-s" {
		s = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return s + unitSuffix(unit)
}

func unitSuffix(u string) string {
	switch u {
	case "", "/s":
		return u
	}
	return " " + u
}

func changeText(r Row) string {
	if r.ChangePct == nil {
		return "+∞"
	}
	return fmt.Sprintf("%+.1f%%", *r.ChangePct)
}

func stat(r Row) string {
	var parts []string
	if r.P != nil {
		parts = append(parts, fmt.Sprintf("p=%.3f", *r.P))
	}
	if r.PAdj != nil && *r.PAdj != *r.P {
		parts = append(parts, fmt.Sprintf("(Holm %.3f)", *r.PAdj))
	}
	if r.CILowPct != nil {
		parts = append(parts, fmt.Sprintf("CI [%+.1f%%, %+.1f%%]", *r.CILowPct, *r.CIHighPct))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func verdictText(r Row) string {
	if r.Verdict == Regression && r.Method != MethodAnyIncrease {
		return fmt.Sprintf("%s (> %.0f%%)", r.Verdict, r.Tolerance)
	}
	return r.Verdict
}
