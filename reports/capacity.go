package reports

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/reports/plots"
)

// A capacity search's renderers: the summary lines, report.md's section
// and report.html's figures, over the recorded outcome (capacity.Report).

// capacityDrifted are the warnings for the top of a report: each search
// whose canary moved DriftFlag or more.
func capacityDrifted(c *capacity.Report) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, s := range c.Searches {
		if d := s.Drifted(); d != "" {
			if len(c.Searches) > 1 {
				d = fmt.Sprintf("%s: %s", s.Label(), d)
			}
			out = append(out, d)
		}
	}
	return out
}

// capacitySummary is the end-of-run summary's capacity lines.
func capacitySummary(c *capacity.Report) string {
	if c == nil {
		return ""
	}
	var b strings.Builder
	for _, d := range capacityDrifted(c) {
		fmt.Fprintf(&b, "WARNING %s\n", d)
	}
	for _, s := range c.Searches {
		fmt.Fprintf(&b, "capacity %s: %s\n", s.Label(), s.Headline())
		for _, r := range s.Repeats {
			fmt.Fprintf(&b, "  search %d: %s\n", r.Search, answerLine(r))
		}
		for _, a := range s.AtRates {
			fmt.Fprintf(&b, "  at %s: %s\n", bench.ShowRate(a.Rate), atRateLine(a))
		}
		if len(s.Unmeasured) > 0 {
			fmt.Fprintf(&b, "  %s\n", unmeasuredLine(s))
		}
	}
	return b.String()
}

func answerLine(a capacity.Answer) string {
	if !a.Found {
		return "none sustainable"
	}
	return fmt.Sprintf("%s (%.0f %% band %s; %d probes, %d rounds)", bench.ShowRate(a.Rate), a.Band.Confidence*100, capacity.ShowBand(a.Band), a.Probes, a.Rounds)
}

func atRateLine(a capacity.AtRate) string {
	if a.Error != "" {
		return "no answer: " + a.Error
	}
	s := fmt.Sprintf("%s %.0f ms expected (%.0f %% band %.0f–%.0f ms)", a.Quantile, a.MS, a.Confidence*100, a.Lo, a.Hi)
	if a.Note != "" {
		s += "; " + a.Note
	}
	return s
}

func unmeasuredLine(s capacity.Outcome) string {
	return "not judged, no probe measured them: " + strings.Join(s.Unmeasured, ", ")
}

// bandCell renders a search's band for a table ("-" before bands).
func bandCell(s capacity.Outcome) string {
	if s.Band == nil || !s.Found {
		return "-"
	}
	return capacity.ShowBand(*s.Band)
}

// usedCell is a count of probes, "-" for runs recorded before the fit.
func usedCell(s capacity.Outcome, n int) string {
	if s.Band == nil {
		return "-"
	}
	return fmt.Sprint(n)
}

func driftCell(s capacity.Outcome) string {
	if s.CanaryDrift == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f %%", *s.CanaryDrift*100)
}

func bracketCell(s capacity.Outcome) string {
	switch {
	case s.LastPass == 0 && s.FirstFail > 0:
		return "start rate " + bench.ShowRate(s.FirstFail) + " failed"
	case s.FirstFail == 0:
		return bench.ShowRate(s.LastPass) + " passed (the maximum probed)"
	default:
		return bench.ShowRate(s.LastPass) + " passed, " + bench.ShowRate(s.FirstFail) + " failed"
	}
}

func rateCell(s capacity.Outcome) string {
	switch {
	case !s.Found:
		return "none"
	case s.AtLeast:
		return "≥ " + bench.ShowRate(s.Rate)
	}
	return bench.ShowRate(s.Rate)
}

func saturationCell(s capacity.Outcome) string {
	sat := "-"
	if len(s.Findings) > 0 {
		sat = s.Findings[0].Evidence
	}
	if s.Error != "" {
		sat = "error: " + s.Error
	}
	return sat
}

// fitCell says whether a probe counted in the fit.
func fitCell(p capacity.Probe) string {
	if p.Excluded != "" {
		return "dropped: " + p.Excluded
	}
	return "used"
}

func verdictCell(p capacity.Probe) string {
	if p.Pass {
		return "pass"
	}
	return "fail: " + p.Why
}

// phaseCell says why the search ran a probe, and for which search when
// --repeat ran several.
func phaseCell(s capacity.Outcome, p capacity.Probe) string {
	switch {
	case p.Phase == "":
		return "-"
	case len(s.Repeats) > 0 && p.Search > 0 && p.Phase != capacity.PhaseCanary:
		return fmt.Sprintf("%s (search %d)", p.Phase, p.Search)
	}
	return p.Phase
}

// canaryLine describes the canary's run: its rate, probes, latency range.
func canaryLine(s capacity.Outcome) string {
	if s.Canary == nil {
		return ""
	}
	lo, hi := 0.0, 0.0
	for _, p := range s.Probes {
		if p.Phase == capacity.PhaseCanary && p.P50MS > 0 {
			if lo == 0 || p.P50MS < lo {
				lo = p.P50MS
			}
			hi = max(hi, p.P50MS)
		}
	}
	line := fmt.Sprintf("Canary at %s: %d probes, p50 %.0f–%.0f ms", bench.ShowRate(s.Canary.Rate), s.Canary.Probes, lo, hi)
	if s.CanaryDrift != nil {
		line += fmt.Sprintf(", drift %.0f %%", *s.CanaryDrift*100)
	}
	return line + "."
}

// capacityMarkdown renders a capacity search: the answer per worker count
// with its band, each search of a --repeat, the latency at the rates
// asked for, what saturated first, then every probe and whether the fit
// used it.
func capacityMarkdown(c *capacity.Report) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("## Capacity (SLO %s, probes of %s judged after %s", c.SLO, c.Probe, c.Settle)
	if c.Budget != "" {
		w(", budget %s", c.Budget)
	}
	w(")\n\n")
	shaped := slices.ContainsFunc(c.Searches, func(s capacity.Outcome) bool { return s.History+s.Matching+s.Shards > 0 })
	if shaped {
		w("| case | sustainable | band | probes used | dropped | canary drift | bracket | stopped | first to saturate |\n")
		w("|---|---:|---|---:|---:|---:|---|---|---|\n")
	} else {
		w("| workers | sustainable | band | probes used | dropped | canary drift | bracket | stopped | first to saturate |\n")
		w("|---:|---:|---|---:|---:|---:|---|---|---|\n")
	}
	for _, s := range c.Searches {
		first := strconv.Itoa(s.Workers)
		if shaped {
			first = s.Label()
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", first, rateCell(s), bandCell(s), usedCell(s, s.Used), usedCell(s, s.Dropped), driftCell(s),
			bracketCell(s), orDash(s.Stopped), saturationCell(s))
	}
	w("\n")
	for _, s := range c.Searches {
		w("- %s: **%s**\n", s.Label(), s.Headline())
		if len(s.Unmeasured) > 0 {
			w("  (%s)\n", unmeasuredLine(s))
		}
	}
	if n := scalingNote(c); n != "" {
		w("\n%s\n", n)
	}
	for _, s := range c.Searches {
		if len(s.Repeats) > 0 {
			w("\n### Searches with %s, side by side and pooled\n\n", s.Label())
			w("| search | sustainable | band | probes | rounds | bracket | stopped |\n|---|---:|---|---:|---:|---|---|\n")
			for _, r := range s.Repeats {
				rate, band := "none", "-"
				if r.Found {
					rate, band = bench.ShowRate(r.Rate), capacity.ShowBand(r.Band)
				}
				w("| %d | %s | %s | %d | %d | %s | %s |\n", r.Search, rate, band, r.Probes, r.Rounds,
					bracketCell(capacity.Outcome{LastPass: r.LastPass, FirstFail: r.FirstFail}), r.Stopped)
			}
			w("| pooled | %s | %s | %d | %d | | |\n", rateCell(s), bandCell(s), s.Used+s.Dropped, s.Rounds)
		}
		if len(s.AtRates) > 0 {
			w("\n### Latency expected at a rate, %s\n\n", s.Label())
			w("| offered | expected | band | note |\n|---:|---:|---|---|\n")
			for _, a := range s.AtRates {
				if a.Error != "" {
					w("| %s | - | - | no answer: %s |\n", bench.ShowRate(a.Rate), a.Error)
					continue
				}
				w("| %s | %s %.0f ms | %.0f–%.0f ms | %s |\n", bench.ShowRate(a.Rate), a.Quantile, a.MS, a.Lo, a.Hi, a.Note)
			}
		}
	}
	for _, s := range c.Searches {
		w("\n### Probes with %s, in the order run (seed %d)\n\n", s.Label(), s.Seed)
		w("| probe | phase | offered/s | done/s | p50 ms | %s ms | late | in-flight growth | verdict | fit |\n", latencyName(c))
		w("|---|---|---:|---:|---:|---:|---:|---:|---|---|\n")
		for _, p := range s.Probes {
			w("| %s | %s | %s | %s | %.0f | %.0f | %.1f%% | %.0f | %s | %s |\n", p.Entry, phaseCell(s, p), strings.TrimSuffix(bench.ShowRate(p.Rate), "/s"),
				strings.TrimSuffix(bench.ShowRate(p.Throughput), "/s"), p.P50MS, p.LatencyMS, p.LateFrac*100, p.InFlightGrowth, verdictCell(p), fitCell(p))
		}
		if l := canaryLine(s); l != "" {
			w("\n%s\n", l)
		}
		if len(s.Findings) > 0 {
			w("\nSaturation, in the order seen:\n\n")
			for _, f := range s.Findings {
				if strings.HasPrefix(f.Evidence, f.Resource) { // "configured limit RPS_LIMIT …" names itself
					w("- at %s, %s\n", bench.ShowRate(f.AtRate), f.Evidence)
				} else {
					w("- at %s, %s: %s\n", bench.ShowRate(f.AtRate), f.Resource, f.Evidence)
				}
			}
		}
	}
	w("\n")
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// latencyName is the quantile the probes' SLO latency measures.
func latencyName(c *capacity.Report) string {
	slo, err := capacity.ParseSLO(c.SLO)
	if o, ok := slo.Latency(); err == nil && ok {
		return o.Name
	}
	return "p99"
}

// capacityFigures draws a capacity search: latency and throughput against
// the offered rate (every probe where its rate puts it, the fitted curves
// with their bands, the sustainable rate with its band), the canary over
// time and the probes in the order run.
func capacityFigures(c *capacity.Report) []Figure {
	if c == nil {
		return nil
	}
	slo, _ := capacity.ParseSLO(c.SLO)
	var curves []plots.CapacityCurve
	var canaries []plots.CanarySeries
	// One clock for every search: they ran one after another.
	var t0 time.Time
	for _, s := range c.Searches {
		if t := firstStart(s.Probes); !t.IsZero() && (t0.IsZero() || t.Before(t0)) {
			t0 = t
		}
	}
	for _, s := range c.Searches {
		cv := plots.CapacityCurve{Label: s.Label()}
		if s.Found {
			cv.Knee = s.Rate
			if s.Band != nil {
				cv.KneeLo, cv.KneeHi = s.Band.Lo, s.Band.Hi
			}
		}
		cs := plots.CanarySeries{Label: cv.Label}
		if s.Canary != nil {
			cs.Rate, cs.Drift = s.Canary.Rate, s.Canary.Drift
		}
		for _, p := range s.Probes {
			pt := plots.CapacityPoint{Offered: p.Rate, Throughput: p.Throughput, LatencyMS: p.LatencyMS, Pass: p.Pass,
				Dropped: p.Excluded != "", Canary: p.Phase == capacity.PhaseCanary}
			if pt.LatencyMS == 0 {
				pt.LatencyMS = p.P99MS // recorded before the SLO's own quantile was kept
			}
			if !p.Start.IsZero() && !t0.IsZero() {
				pt.Minute = p.Start.Sub(t0).Minutes()
			}
			cv.Probe = append(cv.Probe, pt)
			if pt.Canary && p.P50MS > 0 {
				cs.Points = append(cs.Points, plots.CanaryPoint{Minute: pt.Minute, P50MS: p.P50MS, Pass: p.Pass})
			}
		}
		if s.Band != nil {
			// The curves are refitted from the recorded probes with the
			// recorded seed: the same fit the search made.
			a := capacity.Analyze(s.Probes, s.Band.Confidence, s.Seed)
			for _, cp := range a.LatencyCurve() {
				cv.Latency = append(cv.Latency, plots.CurvePoint(cp))
			}
			for _, cp := range a.ThroughputCurve() {
				cv.Throughput = append(cv.Throughput, plots.CurvePoint(cp))
			}
		}
		curves = append(curves, cv)
		canaries = append(canaries, cs)
	}
	q, sloMS := "p99", 0.0
	if o, ok := slo.Latency(); ok {
		q, sloMS = o.Name, o.Bound
	}
	var out []Figure
	for _, f := range []struct {
		id, title string
		draw      func() ([]byte, error)
	}{
		{"capacity-latency", q + " against offered rate", func() ([]byte, error) { return plots.CapacityLatencySVG(q, sloMS, curves...) }},
		{"capacity-throughput", "throughput against offered rate", func() ([]byte, error) { return plots.CapacityThroughputSVG(curves...) }},
		{"capacity-canary", "the canary over time", func() ([]byte, error) { return plots.CanarySVG(canaries...) }},
		{"capacity-order", "probes in the order run", func() ([]byte, error) { return plots.ProbeOrderSVG(curves...) }},
	} {
		svg, err := f.draw()
		fig := Figure{ID: f.id, Title: f.title, SVG: svg}
		if err != nil {
			if errors.Is(err, plots.ErrNoData) {
				continue
			}
			fig.Error = err.Error()
		}
		out = append(out, fig)
	}
	return out
}

func firstStart(ps []capacity.Probe) (t0 time.Time) {
	for _, p := range ps {
		if !p.Start.IsZero() && (t0.IsZero() || p.Start.Before(t0)) {
			t0 = p.Start
		}
	}
	return t0
}

// scalingNote says, when a case with more processes did not sustain more
// than the smallest case (within 10 %), what the cases' first findings
// blame: on one machine more history hosts add processes, not cores, and
// a flat curve there is the machine's CPU, not the history service.
func scalingNote(c *capacity.Report) string {
	if len(c.Searches) < 2 || !c.Searches[0].Found {
		return ""
	}
	base := c.Searches[0]
	size := func(s capacity.Outcome) int { return s.Workers + s.History + s.Matching }
	var flat []string
	var blame []string
	for _, s := range c.Searches[1:] {
		if !s.Found || size(s) <= size(base) || s.Rate > base.Rate*1.1 {
			continue
		}
		flat = append(flat, fmt.Sprintf("%s %s", s.Label(), bench.ShowRate(s.Rate)))
		if len(s.Findings) == 0 {
			blame = append(blame, s.Label()+": no saturation signal was read, so the limit is not attributed")
			continue
		}
		f := s.Findings[0]
		why := f.Resource + " saturated first (" + f.Evidence + ")"
		if strings.Contains(f.Resource, "machine") || strings.Contains(f.Resource, "driver") {
			why += ": the processes share one machine's cores, so more of them cannot buy throughput here; measure the service's scaling on a cluster of several machines"
		}
		blame = append(blame, s.Label()+": "+why)
	}
	if len(flat) == 0 {
		return ""
	}
	return fmt.Sprintf("**Scaling:** more processes did not raise the sustainable rate beyond 10 %% of %s's %s (%s).\n\n- %s\n",
		base.Label(), bench.ShowRate(base.Rate), strings.Join(flat, "; "), strings.Join(blame, "\n- "))
}
