package reports

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"sort"
	"strings"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/metrics"
)

//go:embed report.html.tmpl
var htmlTemplate string

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f1":            func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f0":            func(v float64) string { return fmt.Sprintf("%.0f", v) },
	"capHeadline":   capacity.Outcome.Headline,
	"capDrifted":    capacityDrifted,
	"capRate":       rateCell,
	"capBand":       bandCell,
	"capDrift":      driftCell,
	"capUsed":       usedCell,
	"capBracket":    bracketCell,
	"capSat":        saturationCell,
	"capPhase":      phaseCell,
	"capVerdict":    verdictCell,
	"capFit":        fitCell,
	"capCanary":     canaryLine,
	"capAnswer":     answerLine,
	"capAtRate":     atRateLine,
	"capUnmeasured": unmeasuredLine,
	"capLatency":    latencyName,
	"showRate":      bench.ShowRate,
	"pct":           func(v float64) string { return fmt.Sprintf("%.1f%%", v*100) },
	"clock":         clock,
	"thousands":     func(n int) string { return thousands(int64(n)) },
	"msNumber":      msNumber,
	"yesNo":         yesNo,
	"topologyRows":  topologyRows,
	"evidence":      evidenceOf,
	"recSummary":    recommendationSummary,
	"ivMS":          intervalMS,
	"throughput":    func(s *Scenario) string { return strings.TrimSpace(throughputLine(*s)) },
	"join":          strings.Join,
	"plan":          func(p ScenarioPlan) string { return strings.TrimSpace(planLine(p)) },
	"dur": func(rep *Report) string {
		return rep.Run.EndTime.Sub(rep.Run.StartTime).Round(1e9).String()
	},
	"json":   func(v any) string { b, _ := json.Marshal(v); return string(b) },
	"indent": func(raw json.RawMessage) string { return indentJSON(raw) },
	"held": func(f FaultWindow) []string {
		h, p, m := heldCells(f)
		return []string{h, p, m}
	},
	"recovered": func(f FaultWindow) string {
		if f.RecoveredAfterS != nil {
			return fmt.Sprintf("%.0f", *f.RecoveredAfterS)
		}
		return "-"
	},
	"note": func(f FaultWindow) string {
		note := f.Error
		if f.Skipped != "" {
			note = "skipped: " + f.Skipped
		}
		if f.RecoveredAfterS == nil && f.Recovery != "" {
			note = strings.TrimPrefix(note+"; "+f.Recovery, "; ")
		}
		return note
	},
	// svg marks a plot drawn by package plots as safe to inline: it is
	// generated here and vgsvg escapes every text it draws.
	"svg": func(b []byte) template.HTML { return template.HTML(b) },
}).Parse(htmlTemplate))

// page is what the template renders.
type page struct {
	*Report
	Answer Answer
	// Signals: the server signals as report.md lays them out.
	Signals  *metrics.SignalView
	Sections []section
	// CapacityFigures: the capacity curves (squall capacity runs only).
	CapacityFigures []Figure
}

type section struct {
	*Scenario
	Histograms []namedQuantiles
	DetailKeys []string
	Figures    []Figure
}

type namedQuantiles struct {
	Name string
	Q    Quantiles
}

// HTML renders rep as one self-contained page: the tables of report.md
// and the plots, inline SVG, with no script and nothing fetched.
func HTML(rep *Report) ([]byte, error) {
	pg := page{Report: rep, Answer: AnswerOf(rep), Signals: rep.ServerSignals.View(squallP99(rep)), CapacityFigures: capacityFigures(rep.Capacity)}
	for i := range rep.Scenarios {
		s := &rep.Scenarios[i]
		sec := section{Scenario: s, Figures: Figures(rep, s)}
		sec.Histograms = append(sec.Histograms,
			namedQuantiles{"corrected (from intended start)", s.LatencyMS.Corrected},
			namedQuantiles{"uncorrected (from actual start)", s.LatencyMS.Uncorrected})
		if s.LatenessMS.Count > 0 {
			sec.Histograms = append(sec.Histograms, namedQuantiles{"start lateness (late starts)", s.LatenessMS})
		}
		names := make([]string, 0, len(s.HistogramsMS))
		for n := range s.HistogramsMS {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			sec.Histograms = append(sec.Histograms, namedQuantiles{n, s.HistogramsMS[n]})
		}
		for k := range s.Details {
			sec.DetailKeys = append(sec.DetailKeys, k)
		}
		sort.Strings(sec.DetailKeys)
		pg.Sections = append(pg.Sections, sec)
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, pg); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
