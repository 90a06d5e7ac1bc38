package cli

import (
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/scenarios"
)

// smallScale shrinks the one heavy iteration of scenarios whose single
// iteration is a whole batch or sweep; everything else (load shape,
// grace, options) is the scenario's own default.
var smallScale = map[string][]string{
	"orders-batch": {"--option", "orders=5000"},
	"can-sweep":    {"--option", "lengths=500,1000"},
	"workflow":     {"--option", "type=squall.noop"}, // the one option without a default: the user's workflow type
}

// iterations is how many iterations each runs; degradation needs enough
// workflows around its outage to judge the breaker (fewer are refused,
// exit 2, by design).
var iterations = map[string]string{"degradation": "20"}

// Every registered scenario runs with its own defaults and a few
// iterations, and passes: a scenario's plain invocation must work.
func TestEveryScenarioPassesWithItsDefaults(t *testing.T) {
	squalltest.SkipIfShort(t)
	for _, name := range scenarios.Names() {
		t.Run(name, func(t *testing.T) {
			n := iterations[name]
			if n == "" {
				n = "3"
			}
			args := append([]string{"--scenario", name, "--iterations", n}, smallScale[name]...)
			began := time.Now()
			res := squalltest.Run(t, 10*time.Minute, args...)
			t.Logf("%s: exit %d in %s", name, res.Exit, time.Since(began).Round(time.Second))
			if res.Exit != 0 {
				t.Fatalf("squall run %v: exit %d, want 0\n%s", args, res.Exit, res.Stderr)
			}
			s := squalltest.Scenario(t, res.Report, name)
			if s.Verification == nil || s.Verification.Journaled == 0 {
				t.Errorf("nothing journaled: %+v", s.Verification)
			}
		})
	}
}
