package approval

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
)

// 24 chained requests with simulated approvers (70% approve, 15% reject,
// the rest ignore; delays uniform on 0..7 s against an 8 s timeout with a
// 2 s race margin, so some approvers are late): every request ends exactly as its approvers
// decided, late signals change nothing, the status queries are right
// before and after every decision, and the services saw exactly the
// notifications and executions those decisions imply.
func TestApprovalChainEndToEnd(t *testing.T) {
	squalltest.SkipIfShort(t)
	res := squalltest.Run(t, 3*time.Minute, "--scenario", Name,
		"--option", "timeout=8s", "--option", "delay=3500ms", "--option", "approve=0.7", "--option", "reject=0.15",
		"--rate", "4/s", "--iterations", "24")
	if res.Exit != 0 {
		t.Errorf("exit %d, want 0", res.Exit)
	}
	s := squalltest.Scenario(t, res.Report, Name)
	squalltest.InvariantsHold(t, s, "every-request-decided", "outcome-as-approvers-decided", "queries-correct-mid-flight",
		"approvers-notified-as-reached", "executed-only-if-approved", "no-lost-workflows", "expected-end-state", "every-start-journaled")
	var sum Summary
	if err := json.Unmarshal(s.Details["summary"], &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Requests != 24 || sum.Got[StatusApproved] == 0 || sum.Got[StatusRejected] == 0 || sum.Got[StatusTimeout] == 0 {
		t.Errorf("want all three outcomes among 24 requests: %+v", sum)
	}
	if sum.LateSignals == 0 || sum.Queries < 2*sum.Requests || len(sum.ByChainLength) < 3 {
		t.Errorf("want late signals, two queries per request at least, three chain lengths: %+v", sum)
	}
}

// The same requests decided by update: every on-time decision accepted
// and answered, every late and wrong-level one rejected by the validator,
// and the outcomes exactly as with signals.
func TestApprovalByUpdateEndToEnd(t *testing.T) {
	squalltest.SkipIfShort(t)
	res := squalltest.Run(t, 3*time.Minute, "--scenario", Name, "--option", "via=update",
		"--option", "timeout=8s", "--option", "delay=3500ms", "--option", "approve=0.7", "--option", "reject=0.15",
		"--rate", "4/s", "--iterations", "24")
	if res.Exit != 0 {
		t.Errorf("exit %d, want 0", res.Exit)
	}
	s := squalltest.Scenario(t, res.Report, Name)
	squalltest.InvariantsHold(t, s, "every-request-decided", "outcome-as-approvers-decided", "queries-correct-mid-flight",
		"approvers-notified-as-reached", "executed-only-if-approved", "decisions-validated", "no-lost-workflows", "expected-end-state")
	var sum Summary
	if err := json.Unmarshal(s.Details["summary"], &sum); err != nil {
		t.Fatal(err)
	}
	if sum.DecisionsAccepted == 0 || sum.LateRejected == 0 || sum.WrongLevelRejected < sum.DecisionsAccepted {
		t.Errorf("want accepted, late-rejected and wrong-level-rejected decisions: %+v", sum)
	}
}
