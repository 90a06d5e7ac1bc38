package orders

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	historypb "go.temporal.io/api/history/v1"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/scenarios/orders/orderstore"
)

// Every workflow type replays against histories recorded from real runs
// (testdata/, regenerate with SQUALL_RECORD_HISTORIES=1 go test -run
// TestRecordHistories ./scenarios/orders/): a change that makes the
// workflow code non-deterministic fails here.
func TestReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{WorkflowBatched: false, WorkflowMapReduce: false, WorkflowParent: false, WorkflowSlice: false}
	for _, f := range files {
		base := filepath.Base(f)
		typ, id, ok := strings.Cut(strings.TrimSuffix(base, ".json"), "--")
		if !ok {
			t.Fatalf("%s: want TYPE--WORKFLOWID.json", f)
		}
		want[typ] = true
		t.Run(base, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(BatchedWorkflow, workflow.RegisterOptions{Name: WorkflowBatched})
			r.RegisterWorkflowWithOptions(MapReduceWorkflow, workflow.RegisterOptions{Name: WorkflowMapReduce})
			r.RegisterWorkflowWithOptions(ParentWorkflow, workflow.RegisterOptions{Name: WorkflowParent})
			r.RegisterWorkflowWithOptions(SliceWorkflow, workflow.RegisterOptions{Name: WorkflowSlice})
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			h, err := client.HistoryFromJSON(fh, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The original ID matters: children's IDs derive from it.
			if err := r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: id}}); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
	for typ, ok := range want {
		if !ok {
			t.Errorf("no recorded history of %s in testdata/", typ)
		}
	}
}

// TestRecordHistories runs each workflow type once against an embedded
// server and writes its histories to testdata/. Only with
// SQUALL_RECORD_HISTORIES=1.
func TestRecordHistories(t *testing.T) {
	if os.Getenv("SQUALL_RECORD_HISTORIES") == "" {
		t.Skip("set SQUALL_RECORD_HISTORIES=1 to record testdata/ histories")
	}
	cl := startServer(t)
	tq := "record-orders"
	w := worker.New(cl, tq, worker.Options{})
	Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
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
		writeHistory(t, cl, r.typ, id)
		if in.Slices > 0 {
			writeHistory(t, cl, WorkflowSlice, ChildID(id, 0))
		}
	}
}

func startServer(t *testing.T) client.Client {
	t.Helper()
	dir := t.TempDir()
	port, err := cluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster.Child{Name: "server", Bin: squalltest.Binary(t), LogPath: filepath.Join(dir, "server.log"),
		Args:        []string{"server", "--db", filepath.Join(dir, "t.db"), "--port", strconv.Itoa(port)},
		ReadyPrefix: cluster.ReadyLine}
	addr, err := c.Start(context.Background(), 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(30 * time.Second) })
	cl, err := client.Dial(client.Options{HostPort: addr, Namespace: cluster.DefaultNamespace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func writeHistory(t *testing.T, cl client.Client, typ, id string) {
	t.Helper()
	file := typ + "--" + id + ".json"
	h := &historypb.History{}
	it := cl.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", file), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s: %d events", file, len(h.Events))
}
