package entity

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios/fakes/historytest"
)

// Histories recorded from the embedded server (see TestRecordHistories):
// an entity run that continued as new with signals batched at the boundary,
// and the run after it, closed.
var recorded = []string{"testdata/entity-run1-continued.json", "testdata/entity-run2-closed.json"}

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
