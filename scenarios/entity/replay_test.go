package entity

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
			rp := worker.NewWorkflowReplayer()
			rp.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
			if err := rp.ReplayWorkflowHistoryFromJSONFile(nil, path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRecordHistories (re)records the histories above from a real embedded
// server: SQUALL_RECORD_HISTORIES=1 go test -run TestRecordHistories.
func TestRecordHistories(t *testing.T) {
	if os.Getenv("SQUALL_RECORD_HISTORIES") == "" {
		t.Skip("set SQUALL_RECORD_HISTORIES=1 to record the replay histories from an embedded server")
	}
	cl := startServer(t)
	ctx := context.Background()
	tq := "record-entity"
	w := worker.New(cl, tq, worker.Options{})
	Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
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
	export(t, cl, id, first, recorded[0])
	export(t, cl, id, "", recorded[1])
}

// startServer runs `squall server` on a fresh SQLite file and dials it.
func startServer(t *testing.T) client.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(squalltest.Binary(t), "server", "--db", filepath.Join(t.TempDir(), "t.db"), "--port", fmt.Sprint(port))
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
