package entity

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// The continue-as-new rules around messages, each tested on Workflow and
// on a variant that breaks it (the test must fail there).

// variant registers a workflow that keeps r instead of every rule.
func variant(r rules) func(workflow.Context, Input) (Result, error) {
	return func(ctx workflow.Context, in Input) (Result, error) { return run(ctx, in, r) }
}

// answers collects what each tx update got back.
type answers struct {
	accepted, rejected, completed map[int64]int
	got                           map[int64]TxAnswer
	failed                        map[int64]error
}

func newAnswers() *answers {
	return &answers{accepted: map[int64]int{}, rejected: map[int64]int{}, completed: map[int64]int{},
		got: map[int64]TxAnswer{}, failed: map[int64]error{}}
}

func (a *answers) send(env *testsuite.TestWorkflowEnvironment, t Tx, uid string) {
	env.UpdateWorkflow(UpdateTx, uid, &testsuite.TestUpdateCallback{
		OnAccept: func() { a.accepted[t.ID]++ },
		OnReject: func(error) { a.rejected[t.ID]++ },
		OnComplete: func(v any, err error) {
			a.completed[t.ID]++
			if err != nil {
				a.failed[t.ID] = err
				return
			}
			var ans TxAnswer
			if p, ok := v.(converter.EncodedValue); ok {
				_ = p.Get(&ans)
			} else if x, ok := v.(TxAnswer); ok {
				ans = x
			}
			a.got[t.ID] = ans
		},
	}, t)
}

// runVariant runs one run of wf (registered under the entity's name).
func runVariant(t *testing.T, wf func(workflow.Context, Input) (Result, error), in Input, setup func(env *testsuite.TestWorkflowEnvironment)) (runOutcome, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: WorkflowName})
	setup(env)
	env.ExecuteWorkflow(WorkflowName, in)
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	switch {
	case err == nil:
		var r Result
		if err := env.GetWorkflowResult(&r); err != nil {
			return runOutcome{}, err
		}
		return runOutcome{result: r}, nil
	case errors.As(err, &can):
		var next Input
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
			return runOutcome{}, err
		}
		return runOutcome{next: &next}, nil
	default:
		return runOutcome{}, err
	}
}

// signalsInTheDecidingTask: transactions 1 and 2, then 3..6 in one task
// (the one that reaches events:3 and decides to continue): all six must be
// in the state handed on.
func signalsInTheDecidingTask(wf func(workflow.Context, Input) (Result, error), t *testing.T) error {
	out, err := runVariant(t, wf, Input{EntityID: "d", Strategy: Strategy{Kind: KindEvents, Events: 3}}, func(env *testsuite.TestWorkflowEnvironment) {
		signalAt(env, time.Second, 1, 2)
		signalAt(env, 2*time.Second, 3, 4, 5, 6)
	})
	if err != nil {
		return err
	}
	if out.next == nil {
		return errors.New("did not continue as new")
	}
	st, err := DecodeState(out.next.State, "d")
	if err != nil {
		return err
	}
	if c, b, h := expect(1, 2, 3, 4, 5, 6); st.TxCount != c || st.Balance != b || st.IDHash != h {
		return errors.New("the state handed on misses transactions delivered to the run that continued")
	}
	return nil
}

func TestSignalsArrivingDuringTheContinueAsNewTaskStayOnTheirRun(t *testing.T) {
	if err := signalsInTheDecidingTask(Workflow, t); err != nil {
		t.Fatal(err)
	}
	if err := signalsInTheDecidingTask(variant(rules{awaitHandlers: true, validate: true}), t); err == nil {
		t.Fatal("a variant that does not drain before continuing passed")
	}
}

// updatesInTheDecidingTask: signals 1 and 2 and update 3 arrive in one
// task; the signals reach events:2 and the run decides to continue before
// update 3's handler has run. The update must still be applied and
// answered by this run (balance of 1+2+3, count 3) and be in the state
// handed on. (The test environment delivers each update in a task of its
// own, so an update admitted after the decision is not offered to this
// run at all; on a real server it goes to the new run.)
func updatesInTheDecidingTask(wf func(workflow.Context, Input) (Result, error), t *testing.T) error {
	a := newAnswers()
	out, err := runVariant(t, wf, Input{EntityID: "u", Strategy: Strategy{Kind: KindEvents, Events: 2}}, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflowSkippingWorkflowTask(SignalTx, tx(1))
			env.SignalWorkflowSkippingWorkflowTask(SignalTx, tx(2))
			a.send(env, tx(3), "")
		}, time.Second)
	})
	if err != nil {
		return err
	}
	if out.next == nil {
		return errors.New("did not continue as new")
	}
	st, err := DecodeState(out.next.State, "u")
	if err != nil {
		return err
	}
	_, balance, _ := expect(1, 2, 3)
	if a.accepted[3] != 1 {
		return errors.New("update 3 was not accepted by the run")
	}
	if a.completed[3] != 1 || a.failed[3] != nil {
		return errors.New("an update accepted by the continuing run was not answered exactly once")
	}
	if g := a.got[3]; g.Balance != balance || g.TxCount != 3 {
		return errors.New("the answer is not the balance its transaction produced")
	}
	if st.TxCount != 3 || st.Balance != balance {
		return errors.New("the state handed on misses an accepted update")
	}
	return nil
}

func TestUpdatesAdmittedInTheContinueAsNewTaskAreAnsweredBeforeIt(t *testing.T) {
	if err := updatesInTheDecidingTask(Workflow, t); err != nil {
		t.Fatal(err)
	}
	if err := updatesInTheDecidingTask(variant(rules{drain: true, validate: true}), t); err == nil {
		t.Fatal("a variant that continues as new with handlers unfinished passed")
	}
}

// handlersAtClose: close arrives with an update in one task; the run
// decides to close before the update's handler ran: it must be answered
// before the entity completes.
func handlersAtClose(wf func(workflow.Context, Input) (Result, error), t *testing.T) error {
	a := newAnswers()
	out, err := runVariant(t, wf, Input{EntityID: "c", Strategy: Strategy{Kind: KindEvents, Events: 100}}, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflowSkippingWorkflowTask(SignalClose, nil)
			a.send(env, tx(1), "")
		}, time.Second)
	})
	if err != nil {
		return err
	}
	if out.next != nil {
		return errors.New("continued as new instead of closing")
	}
	if a.accepted[1] != 1 || a.completed[1] != 1 || a.failed[1] != nil || a.got[1].Balance != AmountOf(1) {
		return errors.New("the update delivered with close was not answered")
	}
	if out.result.State.TxCount != 1 {
		return errors.New("the closed entity misses an accepted update")
	}
	return nil
}

// malformedRejected: a malformed transaction is rejected by the validator
// and leaves the books alone.
func malformedRejected(wf func(workflow.Context, Input) (Result, error), t *testing.T) error {
	a := newAnswers()
	bad := Tx{ID: 7, Amount: MaxAmount + 1}
	out, err := runVariant(t, wf, Input{EntityID: "v", Strategy: Strategy{Kind: KindEvents, Events: 100}}, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() { a.send(env, bad, "bad") }, time.Second)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalClose, nil) }, 2*time.Second)
	})
	if err != nil {
		return err
	}
	if a.rejected[7] != 1 || a.accepted[7] != 0 || out.result.State.TxCount != 0 {
		return errors.New("a malformed transaction was accepted")
	}
	return nil
}

func TestValidatorRejectsMalformedTransactions(t *testing.T) {
	if err := malformedRejected(Workflow, t); err != nil {
		t.Fatal(err)
	}
	if err := malformedRejected(variant(rules{drain: true, awaitHandlers: true}), t); err == nil {
		t.Fatal("a variant without the validator passed")
	}
}

func TestAgeStrategyContinuesWhileIdle(t *testing.T) {
	in := Input{EntityID: "g", Strategy: Strategy{Kind: KindAge, MaxAge: 30 * time.Minute}}
	out := runOnce(t, in, func(env *testsuite.TestWorkflowEnvironment) {
		signalAt(env, time.Second, 1, 2) // then nothing: only the timer can end the run
	})
	if out.next == nil {
		t.Fatal("age:30m did not continue as new while idle")
	}
	st := mustState(t, out.next.State)
	checkBooks(t, st, 1, 2)
	if len(st.CANBy) != 1 || st.CANBy[ReasonAge] != 1 {
		t.Fatalf("continue-as-new by %v, want age", st.CANBy)
	}
}

// TestRepeatAfterContinueAsNewIsAnsweredNotApplied: the server dedupes
// update ids within a run only; an update applied by the previous run and
// delivered again to this one gets its original answer and leaves the
// books alone.
func TestRepeatAfterContinueAsNewIsAnsweredNotApplied(t *testing.T) {
	prev := NewState("r")
	prev.Apply(tx(5))
	orig := TxAnswer{Balance: prev.Balance, TxCount: 1, RunID: "run-before"}
	prev.remember(5, orig)
	prev.Runs = 1
	raw, err := EncodeState(prev)
	if err != nil {
		t.Fatal(err)
	}
	a := newAnswers()
	out := runOnce(t, Input{EntityID: "r", Strategy: Strategy{Kind: KindEvents, Events: 100}, State: raw}, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() { a.send(env, tx(5), "tx-5") }, time.Second)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalClose, nil) }, 2*time.Second)
	})
	if a.completed[5] != 1 || a.got[5] != orig {
		t.Fatalf("repeat answered %+v (completed %d), want the original %+v", a.got[5], a.completed[5], orig)
	}
	checkBooks(t, out.result.State, 5)
}
