package fanout

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios/fakes/historytest"
)

// Both workflow types replay against histories recorded from real runs
// (testdata/, regenerate with SQUALL_RECORD_HISTORIES=1 go test -run
// TestRecordHistories ./scenarios/fanout/), covering every pattern and
// close policy: a change that makes the workflow code non-deterministic
// fails here.
func TestReplay(t *testing.T) {
	historytest.ReplayAll(t, historytest.Workflows{WorkflowParent: ParentWorkflow, WorkflowChild: ChildWorkflow})
}

// TestRecordHistories runs each pattern and close policy once against an
// embedded server and writes the histories to testdata/. Only with
// SQUALL_RECORD_HISTORIES=1.
func TestRecordHistories(t *testing.T) {
	tq := "record-fanout"
	cl := historytest.Record(t, tq, Register)
	ctx := context.Background()
	for _, r := range []struct{ name, pattern, policy string }{
		{"wait-all", PatternWaitAll, PolicyTerminate},
		{"throttled", PatternThrottled, PolicyTerminate},
		{"rolling-window", PatternRollingWindow, PolicyTerminate},
		{"ff-terminate", PatternFireAndForget, PolicyTerminate},
		{"ff-request-cancel", PatternFireAndForget, PolicyRequestCancel},
		{"ff-abandon", PatternFireAndForget, PolicyAbandon},
	} {
		id := "record-" + r.name
		run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: tq}, WorkflowParent,
			ParentInput{Pattern: r.pattern, Children: 4, MaxChildren: 2, ClosePolicy: r.policy, ChildDuration: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
		child := ChildID(id, 0)
		if r.policy == PolicyAbandon {
			if err := cl.SignalWorkflow(ctx, child, "", SignalRelease, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Wait for the child to close (the policy is applied asynchronously).
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			d, err := cl.DescribeWorkflowExecution(ctx, child, "")
			if err == nil && d.GetWorkflowExecutionInfo().GetCloseTime() != nil {
				break
			}
		}
		historytest.Write(t, cl, WorkflowParent, id, "")
		if r.pattern == PatternWaitAll || r.pattern == PatternFireAndForget {
			historytest.Write(t, cl, WorkflowChild, child, "")
		}
	}
}
