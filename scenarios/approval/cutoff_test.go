package approval

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/internal/squalltest"
)

// A decision the server records inside the window must count even when
// the worker was cut off and picks it up only after the window closed,
// in one workflow task with the window's timer (seen under `make chaos`:
// a partition delayed the task 7 s past a 20 s window; the workflow ended
// "timeout" with the approval in its history). On a real server: the
// worker stops once the approver is notified, the approval arrives at 1 s
// of a 3 s window, a new worker starts after the window's end.
func TestDecisionDeliveredWithTheWindowsEndCounts(t *testing.T) {
	squalltest.SkipIfShort(t)
	addr := startServer(t)
	c, err := client.Dial(client.Options{HostPort: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const queue = "cutoff"
	notified := make(chan string, 4)
	newWorker := func() worker.Worker {
		w := worker.New(c, queue, worker.Options{})
		w.RegisterWorkflowWithOptions(ChainWorkflow, workflow.RegisterOptions{Name: WorkflowChain})
		w.RegisterActivityWithOptions(func(_ context.Context, in NotifyInput) error { notified <- in.Level; return nil },
			activity.RegisterOptions{Name: ActivityNotify})
		w.RegisterActivityWithOptions(func(context.Context, NotifyInput) (string, error) { return "done", nil },
			activity.RegisterOptions{Name: ActivityExecute})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		return w
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorker()
	const window = 3 * time.Second
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "cutoff", TaskQueue: queue}, WorkflowChain,
		Input{Request: Request{ID: "cutoff", Amount: 500}, Timeout: window})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-notified:
	case <-ctx.Done():
		t.Fatal("the manager was never notified")
	}
	start := windowOpened(ctx, t, c, run.GetID())
	w.Stop()
	time.Sleep(time.Second)
	if err := c.SignalWorkflow(ctx, run.GetID(), "", SignalApproveStep, StepSignal{Level: Manager, Approver: "m"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(window + time.Second - time.Since(start)) // the window's timer fires with the signal undelivered
	w = newWorker()
	defer w.Stop()
	var out Outcome
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != StatusApproved {
		t.Errorf("approved at 1 s of a %s window, delivered after it: ended %s at %q (%s), want approved", window, out.Status, out.Level, out.Reason)
	}
}

// windowOpened waits for the window's timer to be recorded and returns
// when it was.
func windowOpened(ctx context.Context, t *testing.T, c client.Client, id string) time.Time {
	t.Helper()
	for ctx.Err() == nil {
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if e.EventType == enumspb.EVENT_TYPE_TIMER_STARTED {
				return e.EventTime.AsTime()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the window's timer never started")
	return time.Time{}
}

// startServer runs `squall server` on a fresh database until the test ends.
func startServer(t *testing.T) string {
	t.Helper()
	port := squalltest.ServerPort(t)
	t.Cleanup(squalltest.StartServer(t, filepath.Join(t.TempDir(), "t.db"), port))
	return fmt.Sprintf("127.0.0.1:%d", port)
}
