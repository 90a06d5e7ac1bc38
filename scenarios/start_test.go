package scenarios

import (
	"context"
	"errors"
	"sync"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/bench"
)

// fakeClient answers starts from a script of errors, one per call (nil:
// success); everything else a client.Client has panics (nil embedded).
type fakeClient struct {
	client.Client
	mu     sync.Mutex
	errs   []error
	starts []string // workflow ID of every start call
}

func (f *fakeClient) next(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, id)
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	return err
}

func (f *fakeClient) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	if err := f.next(o.ID); err != nil {
		return nil, err
	}
	return fakeRun{id: o.ID}, nil
}

func (f *fakeClient) SignalWithStartWorkflow(_ context.Context, id, _ string, _ any, _ client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	if err := f.next(id); err != nil {
		return nil, err
	}
	return fakeRun{id: id}, nil
}

func (f *fakeClient) GetWorkflow(_ context.Context, id, _ string) client.WorkflowRun {
	return fakeRun{id: id}
}

type fakeRun struct {
	client.WorkflowRun
	id string
}

func (r fakeRun) GetID() string    { return r.id }
func (r fakeRun) GetRunID() string { return "run-of-" + r.id }

type memJournal struct {
	mu      sync.Mutex
	entries []bench.JournalEntry
}

func (j *memJournal) Started(e bench.JournalEntry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, e)
}

func newTestEnv(fc *fakeClient) (Env, *memJournal) {
	j := &memJournal{}
	env := NewEnv(HarnessConfig{Client: fc, Journal: j})
	env.TaskQueue = "tq"
	return env, j
}

func TestEnvClientRefusesStarts(t *testing.T) {
	env, j := newTestEnv(&fakeClient{})
	ctx := context.Background()
	if _, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "x"}, "wf"); !errors.Is(err, ErrStartOutsideHarness) {
		t.Errorf("ExecuteWorkflow through Env.Client: err = %v, want ErrStartOutsideHarness", err)
	}
	if _, err := env.Client.SignalWithStartWorkflow(ctx, "x", "sig", nil, client.StartWorkflowOptions{}, "wf"); !errors.Is(err, ErrStartOutsideHarness) {
		t.Errorf("SignalWithStartWorkflow through Env.Client: err = %v, want ErrStartOutsideHarness", err)
	}
	if len(j.entries) != 0 {
		t.Errorf("refused starts journaled: %v", j.entries)
	}
}

func TestStartJournalsWithExpectation(t *testing.T) {
	fc := &fakeClient{}
	env, j := newTestEnv(fc)
	run, err := env.Start(context.Background(), StartSpec{ID: "a", Workflow: "wf", Expect: ExpectFailed})
	if err != nil || run.GetID() != "a" {
		t.Fatalf("Start: %v, %v", run, err)
	}
	want := bench.JournalEntry{WorkflowID: "a", RunID: "run-of-a", Acked: true, Expect: "failed"}
	if len(j.entries) != 1 || j.entries[0] != want {
		t.Errorf("journal = %+v, want %+v", j.entries, want)
	}
	if c := env.Counts(); c.Journaled != 1 || c.Acked != 1 {
		t.Errorf("counts = %+v", c)
	}
}

func TestStartRetriesTransientWithSameID(t *testing.T) {
	fc := &fakeClient{errs: []error{serviceerror.NewUnavailable("restarting")}}
	env, j := newTestEnv(fc)
	if _, err := env.Start(context.Background(), StartSpec{ID: "b", Workflow: "wf"}); err != nil {
		t.Fatal(err)
	}
	if len(fc.starts) != 2 || fc.starts[0] != "b" || fc.starts[1] != "b" {
		t.Errorf("start calls = %v, want two with the same ID", fc.starts)
	}
	if len(j.entries) != 1 || !j.entries[0].Acked || j.entries[0].Expect != "completed" {
		t.Errorf("journal = %+v, want one acknowledged entry expecting completed", j.entries)
	}
}

func TestStartFailureJournaledUnacked(t *testing.T) {
	fc := &fakeClient{errs: []error{serviceerror.NewInvalidArgument("bad input")}}
	env, j := newTestEnv(fc)
	_, err := env.Start(context.Background(), StartSpec{ID: "c", Workflow: "wf"})
	var we *WorkflowError
	if !errors.As(err, &we) || we.ID != "c" {
		t.Fatalf("err = %v, want a WorkflowError naming c", err)
	}
	if len(j.entries) != 1 || j.entries[0].Acked {
		t.Errorf("journal = %+v, want one unacknowledged entry", j.entries)
	}
}

func TestSignalWithStartJournaledOnce(t *testing.T) {
	boom := serviceerror.NewUnavailable("down")
	fc := &fakeClient{errs: []error{boom, nil, nil, boom}}
	env, j := newTestEnv(fc)
	ctx := context.Background()
	spec := StartSpec{ID: "entity", Workflow: "wf", Signal: "tx", Expect: ExpectTerminated}
	var errs int
	for range 4 {
		if _, err := env.Start(ctx, spec); err != nil {
			errs++
		}
	}
	if errs != 2 {
		t.Errorf("%d calls failed, want 2 (signal-with-start is not retried)", errs)
	}
	// Another entity whose every call failed: journaled, unacknowledged, by Settle.
	fc.errs = []error{boom}
	if _, err := env.Start(ctx, StartSpec{ID: "never-acked", Workflow: "wf", Signal: "tx"}); err == nil {
		t.Fatal("want the scripted failure")
	}
	env.Settle()
	env.Settle() // idempotent
	want := []bench.JournalEntry{
		{WorkflowID: "entity", RunID: "run-of-entity", Acked: true, Expect: "terminated"},
		{WorkflowID: "never-acked", Acked: false, Expect: "completed"},
	}
	if len(j.entries) != len(want) || j.entries[0] != want[0] || j.entries[1] != want[1] {
		t.Errorf("journal = %+v, want %+v", j.entries, want)
	}
}

func TestExpectChild(t *testing.T) {
	env, j := newTestEnv(&fakeClient{})
	env.ExpectChild("kid", ExpectCanceled, false)
	want := bench.JournalEntry{WorkflowID: "kid", Acked: false, Expect: "canceled", Child: true}
	if len(j.entries) != 1 || j.entries[0] != want {
		t.Errorf("journal = %+v, want %+v", j.entries, want)
	}
	if c := env.Counts(); c.Children != 1 || c.Journaled != 0 {
		t.Errorf("counts = %+v: children are not the driver's starts", c)
	}
}

func TestExpectParseAndMatch(t *testing.T) {
	for _, s := range []string{"completed", "continued-as-new", "timed-out", "any-closed", "Terminated"} {
		if _, err := ParseExpect(s); err != nil {
			t.Errorf("ParseExpect(%q): %v", s, err)
		}
	}
	if _, err := ParseExpect("finished"); err == nil {
		t.Error("ParseExpect(finished) must fail")
	}
	if !ExpectAnyClosed.Matches("failed") || ExpectAnyClosed.Matches("running") || ExpectAnyClosed.Matches("missing") {
		t.Error("any-closed must accept every end state and nothing else")
	}
	if !ExpectContinuedAsNew.Matches("continued_as_new") || !Expect("").Matches("completed") {
		t.Error("expectations must match the verifier's status names")
	}
}

// A prestarted entity is journaled by its start, not again by the
// signal-with-starts that follow.
func TestPrestartedEntityJournaledOnce(t *testing.T) {
	env, j := newTestEnv(&fakeClient{})
	ctx := context.Background()
	if _, err := env.Start(ctx, StartSpec{ID: "e", Workflow: "wf", SignalledLater: true}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := env.Start(ctx, StartSpec{ID: "e", Workflow: "wf", Signal: "tx"}); err != nil {
			t.Fatal(err)
		}
	}
	env.Settle()
	if len(j.entries) != 1 || !j.entries[0].Acked {
		t.Errorf("journal = %+v, want the start's one entry", j.entries)
	}
}
