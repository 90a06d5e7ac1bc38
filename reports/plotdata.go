package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/squallbench/squall/reports/plots"
)

// TimelineOf is scenario s's time series with the fault windows of rep
// that ran during it, as the over-time plots take it. label names the run
// when several are overlaid (the comparison's "base" and "current").
func TimelineOf(rep *Report, s *Scenario, label string) plots.Timeline {
	t := plots.Timeline{Label: label, Intervals: make([]plots.Interval, len(s.Intervals))}
	prev := 0.0
	for i, iv := range s.Intervals {
		t.Intervals[i] = plots.Interval{
			EndS: iv.OffsetS, DurationS: iv.OffsetS - prev, Started: iv.Started, Completed: iv.Completed, Failed: iv.Failed,
			Late: iv.Late, Dropped: iv.Dropped, InFlight: iv.InFlight,
			P50MS: iv.P50MS, P99MS: iv.P99MS, MaxMS: iv.MaxMS, UncorrectedP99MS: iv.UncorrectedP99MS,
		}
		prev = iv.OffsetS
	}
	for _, w := range rep.Faults {
		if w.Scenario == s.Name && !w.InjectedAt.IsZero() {
			t.Faults = append(t.Faults, plots.Window{Kind: w.Kind, FromS: w.FromS, ToS: w.ToS})
		}
	}
	return t
}

// SpectrumOf is scenario s's percentile spectrum as SpectrumSVG takes it.
func SpectrumOf(s *Scenario, label string) plots.Spectrum {
	sp := plots.Spectrum{Label: label}
	if s.SpectrumMS == nil {
		return sp
	}
	conv := func(in []PercentilePoint) []plots.Percentile {
		out := make([]plots.Percentile, len(in))
		for i, p := range in {
			out[i] = plots.Percentile{P: p.P, MS: p.MS}
		}
		return out
	}
	sp.Corrected, sp.Uncorrected = conv(s.SpectrumMS.Corrected), conv(s.SpectrumMS.Uncorrected)
	return sp
}

// Figure is one plot of the HTML page.
type Figure struct {
	ID    string // stable, for links and tests
	Title string
	SVG   []byte
	Error string // the plot could not be drawn (the page says so)
	// File, when set, names the file in the run directory that holds this
	// plot on its own as well (can-sweep.svg).
	File string
}

// figureFunc draws one plot from a scenario; plots.ErrNoData means the
// scenario has nothing for it.
type figureFunc struct {
	id, title string
	draw      func(rep *Report, s *Scenario) ([]byte, error)
}

// figureFiles: the figures also written on their own into the run
// directory, by figure id.
var figureFiles = map[string]string{"can-sweep": FileCanSweepPlot}

// scenarioFigures are every plot a scenario may have, in page order.
var scenarioFigures = []figureFunc{
	{"latency", "Latency over time", func(rep *Report, s *Scenario) ([]byte, error) {
		return plots.LatencyOverTimeSVG(TimelineOf(rep, s, ""))
	}},
	{"throughput", "Throughput and in flight", func(rep *Report, s *Scenario) ([]byte, error) {
		return plots.ThroughputSVG(TimelineOf(rep, s, ""))
	}},
	{"starts", "Late and dropped starts", func(rep *Report, s *Scenario) ([]byte, error) {
		return plots.StartProblemsSVG(TimelineOf(rep, s, ""))
	}},
	{"spectrum", "Percentile spectrum", func(_ *Report, s *Scenario) ([]byte, error) {
		return plots.SpectrumSVG(SpectrumOf(s, ""))
	}},
	{"history", "History per workflow type", historyFigure},
	{"can-sweep", "Continue-as-new sweep", canSweepFigure},
	{"rate-limit", "Calls per window against the limit", rateLimitFigure},
	{"entity-runs", "Runs per entity", entityRunsFigure},
}

// Figures draws every plot scenario s has data for.
func Figures(rep *Report, s *Scenario) []Figure {
	var out []Figure
	for _, f := range scenarioFigures {
		svg, err := f.draw(rep, s)
		if errors.Is(err, plots.ErrNoData) {
			continue
		}
		fig := Figure{ID: s.Name + "-" + f.id, Title: f.title, SVG: svg, File: figureFiles[f.id]}
		if err != nil {
			fig.Error = err.Error()
		}
		out = append(out, fig)
	}
	return out
}

// detail decodes s.Details[key] into v; false when it is absent.
func detail(s *Scenario, key string, v any) (bool, error) {
	raw, ok := s.Details[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("details %q: %w", key, err)
	}
	return true, nil
}

func noData(what string) error { return fmt.Errorf("%w: %s", plots.ErrNoData, what) }

// historyFigure: scenarios that describe their workflows emit "history",
// a distribution per workflow type.
func historyFigure(_ *Report, s *Scenario) ([]byte, error) {
	var byType map[string]struct {
		MaxLength  float64 `json:"max_length"`
		MeanLength float64 `json:"mean_length"`
		MaxBytes   float64 `json:"max_bytes"`
		MeanBytes  float64 `json:"mean_bytes"`
	}
	if ok, err := detail(s, "history", &byType); err != nil {
		return nil, err
	} else if !ok {
		return nil, noData("no history details")
	}
	var types []plots.TypeHistory
	for name, h := range byType {
		if h.MaxLength == 0 && h.MaxBytes == 0 {
			continue
		}
		types = append(types, plots.TypeHistory{Type: shortType(name), MeanLength: h.MeanLength, MaxLength: h.MaxLength,
			MeanBytes: h.MeanBytes, MaxBytes: h.MaxBytes})
	}
	sort.Slice(types, func(i, j int) bool { return types[i].Type < types[j].Type })
	return plots.HistorySVG(types)
}

// shortType drops the "squall." prefix every built-in workflow type has:
// axis labels are narrow.
func shortType(name string) string { return strings.TrimPrefix(name, "squall.") }

// canSweepFigure: can-sweep emits its table ("sweep") and its answer
// ("recommendation").
func canSweepFigure(_ *Report, s *Scenario) ([]byte, error) {
	var rows []struct {
		Events int64   `json:"events"`
		Bytes  int64   `json:"bytes"`
		Fetch  float64 `json:"fetch_ms"`
		Replay struct {
			Median float64 `json:"median"`
		} `json:"replay_ms"`
		Task struct {
			Count int     `json:"count"`
			P50   float64 `json:"p50"`
			P99   float64 `json:"p99"`
		} `json:"task_ms"`
		Error string `json:"error"`
	}
	if ok, err := detail(s, "sweep", &rows); err != nil {
		return nil, err
	} else if !ok {
		return nil, noData("no sweep")
	}
	var rec struct {
		BudgetMS      float64 `json:"budget_ms"`
		MaxEvents     float64 `json:"recommended_max_events"`
		ServerSuggest float64 `json:"server_suggest_events"`
		SeenAt        float64 `json:"suggestion_seen_at_events"`
	}
	if _, err := detail(s, "recommendation", &rec); err != nil {
		return nil, err
	}
	var pts []plots.SweepPoint
	for _, r := range rows {
		if r.Error != "" || r.Events == 0 || r.Task.Count == 0 {
			continue
		}
		pts = append(pts, plots.SweepPoint{Events: float64(r.Events), TaskP50MS: r.Task.P50, TaskP99MS: r.Task.P99,
			ReplayMS: r.Replay.Median, FetchMS: r.Fetch, HistoryBytes: float64(r.Bytes)})
	}
	// Where this sweep saw the suggestion (the server's limit may not be
	// its default), else the default.
	suggest := rec.SeenAt
	if suggest == 0 {
		suggest = rec.ServerSuggest
	}
	return plots.CanSweepSVG(pts, rec.BudgetMS, rec.MaxEvents, suggest)
}

// rateLimitFigure: throttled-api emits per strategy the API's requests
// counted in fixed windows of the limit's length.
func rateLimitFigure(_ *Report, s *Scenario) ([]byte, error) {
	var lanes []struct {
		Limiter   string `json:"limiter"`
		Limit     int    `json:"limit"`
		Window    string `json:"window"`
		PerWindow []int  `json:"per_window"`
	}
	if ok, err := detail(s, "strategies", &lanes); err != nil {
		return nil, err
	} else if !ok {
		return nil, noData("no strategies")
	}
	var in []plots.Lane
	limit, window := 0, ""
	for _, l := range lanes {
		d, err := time.ParseDuration(l.Window)
		if err != nil {
			return nil, fmt.Errorf("details \"strategies\": window %q of %s: %w", l.Window, l.Limiter, err)
		}
		in = append(in, plots.Lane{Name: l.Limiter, WindowS: d.Seconds(), Counts: l.PerWindow})
		limit, window = l.Limit, l.Window
	}
	return plots.RateLimitSVG(in, limit, window)
}

// entityRunsFigure: entity emits how many runs each entity's chain had.
func entityRunsFigure(_ *Report, s *Scenario) ([]byte, error) {
	var runs struct {
		ByEntity map[string]int `json:"by_entity"`
	}
	if ok, err := detail(s, "runs_per_entity", &runs); err != nil {
		return nil, err
	} else if !ok {
		return nil, noData("no runs per entity")
	}
	return plots.RunsPerEntitySVG(runs.ByEntity)
}
