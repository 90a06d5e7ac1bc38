package fanout

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Registered names.
const (
	WorkflowParent  = "squall.fanout.parent"
	WorkflowChild   = "squall.fanout.child"
	ActivityWork    = "squall.fanout.work"
	ActivityCleanup = "squall.fanout.cleanup"
	// SignalRelease tells a fire-and-forget child that it may finish.
	SignalRelease = "release"
)

// Patterns: how a parent starts and awaits its children.
const (
	PatternWaitAll       = "wait-all"
	PatternFireAndForget = "fire-and-forget"
	PatternThrottled     = "throttled"
	PatternRollingWindow = "rolling-window"
)

// Parent close policies, as options name them.
const (
	PolicyTerminate     = "terminate"
	PolicyRequestCancel = "request-cancel"
	PolicyAbandon       = "abandon"
)

// ReleaseTimeout bounds how long a fire-and-forget child waits for its
// release signal; a child that hits it fails (nobody released it, and no
// close policy ended it).
const ReleaseTimeout = 10 * time.Minute

// ActivityTimeout is the start-to-close timeout of a child's activities
// (its work, or its cleanup when cancelled). Both are no-ops, so it is
// short: an attempt lost with its worker is retried only once it expires,
// and the check's policy-wait must cover that (see RecoveryTime).
const ActivityTimeout = 10 * time.Second

// WorkflowTaskTimeout is the server's default workflow task timeout: a
// workflow task lost with its worker is retried after it.
const WorkflowTaskTimeout = 10 * time.Second

// RecoveryTime is how long a child that ends through its own activity (an
// abandoned child releasing, a cancelled one cleaning up) may be held up
// by a killed worker: one lost workflow task and one lost activity attempt.
const RecoveryTime = WorkflowTaskTimeout + ActivityTimeout

// Register adds the scenario's workflows and activities to a worker.
func Register(r worker.Registry) {
	r.RegisterWorkflowWithOptions(ParentWorkflow, workflow.RegisterOptions{Name: WorkflowParent})
	r.RegisterWorkflowWithOptions(ChildWorkflow, workflow.RegisterOptions{Name: WorkflowChild})
	r.RegisterActivityWithOptions(Work, activity.RegisterOptions{Name: ActivityWork})
	r.RegisterActivityWithOptions(Cleanup, activity.RegisterOptions{Name: ActivityCleanup})
}

// ParentInput configures one parent.
type ParentInput struct {
	Pattern       string
	Children      int
	MaxChildren   int
	ClosePolicy   string
	ChildDuration time.Duration
}

// ParentResult is what the parent saw of its children.
type ParentResult struct {
	Started   int
	Completed int // children whose result the parent received (waiting patterns)
	Failed    int
	Sum       int64 // of the children's results (each returns its index + 1)
}

// ChildInput configures one child.
type ChildInput struct {
	Index int
	// WaitRelease: wait for the release signal (fire-and-forget), else
	// sleep Duration on a durable timer; then run one activity.
	WaitRelease bool
	Duration    time.Duration
}

// ChildID is the workflow ID of child i of parentID.
func ChildID(parentID string, i int) string { return fmt.Sprintf("%s-c%d", parentID, i) }

// ClosePolicy maps an option value to Temporal's enum.
func ClosePolicy(p string) enumspb.ParentClosePolicy {
	switch p {
	case PolicyTerminate:
		return enumspb.PARENT_CLOSE_POLICY_TERMINATE
	case PolicyRequestCancel:
		return enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL
	}
	return enumspb.PARENT_CLOSE_POLICY_ABANDON
}

// ParentWorkflow starts its children in one of the patterns above.
func ParentWorkflow(ctx workflow.Context, in ParentInput) (ParentResult, error) {
	parentID := workflow.GetInfo(ctx).WorkflowExecution.ID
	var res ParentResult
	start := func(i int) workflow.ChildWorkflowFuture {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:        ChildID(parentID, i),
			ParentClosePolicy: ClosePolicy(in.ClosePolicy),
		})
		res.Started++
		return workflow.ExecuteChildWorkflow(cctx, WorkflowChild, ChildInput{Index: i,
			WaitRelease: in.Pattern == PatternFireAndForget, Duration: in.ChildDuration})
	}
	settle := func(f workflow.Future) {
		var v int64
		if err := f.Get(ctx, &v); err != nil {
			res.Failed++
			return
		}
		res.Completed++
		res.Sum += v
	}
	switch in.Pattern {
	case PatternFireAndForget:
		// Start them all, wait only until each has started (the close
		// policy applies to started children), and close.
		fs := make([]workflow.ChildWorkflowFuture, in.Children)
		for i := range fs {
			fs[i] = start(i)
		}
		for _, f := range fs {
			if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
				return res, fmt.Errorf("start child: %w", err)
			}
		}
	case PatternWaitAll:
		fs := make([]workflow.ChildWorkflowFuture, in.Children)
		for i := range fs {
			fs[i] = start(i)
		}
		for _, f := range fs {
			settle(f)
		}
	case PatternThrottled: // a semaphore: a new child as soon as one finishes
		sel := workflow.NewSelector(ctx)
		next, inflight := 0, 0
		for next < in.Children || inflight > 0 {
			for inflight < in.MaxChildren && next < in.Children {
				sel.AddFuture(start(next), func(f workflow.Future) { inflight--; settle(f) })
				next++
				inflight++
			}
			sel.Select(ctx)
		}
	case PatternRollingWindow: // batches of MaxChildren, each awaited whole
		for b := 0; b < in.Children; b += in.MaxChildren {
			var fs []workflow.ChildWorkflowFuture
			for i := b; i < min(b+in.MaxChildren, in.Children); i++ {
				fs = append(fs, start(i))
			}
			for _, f := range fs {
				settle(f)
			}
		}
	default:
		return res, temporal.NewNonRetryableApplicationError("unknown pattern "+in.Pattern, "BadInput", nil)
	}
	return res, nil
}

// ChildWorkflow waits (a timer, or the release signal), then runs one
// activity. Cancelled, it cleans up and ends as cancelled.
func ChildWorkflow(ctx workflow.Context, in ChildInput) (int64, error) {
	var err error
	if in.WaitRelease {
		sel := workflow.NewSelector(ctx)
		released, timedOut := false, false
		sel.AddReceive(workflow.GetSignalChannel(ctx, SignalRelease), func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			released = true
		})
		sel.AddFuture(workflow.NewTimer(ctx, ReleaseTimeout), func(f workflow.Future) {
			if ferr := f.Get(ctx, nil); ferr != nil {
				err = ferr
				return
			}
			timedOut = true
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) { err = ctx.Err() })
		sel.Select(ctx)
		if timedOut {
			return 0, temporal.NewNonRetryableApplicationError("never released within "+ReleaseTimeout.String(), "NotReleased", nil)
		}
		if !released && err == nil {
			err = ctx.Err()
		}
	} else {
		err = workflow.Sleep(ctx, in.Duration)
	}
	if err != nil {
		if errors.Is(ctx.Err(), workflow.ErrCanceled) || temporal.IsCanceledError(err) {
			dctx, cancel := workflow.NewDisconnectedContext(ctx)
			defer cancel()
			dctx = workflow.WithActivityOptions(dctx, workflow.ActivityOptions{StartToCloseTimeout: ActivityTimeout})
			_ = workflow.ExecuteActivity(dctx, ActivityCleanup, in.Index).Get(dctx, nil)
			return 0, temporal.NewCanceledError()
		}
		return 0, err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: ActivityTimeout})
	var v int64
	if err := workflow.ExecuteActivity(actx, ActivityWork, in.Index).Get(ctx, &v); err != nil {
		return 0, err
	}
	return v, nil
}

// Work is the child's unit of work: it returns index+1.
func Work(_ context.Context, i int) (int64, error) { return int64(i) + 1, nil }

// Cleanup is what a cancelled child does before it ends.
func Cleanup(context.Context, int) error { return nil }
