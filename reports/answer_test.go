package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/verify"
)

// A stream written before the continue-as-new rules had their own name
// keeps them under "chapter": read back, they are "rules", labelled as
// guidance, and the report opens with the answer.
func TestOldCANStreamUpgradesToRules(t *testing.T) {
	rep := buildGolden(t, "testdata/can-sweep-300-1200.results.jsonl")
	js, err := JSON(rep)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(js, []byte(`"chapter`)) || bytes.Contains(js, []byte(`chapter: `)) {
		t.Errorf("report.json still names the chapter")
	}
	var rec struct {
		Rules []CANRule `json:"rules"`
	}
	if err := json.Unmarshal(rep.Scenarios[0].Details[detailRecommendation], &rec); err != nil || len(rec.Rules) != 3 {
		t.Fatalf("rules %+v (%v)", rec.Rules, err)
	}
	if rec.Rules[1].Rule != "guidance: continue-as-new beyond 10,000 events" || rec.Rules[1].Events != 10000 || rec.Rules[1].InBudget {
		t.Errorf("rule %+v", rec.Rules[1])
	}
	md := Markdown(rep)
	head := strings.Join(strings.SplitN(md, "\n", 26)[:25], "\n")
	if !strings.Contains(head, "continue as new before 303 events") || !strings.Contains(head, "| guidance: 50,000 events practical maximum | 50,000 | 16403 | fitted | no |") {
		t.Errorf("report.md does not open with the answer:\n%s", head)
	}
	if strings.Contains(md, `"chapter"`) {
		t.Errorf("report.md shows the old key")
	}
	page, err := HTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte("continue as new before 303 events")) || !bytes.Contains(page, []byte(`class="can-rules"`)) {
		t.Errorf("report.html lacks the continue-as-new answer")
	}
}

// A report.json an older squall wrote is upgraded by the one reader too.
func TestReadReportUpgradesChapter(t *testing.T) {
	rep := &Report{SchemaVersion: SchemaVersion, Verdict: VerdictPass, Scenarios: []Scenario{{ScenarioPlan: ScenarioPlan{Name: "can-sweep"},
		Details: map[string]json.RawMessage{detailRecommendation: json.RawMessage(`{"budget_ms":100,"chapter":[{"rule":"chapter: 50,000 events practical maximum","events":50000,"p99_ms":3,"source":"fitted","within_budget":true}]}`)}}}}
	js, err := JSON(rep)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), FileJSON)
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(got.Scenarios[0].Details[detailRecommendation])
	if strings.Contains(raw, "chapter") || !strings.Contains(raw, `"rules":[{`) || !strings.Contains(raw, "guidance: 50,000 events") {
		t.Errorf("recommendation %s", raw)
	}
}

func canScenario(rec, sweep string) *Scenario {
	return &Scenario{ScenarioPlan: ScenarioPlan{Name: "can-sweep"}, Details: map[string]json.RawMessage{
		detailRecommendation: json.RawMessage(rec), detailSweep: json.RawMessage(sweep)}}
}

func TestCANAnswerSentence(t *testing.T) {
	sweep := `[{"events":1000,"bytes":100000,"task_ms":{"count":5,"p99":40}},{"events":5000,"bytes":3000000,"task_ms":{"count":5,"p99":90}},{"events":20000,"bytes":9000000,"task_ms":{"count":5,"p99":400}}]`
	for _, c := range []struct{ name, rec, want string }{
		{"at", `{"budget_ms":100,"recommended_max_events":5000,"recommended_max_bytes":3000000,"first_over_budget_events":20000}`,
			"continue as new at ≤ 5,000 events / 2.9 MiB: cold replay p99 90 ms at 5,000 events, within your budget of 100 ms; at 20,000 events it is over budget (cold replay p99 400 ms at 20,000 events)."},
		{"after", `{"budget_ms":500,"recommended_max_events":20000,"recommended_max_bytes":9000000,"estimated_events_at_budget":26000}`,
			"continue as new at ≤ 20,000 events / 8.6 MiB: cold replay p99 400 ms at 20,000 events, within your budget of 500 ms. The budget held across the whole sweep, so the limit lies after 20,000 events (the fitted line reaches the budget near 26,000 events)."},
		{"before", `{"budget_ms":20,"first_over_budget_events":1000}`,
			"continue as new before 1,000 events, the shortest history tested: cold replay p99 40 ms at 1,000 events, over your budget of 20 ms; test shorter histories, or raise the budget."},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, ok := canAnswer(canScenario(c.rec, sweep))
			if !ok || a.Sentence != c.want {
				t.Errorf("got  %q\nwant %q", a.Sentence, c.want)
			}
		})
	}
	if _, ok := canAnswer(&Scenario{}); ok {
		t.Errorf("a scenario without a recommendation has a continue-as-new answer")
	}
}

// An interrupted run says so, in both renderings, and is never shown as failed.
func TestInterruptedIsShownAsInterrupted(t *testing.T) {
	rep := &Report{SchemaVersion: SchemaVersion, Verdict: VerdictInterrupted, Run: RunInfo{Interrupted: true},
		Scenarios: []Scenario{{ScenarioPlan: ScenarioPlan{Name: "noop"}, Verification: &verify.Result{},
			Invariants: []scenarios.Invariant{{Name: "no-lost-workflows", OK: true}}}}}
	md := Markdown(rep)
	if !strings.HasPrefix(md, "# squall report: ⚠️ interrupted") || !strings.Contains(md, "All 1 invariant(s) and 0 threshold(s) held.") {
		t.Errorf("report.md:\n%s", md[:300])
	}
	page, err := HTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte(`<header class="interrupted">`)) || !bytes.Contains(page, []byte("⚠ interrupted")) || bytes.Contains(page, []byte("✘ fail")) {
		t.Errorf("report.html does not show the run as interrupted")
	}
}

// A failed run names what failed first.
func TestFailedRunSaysWhy(t *testing.T) {
	rep := &Report{SchemaVersion: SchemaVersion, Verdict: VerdictFail, Scenarios: []Scenario{{ScenarioPlan: ScenarioPlan{Name: "noop"},
		Verification: &verify.Result{}, Invariants: []scenarios.Invariant{{Name: "no-lost-workflows", Detail: "3 lost"}},
		Thresholds: []ThresholdResult{{Expr: "p99<500ms", Measured: "812 ms"}}}}}
	a := AnswerOf(rep)
	want := []string{"Invariant no-lost-workflows failed (noop): 3 lost.", "Threshold p99<500ms failed (noop): measured 812 ms."}
	if strings.Join(a.Why, "\n") != strings.Join(want, "\n") {
		t.Errorf("why %q", a.Why)
	}
	if md := Markdown(rep); !strings.HasPrefix(md, "# squall report: ❌ fail\n\n- Invariant no-lost-workflows failed") {
		t.Errorf("report.md:\n%s", md[:200])
	}
}

// report.html carries the tables report.md has (the server signals:
// signals_test.go): thresholds, and "-" for an interval without completions.
func TestHTMLCarriesWhatMarkdownHas(t *testing.T) {
	rep := &Report{SchemaVersion: SchemaVersion, Verdict: VerdictFail, Scenarios: []Scenario{{ScenarioPlan: ScenarioPlan{Name: "noop"},
		Verification: &verify.Result{}, Thresholds: []ThresholdResult{{Expr: "p99<500ms", Measured: "812 ms"}},
		Intervals: []IntervalRow{{OffsetS: 1, Started: 3}}}}}
	page, err := HTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h3>Thresholds</h3>", "<code>p99&lt;500ms</code>", "812 ms", `<td class="n">-</td><td class="n">-</td>`} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if md := Markdown(rep); !strings.Contains(md, "| 1 | 3 | 0 | 0 | 0 | 0 | 0 | - | - | - |  |") {
		t.Errorf("report.md shows an interval without completions as a latency:\n%s", md)
	}
}
