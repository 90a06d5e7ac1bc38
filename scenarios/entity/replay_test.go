package entity

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios/fakes/historytest"
)

// Histories recorded from the embedded server (see TestRecordHistories):
// an entity run that continued as new with signals batched at the boundary,
// and the run after it, closed; the same with transactions as updates
// (and a malformed one rejected) beside the signals.
var recorded = []string{"testdata/entity-run1-continued.json", "testdata/entity-run2-closed.json",
	"testdata/entity-updates-run1-continued.json", "testdata/entity-updates-run2-closed.json"}

// TestReplayRecordedHistories replays real histories against the current
// workflow code: a change that breaks determinism for running entities
// fails here.
func TestReplayRecordedHistories(t *testing.T) {
	for _, path := range recorded {
		t.Run(filepath.Base(path), func(t *testing.T) {
			historytest.ReplayFile(t, historytest.Workflows{WorkflowName: Workflow}.Register, path, "")
		})
	}
}

// TestRecordHistories (re)records the histories above from a real embedded
// server: SQUALL_RECORD_HISTORIES=1 go test -run TestRecordHistories.
func TestRecordHistories(t *testing.T) {
	tq := "record-entity"
	cl := historytest.Record(t, tq, Register)
	ctx := context.Background()
	id := "entity-record"
	strat := Strategy{Kind: KindEvents, Events: 5}
	opts := client.StartWorkflowOptions{ID: id, TaskQueue: tq}
	run, err := cl.SignalWithStartWorkflow(ctx, id, SignalTx, tx(1), opts, WorkflowName, Input{EntityID: id, Strategy: strat})
	if err != nil {
		t.Fatal(err)
	}
	first := run.GetRunID()
	for i := int64(2); i <= 9; i++ {
		if err := cl.SignalWorkflow(ctx, id, "", SignalTx, tx(i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	if err := cl.SignalWorkflow(ctx, id, "", SignalClose, nil); err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := cl.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	checkBooks(t, res.State, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	if res.State.Runs != 2 {
		t.Fatalf("runs %d, want 2 (recording needs one continue-as-new)", res.State.Runs)
	}
	historytest.WriteRun(t, cl, id, first, recorded[0])
	historytest.WriteRun(t, cl, id, "", recorded[1])
}

// TestRecordUpdateHistories (re)records the update histories above:
// SQUALL_RECORD_HISTORIES=1 go test -run TestRecordUpdateHistories.
func TestRecordUpdateHistories(t *testing.T) {
	tq := "record-entity-updates"
	cl := historytest.Record(t, tq, Register)
	ctx := context.Background()
	id := "entity-record-updates"
	strat := Strategy{Kind: KindEvents, Events: 5}
	first := ""
	for i := int64(1); i <= 9; i++ {
		u := client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: UpdateTx, UpdateID: fmt.Sprintf("tx-%d", i), Args: []any{tx(i)},
			WaitForStage: client.WorkflowUpdateStageCompleted}
		var h client.WorkflowUpdateHandle
		var err error
		switch {
		case i == 1: // the entity is created by its first update
			op := cl.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: id, TaskQueue: tq,
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}, WorkflowName, Input{EntityID: id, Strategy: strat})
			h, err = cl.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op, UpdateOptions: u})
			if err == nil {
				run, rerr := op.Get(ctx)
				if rerr != nil {
					t.Fatal(rerr)
				}
				first = run.GetRunID()
			}
		case i%3 == 0: // every third as a signal
			err = cl.SignalWorkflow(ctx, id, "", SignalTx, tx(i))
		default:
			h, err = cl.UpdateWorkflow(ctx, u)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h != nil {
			var a TxAnswer
			if err := h.Get(ctx, &a); err != nil {
				t.Fatal(err)
			}
		}
	}
	bad := Tx{ID: 100, Amount: MaxAmount + 1}
	h, err := cl.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: UpdateTx, UpdateID: "bad",
		Args: []any{bad}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err == nil {
		t.Fatal("a malformed transaction was accepted")
	}
	time.Sleep(time.Second)
	if err := cl.SignalWorkflow(ctx, id, "", SignalClose, nil); err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := cl.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	checkBooks(t, res.State, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	if res.State.Runs != 2 {
		t.Fatalf("runs %d, want 2 (recording needs one continue-as-new)", res.State.Runs)
	}
	historytest.WriteRun(t, cl, id, first, recorded[2])
	historytest.WriteRun(t, cl, id, "", recorded[3])
}
