package orders

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios/fakes/historytest"
	"github.com/squallbench/squall/scenarios/orders/orderstore"
)

// Every workflow type replays against histories recorded from real runs
// (testdata/, regenerate with SQUALL_RECORD_HISTORIES=1 go test -run
// TestRecordHistories ./scenarios/orders/): a change that makes the
// workflow code non-deterministic fails here.
func TestReplay(t *testing.T) {
	// The original IDs matter: children's IDs derive from them.
	historytest.ReplayAll(t, historytest.Workflows{WorkflowBatched: BatchedWorkflow, WorkflowMapReduce: MapReduceWorkflow,
		WorkflowParent: ParentWorkflow, WorkflowSlice: SliceWorkflow})
}

// TestRecordHistories runs each workflow type once against an embedded
// server and writes its histories to testdata/. Only with
// SQUALL_RECORD_HISTORIES=1.
func TestRecordHistories(t *testing.T) {
	tq := "record-orders"
	cl := historytest.Record(t, tq, Register)
	store := orderstore.New(orderstore.Model{Seed: 1, FailureRate: 0.05, TransientRate: 0.1}, nil)
	srv, err := orderstore.Serve(store)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	base := Input{StoreURL: srv.URL, Orders: 600, BatchSize: 50, Parallel: 3, MaxChildren: 2,
		Retry: Retry{MaxAttempts: 3, Interval: 100 * time.Millisecond}, Threshold: 0.1}
	runs := []struct {
		name, typ string
		mod       func(*Input)
	}{
		{"batched", WorkflowBatched, func(in *Input) { in.InjectDuplicates = 2 }},
		{"batched-threshold-failed", WorkflowBatched, func(in *Input) { in.Threshold = 0.01 }},
		{"mapreduce", WorkflowMapReduce, func(*Input) {}},
		{"children", WorkflowParent, func(in *Input) { in.Slices = 3 }},
		{"per-order-children", WorkflowParent, func(in *Input) { in.Orders, in.Slices = 6, 6 }},
	}
	for i, r := range runs {
		in := base
		r.mod(&in)
		in.Batch = int64(i)
		if err := store.Open(in.Batch, in.Orders); err != nil {
			t.Fatal(err)
		}
		id := "record-" + r.name
		run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: tq}, r.typ, in)
		if err != nil {
			t.Fatal(err)
		}
		_ = run.Get(ctx, nil)
		historytest.Write(t, cl, r.typ, id, "")
		if in.Slices > 0 {
			historytest.Write(t, cl, WorkflowSlice, ChildID(id, 0), "")
		}
	}
}
