package entity

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

type runOutcome struct {
	result Result // when the run completed (closed)
	next   *Input // when the run continued as new
}

// runOnce executes one run of the entity in the SDK test environment with
// the given strategy and state; setup schedules signals and environment
// values before the run starts.
func runOnce(t *testing.T, in Input, setup func(env *testsuite.TestWorkflowEnvironment)) runOutcome {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	if setup != nil {
		setup(env)
	}
	env.ExecuteWorkflow(WorkflowName, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	switch {
	case err == nil:
		var r Result
		if err := env.GetWorkflowResult(&r); err != nil {
			t.Fatal(err)
		}
		return runOutcome{result: r}
	case errors.As(err, &can):
		var next Input
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
			t.Fatalf("decode continue-as-new input: %v", err)
		}
		if can.WorkflowType.Name != WorkflowName {
			t.Fatalf("continued as %q, want %q", can.WorkflowType.Name, WorkflowName)
		}
		return runOutcome{next: &next}
	default:
		t.Fatalf("workflow failed: %v", err)
		return runOutcome{}
	}
}

func mustState(t *testing.T, raw json.RawMessage) State {
	t.Helper()
	st, err := DecodeState(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// expect sums the transactions with ids.
func expect(ids ...int64) (count int64, balance int64, hash uint64) {
	for _, id := range ids {
		count++
		balance += AmountOf(id)
		hash += IDHashOf(id)
	}
	return
}

func tx(id int64) Tx { return Tx{ID: id, Amount: AmountOf(id)} }

func checkBooks(t *testing.T, st State, ids ...int64) {
	t.Helper()
	c, b, h := expect(ids...)
	if st.TxCount != c || st.Balance != b || st.IDHash != h {
		t.Fatalf("state books tx_count %d balance %d hash %x; want %d %d %x (ids %v)", st.TxCount, st.Balance, st.IDHash, c, b, h, ids)
	}
}

// signalAt sends the transactions ids at once at d: all but the last
// without a workflow task, so the run sees them together in one task (as
// happens under load, and when signals arrive while the continue-as-new
// task runs).
func signalAt(env *testsuite.TestWorkflowEnvironment, d time.Duration, ids ...int64) {
	env.RegisterDelayedCallback(func() {
		for i, id := range ids {
			if i < len(ids)-1 {
				env.SignalWorkflowSkippingWorkflowTask(SignalTx, tx(id))
			} else {
				env.SignalWorkflow(SignalTx, tx(id))
			}
		}
	}, d)
}

func TestEventsStrategyDrainsSignalsAtTheBoundary(t *testing.T) {
	in := Input{EntityID: "a", Strategy: Strategy{Kind: KindEvents, Events: 3}}
	out := runOnce(t, in, func(env *testsuite.TestWorkflowEnvironment) {
		signalAt(env, time.Second, 1)
		// The third transaction reaches the threshold; 4, 5 and 6 arrive in
		// the same workflow task, i.e. during the continue-as-new.
		signalAt(env, 2*time.Second, 2, 3, 4, 5, 6)
		signalAt(env, 3*time.Second, 7) // after the run ended: never delivered to it
	})
	if out.next == nil {
		t.Fatal("run did not continue as new")
	}
	st := mustState(t, out.next.State)
	checkBooks(t, st, 1, 2, 3, 4, 5, 6)
	if st.Runs != 1 || st.CANBy[ReasonEvents] != 1 || st.Version != StateVersion {
		t.Fatalf("state %+v", st)
	}
	if out.next.Strategy != in.Strategy || out.next.EntityID != "a" {
		t.Fatalf("next input %+v", out.next)
	}

	// The next run continues the books and closes cleanly.
	out2 := runOnce(t, *out.next, func(env *testsuite.TestWorkflowEnvironment) {
		signalAt(env, time.Second, 7)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalClose, nil) }, 2*time.Second)
	})
	if out2.next != nil {
		t.Fatal("second run continued as new; want it closed")
	}
	checkBooks(t, out2.result.State, 1, 2, 3, 4, 5, 6, 7)
	if out2.result.State.Runs != 2 || out2.result.ProcessedInRun != 1 {
		t.Fatalf("result %+v", out2.result)
	}
}

func TestCloseArrivingWithTheLastSignalsCompletesWithAll(t *testing.T) {
	in := Input{EntityID: "a", Strategy: Strategy{Kind: KindEvents, Events: 2}}
	out := runOnce(t, in, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflowSkippingWorkflowTask(SignalTx, tx(1))
			env.SignalWorkflowSkippingWorkflowTask(SignalClose, nil)
			env.SignalWorkflow(SignalTx, tx(2))
		}, time.Second)
	})
	if out.next != nil {
		t.Fatal("continued as new although close had arrived")
	}
	checkBooks(t, out.result.State, 1, 2)
}

func TestSuggestedStrategyContinuesOnlyWhenSuggested(t *testing.T) {
	in := Input{EntityID: "s", Strategy: Strategy{Kind: KindSuggested}}
	out := runOnce(t, in, func(env *testsuite.TestWorkflowEnvironment) {
		signalAt(env, time.Second, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10) // many: no suggestion yet
		env.RegisterDelayedCallback(func() {
			env.SetContinueAsNewSuggested(true)
			env.SetCurrentHistoryLength(4100)
			env.SetCurrentHistorySize(123456)
		}, 2*time.Second)
		signalAt(env, 3*time.Second, 11, 12, 13) // 12, 13 arrive in the suggesting task
	})
	if out.next == nil {
		t.Fatal("run did not continue as new after the suggestion")
	}
	st := mustState(t, out.next.State)
	checkBooks(t, st, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
	if st.CANBy[ReasonSuggested] != 1 || st.MaxRunLength != 4100 || st.MaxRunBytes != 123456 {
		t.Fatalf("state %+v", st)
	}
}

func TestHybridStrategy(t *testing.T) {
	strat := Strategy{Kind: KindHybrid, Events: 5, MaxAge: time.Hour}
	cases := []struct {
		name   string
		setup  func(env *testsuite.TestWorkflowEnvironment)
		reason string
		ids    []int64
	}{
		{"events first", func(env *testsuite.TestWorkflowEnvironment) {
			signalAt(env, time.Second, 1, 2, 3)
			signalAt(env, 2*time.Second, 4, 5, 6)
		}, ReasonEvents, []int64{1, 2, 3, 4, 5, 6}},
		{"suggestion first", func(env *testsuite.TestWorkflowEnvironment) {
			signalAt(env, time.Second, 1)
			env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 2*time.Second)
			signalAt(env, 3*time.Second, 2)
		}, ReasonSuggested, []int64{1, 2}},
		{"age first, while idle", func(env *testsuite.TestWorkflowEnvironment) {
			signalAt(env, time.Second, 1, 2)
			// Nothing else arrives: the age timer alone ends the run
			// (time skipping makes the hour instant).
		}, ReasonAge, []int64{1, 2}},
		{"age first, on a signal", func(env *testsuite.TestWorkflowEnvironment) {
			signalAt(env, time.Second, 1)
			signalAt(env, 2*time.Hour, 2, 3)
		}, ReasonAge, []int64{1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := runOnce(t, Input{EntityID: "h", Strategy: strat}, c.setup)
			if out.next == nil {
				t.Fatal("run did not continue as new")
			}
			st := mustState(t, out.next.State)
			checkBooks(t, st, c.ids...)
			if len(st.CANBy) != 1 || st.CANBy[c.reason] != 1 {
				t.Fatalf("continue-as-new by %v, want %s", st.CANBy, c.reason)
			}
		})
	}
}

func TestNeverStrategyKeepsRunning(t *testing.T) {
	in := Input{EntityID: "n", Strategy: Strategy{Kind: KindNever}}
	var ids []int64
	out := runOnce(t, in, func(env *testsuite.TestWorkflowEnvironment) {
		for i := int64(1); i <= 50; i++ {
			ids = append(ids, i)
			signalAt(env, time.Duration(i)*time.Second, i)
		}
		env.RegisterDelayedCallback(func() {
			env.SetContinueAsNewSuggested(true) // ignored by never
			env.SetCurrentHistoryLength(60000)
		}, 10*time.Second)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalClose, nil) }, time.Hour)
	})
	if out.next != nil {
		t.Fatal("never continued as new")
	}
	checkBooks(t, out.result.State, ids...)
	if out.result.State.Runs != 1 || len(out.result.State.CANBy) != 0 {
		t.Fatalf("state %+v", out.result.State)
	}
}

// TestMigrationFromV1 starts a run with a v1 state, as a run of the older
// code would have passed on at its continue-as-new: the new run migrates it
// and keeps booking.
func TestMigrationFromV1(t *testing.T) {
	v1 := StateV1{Version: 1, EntityID: "m", Balance: 12.34,
		Transactions: []TxV1{{ID: -1, Amount: 10}, {ID: -2, Amount: 2.34}}, Metadata: map[string]any{"tier": "gold"}}
	raw, err := json.Marshal(v1)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{EntityID: "m", Strategy: Strategy{Kind: KindEvents, Events: 2}, State: raw}
	out := runOnce(t, in, func(env *testsuite.TestWorkflowEnvironment) {
		signalAt(env, time.Second, 1, 2)
	})
	if out.next == nil {
		t.Fatal("run did not continue as new")
	}
	st := mustState(t, out.next.State)
	if st.Version != 2 || st.MigratedFrom != 1 || st.Runs != 2 {
		t.Fatalf("migrated state %+v", st)
	}
	_, b, _ := expect(1, 2)
	if st.Balance != 1234+b || st.TxCount != 4 || st.IDHash != IDHashOf(-1)+IDHashOf(-2)+IDHashOf(1)+IDHashOf(2) {
		t.Fatalf("migrated books %+v", st)
	}
	// What travels on is v2: decoding it again changes nothing.
	again := mustState(t, out.next.State)
	if again.MigratedFrom != 1 || again.Balance != st.Balance {
		t.Fatalf("re-decoded %+v", again)
	}
}

func TestBadStateFailsTheRun(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	env.ExecuteWorkflow(WorkflowName, Input{EntityID: "x", Strategy: Strategy{Kind: KindNever}, State: json.RawMessage(`{"version":9}`)})
	if err := env.GetWorkflowError(); err == nil {
		t.Fatal("a state of an unknown version was accepted")
	}
}
