package fanout

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/scenarios"
)

func newEnv() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ParentWorkflow, workflow.RegisterOptions{Name: WorkflowParent})
	env.RegisterWorkflowWithOptions(ChildWorkflow, workflow.RegisterOptions{Name: WorkflowChild})
	env.RegisterActivityWithOptions(Work, activity.RegisterOptions{Name: ActivityWork})
	env.RegisterActivityWithOptions(Cleanup, activity.RegisterOptions{Name: ActivityCleanup})
	env.SetTestTimeout(time.Minute)
	return env
}

func TestWaitingPatterns(t *testing.T) {
	for _, c := range []struct {
		pattern string
		max     int
		wantMax int64 // children in flight at most
	}{
		{PatternWaitAll, 0, 12},
		{PatternThrottled, 4, 4},
		{PatternRollingWindow, 5, 5},
	} {
		t.Run(c.pattern, func(t *testing.T) {
			env := newEnv()
			var inFlight, maxInFlight, started atomic.Int64
			env.SetOnChildWorkflowStartedListener(func(*workflow.Info, workflow.Context, converter.EncodedValues) {
				started.Add(1)
				if v := inFlight.Add(1); v > maxInFlight.Load() {
					maxInFlight.Store(v)
				}
			})
			env.SetOnChildWorkflowCompletedListener(func(*workflow.Info, converter.EncodedValue, error) { inFlight.Add(-1) })
			env.ExecuteWorkflow(WorkflowParent, ParentInput{Pattern: c.pattern, Children: 12, MaxChildren: c.max,
				ClosePolicy: PolicyTerminate, ChildDuration: 30 * time.Second})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var r ParentResult
			if err := env.GetWorkflowResult(&r); err != nil {
				t.Fatal(err)
			}
			if r.Started != 12 || r.Completed != 12 || r.Failed != 0 || r.Sum != 78 {
				t.Fatalf("result %+v, want 12 started and completed, sum 78", r)
			}
			if started.Load() != 12 || maxInFlight.Load() > c.wantMax {
				t.Fatalf("%d children started, %d at once; want 12, at most %d", started.Load(), maxInFlight.Load(), c.wantMax)
			}
			if c.pattern != PatternWaitAll && maxInFlight.Load() != c.wantMax {
				t.Fatalf("%d children at once, the window allows %d", maxInFlight.Load(), c.wantMax)
			}
		})
	}
}

// Fire-and-forget: the parent closes once its children have started, long
// before they finish (they wait for a release signal).
func TestFireAndForgetParentClosesEarly(t *testing.T) {
	env := newEnv()
	var completed atomic.Int64
	env.SetOnChildWorkflowCompletedListener(func(*workflow.Info, converter.EncodedValue, error) { completed.Add(1) })
	env.ExecuteWorkflow(WorkflowParent, ParentInput{Pattern: PatternFireAndForget, Children: 5, ClosePolicy: PolicyAbandon})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var r ParentResult
	_ = env.GetWorkflowResult(&r)
	if r.Started != 5 || r.Completed != 0 {
		t.Fatalf("result %+v: want 5 started, none awaited", r)
	}
}

func TestChildReleasedCompletes(t *testing.T) {
	env := newEnv()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalRelease, nil) }, time.Minute)
	env.ExecuteWorkflow(WorkflowChild, ChildInput{Index: 4, WaitRelease: true})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var v int64
	_ = env.GetWorkflowResult(&v)
	if v != 5 {
		t.Fatalf("child returned %d, want 5", v)
	}
}

func TestChildNeverReleasedFails(t *testing.T) {
	env := newEnv()
	env.ExecuteWorkflow(WorkflowChild, ChildInput{Index: 0, WaitRelease: true})
	var app *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != "NotReleased" {
		t.Fatalf("want NotReleased after %s, got %v", ReleaseTimeout, err)
	}
}

// REQUEST_CANCEL reaches a child as a cancellation: it cleans up and ends
// cancelled, whether it was waiting for release or sleeping.
func TestChildCancelledCleansUp(t *testing.T) {
	for _, release := range []bool{true, false} {
		env := newEnv()
		var cleanups atomic.Int64
		env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
			if info.ActivityType.Name == ActivityCleanup {
				cleanups.Add(1)
			}
		})
		env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Second)
		env.ExecuteWorkflow(WorkflowChild, ChildInput{Index: 1, WaitRelease: release, Duration: time.Hour})
		if err := env.GetWorkflowError(); !temporal.IsCanceledError(err) {
			t.Fatalf("release=%v: want cancelled, got %v", release, err)
		}
		if cleanups.Load() != 1 {
			t.Fatalf("release=%v: %d cleanup activities, want 1", release, cleanups.Load())
		}
	}
}

func TestExpectedChildState(t *testing.T) {
	for _, c := range []struct{ pattern, policy, want string }{
		{PatternFireAndForget, PolicyTerminate, "terminated"},
		{PatternFireAndForget, PolicyRequestCancel, "canceled"},
		{PatternFireAndForget, PolicyAbandon, "completed"},
		{PatternWaitAll, PolicyTerminate, "completed"},
		{PatternThrottled, PolicyRequestCancel, "completed"},
	} {
		if got := ExpectedChildState(c.pattern, c.policy); got != c.want {
			t.Errorf("%s/%s: %s, want %s", c.pattern, c.policy, got, c.want)
		}
	}
}

// The checks must fail on what a broken close policy or throttle would
// leave behind.
func TestEvaluateCatchesViolations(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	child := func(state string, start, end float64) execution {
		return execution{typ: WorkflowChild, state: state, start: at(start), close: at(end)}
	}
	failed := func(inv []scenarios.Invariant, name string) bool {
		for _, i := range inv {
			if i.Name == name {
				return !i.OK
			}
		}
		t.Fatalf("no invariant %s in %+v", name, inv)
		return false
	}
	eval := func(in ParentInput, parentClose float64, kids []execution, rec parentRec) []scenarios.Invariant {
		d := &driver{in: in, childWant: ExpectedChildState(in.Pattern, in.ClosePolicy)}
		rec.id = "p"
		n := in.Children
		res := ParentResult{Started: n, Completed: n, Sum: int64(n) * int64(n+1) / 2}
		if in.Pattern == PatternFireAndForget {
			res.Completed, res.Sum = 0, 0
		}
		return d.evaluate([]*parentRec{&rec}, []execution{{typ: WorkflowParent, state: "completed", start: t0, close: at(parentClose)}},
			[][]execution{kids}, []ParentResult{res}, []error{nil}, 0)
	}

	ff := func(p string) ParentInput {
		return ParentInput{Pattern: PatternFireAndForget, Children: 2, ClosePolicy: p}
	}
	// TERMINATE, but a child completed on its own: caught.
	inv := eval(ff(PolicyTerminate), 1, []execution{child("terminated", 0.5, 1.2), child("completed", 0.5, 1.1)}, parentRec{})
	if !failed(inv, "children-ended-per-policy") {
		t.Fatal("a completed child under TERMINATE must fail the check")
	}
	// REQUEST_CANCEL honoured: passes.
	inv = eval(ff(PolicyRequestCancel), 1, []execution{child("canceled", 0.5, 1.2), child("canceled", 0.5, 1.3)}, parentRec{})
	if failed(inv, "children-ended-per-policy") || failed(inv, "child-lifetimes") {
		t.Fatalf("honoured policy must pass: %+v", inv)
	}
	// ABANDON, but the children were not running after the parent closed.
	inv = eval(ff(PolicyAbandon), 1, []execution{child("completed", 0.5, 2), child("completed", 0.5, 2)}, parentRec{runningAfterClose: 1, released: 2})
	if !failed(inv, "abandoned-children-outlived-parent") {
		t.Fatal("an abandoned child not running after the parent closed must fail the check")
	}
	// A child closing before its fire-and-forget parent.
	inv = eval(ff(PolicyTerminate), 1, []execution{child("terminated", 0.5, 0.8), child("terminated", 0.5, 1.1)}, parentRec{})
	if !failed(inv, "child-lifetimes") {
		t.Fatal("a child terminated before its parent closed must fail the check")
	}
	// Throttle broken: three children at once with max-children 2.
	thr := ParentInput{Pattern: PatternThrottled, Children: 3, MaxChildren: 2}
	inv = eval(thr, 5, []execution{child("completed", 0, 2), child("completed", 0.1, 2), child("completed", 1, 3)}, parentRec{})
	if !failed(inv, "max-concurrent-children") {
		t.Fatal("3 children at once with max-children 2 must fail the check")
	}
	inv = eval(thr, 5, []execution{child("completed", 0, 2), child("completed", 0.1, 2), child("completed", 2, 3)}, parentRec{})
	if failed(inv, "max-concurrent-children") {
		t.Fatalf("back-to-back children are not concurrent: %+v", inv)
	}
	// Rolling window: the second batch started before the first finished.
	rw := ParentInput{Pattern: PatternRollingWindow, Children: 4, MaxChildren: 2}
	inv = eval(rw, 9, []execution{child("completed", 0, 2), child("completed", 0, 4), child("completed", 3, 5), child("completed", 4.5, 6)}, parentRec{})
	if !failed(inv, "max-concurrent-children") {
		t.Fatal("a batch starting before the previous one finished must fail the check")
	}
	// A waiting parent that closed before its child.
	inv = eval(ParentInput{Pattern: PatternWaitAll, Children: 1}, 1, []execution{child("completed", 0, 2)}, parentRec{})
	if !failed(inv, "child-lifetimes") {
		t.Fatal("a child outliving a waiting parent must fail the check")
	}
	// A missing child.
	inv = eval(ParentInput{Pattern: PatternWaitAll, Children: 1}, 3, []execution{{state: "missing"}}, parentRec{})
	if !failed(inv, "children-ended-per-policy") || !strings.Contains(inv[0].Detail, "missing") {
		t.Fatalf("a missing child must fail the check: %+v", inv)
	}
}
