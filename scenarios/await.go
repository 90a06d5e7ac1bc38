package scenarios

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// AwaitResult waits for a workflow's result like run.Get, but rides out
// transient errors of the wait itself. run.Get long-polls history with a
// 65 s per-call timeout; an overloaded or restarting server makes that call
// fail although the workflow is fine, and counting that as a failed
// iteration would blame the workflow for the harness's wait. Errors of the
// workflow (it failed, timed out, was terminated) are returned as they are.
func AwaitResult(ctx context.Context, run client.WorkflowRun, valuePtr any) error {
	for {
		err := run.Get(ctx, valuePtr)
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

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
