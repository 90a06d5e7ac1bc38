package fanout

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
)

// Every pattern and close policy against the embedded server: each child
// is journaled with the end state its policy demands, and verification
// finds every one in it.
func TestE2EPatternsAndPolicies(t *testing.T) {
	squalltest.SkipIfShort(t)
	for _, c := range []struct {
		name, pattern, policy string
		want                  []string // invariants that must be present and hold
	}{
		{"wait-all", PatternWaitAll, PolicyTerminate, nil},
		{"throttled", PatternThrottled, PolicyRequestCancel, []string{"max-concurrent-children"}},
		{"rolling-window", PatternRollingWindow, PolicyTerminate, []string{"max-concurrent-children"}},
		{"fire-and-forget-terminate", PatternFireAndForget, PolicyTerminate, nil},
		{"fire-and-forget-request-cancel", PatternFireAndForget, PolicyRequestCancel, nil},
		{"fire-and-forget-abandon", PatternFireAndForget, PolicyAbandon, []string{"abandoned-children-outlived-parent"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := squalltest.Run(t, 3*time.Minute, "--scenario", Name, "--iterations", "2", "--rate", "2/s",
				"--option", "pattern="+c.pattern, "--option", "close-policy="+c.policy,
				"--option", "children=6", "--option", "max-children=2", "--option", "child-duration=1s")
			s := squalltest.Scenario(t, res.Report, Name)
			if res.Exit != 0 || res.Report.Verdict != "pass" {
				t.Fatalf("exit %d, verdict %s: %+v", res.Exit, res.Report.Verdict, s.Invariants)
			}
			have := map[string]bool{}
			for _, i := range s.Invariants {
				have[i.Name] = i.OK
			}
			for _, name := range append([]string{"child-lifetimes", "parent-results",
				"no-lost-workflows", "expected-end-state", "every-start-journaled"}, c.want...) {
				if ok, found := have[name]; !found || !ok {
					t.Errorf("invariant %s: found %v, ok %v", name, found, ok)
				}
			}
			var kids struct {
				ByState  map[string]int `json:"by_state"`
				Expected string         `json:"expected"`
			}
			if err := json.Unmarshal(s.Details["children"], &kids); err != nil {
				t.Fatal(err)
			}
			want := string(ExpectedChildState(c.pattern, c.policy))
			if kids.Expected != want || kids.ByState[want] != 12 {
				t.Fatalf("children %s: want all 12 %s", s.Details["children"], want)
			}
			// Every child is journaled with its own expectation: verified.
			v, n := s.Verification, int64(12)
			if want == "completed" {
				n += 2 // the parents
			}
			if v.Journaled != 2+12 || v.Expected[want] != n || v.ByStatus[want] != n || v.ByStatus["completed"] < 2 {
				t.Errorf("verification %+v: want 2 parents completed + 12 children %s", v, want)
			}
			if want != "completed" && s.HistogramsMS["close-policy-applied"].Count != 12 {
				t.Errorf("close-policy-applied histogram: %+v", s.HistogramsMS)
			}
			if s.HistogramsMS["child-lifetime"].Count != 12 {
				t.Errorf("child-lifetime histogram: %+v", s.HistogramsMS)
			}
		})
	}
}
