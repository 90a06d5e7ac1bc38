package degradation

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios/fakes"
	"github.com/squallbench/squall/scenarios/fakes/historytest"
)

// The workflow replays against a history recorded from the embedded server
// through an outage of the primary: open, half-open, closed (testdata/;
// regenerate with SQUALL_RECORD_HISTORIES=1 go test -run TestRecordHistories ./scenarios/degradation/).
func TestReplay(t *testing.T) {
	historytest.ReplayAll(t, historytest.Workflows{WorkflowName: Workflow})
}

func TestRecordHistories(t *testing.T) {
	tq := "record-degradation"
	cl := historytest.Record(t, tq, Register)
	p, err := fakes.Start(fakes.Config{Name: "record.primary"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := fakes.Start(fakes.Config{Name: "record.secondary", ErrorRate: 0.3, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := Input{PrimaryURL: p.URL, SecondaryURL: s.URL, Requests: 14, Interval: time.Second,
		Breaker:        BreakerConfig{FailureThreshold: 2, OpenTimeout: 2 * time.Second, HalfOpenSuccesses: 1},
		PrimaryTimeout: time.Second, SecondaryTimeout: time.Second, SecondaryAttempts: 1}
	time.AfterFunc(2*time.Second, func() { _ = p.SetMode(1, 0) })
	time.AfterFunc(7*time.Second, func() { _ = p.SetMode(0, 0) })
	run, err := cl.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "record-degradation", TaskQueue: tq}, WorkflowName, in)
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := run.Get(context.Background(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Transitions) < 3 || r.Final != Closed {
		t.Fatalf("want open, half-open and closed in the recording: %+v", r.Transitions)
	}
	historytest.Write(t, cl, WorkflowName, "record-degradation", run.GetRunID())
}
