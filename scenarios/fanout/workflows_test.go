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
	"github.com/squallbench/squall/scenarios/check"
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
	for _, c := range []struct {
		pattern, policy string
		want            scenarios.Expect
	}{
		{PatternFireAndForget, PolicyTerminate, scenarios.ExpectTerminated},
		{PatternFireAndForget, PolicyRequestCancel, scenarios.ExpectCanceled},
		{PatternFireAndForget, PolicyAbandon, scenarios.ExpectCompleted},
		{PatternWaitAll, PolicyTerminate, scenarios.ExpectCompleted},
		{PatternThrottled, PolicyRequestCancel, scenarios.ExpectCompleted},
	} {
		if got := ExpectedChildState(c.pattern, c.policy); got != c.want {
			t.Errorf("%s/%s: %s, want %s", c.pattern, c.policy, got, c.want)
		}
	}
}

// The checks must fail on what a broken close policy or throttle would
// leave behind.
func TestJudgeCatchesViolations(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	child := func(state string, start, end float64) check.Execution {
		return check.Execution{Type: WorkflowChild, Status: state, Start: at(start), Close: at(end)}
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
	eval := func(in ParentInput, parentClose float64, kids []check.Execution, o parentObs) []scenarios.Invariant {
		d := &driver{in: in, childWant: ExpectedChildState(in.Pattern, in.ClosePolicy)}
		n := in.Children
		o.id, o.kids = "p", kids
		o.parent = check.Execution{Type: WorkflowParent, Status: "completed", Start: t0, Close: at(parentClose)}
		o.result = ParentResult{Started: n, Completed: n, Sum: int64(n) * int64(n+1) / 2}
		if in.Pattern == PatternFireAndForget {
			o.result.Completed, o.result.Sum = 0, 0
		}
		d.judge(o)
		return d.Invariants(context.Background())
	}

	ff := func(p string) ParentInput {
		return ParentInput{Pattern: PatternFireAndForget, Children: 2, ClosePolicy: p}
	}
	// REQUEST_CANCEL honoured: passes.
	inv := eval(ff(PolicyRequestCancel), 1, []check.Execution{child("canceled", 0.5, 1.2), child("canceled", 0.5, 1.3)}, parentObs{})
	if failed(inv, "child-lifetimes") || failed(inv, "parent-results") {
		t.Fatalf("honoured policy must pass: %+v", inv)
	}
	// ABANDON, but the children were not running after the parent closed.
	inv = eval(ff(PolicyAbandon), 1, []check.Execution{child("completed", 0.5, 2), child("completed", 0.5, 2)}, parentObs{runningAfterClose: 1, released: 2})
	if !failed(inv, "abandoned-children-outlived-parent") {
		t.Fatal("an abandoned child not running after the parent closed must fail the check")
	}
	// A child closing before its fire-and-forget parent.
	inv = eval(ff(PolicyTerminate), 1, []check.Execution{child("terminated", 0.5, 0.8), child("terminated", 0.5, 1.1)}, parentObs{})
	if !failed(inv, "child-lifetimes") {
		t.Fatal("a child terminated before its parent closed must fail the check")
	}
	// Throttle broken: three children at once with max-children 2.
	thr := ParentInput{Pattern: PatternThrottled, Children: 3, MaxChildren: 2}
	inv = eval(thr, 5, []check.Execution{child("completed", 0, 2), child("completed", 0.1, 2), child("completed", 1, 3)}, parentObs{})
	if !failed(inv, "max-concurrent-children") {
		t.Fatal("3 children at once with max-children 2 must fail the check")
	}
	inv = eval(thr, 5, []check.Execution{child("completed", 0, 2), child("completed", 0.1, 2), child("completed", 2, 3)}, parentObs{})
	if failed(inv, "max-concurrent-children") {
		t.Fatalf("back-to-back children are not concurrent: %+v", inv)
	}
	// Rolling window: the second batch started before the first finished.
	rw := ParentInput{Pattern: PatternRollingWindow, Children: 4, MaxChildren: 2}
	inv = eval(rw, 9, []check.Execution{child("completed", 0, 2), child("completed", 0, 4), child("completed", 3, 5), child("completed", 4.5, 6)}, parentObs{})
	if !failed(inv, "max-concurrent-children") {
		t.Fatal("a batch starting before the previous one finished must fail the check")
	}
	// A waiting parent that closed before its child.
	inv = eval(ParentInput{Pattern: PatternWaitAll, Children: 1}, 1, []check.Execution{child("completed", 0, 2)}, parentObs{})
	if !failed(inv, "child-lifetimes") || !strings.Contains(inv[0].Detail, "after the parent that waits for it") {
		t.Fatalf("a child outliving a waiting parent must fail the check: %+v", inv)
	}
	// A parent that did not see its children's results.
	d := &driver{in: ParentInput{Pattern: PatternWaitAll, Children: 2}, childWant: scenarios.ExpectCompleted}
	d.judge(parentObs{id: "p", result: ParentResult{Started: 2, Completed: 1, Failed: 1, Sum: 1}, kids: make([]check.Execution, 2)})
	if !failed(d.Invariants(context.Background()), "parent-results") {
		t.Fatal("a parent with a failed child must fail parent-results")
	}
	// Nothing judged: the checks would be vacuous.
	if inv := (&driver{}).Invariants(context.Background()); len(inv) != 1 || inv[0].OK {
		t.Fatalf("no parent judged must fail: %+v", inv)
	}
}

// policy-wait must cover a child's recovery from a killed worker where
// the child ends through its own activity.
func TestValidatePolicyWaitCoversRecovery(t *testing.T) {
	s, _ := scenarios.Get(Name)
	for _, c := range []struct {
		policy, wait string
		ok           bool
	}{
		{PolicyRequestCancel, "30s", true},
		{PolicyRequestCancel, "19s", false},
		{PolicyAbandon, "5s", false},
		{PolicyTerminate, "5s", true}, // the server alone ends them
	} {
		v, err := s.ParseOptions(map[string]string{"pattern": PatternFireAndForget, "close-policy": c.policy, "policy-wait": c.wait})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Validate(v, scenarios.Load{})
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "recovery")) {
			t.Errorf("%s policy-wait=%s: %v, want ok %v", c.policy, c.wait, err, c.ok)
		}
	}
}
