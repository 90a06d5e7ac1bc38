package reports

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"sort"
	"strings"

	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/reports/plots"
)

//go:embed report.html.tmpl
var htmlTemplate string

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f1":    func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f0":    func(v float64) string { return fmt.Sprintf("%.0f", v) },
	"votes": votes,
	"clock": clock,
	"join":  strings.Join,
	"plan":  func(p ScenarioPlan) string { return strings.TrimSpace(planLine(p)) },
	"dur": func(rep *Report) string {
		return rep.Run.EndTime.Sub(rep.Run.StartTime).Round(1e9).String()
	},
	"json":   func(v any) string { b, _ := json.Marshal(v); return string(b) },
	"indent": func(raw json.RawMessage) string { return indentJSON(raw) },
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
	pg := page{Report: rep, CapacityFigures: capacityFigures(rep.Capacity)}
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

// capacityFigures draws a capacity search's curves: p99 and throughput
// against the offered rate, one line per worker count, knees marked.
func capacityFigures(c *capacity.Report) []Figure {
	if c == nil {
		return nil
	}
	var curves []plots.CapacityCurve
	for _, s := range c.Searches {
		cv := plots.CapacityCurve{Label: fmt.Sprintf("%d worker(s)", s.Workers)}
		if s.Found {
			cv.Knee = s.Rate
		}
		for _, p := range s.Probes {
			cv.Probe = append(cv.Probe, plots.CapacityPoint{Offered: p.Rate, Throughput: p.Throughput, P99MS: p.P99MS, Pass: p.Pass})
		}
		curves = append(curves, cv)
	}
	slo, _ := capacity.ParseSLO(c.SLO)
	var out []Figure
	for _, f := range []struct {
		id, title string
		draw      func() ([]byte, error)
	}{
		{"capacity-latency", "p99 against offered rate", func() ([]byte, error) {
			return plots.CapacityLatencySVG(float64(slo.Max.Microseconds())/1000, curves...)
		}},
		{"capacity-throughput", "throughput against offered rate", func() ([]byte, error) { return plots.CapacityThroughputSVG(curves...) }},
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
