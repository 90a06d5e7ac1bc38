package scenarios

import (
	"context"
	"errors"
	"time"

	"github.com/squallbench/squall/internal/sleep"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// AwaitResult waits for a workflow's result like run.Get, but rides out
// transient errors of the wait itself. run.Get long-polls history with a
// 65 s per-call timeout; an overloaded or restarting server makes that call
// fail although the workflow is fine, and counting that as a failed
// iteration would blame the workflow for the harness's wait. Errors of the
// workflow (it failed, timed out, was terminated) are returned as they are.
//
// Each wait is also bounded (pollEvery) and then asked again: a long poll
// that outlived a server restart or lost its notification would otherwise
// sit out its full timeout although the workflow closed long ago; a fresh
// call answers at once.
func AwaitResult(ctx context.Context, run client.WorkflowRun, valuePtr any) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, pollEvery)
		err := run.Get(attempt, valuePtr)
		expired := attempt.Err() != nil // read before cancel, which sets it
		cancel()
		if err == nil || ctx.Err() != nil || !(transient(err) || expired) {
			return err
		}
		if !sleep.For(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}

const pollEvery = 10 * time.Second

func transient(err error) bool {
	var (
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
		exhausted   *serviceerror.ResourceExhausted
		canceled    *serviceerror.Canceled
	)
	return errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.As(err, &exhausted) ||
		errors.As(err, &canceled) || errors.Is(err, context.DeadlineExceeded)
}

// startWorkflow starts a workflow like client.ExecuteWorkflow, retrying
// transient failures of the start call itself with the same workflow ID.
// A retried start may find the workflow already started by the attempt
// whose answer was lost (a timeout after the write): then it is that
// workflow, and its handle is returned.
func startWorkflow(ctx context.Context, c client.Client, opts client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	for attempt := 0; ; attempt++ {
		run, err := c.ExecuteWorkflow(ctx, opts, wf, args...)
		if err == nil {
			return run, nil
		}
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if attempt > 0 && errors.As(err, &started) {
			return c.GetWorkflow(ctx, opts.ID, started.RunId), nil
		}
		if ctx.Err() != nil || !transient(err) || attempt >= startAttempts {
			return nil, err
		}
		if !sleep.For(ctx, time.Duration(attempt+1)*500*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

// startAttempts bounds startWorkflow's retries (about 30 s of backoff on
// top of the SDK's own per-call retries): a cluster down longer than that
// is a finding, not something to wait out silently.
const startAttempts = 10

// Signal sends a signal like client.SignalWorkflow, retrying transient
// failures (a fault window, a restarting server). A retried signal may
// arrive twice if the first attempt landed unseen: the receiving workflow
// must treat signals idempotently, as the scenarios here do.
//
// A retry that finds the workflow closed (NotFound: "workflow execution
// already completed") is taken as delivered: the attempt whose answer was
// lost is the likeliest reason it closed. Whether it really landed is the
// scenario's invariant to judge, from the workflow's own result, not this
// call's to guess.
func Signal(ctx context.Context, c client.Client, workflowID, name string, arg any) error {
	for attempt := 0; ; attempt++ {
		err := c.SignalWorkflow(ctx, workflowID, "", name, arg)
		if attempt > 0 && closedOnRetry(err) {
			return nil
		}
		if err == nil || ctx.Err() != nil || !transient(err) || attempt >= startAttempts {
			return err
		}
		if !sleep.For(ctx, time.Duration(attempt+1)*500*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// closedOnRetry: the workflow is gone or closed, as a retried signal sees
// it when its earlier attempt landed and the workflow finished.
func closedOnRetry(err error) bool {
	var notFound *serviceerror.NotFound
	return errors.As(err, &notFound)
}
