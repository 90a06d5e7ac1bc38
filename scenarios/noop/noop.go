// Package noop is the calibration scenario: a workflow that runs no-op
// activities. What it measures is Temporal's own overhead per workflow.
package noop

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/scenarios"
)

// Name is the scenario's registry name.
const Name = "noop"

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name:        Name,
		Description: "calibration: a workflow running one no-op activity (Temporal's own per-workflow overhead)",
		Proves:      "calibration only: Temporal's per-workflow overhead at 20 workflows/s; no pattern, no pressure",
		Resumable:   true,
		Options: []scenarios.Option{
			{Name: "activities", Kind: scenarios.Int, Default: "1", Min: scenarios.MinOf(0),
				Help: "no-op activities per workflow, run one after another"},
		},
		Defaults: scenarios.Defaults{Rate: "20/s", Duration: 30 * time.Second},
		Register: Register,
		New:      newDriver,
	})
}

// Register adds the noop workflow and activity to a worker.
func Register(r worker.Registry) {
	r.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: "squall.noop"})
	r.RegisterActivityWithOptions(Activity, activity.RegisterOptions{Name: "squall.noop.activity"})
}

// Workflow runs n no-op activities in sequence.
func Workflow(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	for i := 0; i < n; i++ {
		if err := workflow.ExecuteActivity(ctx, "squall.noop.activity").Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// Activity does nothing: the point is the round trip through Temporal.
func Activity(context.Context) error { return nil }

type driver struct {
	env        scenarios.Env
	activities int
}

func newDriver(_ context.Context, env scenarios.Env, opts scenarios.Values) (scenarios.Driver, error) {
	return &driver{env: env, activities: int(opts.Int("activities"))}, nil
}

// WorkflowID names iteration n of a run.
func WorkflowID(runID string, n int64) string { return fmt.Sprintf("%s-%s-%d", Name, runID, n) }

func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	run, err := d.env.Start(ctx, scenarios.StartSpec{ID: WorkflowID(d.env.RunID, it.N), Workflow: "squall.noop", Args: []any{d.activities}})
	if err != nil {
		return err
	}
	return scenarios.Await(ctx, run, nil)
}

// Invariants: noop has none beyond the generic per-workflow check.
func (d *driver) Invariants(context.Context) []scenarios.Invariant { return nil }

func (d *driver) Close() error { return nil }
