package compare

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"

	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/reports/plots"
)

// HTML renders a comparison as one self-contained page: the metrics table
// coloured by verdict, then per scenario the current run's latency over
// time and spectrum with the base run's overlaid (dashed).
func HTML(res *Result, base, current *Side) ([]byte, error) {
	pg := comparePage{Result: res, Answer: answer(res), Header: header(res), Footer: footer(res)}
	for _, name := range scenarioNames(base, current) {
		sec := compareSection{Name: name}
		b, bs := firstScenario(base, name)
		c, cs := firstScenario(current, name)
		if bs == nil || cs == nil {
			continue
		}
		for _, f := range []struct {
			id, title string
			draw      func() ([]byte, error)
		}{
			{"latency", "corrected latency over time, current (solid) and base (dashed)", func() ([]byte, error) {
				return plots.LatencyOverTimeSVG(reports.TimelineOf(c, cs, "current"), reports.TimelineOf(b, bs, "base"))
			}},
			{"spectrum", "latency spectrum, current (solid) and base (dashed)", func() ([]byte, error) {
				return plots.SpectrumSVG(reports.SpectrumOf(cs, "current"), reports.SpectrumOf(bs, "base"))
			}},
			{"throughput", "started and completed per second, current (solid) and base (dashed)", func() ([]byte, error) {
				return plots.ThroughputSVG(reports.TimelineOf(c, cs, "current"), reports.TimelineOf(b, bs, "base"))
			}},
		} {
			svg, err := f.draw()
			fig := reports.Figure{ID: name + "-" + f.id, Title: f.title, SVG: svg}
			if err != nil {
				if errors.Is(err, plots.ErrNoData) {
					continue
				}
				fig.Error = err.Error()
			}
			sec.Figures = append(sec.Figures, fig)
		}
		pg.Sections = append(pg.Sections, sec)
	}
	var buf bytes.Buffer
	if err := compareTemplate.Execute(&buf, pg); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// firstScenario is the first run of a side that has scenario name: the
// run the plots show (the table uses every run).
func firstScenario(side *Side, name string) (*reports.Report, *reports.Scenario) {
	for _, r := range side.Runs {
		for i := range r.Report.Scenarios {
			if s := &r.Report.Scenarios[i]; s.Label() == name {
				return r.Report, s
			}
		}
	}
	return nil, nil
}

type comparePage struct {
	*Result
	Header   []string
	Footer   string
	Answer   []string // what regressed, or that nothing did
	Sections []compareSection
}

type compareSection struct {
	Name    string
	Figures []reports.Figure
}

var compareTemplate = template.Must(template.New("compare").Funcs(template.FuncMap{
	"svg":    func(b []byte) template.HTML { return template.HTML(b) },
	"change": changeText,
	"stat":   stat,
	"value":  func(r Row, v float64) string { return value(v, r.Unit) },
	"class": func(v string) string {
		switch v {
		case Regression:
			return "reg"
		case Improvement:
			return "imp"
		case TooFew:
			return "few"
		}
		return ""
	},
	"gatefail": func(n int) bool { return n > 0 },
	"pct":      func(f float64) string { return fmt.Sprintf("%g%%", f) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>squall compare: {{if gatefail .Regressions}}regression{{else}}pass{{end}}</title>
<style>
body{font-family:"Liberation Sans",Arial,Helvetica,sans-serif;margin:20px;color:#222;max-width:1100px}
header{padding:10px 14px;border-radius:6px;color:#fff;background:#2a7a2a}header.fail{background:#b22}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.reg td{background:#fbd5d5}tr.imp td{background:#d8f0d8}tr.few td{color:#777}
figure{margin:10px 0}figcaption{font-weight:bold;font-size:13px}svg{max-width:100%;height:auto}.err{color:#b22}
</style></head><body>
<header{{if gatefail .Regressions}} class="fail"{{end}}><h1>squall compare: {{.Footer}}</h1></header>
<ul id="answer">{{range .Answer}}<li><b>{{.}}</b></li>{{end}}</ul>
{{range .Header}}<p>{{.}}</p>{{end}}
<h2>Metrics</h2>
<table><tr><th>scenario</th><th>metric</th><th>base</th><th>current</th><th>change</th><th>p / CI</th><th>tolerance</th><th>verdict</th><th>note</th></tr>
{{range .Rows}}<tr class="{{class .Verdict}}"><td>{{.Scenario}}</td><td>{{.Metric}}</td><td class="n">{{value . .Base}}</td><td class="n">{{value . .Current}}</td><td class="n">{{change .}}</td><td class="n">{{stat .}}</td><td class="n">{{pct .Tolerance}}</td><td>{{.Verdict}}</td><td>{{.Note}}</td></tr>
{{end}}</table>
{{range .Sections}}<h2>{{.Name}}</h2>
{{range .Figures}}<figure id="plot-{{.ID}}"><figcaption>{{.Title}}</figcaption>{{if .Error}}<p class="err">This plot could not be drawn: {{.Error}}</p>{{else}}{{svg .SVG}}{{end}}</figure>
{{end}}{{end}}
</body></html>
`))
