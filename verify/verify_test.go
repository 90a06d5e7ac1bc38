package verify

import (
	"context"
	"errors"
	"fmt"
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

// Batches during the load settle the workflows that have closed and leave
// the rest (running, not found, unanswered) to Finish, which judges them
// as verifying after the load would: the counts equal a single pass over
// the same journal, and no settled workflow is asked about again.
func TestIncrementalMatchesOnePass(t *testing.T) {
	fake := newFake()
	fake.status["a1"], fake.status["a2"], fake.status["b1"], fake.status["b2"], fake.status["c1"] = completed, completed, completed, failed, completed
	fake.runningFor["a2"] = 1 // running at the first batch, closed by Finish
	fake.broken["a4"] = true  // a3 is missing
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := bench.CreateJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	add := func(ids ...string) {
		for _, id := range ids {
			j.For("s").Started(bench.JournalEntry{WorkflowID: id, Acked: true})
		}
		if err := j.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	v := NewIncremental(fake, path, Options{Scenario: "s", Concurrency: 3})
	add("a1", "a2", "a3", "a4")
	if n, err := v.Batch(ctx); err != nil || n != 1 {
		t.Fatalf("first batch settled %d (%v): want a1 only", n, err)
	}
	add("b1", "b2")
	if n, err := v.Batch(ctx); err != nil || n != 2 {
		t.Fatalf("second batch settled %d (%v): want b1 and b2 (failed is closed too)", n, err)
	}
	add("c1") // journaled after the last batch
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := v.Finish(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := got["s"]
	if r.VerifiedDuringLoad != 3 || r.Batches != 2 {
		t.Errorf("verified during the load %d in %d batches: want 3 in 2", r.VerifiedDuringLoad, r.Batches)
	}
	for _, id := range []string{"a1", "b1", "b2"} {
		if fake.asked[id] != 1 {
			t.Errorf("%s asked %d times: settled in a batch, it must not be asked again", id, fake.asked[id])
		}
	}
	if r.Journaled != 7 || r.ByStatus["completed"] != 4 || r.Lost != 1 || r.Unverifiable != 1 || r.Unexpected != 1 {
		t.Errorf("result %+v: want 7 journaled, 4 completed, 1 lost, 1 unverifiable, 1 unexpected", r)
	}
	fresh := newFake()
	fresh.status, fresh.broken = fake.status, fake.broken
	once, err := Journal(ctx, fresh, path, Options{Scenario: "s", Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o := once["s"]
	if o.Journaled != r.Journaled || o.Lost != r.Lost || o.Unverifiable != r.Unverifiable || o.Unexpected != r.Unexpected ||
		o.ByStatus["completed"] != r.ByStatus["completed"] || o.ByStatus["failed"] != r.ByStatus["failed"] {
		t.Errorf("one pass %+v, batches %+v: want the same counts", o, r)
	}
}

// A batch stopped by its context leaves what it did not ask to Finish:
// nothing journaled goes unverified.
func TestIncrementalStoppedBatchLosesNothing(t *testing.T) {
	fake := newFake()
	var entries []bench.JournalEntry
	for i := range 50 {
		id := "w" + strings.Repeat("x", i%3) + string(rune('A'+i%26)) + string(rune('a'+i/26))
		fake.status[id] = completed
		entries = append(entries, bench.JournalEntry{WorkflowID: id, Acked: true})
	}
	path := writeJournal(t, entries...)
	v := NewIncremental(fake, path, Options{Scenario: "s", Concurrency: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Batch(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped batch: %v", err)
	}
	got, err := v.Finish(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r := got["s"]; r.Journaled != 50 || r.ByStatus["completed"] != 50 || r.Unverifiable != 0 {
		t.Errorf("after a stopped batch: %+v, want all 50 completed", r)
	}
}

// A capped batch takes no more than its cap and leaves the rest of the
// journal to the next batches: a long past is caught up over several.
func TestIncrementalBatchMax(t *testing.T) {
	fake := newFake()
	var entries []bench.JournalEntry
	for i := range 25 {
		id := fmt.Sprintf("w%02d", i)
		fake.status[id] = completed
		entries = append(entries, bench.JournalEntry{WorkflowID: id, Acked: true})
	}
	path := writeJournal(t, entries...)
	v := NewIncremental(fake, path, Options{Scenario: "s", Concurrency: 2, BatchMax: 10})
	ctx := context.Background()
	for i, want := range []int64{10, 10, 5, 0} {
		if n, err := v.Batch(ctx); err != nil || n != want {
			t.Fatalf("batch %d settled %d (%v), want %d", i+1, n, err, want)
		}
	}
	got, err := v.Finish(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r := got["s"]; r.Journaled != 25 || r.VerifiedDuringLoad != 25 || r.Batches != 4 {
		t.Errorf("result %+v: want 25 journaled, all during the load, in 4 batches", r)
	}
	for id, n := range fake.asked {
		if n != 1 {
			t.Errorf("%s asked %d times", id, n)
		}
	}
}
