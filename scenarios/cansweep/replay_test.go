package cansweep

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/internal/squalltest"
)

// recorded is a sweep workflow's history from the embedded server (see
// TestRecordHistory): building in batches, the probe signal, the probes, and
// the server's continue-as-new suggestion switched on at 60 events.
const recorded = "testdata/sweep-150.json"

// TestReplayRecordedHistory replays the real history against the current
// workflow code (and checks what the sweep reads from it).
func TestReplayRecordedHistory(t *testing.T) {
	rp := worker.NewWorkflowReplayer()
	rp.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	if err := rp.ReplayWorkflowHistoryFromJSONFile(nil, recorded); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(recorded)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := analyzeProbes(hist.GetEvents())
	if len(p.latencies) != 4 || p.failures != 0 || p.firstSuggested == 0 || p.firstSuggested > 70 {
		t.Fatalf("probe facts %+v", p)
	}
}

// TestRecordHistory (re)records the history above from a real embedded
// server: SQUALL_RECORD_HISTORIES=1 go test -run TestRecordHistory.
func TestRecordHistory(t *testing.T) {
	if os.Getenv("SQUALL_RECORD_HISTORIES") == "" {
		t.Skip("set SQUALL_RECORD_HISTORIES=1 to record the replay history from an embedded server")
	}
	cl := startServer(t, "--dynamic-config", "limit.historyCount.suggestContinueAsNew=60")
	ctx := context.Background()
	tq := "record-sweep"
	w := worker.New(cl, tq, worker.Options{})
	Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	id := "sweep-record"
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: tq}, WorkflowName,
		Input{Target: 120, Batch: 2, Payload: 32, Probes: 3})
	if err != nil {
		t.Fatal(err)
	}
	for {
		v, err := cl.QueryWorkflow(ctx, id, "", QueryPhase)
		if err != nil {
			t.Fatal(err)
		}
		var p Progress
		_ = v.Get(&p)
		if p.Phase == PhaseBuilt {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cl.SignalWorkflow(ctx, id, "", SignalProbe, nil); err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.SuggestedAtLength == 0 || res.BuiltLength < 120 {
		t.Fatalf("result %+v", res)
	}
	export(t, cl, id, "", recorded)
}

// startServer runs `squall server` on a fresh SQLite file and dials it.
func startServer(t *testing.T, args ...string) client.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(squalltest.Binary(t), append([]string{"server", "--db", filepath.Join(t.TempDir(), "t.db"), "--port", fmt.Sprint(port)}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		cl, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", port)})
		if err == nil {
			if _, err = cl.CheckHealth(context.Background(), nil); err == nil {
				t.Cleanup(cl.Close)
				return cl
			}
			cl.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func export(t *testing.T, cl client.Client, id, runID, path string) {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := cl.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&historypb.History{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s: %d events (%s)", path, len(events), strings.ToLower(events[len(events)-1].GetEventType().String()))
}
