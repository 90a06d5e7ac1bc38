package cansweep

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios/fakes/historytest"
)

// recorded is a sweep workflow's history from the embedded server (see
// TestRecordHistory): building in batches, the probe signal, the probes, and
// the server's continue-as-new suggestion switched on at 60 events.
const recorded = "testdata/sweep-150.json"

// TestReplayRecordedHistory replays the real history against the current
// workflow code (and checks what the sweep reads from it).
func TestReplayRecordedHistory(t *testing.T) {
	hist := historytest.ReplayFile(t, historytest.Workflows{WorkflowName: Workflow}.Register, recorded, "")
	p := analyzeProbes(hist.GetEvents())
	if len(p.latencies) != 4 || p.failures != 0 || p.firstSuggested == 0 || p.firstSuggested > 70 {
		t.Fatalf("probe facts %+v", p)
	}
}

// TestRecordHistory (re)records the history above from a real embedded
// server: SQUALL_RECORD_HISTORIES=1 go test -run TestRecordHistory.
func TestRecordHistory(t *testing.T) {
	tq := "record-sweep"
	cl := historytest.Record(t, tq, Register, "--dynamic-config", "limit.historyCount.suggestContinueAsNew=60")
	ctx := context.Background()
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
	historytest.WriteRun(t, cl, id, "", recorded)
}
