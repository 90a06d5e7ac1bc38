package degradation

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
)

// Six workflows of twenty requests, a second apart; the primary fails
// 100% from +3 s to +11 s. Every breaker that saw its threshold of failures
// opens, the primary's own log shows no request while open, every breaker
// that opened closes after the recovery, every request is answered and its
// source matches the services' logs.
func TestDegradationOutageEndToEnd(t *testing.T) {
	squalltest.SkipIfShort(t)
	res := squalltest.Run(t, 3*time.Minute, "--scenario", Name,
		"--option", "outage-start=3s", "--option", "outage-duration=8s", "--option", "open-timeout=3s",
		"--option", "requests=20", "--rate", "1/s", "--iterations", "6")
	if res.Exit != 0 {
		t.Errorf("exit %d, want 0", res.Exit)
	}
	s := squalltest.Scenario(t, res.Report, Name)
	squalltest.InvariantsHold(t, s, "every-request-answered", "answer-source-matches-services", "breaker-blocks-primary",
		"breaker-follows-rules", "breaker-opens-in-outage", "breaker-closes-after-recovery", "no-lost-workflows", "expected-end-state")
	var sum Summary
	if err := json.Unmarshal(s.Details["summary"], &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Answers != 120 || sum.BySource[SourceSecondary] == 0 || sum.BySource[SourcePrimary] == 0 ||
		sum.Transitions[Open] == 0 || sum.Transitions[Closed] == 0 || sum.BlockedByBreaker == 0 ||
		sum.DegradedFraction <= 0 || sum.DegradedFraction >= 1 {
		t.Errorf("summary %+v", sum)
	}
	var tl []Second
	if err := json.Unmarshal(s.Details["timeline"], &tl); err != nil || len(tl) < 15 {
		t.Errorf("timeline of %d seconds (%v)", len(tl), err)
	}
}

// An outage the load cannot live through is refused before any server
// starts, with the fix in the message.
func TestDegradationRefusesUnjudgeableOutage(t *testing.T) {
	squalltest.SkipIfShort(t)
	res := squalltest.Exec(t, 30*time.Second, "run", "--scenario", Name, "--rate", "20/s", "--iterations", "20", "--out", t.TempDir()+"/run")
	if res.Exit != 2 || !strings.Contains(res.Stderr, "cannot be judged in this run") || !strings.Contains(res.Stderr, "shorten outage-duration") {
		t.Errorf("exit %d, stderr %s", res.Exit, res.Stderr)
	}
}
