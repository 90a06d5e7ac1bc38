package scenarios

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"github.com/squallbench/squall/bench"
)

// StartSpec is one workflow start as a driver asks for it. The harness
// does the rest: retries transient start failures idempotently (same ID),
// journals the start (acknowledged or not) with the end state it must
// reach, and verification holds it to that state afterwards.
type StartSpec struct {
	ID       string // required: the workflow ID (put the run ID into it)
	Workflow any    // workflow type name or function
	Args     []any
	// Options: ID and TaskQueue are filled in from the spec and the run
	// unless set.
	Options client.StartWorkflowOptions
	// Expect is the end state verification demands (default completed).
	Expect Expect
	// Signal, when set, makes this a signal-with-start: the signal is sent
	// to the running workflow, which is started first if need be. An ID is
	// journaled once however often it is signalled (a long-lived entity is
	// one workflow). Unlike a plain start it is not retried: a retried
	// signal may land twice, and only the driver knows whether that is
	// harmless.
	Signal    string
	SignalArg any
	// SignalledLater marks a plain start of a workflow that will also be
	// signalled-with-start (a prestarted entity): it is then its one
	// journal entry, and the signal-with-starts journal nothing more.
	SignalledLater bool
}

// Journal records every workflow a run must account for, as the harness
// tells it; drivers never call it.
type Journal interface {
	Started(bench.JournalEntry)
}

// ErrStartOutsideHarness is what Env.Client answers to a start: every
// start goes through Env.Start, so none escapes the journal.
var ErrStartOutsideHarness = errors.New("start workflows with env.Start (the harness journals and verifies every start); Env.Client refuses starts")

// WorkflowError is an iteration's failure tied to one workflow; the
// runner records the ID beside the message, so reports name the workflow
// once and group failures of the same kind.
type WorkflowError struct {
	ID  string
	Err error
}

func (e *WorkflowError) Error() string { return e.ID + ": " + e.Err.Error() }
func (e *WorkflowError) Unwrap() error { return e.Err }

// harness is the bookkeeping behind an Env, shared by Envs derived from it.
type harness struct {
	raw     client.Client
	journal Journal
	// signalled holds the IDs signalled-with-start, true once one call
	// was acknowledged: such a workflow is signalled many times and
	// journaled once. It grows with the number of distinct entities, not
	// with the number of signals.
	mu        sync.Mutex
	signalled map[string]*signalState
	journaled atomic.Int64 // entries the driver's starts produced
	acked     atomic.Int64 // of those, acknowledged by the server
	expected  atomic.Int64 // child expectations (ExpectChild)
}

// HarnessConfig is what the runner hands NewEnv.
type HarnessConfig struct {
	Client  client.Client // the run's client; Env.Client refuses starts on it
	Journal Journal
}

// NewEnv returns an Env whose starts go through the harness. The runner
// fills in the plain fields (task queue, run ID, ...) on the result.
func NewEnv(c HarnessConfig) Env {
	h := &harness{journal: c.Journal, signalled: map[string]*signalState{}}
	return Env{Client: guardedClient{c.Client}, h: h, raw: c.Client}
}

// Counts says what the harness journaled (for its own invariant).
type Counts struct {
	Journaled, Acked, Children int64
}

// Counts returns the harness's tallies so far.
func (e Env) Counts() Counts {
	if e.h == nil {
		return Counts{}
	}
	return Counts{Journaled: e.h.journaled.Load(), Acked: e.h.acked.Load(), Children: e.h.expected.Load()}
}

// Start starts a workflow (or signals-with-start) as spec says and returns
// its handle. The start is journaled whatever its outcome: acknowledged,
// or failed (the workflow may or may not exist; verification finds out).
// A failure is a *WorkflowError naming the workflow.
func (e Env) Start(ctx context.Context, spec StartSpec) (client.WorkflowRun, error) {
	if e.h == nil {
		return nil, errors.New("scenarios: Env was not made by NewEnv")
	}
	if spec.ID == "" {
		return nil, errors.New("scenarios: StartSpec without ID")
	}
	o := spec.Options
	if o.ID == "" {
		o.ID = spec.ID
	}
	if o.TaskQueue == "" {
		o.TaskQueue = e.TaskQueue
	}
	var (
		run client.WorkflowRun
		err error
	)
	if spec.Signal != "" {
		run, err = e.raw.SignalWithStartWorkflow(ctx, o.ID, spec.Signal, spec.SignalArg, o, spec.Workflow, spec.Args...)
		if !e.h.firstSignalAck(o.ID, err == nil, spec.Expect) {
			if err != nil {
				return nil, &WorkflowError{ID: o.ID, Err: fmt.Errorf("signal-with-start: %w", err)}
			}
			return run, nil
		}
	} else {
		run, err = startWorkflow(ctx, e.raw, o, spec.Workflow, spec.Args...)
		if err == nil && spec.SignalledLater {
			e.h.mu.Lock()
			e.h.signalled[o.ID] = &signalState{journaled: true, expect: spec.Expect}
			e.h.mu.Unlock()
		}
	}
	e.h.record(o.ID, run, err == nil, spec.Expect)
	if err != nil {
		return nil, &WorkflowError{ID: o.ID, Err: fmt.Errorf("start: %w", err)}
	}
	return run, nil
}

// UpdateWithStart sends an update to the workflow spec names, starting it
// first if need be (update-with-start; the start's conflict policy is
// USE_EXISTING unless spec.Options says otherwise). It is journaled like a
// signal-with-start: once per ID, at its first acknowledged call, and
// like it not retried (a retried update with a new ID may apply twice).
// spec.Signal must be empty; upd names the update.
func (e Env) UpdateWithStart(ctx context.Context, spec StartSpec, upd client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	if e.h == nil {
		return nil, errors.New("scenarios: Env was not made by NewEnv")
	}
	if spec.ID == "" || spec.Signal != "" {
		return nil, errors.New("scenarios: UpdateWithStart wants an ID and no signal")
	}
	o := spec.Options
	if o.ID == "" {
		o.ID = spec.ID
	}
	if o.TaskQueue == "" {
		o.TaskQueue = e.TaskQueue
	}
	if o.WorkflowIDConflictPolicy == enumspb.WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED {
		o.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	}
	op := e.raw.NewWithStartWorkflowOperation(o, spec.Workflow, spec.Args...)
	h, err := e.raw.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op, UpdateOptions: upd})
	if e.h.firstSignalAck(o.ID, err == nil, spec.Expect) {
		var run client.WorkflowRun
		if r, rerr := op.Get(ctx); rerr == nil {
			run = r
		}
		e.h.record(o.ID, run, run != nil, spec.Expect)
	}
	if err != nil {
		return nil, &WorkflowError{ID: o.ID, Err: fmt.Errorf("update-with-start: %w", err)}
	}
	return h, nil
}

// firstSignalAck books a signal-with-start of id and says whether it is
// the one to journal: the first acknowledged call.
func (h *harness) firstSignalAck(id string, acked bool, expect Expect) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.signalled[id]
	if st == nil {
		st = &signalState{expect: expect}
		h.signalled[id] = st
	}
	if st.journaled || !acked {
		return false
	}
	st.journaled = true
	return true
}

type signalState struct {
	journaled bool
	expect    Expect
}

func (h *harness) record(id string, run client.WorkflowRun, acked bool, expect Expect) {
	entry := bench.JournalEntry{WorkflowID: id, Acked: acked, Expect: string(expect.orDefault())}
	if acked {
		entry.RunID = run.GetRunID()
		h.acked.Add(1)
	}
	h.journaled.Add(1)
	h.journal.Started(entry)
}

// Settle journals, unacknowledged, every signal-with-start ID whose calls
// all failed: the workflow may exist all the same, and verification must
// look. The runner calls it once the load is over.
func (e Env) Settle() {
	if e.h == nil {
		return
	}
	e.h.mu.Lock()
	pending := map[string]Expect{}
	for id, st := range e.h.signalled {
		if !st.journaled {
			pending[id] = st.expect
			st.journaled = true
		}
	}
	e.h.mu.Unlock()
	ids := make([]string, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		e.h.record(id, nil, false, pending[id])
	}
}

// ExpectChild journals a workflow the driver did not start itself (a
// child its parent started) with the end state it must reach. mustExist
// is false when the parent did not get as far as starting it for sure
// (the parent failed): then a missing child is not a lost one.
func (e Env) ExpectChild(id string, expect Expect, mustExist bool) {
	if e.h == nil {
		return
	}
	e.h.expected.Add(1)
	e.h.journal.Started(bench.JournalEntry{WorkflowID: id, Acked: mustExist, Expect: string(expect.orDefault()), Child: true})
}

// NewWorker returns an in-process worker on the run's client, for
// scenarios that need a worker with special tuning of their own.
func (e Env) NewWorker(taskQueue string, o worker.Options) worker.Worker {
	return worker.New(e.raw, taskQueue, o)
}

// WithDataConverter returns an Env whose client, starts and workers use
// dc (e.g. a compressing codec). Close its Client when done.
func (e Env) WithDataConverter(ctx context.Context, o client.Options, dc converter.DataConverter) (Env, error) {
	o.DataConverter = dc
	if o.Namespace == "" {
		o.Namespace = e.Namespace
	}
	c, err := client.NewClientFromExistingWithContext(ctx, e.raw, o)
	if err != nil {
		return Env{}, err
	}
	d := e
	d.raw, d.Client = c, guardedClient{c}
	return d, nil
}

// Await waits for run's result like AwaitResult; a failure is a
// *WorkflowError naming the workflow.
func Await(ctx context.Context, run client.WorkflowRun, valuePtr any) error {
	if err := AwaitResult(ctx, run, valuePtr); err != nil {
		return &WorkflowError{ID: run.GetID(), Err: err}
	}
	return nil
}

// guardedClient is the client drivers get: everything but starting
// workflows, which must go through Env.Start.
type guardedClient struct{ client.Client }

func (guardedClient) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, ErrStartOutsideHarness
}

func (guardedClient) SignalWithStartWorkflow(context.Context, string, string, any, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, ErrStartOutsideHarness
}

func (guardedClient) UpdateWithStartWorkflow(context.Context, client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, ErrStartOutsideHarness
}

// AbortError is an iteration's error that makes further load pointless
// (e.g. no worker serves the workflow type): the runner stops starting
// iterations, still verifies and reports what ran, and exits with the
// message as bad input.
type AbortError struct{ Err error }

func (e *AbortError) Error() string { return e.Err.Error() }
func (e *AbortError) Unwrap() error { return e.Err }

// Abort wraps err so the runner stops the load on it.
func Abort(format string, a ...any) error { return &AbortError{Err: fmt.Errorf(format, a...)} }
