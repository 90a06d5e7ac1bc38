package health

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/internal/squalltest"
)

// Two steps, a timer then a side effect: what the worker ran.
func twoSteps(ctx workflow.Context) (string, error) {
	if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
		return "", err
	}
	var v string
	err := workflow.SideEffect(ctx, func(workflow.Context) any { return "x" }).Get(&v)
	return v, err
}

// The same workflow type, changed without workflow.GetVersion: the timer
// is gone. Replaying twoSteps' histories against it must fail.
func twoStepsChanged(ctx workflow.Context) (string, error) {
	var v string
	err := workflow.SideEffect(ctx, func(workflow.Context) any { return "x" }).Get(&v)
	return v, err
}

// A workflow whose task always panics: the SDK fails the task and the
// server retries it, forever.
func alwaysPanics(ctx workflow.Context) error {
	panic("this workflow task always panics")
}

// The replay and stuck-work checks against a real server: each passes on
// healthy work and fails, naming the workflow, on broken work.
func TestOraclesAgainstServer(t *testing.T) {
	squalltest.SkipIfShort(t)
	port := squalltest.ServerPort(t)
	stop := squalltest.StartServer(t, filepath.Join(t.TempDir(), "t.db"), port)
	defer stop()
	cl, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", port), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tq := fmt.Sprintf("health-%d", time.Now().UnixNano())
	w := worker.New(cl, tq, worker.Options{})
	w.RegisterWorkflowWithOptions(twoSteps, workflow.RegisterOptions{Name: "TwoSteps"})
	w.RegisterWorkflowWithOptions(alwaysPanics, workflow.RegisterOptions{Name: "AlwaysPanics"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	began := time.Now().Add(-5 * time.Second)
	var ids []string
	for i := range 3 {
		id := fmt.Sprintf("two-steps-%d", i)
		run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: tq}, "TwoSteps")
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "always-panics", TaskQueue: tq}, "AlwaysPanics"); err != nil {
		t.Fatal(err)
	}
	query := fmt.Sprintf("TaskQueue = '%s' AND StartTime >= '%s'", tq, began.UTC().Format(time.RFC3339))

	// Visibility is eventually consistent: wait until it lists the three.
	waitFor(t, ctx, "visibility to list the completed workflows", func() bool {
		r := Replay(ctx, cl, ReplayOptions{Query: query, Sample: 10, Register: func(r worker.Registry) {
			r.RegisterWorkflowWithOptions(twoSteps, workflow.RegisterOptions{Name: "TwoSteps"})
		}})
		return r.Failed == "" && r.Types["TwoSteps"] != nil && r.Types["TwoSteps"].Replayed == 3
	})

	t.Run("replay", func(t *testing.T) {
		export := t.TempDir()
		good := Replay(ctx, cl, ReplayOptions{Query: query, Sample: 2, ExportDir: export, Register: func(r worker.Registry) {
			r.RegisterWorkflowWithOptions(twoSteps, workflow.RegisterOptions{Name: "TwoSteps"})
		}})
		if inv := good.Invariant(Fail); !inv.OK || good.Types["TwoSteps"].Replayed != 2 || !strings.Contains(inv.Name, "replay") {
			t.Errorf("the code that ran: %+v (sample 2)", inv)
		}
		files, _ := filepath.Glob(filepath.Join(export, "*.json"))
		if len(files) != 2 {
			t.Fatalf("%d exported histories, want 2", len(files))
		}
		// The exported file is what a user's replayer reads.
		rp := worker.NewWorkflowReplayer()
		rp.RegisterWorkflowWithOptions(twoSteps, workflow.RegisterOptions{Name: "TwoSteps"})
		if err := rp.ReplayWorkflowHistoryFromJSONFile(quiet(), files[0]); err != nil {
			t.Errorf("replay of the exported %s: %v", files[0], err)
		}

		bad := Replay(ctx, cl, ReplayOptions{Query: query, Sample: 10, Register: func(r worker.Registry) {
			r.RegisterWorkflowWithOptions(twoStepsChanged, workflow.RegisterOptions{Name: "TwoSteps"})
		}})
		inv := bad.Invariant(Fail)
		if inv.OK || len(bad.Nondeterministic) != 3 {
			t.Fatalf("changed code: %+v", inv)
		}
		if !strings.Contains(inv.Detail, "two-steps-") || !strings.Contains(inv.Detail, "NON-DETERMINISTIC") {
			t.Errorf("the detail does not name the workflow: %s", inv.Detail)
		}
		t.Log(inv.Detail)
	})

	t.Run("stuck", func(t *testing.T) {
		var r *StuckResult
		waitFor(t, ctx, "the panicking workflow's task to reach attempt 3", func() bool {
			r = Stuck(ctx, cl, StuckOptions{Query: query})
			return r.Failed == "" && len(r.Stuck) > 0
		})
		inv := r.Invariant(Fail)
		if inv.OK || len(r.Stuck) != 1 || r.Stuck[0].WorkflowID != "always-panics" || r.TasksByType["AlwaysPanics"] != 1 {
			t.Fatalf("stuck: %+v %+v", inv, r)
		}
		if !strings.Contains(inv.Name, "stuck") || !strings.Contains(inv.Detail, "always-panics (AlwaysPanics, workflow task attempt") {
			t.Errorf("detail: %s", inv.Detail)
		}
		t.Log(inv.Detail)
		// Once it is gone, nothing is stuck.
		if err := cl.TerminateWorkflow(ctx, "always-panics", "", "test over"); err != nil {
			t.Fatal(err)
		}
		if r := Stuck(ctx, cl, StuckOptions{Query: "WorkflowId = 'always-panics'"}); !r.Invariant(Fail).OK {
			t.Errorf("terminated workflow still stuck: %+v", r.Invariant(Fail))
		}
	})
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// quiet discards the SDK's logs (the panicking workflow's stack, each attempt).
func quiet() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}
