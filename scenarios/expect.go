package scenarios

import (
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
)

// Expect is the end state a journaled workflow must reach; verification
// holds every journal entry to its own expectation.
type Expect string

const (
	ExpectCompleted      Expect = "completed"
	ExpectFailed         Expect = "failed"
	ExpectTerminated     Expect = "terminated"
	ExpectCanceled       Expect = "canceled"
	ExpectTimedOut       Expect = "timed_out"
	ExpectContinuedAsNew Expect = "continued_as_new"
	// ExpectAnyClosed accepts every end state but "still running": for
	// workflows whose outcome the scenario judges itself.
	ExpectAnyClosed Expect = "any-closed"
)

// Expects lists every expectation, for messages and option choices.
var Expects = []Expect{ExpectCompleted, ExpectFailed, ExpectTerminated, ExpectCanceled, ExpectTimedOut, ExpectContinuedAsNew, ExpectAnyClosed}

// ParseExpect reads an expectation as users write it ("completed",
// "continued-as-new", "timed-out", "any-closed").
func ParseExpect(s string) (Expect, error) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	for _, e := range Expects {
		if strings.ReplaceAll(string(e), "-", "_") == norm {
			return e, nil
		}
	}
	names := make([]string, len(Expects))
	for i, e := range Expects {
		names[i] = e.String()
	}
	return "", fmt.Errorf("unknown end state %q (want one of %s)", s, strings.Join(names, ", "))
}

// String is the user-facing spelling (dashes).
func (e Expect) String() string { return strings.ReplaceAll(string(e.orDefault()), "_", "-") }

func (e Expect) orDefault() Expect {
	if e == "" {
		return ExpectCompleted
	}
	return e
}

// Matches reports whether a workflow in status (StatusName's spelling)
// meets the expectation.
func (e Expect) Matches(status string) bool {
	e = e.orDefault()
	if e == ExpectAnyClosed {
		return status != "running" && status != "missing" && status != "error" && status != "unspecified"
	}
	return status == string(e)
}

// StatusName is the short lower-case name of a workflow status
// ("completed", "continued_as_new", "timed_out"), as the journal and
// reports spell it.
func StatusName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued_as_new"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed_out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_PAUSED:
		return "paused"
	}
	return "unspecified"
}
