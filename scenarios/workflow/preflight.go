package workflow

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	texttemplate "text/template"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios"
)

// vars are what the input, signal-input and id templates may use.
type vars struct {
	Iteration int64
	RunID     string
	Random    int64 // seeded per iteration: the same run of a seed gives the same inputs
}

type template struct{ t *texttemplate.Template }

func parseTemplate(name, src string) (*template, error) {
	t, err := texttemplate.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: bad template: %v (fields: {{.Iteration}}, {{.RunID}}, {{.Random}})", name, err)
	}
	return &template{t: t}, nil
}

func (t *template) render(v vars) (string, error) {
	var b strings.Builder
	if err := t.t.Execute(&b, v); err != nil {
		return "", fmt.Errorf("%s: %v (fields: {{.Iteration}}, {{.RunID}}, {{.Random}})", t.t.Name(), err)
	}
	return b.String(), nil
}

// random is a non-negative value fixed by seed and iteration.
func random(seed, n int64) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d", seed, n)
	return int64(h.Sum64() >> 1)
}

// awaitPollers waits until some worker polls the task queue: without
// one, every start would sit there until its timeout. A misconfigured
// queue is the user's input, so it is a usage error, within the timeout.
func awaitPollers(ctx context.Context, cl client.Client, tq string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		resp, err := cl.DescribeTaskQueue(ctx, tq, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err == nil && len(resp.GetPollers()) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return scenarios.Abort("no worker polls task queue %q (waited %s): start your workers on it (e.g. 'squall worker --task-queue %s') or fix --option task-queue",
				tq, timeout, tq)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// watchFirstTask waits until the workflow's first workflow task has been
// completed. A worker that does not know the workflow type fails that
// task again and again (in every SDK language), and the workflow would
// hang until its timeout: then the run stops at once, naming the cause.
func (d *driver) watchFirstTask(ctx context.Context, run client.WorkflowRun) error {
	deadline := time.Now().Add(d.cfg.firstTask)
	for time.Now().Before(deadline) {
		desc, err := d.env.Client.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err == nil {
			info := desc.GetWorkflowExecutionInfo()
			pending := desc.GetPendingWorkflowTask()
			if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || (pending == nil && info.GetHistoryLength() > 2) {
				return nil // the first task ran
			}
			if pending != nil && pending.GetAttempt() >= 2 {
				return scenarios.Abort("workflow type %q on task queue %q: its first workflow task keeps failing (%s): check --option type and that your workers register it",
					d.cfg.typ, d.tq, lastTaskFailure(ctx, d.env.Client, run))
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return scenarios.Abort("workflow type %q on task queue %q: no worker took its first workflow task within %s (first-task-timeout): are your workers running and polling that queue?",
		d.cfg.typ, d.tq, d.cfg.firstTask)
}

// lastTaskFailure is the message of the workflow's last failed workflow
// task ("unable to find workflow type: ..." from the Go SDK).
func lastTaskFailure(ctx context.Context, cl client.Client, run client.WorkflowRun) string {
	it := cl.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	msg := "no failure recorded yet"
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			break
		}
		if a := ev.GetWorkflowTaskFailedEventAttributes(); a != nil {
			msg = a.GetFailure().GetMessage()
		}
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}
