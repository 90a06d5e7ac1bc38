package approval

import (
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
)

// decideCalls records each decision update's fate.
type decideCalls struct{ accepted, rejected map[string]int }

func decide(env *testsuite.TestWorkflowEnvironment, dc *decideCalls, id string, d DecideUpdate, got *DecideResult) {
	env.UpdateWorkflow(UpdateDecide, id, &testsuite.TestUpdateCallback{
		OnAccept: func() { dc.accepted[id]++ },
		OnReject: func(error) { dc.rejected[id]++ },
		OnComplete: func(v any, err error) {
			if r, ok := v.(DecideResult); ok && got != nil {
				*got = r
			}
		},
	}, d)
}

// The chain by update: a decision for a level the request does not wait
// for, a second decision for a decided level and a decision after the
// request closed are rejected; the right ones are accepted and answered
// with their level's outcome.
func TestChainDecidedByUpdate(t *testing.T) {
	c := &calls{}
	env := newEnv(t, c)
	dc := &decideCalls{accepted: map[string]int{}, rejected: map[string]int{}}
	var mgr, dir DecideResult
	env.RegisterDelayedCallback(func() { decide(env, dc, "wrong", DecideUpdate{Level: Director, Approve: true}, nil) }, time.Hour)
	env.RegisterDelayedCallback(func() { decide(env, dc, "mgr", DecideUpdate{Level: Manager, Approve: true, Approver: "m"}, &mgr) }, 2*time.Hour)
	env.RegisterDelayedCallback(func() { decide(env, dc, "dir", DecideUpdate{Level: Director, Reason: "no"}, &dir) }, 3*time.Hour)
	env.RegisterDelayedCallback(func() { decide(env, dc, "again", DecideUpdate{Level: Director, Approve: true}, nil) }, 3*time.Hour+time.Minute)
	env.ExecuteWorkflow(WorkflowChain, Input{Request: Request{ID: "r", Amount: 50_000}, Timeout: 24 * time.Hour})
	o := outcome(t, env)
	if o.Status != StatusRejected || o.Level != Director || o.Reason != "no" || len(c.executed) != 0 {
		t.Fatalf("outcome %+v executed %v", o, c.executed)
	}
	if dc.rejected["wrong"] != 1 || dc.accepted["wrong"] != 0 {
		t.Errorf("wrong-level decision: %+v", dc)
	}
	if dc.accepted["mgr"] != 1 || mgr != (DecideResult{Level: Manager, Status: StatusApproved}) {
		t.Errorf("manager decision: %+v answered %+v", dc, mgr)
	}
	if dc.accepted["dir"] != 1 || dir != (DecideResult{Level: Director, Status: StatusRejected}) {
		t.Errorf("director decision: %+v answered %+v", dc, dir)
	}
	if dc.accepted["again"] != 0 {
		t.Errorf("a decision after the request closed was accepted: %+v", dc)
	}
}
