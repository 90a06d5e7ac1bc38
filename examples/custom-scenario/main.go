// Command custom-squall is squall with one scenario of your own: it
// imports squall as a library, registers the scenario in init, and gets
// the whole command line (run, capacity, worker, compare, ...). squall run
// starts its workers from this same binary, so they serve the scenario too.
//
//	go build -o custom-squall . && ./custom-squall run --scenario greeting
package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/cli"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
)

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name:        "greeting",
		Description: "example: a workflow that asks an activity to greet a name and returns the greeting",
		Options: []scenarios.Option{
			{Name: "greeting", Kind: scenarios.String, Default: "Hello", Help: "the word the activity greets with"},
		},
		Defaults: scenarios.Defaults{Rate: "10/s", Duration: 10 * time.Second},
		Register: func(r worker.Registry) {
			r.RegisterWorkflowWithOptions(Greet, workflow.RegisterOptions{Name: "example.greet"})
			r.RegisterActivityWithOptions(Compose, activity.RegisterOptions{Name: "example.compose"})
		},
		New: func(_ context.Context, env scenarios.Env, o scenarios.Values) (scenarios.Driver, error) {
			return &driver{env: env, greeting: o.String("greeting")}, nil
		},
	})
}

// Input is what one workflow gets.
type Input struct{ Greeting, Name string }

// Greet is the workflow: one activity, its result returned.
func Greet(ctx workflow.Context, in Input) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var s string
	err := workflow.ExecuteActivity(ctx, "example.compose", in).Get(ctx, &s)
	return s, err
}

// Compose is the activity.
func Compose(_ context.Context, in Input) (string, error) {
	return in.Greeting + ", " + in.Name + "!", nil
}

type driver struct {
	env      scenarios.Env
	greeting string

	mu      sync.Mutex // iterations run concurrently
	wrong   check.Problems
	checked int
}

// Iterate starts one workflow through the harness (which journals and
// verifies it) and checks its answer: the one invariant of its own.
func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	name := fmt.Sprintf("user-%d", it.N)
	run, err := d.env.Start(ctx, scenarios.StartSpec{ID: fmt.Sprintf("greeting-%s-%d", d.env.RunID, it.N),
		Workflow: "example.greet", Args: []any{Input{Greeting: d.greeting, Name: name}}})
	if err != nil {
		return err
	}
	var got string
	if err := scenarios.Await(ctx, run, &got); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.checked++
	if want := d.greeting + ", " + name + "!"; got != want {
		d.wrong.Add("%s: got %q, want %q", run.GetID(), got, want)
	}
	return nil
}

func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	d.mu.Lock()
	defer d.mu.Unlock()
	return []scenarios.Invariant{d.wrong.Invariant("greetings-correct", fmt.Sprintf("%d greetings, each as asked", d.checked))}
}

func (d *driver) Close() error { return nil }

func main() { cli.Main() }
