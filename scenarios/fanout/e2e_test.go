package fanout

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
)

// Every pattern and close policy against the embedded server: each child
// must end as its policy says, within the bounded wait.
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
			for _, name := range append([]string{"children-ended-per-policy", "child-lifetimes", "parent-results",
				"no-lost-workflows", "expected-end-state"}, c.want...) {
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
			want := ExpectedChildState(c.pattern, c.policy)
			if kids.Expected != want || kids.ByState[want] != 12 {
				t.Fatalf("children %s: want all 12 %s", s.Details["children"], want)
			}
			// Children expected to complete are journaled: verified too.
			if want == "completed" && s.Verification.Journaled != 2+12 {
				t.Errorf("%d journaled, want 2 parents + 12 children", s.Verification.Journaled)
			}
			if want != "completed" && s.HistogramsMS["close-policy-applied"].Count != 12 {
				t.Errorf("close-policy-applied histogram: %+v", s.HistogramsMS)
			}
		})
	}
}
