package entity

import (
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

// updateRun runs a small entity load with transactions as message kind
// msg: 4 entities, 240 transactions (60 each, events:20: at least two
// continue-as-new per entity), every 10th preceded by a malformed twin.
func updateRun(t *testing.T, msg string) reports.Scenario {
	t.Helper()
	res := squalltest.Run(t, 3*time.Minute, "--scenario", "entity",
		"--option", "entities=4", "--option", "can=events:20", "--option", "message="+msg,
		"--rate", "80/s", "--iterations", "240", "--workflow-pollers", "4")
	if res.Exit != 0 {
		errs := []string{}
		if res.Report != nil {
			errs = squalltest.Scenario(t, res.Report, Name).Errors
		}
		t.Fatalf("exit %d, want 0; errors %q", res.Exit, errs)
	}
	s := squalltest.Scenario(t, res.Report, Name)
	for _, name := range []string{"no-lost-workflows", "expected-end-state", "signals-recorded-exactly-once",
		"signals-processed-exactly-once", "balance-matches-signals", "runs-match-strategy", "signals-drained-on-receiving-run",
		"handlers-finished-before-continue-as-new", "updates-answered-exactly-once", "update-answers-consistent",
		"rejected-updates-never-in-history", "no-failed-iterations"} {
		invariant(t, s, name)
	}
	var upd map[string]int64
	detail(t, s, "updates", &upd)
	if upd["answered"] != 240 || upd["completed_in_history"] != 240 || upd["malformed_sent"] != 24 || upd["malformed_rejected"] != 24 {
		t.Errorf("updates %v: want 240 answered and completed, 24 malformed rejected", upd)
	}
	var runs struct{ Min int }
	detail(t, s, "runs_per_entity", &runs)
	if runs.Min < 3 {
		t.Errorf("runs per entity %+v: want every entity across continue-as-new more than once", runs)
	}
	var can struct {
		ByTrigger map[string]int `json:"by_trigger"`
	}
	detail(t, s, "continue_as_new", &can)
	if can.ByTrigger[ReasonEvents] < 8 {
		t.Errorf("continue-as-new by trigger %v", can.ByTrigger)
	}
	if _, ok := s.HistogramsMS["update-completed"]; !ok {
		t.Errorf("no update-completed histogram (have %v)", keys(s.HistogramsMS))
	}
	return s
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestE2EUpdates: transactions as updates to prestarted entities.
func TestE2EUpdates(t *testing.T) {
	squalltest.SkipIfShort(t)
	updateRun(t, MsgUpdate)
}

// TestE2EUpdateWithStart: the first update of each entity creates it.
func TestE2EUpdateWithStart(t *testing.T) {
	squalltest.SkipIfShort(t)
	s := updateRun(t, MsgUpdateWithStart)
	if v := s.Verification; v == nil || v.Journaled != 4 {
		t.Errorf("verification %+v: want the 4 entities journaled once each", s.Verification)
	}
}
