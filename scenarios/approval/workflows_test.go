package approval

import (
	"context"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

type calls struct {
	mu       sync.Mutex
	notified []string
	executed []string
}

func newEnv(t *testing.T, c *calls) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(SingleWorkflow, workflow.RegisterOptions{Name: WorkflowSingle})
	env.RegisterWorkflowWithOptions(ChainWorkflow, workflow.RegisterOptions{Name: WorkflowChain})
	env.RegisterActivityWithOptions(Validate, activity.RegisterOptions{Name: ActivityValidate})
	env.RegisterActivityWithOptions(func(_ context.Context, in NotifyInput) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.notified = append(c.notified, in.Level)
		return nil
	}, activity.RegisterOptions{Name: ActivityNotify})
	env.RegisterActivityWithOptions(func(_ context.Context, in NotifyInput) (string, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.executed = append(c.executed, in.Key)
		return "done", nil
	}, activity.RegisterOptions{Name: ActivityExecute})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "req-1"})
	return env
}

func outcome(t *testing.T, env *testsuite.TestWorkflowEnvironment) Outcome {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var o Outcome
	if err := env.GetWorkflowResult(&o); err != nil {
		t.Fatal(err)
	}
	return o
}

const week = 7 * 24 * time.Hour

// A production-length 7-day approval, approved on day three; the status query
// answers "waiting" before and "approved" after.
func TestSingleApprovedOnDayThree(t *testing.T) {
	c := &calls{}
	env := newEnv(t, c)
	start := env.Now()
	query := func() SingleStatus {
		v, err := env.QueryWorkflow(QueryStatus)
		if err != nil {
			t.Fatal(err)
		}
		var s SingleStatus
		if err := v.Get(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	env.RegisterDelayedCallback(func() {
		if s := query(); s != (SingleStatus{Waiting: true}) {
			t.Errorf("day 2: %+v, want waiting", s)
		}
	}, 48*time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalApprove, "alice") }, 72*time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalReject, "too late, already approved") }, 73*time.Hour)
	env.ExecuteWorkflow(WorkflowSingle, Input{Request: Request{ID: "r", Amount: 500}, Timeout: week})
	o := outcome(t, env)
	if o.Status != StatusApproved || len(c.executed) != 1 || len(c.notified) != 1 {
		t.Errorf("outcome %+v, executed %v, notified %v", o, c.executed, c.notified)
	}
	if s := query(); s != (SingleStatus{Approved: true}) {
		t.Errorf("after: %+v", s)
	}
	if d := env.Now().Sub(start); d < 72*time.Hour || d > 73*time.Hour {
		t.Errorf("ended after %s, want just after the day-3 approval", d)
	}
}

// Nobody answers: the request times out after exactly seven days and
// nothing is executed.
func TestSingleTimesOutAfterSevenDays(t *testing.T) {
	c := &calls{}
	env := newEnv(t, c)
	start := env.Now()
	env.ExecuteWorkflow(WorkflowSingle, Input{Request: Request{ID: "r", Amount: 500}, Timeout: week})
	o := outcome(t, env)
	if o.Status != StatusTimeout || len(c.executed) != 0 {
		t.Errorf("outcome %+v, executed %v", o, c.executed)
	}
	if d := env.Now().Sub(start); d < week || d > week+time.Minute {
		t.Errorf("timed out after %s, want 7 days", d)
	}
}

func TestSingleRejectedAndInvalid(t *testing.T) {
	c := &calls{}
	env := newEnv(t, c)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalReject, "budget") }, time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalApprove, "bob") }, 2*time.Hour)
	env.ExecuteWorkflow(WorkflowSingle, Input{Request: Request{ID: "r", Amount: 500}, Timeout: week})
	if o := outcome(t, env); o.Status != StatusRejected || o.Reason != "budget" || len(c.executed) != 0 {
		t.Errorf("outcome %+v executed %v", o, c.executed)
	}
	c2 := &calls{}
	env = newEnv(t, c2)
	env.ExecuteWorkflow(WorkflowSingle, Input{Request: Request{ID: "r", Amount: -1}, Timeout: week})
	if o := outcome(t, env); o.Status != StatusRejected || len(c2.notified) != 0 {
		t.Errorf("invalid request: %+v, notified %v", o, c2.notified)
	}
}

func TestLevelsByAmount(t *testing.T) {
	for _, tc := range []struct {
		amount float64
		n      int
	}{{9_999.99, 1}, {10_000, 2}, {99_999, 2}, {100_000, 3}, {999_999, 3}, {1_000_000, 4}, {5e6, 4}} {
		if got := Levels(tc.amount); len(got) != tc.n || got[0] != Manager {
			t.Errorf("%.2f: %v, want %d levels", tc.amount, got, tc.n)
		}
	}
}

// A 500,000 request needs manager, director and VP, 24 h each. Manager
// approves after 2 h, a signal for the wrong level is ignored, director
// approves after 20 h, the VP never answers: timeout at the VP after
// 2 h + 20 h + 24 h. The query answers correctly all along.
func TestChainTimesOutAtVP(t *testing.T) {
	c := &calls{}
	env := newEnv(t, c)
	start := env.Now()
	levels := []string{Manager, Director, VP}
	expect := func(at string, i int, after bool, action string) {
		v, err := env.QueryWorkflow(QueryChainStatus)
		if err != nil {
			t.Fatal(err)
		}
		var st ChainStatus
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		if why := chainMismatch(st, levels, i, after, action); why != "" {
			t.Errorf("%s: %s", at, why)
		}
	}
	h := time.Hour
	env.RegisterDelayedCallback(func() { expect("1h", 0, false, "") }, h)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalApproveStep, StepSignal{Level: Director, Approver: "early"}) // not current: ignored
		env.SignalWorkflow(SignalApproveStep, StepSignal{Level: Manager, Approver: "mia"})
	}, 2*h)
	env.RegisterDelayedCallback(func() { expect("3h", 0, true, ActApprove) }, 3*h)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalApproveStep, StepSignal{Level: Director, Approver: "dan"}) }, 22*h)
	env.RegisterDelayedCallback(func() { expect("23h", 1, true, ActApprove) }, 23*h)
	env.RegisterDelayedCallback(func() { expect("40h", 2, false, "") }, 40*h)
	env.ExecuteWorkflow(WorkflowChain, Input{Request: Request{ID: "r", Amount: 500_000}, Timeout: 24 * h})
	o := outcome(t, env)
	if o.Status != StatusTimeout || o.Level != VP || len(c.executed) != 0 {
		t.Errorf("outcome %+v executed %v", o, c.executed)
	}
	if len(c.notified) != 3 {
		t.Errorf("notified %v, want all three levels", c.notified)
	}
	if d := env.Now().Sub(start); d < 46*h || d > 46*h+time.Minute {
		t.Errorf("ended after %s, want 46 h", d)
	}
}

func TestChainApprovedAndRejected(t *testing.T) {
	c := &calls{}
	env := newEnv(t, c)
	for i, l := range []string{Manager, Director, VP, CEO} {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalApproveStep, StepSignal{Level: l, Approver: "x-" + l}) },
			time.Duration(i+1)*10*time.Hour)
	}
	env.ExecuteWorkflow(WorkflowChain, Input{Request: Request{ID: "r", Amount: 2_000_000}, Timeout: 24 * time.Hour})
	o := outcome(t, env)
	if o.Status != StatusApproved || len(o.Chain) != 4 || o.Chain[3].ApprovedBy != "x-ceo" || len(c.executed) != 1 {
		t.Errorf("outcome %+v executed %v", o, c.executed)
	}
	c2 := &calls{}
	env = newEnv(t, c2)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalApproveStep, StepSignal{Level: Manager, Approver: "m"}) }, time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalRejectStep, StepSignal{Level: Director, Reason: "no"}) }, 2*time.Hour)
	env.ExecuteWorkflow(WorkflowChain, Input{Request: Request{ID: "r", Amount: 50_000}, Timeout: 24 * time.Hour})
	if o := outcome(t, env); o.Status != StatusRejected || o.Level != Director || o.Reason != "no" || len(c2.executed) != 0 {
		t.Errorf("outcome %+v executed %v", o, c2.executed)
	}
}

// The plan's expected outcome follows the decisions in order; delays in
// the race band are moved past the timeout, the margin and the recovery
// of a lost notification.
func TestPlan(t *testing.T) {
	cfg := PlanConfig{Chain: true, Approve: 0.6, Reject: 0.2, Dist: DistUniform, Mean: 5 * time.Second, Timeout: 8 * time.Second,
		Margin: time.Second, MinAmount: 1000, MaxAmt: 5e6}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	lengths := map[int]int{}
	for n := int64(0); n < 4000; n++ {
		p := NewPlan(cfg, rand.New(rand.NewSource(n)))
		lengths[len(p.Levels)]++
		counts[p.Want.Status]++
		for i, d := range p.Decisions {
			last := i == len(p.Decisions)-1
			if d.Delay > cfg.Timeout-cfg.Margin && d.Delay < cfg.LateDelay() && d.Action != ActIgnore {
				t.Fatalf("plan %d: delay %s in the race band", n, d.Delay)
			}
			if d.Late != (d.Action != ActIgnore && d.Delay >= cfg.LateDelay()) {
				t.Fatalf("plan %d: %+v late flag wrong", n, d)
			}
			decisive := d.Action != ActApprove || d.Late
			if decisive != (last && p.Want.Status != StatusApproved) {
				t.Fatalf("plan %d: decision %d %+v, want %+v", n, i, d, p.Want)
			}
			if decisive && p.Want.Level != d.Level {
				t.Fatalf("plan %d: decided at %s, want level %s", n, d.Level, p.Want.Level)
			}
		}
		if p.Want.Status == StatusApproved && len(p.Decisions) != len(p.Levels) {
			t.Fatalf("plan %d approved with %d of %d decisions", n, len(p.Decisions), len(p.Levels))
		}
		if p.Amount < 1000 || p.Amount > 5e6 {
			t.Fatalf("amount %f", p.Amount)
		}
	}
	for l := 1; l <= 4; l++ {
		if lengths[l] < 500 {
			t.Errorf("chain length %d drawn %d times of 4000: log-uniform amounts reach every length", l, lengths[l])
		}
	}
	for _, s := range []string{StatusApproved, StatusRejected, StatusTimeout} {
		if counts[s] == 0 {
			t.Errorf("no %s outcome in 4000 plans", s)
		}
	}
	bad := cfg
	bad.Approve, bad.Reject = 0.8, 0.3
	if bad.Check() == nil {
		t.Error("approve+reject > 1 accepted")
	}
	short := cfg
	short.Timeout, short.Margin = NotifyRecovery, time.Second
	if err := short.Check(); err == nil || !strings.Contains(err.Error(), "recovery of a lost notification") {
		t.Errorf("a window no longer than a lost notification's recovery: %v", err)
	}
}
