package entity

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

func invariant(t *testing.T, s reports.Scenario, name string) bool {
	t.Helper()
	for _, inv := range s.Invariants {
		if inv.Name == name {
			if !inv.OK {
				t.Errorf("invariant %s failed: %s", name, inv.Detail)
			}
			return inv.OK
		}
	}
	t.Errorf("invariant %s missing (have %+v)", name, s.Invariants)
	return false
}

func detail(t *testing.T, s reports.Scenario, key string, v any) {
	t.Helper()
	raw, ok := s.Details[key]
	if !ok {
		t.Fatalf("details has no %q (have %v)", key, s.Details)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("details %s: %v", key, err)
	}
}

// TestE2ESuggestedStrategy runs the entity scenario against the embedded
// server with the suggestion threshold lowered to 150 events: every entity
// must continue as new several times at the server's suggestion, and no
// signal may be lost or duplicated across those boundaries. The entities are
// not prestarted: the first signal-with-start of each creates it.
func TestE2ESuggestedStrategy(t *testing.T) {
	squalltest.SkipIfShort(t)
	res := squalltest.Run(t, 4*time.Minute, "--scenario", "entity",
		"--option", "entities=4", "--option", "can=suggested", "--option", "prestart=false",
		"--rate", "100/s", "--iterations", "1200", "--workflow-pollers", "4",
		"--dynamic-config", "limit.historyCount.suggestContinueAsNew=150")
	if res.Exit != 0 {
		errs := []string{}
		if res.Report != nil {
			errs = squalltest.Scenario(t, res.Report, Name).Errors
		}
		t.Fatalf("exit %d, want 0; errors %q", res.Exit, errs)
	}
	s := squalltest.Scenario(t, res.Report, Name)
	for _, name := range []string{"no-lost-workflows", "expected-end-state", "signals-recorded-exactly-once",
		"signals-processed-exactly-once", "balance-matches-signals", "runs-match-strategy", "runs-within-server-limits",
		"no-failed-iterations"} {
		invariant(t, s, name)
	}
	var signals map[string]int64
	detail(t, s, "signals", &signals)
	if signals["acknowledged"] != 1200 || signals["uncertain"] != 0 {
		t.Errorf("signals %v", signals)
	}
	var runs struct {
		Min, Max, Total int
	}
	detail(t, s, "runs_per_entity", &runs)
	// 300 signals per entity write more than 300 events per entity: at 150
	// events per run that is at least one continue-as-new each (two unless
	// the worker batched almost every signal with others).
	if runs.Min < 2 || runs.Total < 10 {
		t.Errorf("runs per entity %+v: the suggestion did not fire as often as it must", runs)
	}
	var can struct {
		Count int
		Runs  []canRow
	}
	detail(t, s, "continue_as_new", &can)
	if can.Count != runs.Total-4 || len(can.Runs) == 0 {
		t.Errorf("continue_as_new %+v", can)
	}
	for _, r := range can.Runs {
		if r.Why != "suggested" || r.Events < 150 {
			t.Errorf("run %+v did not continue at the suggestion", r)
		}
	}
	var lat bench.Quantiles
	detail(t, s, "signal_to_processed_ms", &lat)
	if lat.Count != 1200 || lat.P50 <= 0 {
		t.Errorf("signal-to-processed %+v", lat)
	}
}

// TestE2ENeverIsTerminatedAsExpected lowers the server's history limit to
// 500 events and sends 600 signals to each of two never-continuing
// entities: the server terminates both, and squall reports that as the
// expected outcome of the variant (verdict pass), not as a crash.
func TestE2ENeverIsTerminatedAsExpected(t *testing.T) {
	squalltest.SkipIfShort(t)
	res := squalltest.Run(t, 4*time.Minute, "--scenario", "entity",
		"--option", "entities=2", "--option", "can=never",
		"--rate", "120/s", "--iterations", "1200",
		"--dynamic-config", "limit.historyCount.error=500")
	if res.Exit != 0 {
		errs := []string{}
		if res.Report != nil {
			errs = squalltest.Scenario(t, res.Report, Name).Errors
		}
		t.Fatalf("exit %d, want 0; errors %q", res.Exit, errs)
	}
	s := squalltest.Scenario(t, res.Report, Name)
	// Every journal entry expects the termination and found it; a
	// prestarted entity is journaled once, by its start.
	if v := s.Verification; v == nil || v.Journaled != 2 || v.Expected["terminated"] != v.Journaled || v.ByStatus["terminated"] != v.Journaled {
		t.Fatalf("verification %+v", s.Verification)
	}
	for _, name := range []string{"expected-end-state", "terminated-at-history-limit", "signals-recorded-exactly-once", "no-failed-iterations"} {
		invariant(t, s, name)
	}
	var signals map[string]int64
	detail(t, s, "signals", &signals)
	if signals["rejected_entity_ended"] == 0 || signals["acknowledged"]+signals["rejected_entity_ended"]+signals["rejected_at_history_limit"]+signals["rejected_signal_limit"] != 1200 ||
		signals["uncertain"] != 0 {
		t.Errorf("signals %v: want the ones after the termination rejected, and every signal accounted for", signals)
	}
	var term map[string]any
	detail(t, s, "termination", &term)
	ev, _ := term["terminated_at_events"].(map[string]any)
	if mn, _ := ev["min"].(float64); mn < 500 {
		t.Errorf("terminated at %v events; want just over the limit of 500", ev)
	}
	if !strings.Contains(res.Stdout, "terminated-at-history-limit") {
		t.Errorf("summary does not mention the expected termination:\n%s", res.Stdout)
	}
}
