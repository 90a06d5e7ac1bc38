package orders

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/scenarios/check"
)

func invariants(t *testing.T, s reports.Scenario) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	for _, i := range s.Invariants {
		m[i.Name] = i.OK
	}
	return m
}

var storeInvariants = []string{"orders-applied-exactly-once", "grand-total", "counts-match-store",
	"no-double-application", "failure-threshold-outcome", "no-lost-workflows", "expected-end-state", "no-failed-iterations",
	"every-start-journaled"}

// runOrders runs the scenario with its own defaults (one batch) and args.
func runOrders(t *testing.T, args ...string) (squalltest.Result, reports.Scenario) {
	t.Helper()
	res := squalltest.Run(t, 3*time.Minute, append([]string{"--scenario", Name}, args...)...)
	return res, squalltest.Scenario(t, res.Report, Name)
}

// Every mode at small scale (2,000 orders; per-order children: 120), with
// seeded partial failure, against the embedded server: every invariant
// holds and the report carries histories and activity latencies.
func TestE2EModes(t *testing.T) {
	squalltest.SkipIfShort(t)
	for _, c := range []struct {
		mode, orders string
		children     int64 // journaled beside the batch workflow
		types        []string
	}{
		{ModeBatched, "2000", 0, []string{WorkflowBatched}},
		{ModeMapReduce, "2000", 0, []string{WorkflowMapReduce}},
		{ModeChildren, "2000", 8, []string{WorkflowParent, WorkflowSlice}},
		{ModePerOrder, "120", 120, []string{WorkflowParent, WorkflowSlice}},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			res, s := runOrders(t, "--option", "mode="+c.mode, "--option", "orders="+c.orders,
				"--option", "children=8", "--option", "failure-rate=3%", "--option", "transient-failure-rate=5%")
			if res.Exit != 0 || res.Report.Verdict != "pass" {
				t.Fatalf("exit %d, verdict %s", res.Exit, res.Report.Verdict)
			}
			inv := invariants(t, s)
			for _, name := range storeInvariants {
				if ok, found := inv[name]; !found || !ok {
					t.Errorf("invariant %s: found %v, ok %v", name, found, ok)
				}
			}
			// The children are verified like the batch workflow: they
			// exist and completed.
			if v := s.Verification; v.Journaled != 1+c.children || v.ByStatus["completed"] != 1+c.children {
				t.Errorf("verification %+v: want the batch and its %d children journaled and completed", v, c.children)
			}
			if s.History.MaxLength == 0 || s.History.MaxBytes == 0 {
				t.Errorf("no history sizes: %+v", s.History)
			}
			var rows []check.HistoryRow
			if err := json.Unmarshal(s.Details["history"], &rows); err != nil {
				t.Fatalf("details.history: %v", err)
			}
			hist := map[string]check.HistoryRow{}
			for _, r := range rows {
				hist[r.Type] = r
			}
			for _, typ := range c.types {
				if hist[typ].Count == 0 || hist[typ].MaxLength == 0 {
					t.Errorf("no history of %s in details: %s", typ, s.Details["history"])
				}
			}
			if s.HistogramsMS["activity"].Count == 0 {
				t.Errorf("no per-activity latencies: %+v", s.HistogramsMS)
			}
			var store struct {
				Orders   int64 `json:"orders"`
				Failed   int64 `json:"failed"`
				Attempts int64 `json:"attempts"`
			}
			_ = json.Unmarshal(s.Details["store"], &store)
			if store.Failed == 0 || store.Attempts <= store.Orders {
				t.Errorf("partial failure did not happen: %s", s.Details["store"])
			}
		})
	}
}

// Above the threshold the batch fails as a whole, as predicted: the run
// passes, the workflow ended failed, its children still completed (each
// journaled with its own expectation), and the counts match the store.
func TestE2EThresholdExceeded(t *testing.T) {
	squalltest.SkipIfShort(t)
	t.Parallel()
	res, s := runOrders(t, "--option", "orders=2000", "--option", "failure-rate=20%",
		"--option", "mode=children", "--option", "children=4")
	if res.Exit != 0 {
		t.Fatalf("exit %d", res.Exit)
	}
	v := s.Verification
	if v.Expected["failed"] != 1 || v.ByStatus["failed"] != 1 || v.Expected["completed"] != 4 || v.ByStatus["completed"] != 4 {
		t.Fatalf("want the batch workflow failed and its 4 children completed: %+v", v)
	}
	inv := invariants(t, s)
	for _, name := range storeInvariants {
		if !inv[name] {
			t.Errorf("invariant %s failed", name)
		}
	}
}

// A deliberately double-applied order is reported: the run fails on
// no-double-application, naming the orders, while the effect (exactly once,
// grand total) stays intact.
func TestE2EDoubleApplicationIsReported(t *testing.T) {
	squalltest.SkipIfShort(t)
	t.Parallel()
	res, s := runOrders(t, "--option", "orders=500", "--option", "inject-duplicates=3")
	if res.Exit != 1 || res.Report.Verdict != "fail" {
		t.Fatalf("exit %d, verdict %s: a double application must fail the run", res.Exit, res.Report.Verdict)
	}
	for _, i := range s.Invariants {
		switch i.Name {
		case "no-double-application":
			if i.OK || !strings.Contains(i.Detail, "3 orders applied again") {
				t.Errorf("no-double-application: %+v", i)
			}
		case "orders-applied-exactly-once", "grand-total", "counts-match-store":
			if !i.OK {
				t.Errorf("%s must still hold: %+v", i.Name, i)
			}
		}
	}
}

// One child per order does not scale: squall refuses before any load and
// names the mode to use.
func TestE2EPerOrderChildrenRefusedAtScale(t *testing.T) {
	squalltest.SkipIfShort(t)
	t.Parallel()
	res := squalltest.Exec(t, 2*time.Minute, "run", "--scenario", Name, "--option", "mode=per-order-children",
		"--option", "orders=100000", "--iterations", "1", "--out", t.TempDir())
	if res.Exit != 2 || !strings.Contains(res.Stderr, "mode=children") {
		t.Fatalf("exit %d, stderr %s: want a refusal (exit 2) naming mode=children", res.Exit, res.Stderr)
	}
}

// An apply-deadline shorter than the recovery of a lost attempt is refused
// before any server starts, naming the options to change.
func TestE2EDeadlineShorterThanRecoveryRefused(t *testing.T) {
	squalltest.SkipIfShort(t)
	t.Parallel()
	res := squalltest.Exec(t, time.Minute, "run", "--scenario", Name, "--option", "apply-deadline=90s", "--out", t.TempDir())
	if res.Exit != 2 || !strings.Contains(res.Stderr, "apply-deadline=1m30s is shorter than the recovery") ||
		!strings.Contains(res.Stderr, "attempt-timeout") {
		t.Fatalf("exit %d, stderr %s: want a refusal (exit 2) naming apply-deadline and attempt-timeout", res.Exit, res.Stderr)
	}
}
