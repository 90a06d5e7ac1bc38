package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// scenarioDetails are Details in the shapes the scenarios emit them
// (can-sweep's "sweep"/"recommendation", throttled-api's "strategies",
// entity's "runs_per_entity", orders' and fanout's "history").
func scenarioDetails(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	raw := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var sweep []map[string]any
	for i, ev := range []int{1000, 2000, 5000, 10000, 20000} {
		sweep = append(sweep, map[string]any{"target_events": ev, "events": ev + 7, "bytes": ev * 310, "fetch_ms": 2 + float64(ev)/900,
			"replay_ms": map[string]float64{"min": float64(ev) / 300, "median": float64(ev) / 250, "max": float64(ev) / 200},
			"task_ms":   map[string]any{"count": 21, "p50": 12 + float64(ev)/80, "p99": 30 + float64(ev)/30 + float64(i*i*40), "max": 500}})
	}
	perWindow := func(base, wobble int) []int {
		var out []int
		for i := range 40 {
			out = append(out, base+(i*wobble)%7)
		}
		return out
	}
	byEntity := map[string]int{}
	for e := range 50 {
		byEntity[fmt.Sprint(e)] = 3 + e%3
	}
	return map[string]json.RawMessage{
		"sweep":          raw(sweep),
		"recommendation": raw(map[string]any{"budget_ms": 500, "recommended_max_events": 10007, "server_suggest_events": 4096}),
		"strategies": raw([]map[string]any{
			{"limiter": "worker", "limit": 10, "window": "2s", "per_window": perWindow(3, 3)},
			{"limiter": "workflow", "limit": 10, "window": "2s", "per_window": perWindow(2, 5)},
		}),
		"runs_per_entity": raw(map[string]any{"entities": 50, "total": 200, "min": 3, "max": 5, "by_entity": byEntity}),
		"history": raw(map[string]any{
			"squall.orders-batch.parent": map[string]any{"described": 4, "max_length": 5200, "mean_length": 4100, "max_bytes": 3 << 20, "mean_bytes": 2 << 20},
			"squall.orders-batch.slice":  map[string]any{"described": 40, "max_length": 820, "mean_length": 760, "max_bytes": 300 << 10, "mean_bytes": 250 << 10},
		}),
	}
}

func TestScenarioPlotsDrawFromTheirDetails(t *testing.T) {
	rep := buildGolden(t, goldenStream)
	s := &rep.Scenarios[0]
	s.Details = scenarioDetails(t)
	got := map[string]Figure{}
	for _, f := range Figures(rep, s) {
		got[f.ID] = f
	}
	for id, minPoints := range map[string]int{"noop-can-sweep": 5, "noop-rate-limit": 40, "noop-entity-runs": 3, "noop-history": 2} {
		f, ok := got[id]
		if !ok {
			t.Errorf("no %s plot", id)
			continue
		}
		if f.Error != "" {
			t.Errorf("%s: %s", id, f.Error)
		}
		if n, _ := maxPathPoints(f.SVG); n < minPoints {
			t.Errorf("%s: longest path has %d points, want ≥ %d", id, n, minPoints)
		}
	}
	if out := os.Getenv("SQUALL_PREVIEW_HTML"); out != "" {
		page, err := HTML(rep)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBrokenDetailsAreShownNotHidden(t *testing.T) {
	rep := buildGolden(t, goldenStream)
	s := &rep.Scenarios[0]
	s.Details = map[string]json.RawMessage{"strategies": json.RawMessage(`{"not":"a list"}`)}
	for _, f := range Figures(rep, s) {
		if f.ID == "noop-rate-limit" {
			if f.Error == "" {
				t.Errorf("a malformed strategies detail drew a plot")
			}
			return
		}
	}
	t.Errorf("a malformed strategies detail was silently skipped")
}
