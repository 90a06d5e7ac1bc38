package largestate

import (
	"context"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios/fakes/historytest"
)

// The workflows replay against histories recorded from the embedded server
// (small datasets; the incremental one across continue-as-new) (testdata/;
// regenerate with SQUALL_RECORD_HISTORIES=1 go test -run TestRecordHistories ./scenarios/largestate/).
func TestReplay(t *testing.T) {
	historytest.ReplayAll(t, historytest.Workflows{WorkflowGrow: GrowWorkflow, WorkflowObserver: ObserverWorkflow,
		WorkflowExternal: ExternalWorkflow, WorkflowIncremental: IncrementalWorkflow})
}

func TestRecordHistories(t *testing.T) {
	dir := t.TempDir() // removed after the worker stops
	tq := "record-largestate"
	cl := historytest.Record(t, tq, Register)
	ctx := context.Background()
	for _, r := range []struct {
		id, typ string
		in      any
	}{
		{"record-observer", WorkflowObserver, GrowInput{Seed: 1, Steps: 3, ChunkSize: 2000}},
		{"record-external", WorkflowExternal, ExternalInput{Dir: dir, Prefix: "record-external", Seed: 1, Steps: 3, ChunkSize: 2000}},
		{"record-incremental", WorkflowIncremental, IncrementalInput{Dir: dir, Prefix: "record-incremental", Items: 600, BatchSize: 50,
			CheckpointEvery: 100, MaxEvents: 40}},
	} {
		run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: r.id, TaskQueue: tq}, r.typ, r.in)
		if err != nil {
			t.Fatal(err)
		}
		first := run.GetRunID() // Get follows continue-as-new and moves it
		if err := run.Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
		historytest.Write(t, cl, r.typ, r.id, first)
	}
	historytest.Write(t, cl, WorkflowGrow, "record-observer-inline", "")
}
