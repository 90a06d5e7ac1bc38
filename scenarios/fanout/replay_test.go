package fanout

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/squalltest"
)

// Both workflow types replay against histories recorded from real runs
// (testdata/, regenerate with SQUALL_RECORD_HISTORIES=1 go test -run
// TestRecordHistories ./scenarios/fanout/), covering every pattern and
// close policy: a change that makes the workflow code non-deterministic
// fails here.
func TestReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{WorkflowParent: false, WorkflowChild: false}
	for _, f := range files {
		base := filepath.Base(f)
		typ, id, ok := strings.Cut(strings.TrimSuffix(base, ".json"), "--")
		if !ok {
			t.Fatalf("%s: want TYPE--WORKFLOWID.json", f)
		}
		want[typ] = true
		t.Run(base, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(ParentWorkflow, workflow.RegisterOptions{Name: WorkflowParent})
			r.RegisterWorkflowWithOptions(ChildWorkflow, workflow.RegisterOptions{Name: WorkflowChild})
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			h, err := client.HistoryFromJSON(fh, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
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

// TestRecordHistories runs each pattern and close policy once against an
// embedded server and writes the histories to testdata/. Only with
// SQUALL_RECORD_HISTORIES=1.
func TestRecordHistories(t *testing.T) {
	if os.Getenv("SQUALL_RECORD_HISTORIES") == "" {
		t.Skip("set SQUALL_RECORD_HISTORIES=1 to record testdata/ histories")
	}
	cl := startServer(t)
	tq := "record-fanout"
	w := worker.New(cl, tq, worker.Options{})
	Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx := context.Background()
	for _, r := range []struct{ name, pattern, policy string }{
		{"wait-all", PatternWaitAll, PolicyTerminate},
		{"throttled", PatternThrottled, PolicyTerminate},
		{"rolling-window", PatternRollingWindow, PolicyTerminate},
		{"ff-terminate", PatternFireAndForget, PolicyTerminate},
		{"ff-request-cancel", PatternFireAndForget, PolicyRequestCancel},
		{"ff-abandon", PatternFireAndForget, PolicyAbandon},
	} {
		id := "record-" + r.name
		run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: tq}, WorkflowParent,
			ParentInput{Pattern: r.pattern, Children: 4, MaxChildren: 2, ClosePolicy: r.policy, ChildDuration: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
		child := ChildID(id, 0)
		if r.policy == PolicyAbandon {
			if err := cl.SignalWorkflow(ctx, child, "", SignalRelease, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Wait for the child to close (the policy is applied asynchronously).
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			d, err := cl.DescribeWorkflowExecution(ctx, child, "")
			if err == nil && d.GetWorkflowExecutionInfo().GetCloseTime() != nil {
				break
			}
		}
		writeHistory(t, cl, WorkflowParent, id)
		if r.pattern == PatternWaitAll || r.pattern == PatternFireAndForget {
			writeHistory(t, cl, WorkflowChild, child)
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
