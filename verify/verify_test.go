package verify

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/scenarios"
)

// fakeTemporal answers Describe from a table: a status per workflow ID, a
// NotFound for IDs it lacks, an error for IDs in broken. running IDs
// report running until they have been asked runningFor times.
type fakeTemporal struct {
	mu         sync.Mutex
	status     map[string]enumspb.WorkflowExecutionStatus
	broken     map[string]bool
	runningFor map[string]int
	asked      map[string]int
	runIDs     map[string]string // runID asked for, per workflow
}

func (f *fakeTemporal) DescribeWorkflowExecution(_ context.Context, id, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked[id]++
	f.runIDs[id] = runID
	if f.broken[id] {
		return nil, serviceerror.NewUnavailable("down")
	}
	st, ok := f.status[id]
	if !ok {
		return nil, serviceerror.NewNotFound("no such workflow")
	}
	if f.asked[id] <= f.runningFor[id] {
		st = enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Status: st, HistoryLength: 11, HistorySizeBytes: 1234}}, nil
}

func newFake() *fakeTemporal {
	return &fakeTemporal{status: map[string]enumspb.WorkflowExecutionStatus{}, broken: map[string]bool{},
		runningFor: map[string]int{}, asked: map[string]int{}, runIDs: map[string]string{}}
}

func writeJournal(t *testing.T, entries ...bench.JournalEntry) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := bench.CreateJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		j.For("s").Started(e)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	completed = enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	failed    = enumspb.WORKFLOW_EXECUTION_STATUS_FAILED
	term      = enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED
	can       = enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
	canceled  = enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED
	timedOut  = enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT
)

func TestJournalEveryOutcome(t *testing.T) {
	f := newFake()
	f.status["ok"] = completed
	f.status["failed-as-expected"] = failed
	f.status["terminated-as-expected"] = term
	f.status["canceled-as-expected"] = canceled
	f.status["timed-out-as-expected"] = timedOut
	f.status["any"] = failed
	f.status["can"] = can
	f.status["wrong"] = failed
	f.status["despite-error"] = completed
	f.status["child"] = completed
	f.broken["unverifiable"] = true
	path := writeJournal(t,
		bench.JournalEntry{WorkflowID: "ok", Acked: true},
		bench.JournalEntry{WorkflowID: "failed-as-expected", Acked: true, Expect: string(scenarios.ExpectFailed)},
		bench.JournalEntry{WorkflowID: "terminated-as-expected", Acked: true, Expect: string(scenarios.ExpectTerminated)},
		bench.JournalEntry{WorkflowID: "canceled-as-expected", Acked: true, Expect: string(scenarios.ExpectCanceled)},
		bench.JournalEntry{WorkflowID: "timed-out-as-expected", Acked: true, Expect: string(scenarios.ExpectTimedOut)},
		bench.JournalEntry{WorkflowID: "any", Acked: true, Expect: string(scenarios.ExpectAnyClosed)},
		bench.JournalEntry{WorkflowID: "can", RunID: "r1", Acked: true, Expect: string(scenarios.ExpectContinuedAsNew)},
		bench.JournalEntry{WorkflowID: "wrong", Acked: true},                       // expected completed, found failed
		bench.JournalEntry{WorkflowID: "lost", Acked: true},                        // acknowledged, unknown to Temporal
		bench.JournalEntry{WorkflowID: "start-failed", Acked: false},               // failed start, does not exist
		bench.JournalEntry{WorkflowID: "despite-error", Acked: false},              // failed start, exists
		bench.JournalEntry{WorkflowID: "child", Acked: true, Child: true},          // a child, verified alike
		bench.JournalEntry{WorkflowID: "unverifiable", Acked: true},                // Temporal cannot be asked
		bench.JournalEntry{WorkflowID: "missing-child", Acked: false, Child: true}, // its parent failed: not lost
	)
	res, err := Journal(context.Background(), f, path, Options{Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := res["s"]
	if r == nil {
		t.Fatal("no result for scenario s")
	}
	want := map[string]int64{"journaled": 14, "lost": 1, "unexpected": 1, "start_failed": 2, "despite": 1, "unverifiable": 1}
	got := map[string]int64{"journaled": r.Journaled, "lost": r.Lost, "unexpected": r.Unexpected, "start_failed": r.StartFailed,
		"despite": r.StartedDespiteError, "unverifiable": r.Unverifiable}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (result %+v)", k, got[k], v, r)
		}
	}
	if r.Expected["failed"] != 1 || r.Expected["completed"] != 8 || r.Expected["continued-as-new"] != 1 || r.Expected["any-closed"] != 1 {
		t.Errorf("expected tallies = %v", r.Expected)
	}
	if f.runIDs["can"] != "r1" || f.runIDs["ok"] != "" {
		t.Errorf("a continued-as-new expectation must describe its own run, others the latest: asked %v", f.runIDs)
	}
	if !strings.Contains(strings.Join(r.Examples, " "), "wrong (expected completed, found failed)") {
		t.Errorf("examples do not name the mismatch: %v", r.Examples)
	}
	if r.HistoryMaxLength != 11 || r.HistoryMaxBytes != 1234 {
		t.Errorf("history = %d events / %d bytes", r.HistoryMaxLength, r.HistoryMaxBytes)
	}
	invs := r.Invariants()
	if invs[0].OK || invs[1].OK {
		t.Errorf("lost and unexpected workflows must fail the generic invariants: %+v", invs)
	}
}

func TestJournalWaitsForRunning(t *testing.T) {
	f := newFake()
	f.status["slow"] = completed
	f.runningFor["slow"] = 3 // running for the first three asks
	f.status["stuck"] = completed
	f.runningFor["stuck"] = 1 << 30
	path := writeJournal(t, bench.JournalEntry{WorkflowID: "slow", Acked: true}, bench.JournalEntry{WorkflowID: "stuck", Acked: true})
	res, err := Journal(context.Background(), f, path, Options{Wait: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := res["s"]
	if r.ByStatus["completed"] != 1 || r.ByStatus["running"] != 1 || r.Unexpected != 1 {
		t.Errorf("slow must be waited for until it completes and stuck reported running: %+v", r)
	}
}

func TestJournalInterrupted(t *testing.T) {
	f := newFake()
	f.status["stuck"] = completed
	f.runningFor["stuck"] = 1 << 30
	path := writeJournal(t, bench.JournalEntry{WorkflowID: "stuck", Acked: true})
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	res, err := Journal(ctx, f, path, Options{Wait: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if r := res["s"]; r == nil || r.ByStatus["running"] != 1 {
		t.Errorf("an interrupted wait reports what is still running: %+v", r)
	}
}

func TestStartsJournaled(t *testing.T) {
	cases := []struct {
		name                                 string
		iterations, acked, journaled, server int64
		ok                                   bool
	}{
		{"all journaled", 10, 10, 10, 10, true},
		{"failed starts journaled", 10, 7, 10, 7, true},
		{"count unknown", 10, 10, 10, -1, true},
		{"iterations but nothing journaled", 10, 0, 0, -1, false},
		{"server started more than journaled", 10, 8, 8, 10, false},
		{"no iterations", 0, 0, 0, 0, true},
	}
	for _, c := range cases {
		inv := StartsJournaled(c.iterations, c.acked, c.journaled, c.server)
		if inv.OK != c.ok || inv.Name != "every-start-journaled" {
			t.Errorf("%s: %+v, want ok=%v", c.name, inv, c.ok)
		}
	}
}
