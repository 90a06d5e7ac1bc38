// Package verify checks, after the load (and, for long runs, in batches
// during it), that every workflow the journal
// says was started exists in Temporal and ended as its scenario expects.
// It reads the journal from disk and asks Temporal itself: it trusts nothing
// the driver remembers.
package verify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/internal/sleep"
	"github.com/squallbench/squall/scenarios"
)

// Result is the verification outcome of one scenario.
type Result struct {
	Scenario string `json:"scenario"`
	// Expected counts the journal's entries by the end state each must reach.
	Expected  map[string]int64 `json:"expected"`
	Journaled int64            `json:"journaled"`
	// ByStatus counts workflows by their final status as Temporal reports it
	// ("completed", "failed", "running", ...), plus "missing".
	ByStatus map[string]int64 `json:"by_status"`
	// Lost: the start was acknowledged, yet Temporal does not know the workflow.
	Lost int64 `json:"lost"`
	// Unexpected: the workflow exists but did not end as its entry expects
	// (still running after the wait counts here too).
	Unexpected int64 `json:"unexpected"`
	// StartFailed: the start call failed and the workflow does not exist
	// (already counted as a failed iteration; not lost).
	StartFailed int64 `json:"start_failed"`
	// StartedDespiteError: the start call failed but the workflow exists
	// (e.g. a timeout after the write): verified like any other.
	StartedDespiteError int64 `json:"started_despite_error"`
	// Unverifiable: Temporal could not be asked (errors other than not-found).
	Unverifiable int64    `json:"unverifiable"`
	Examples     []string `json:"examples,omitempty"` // a few problem workflows, for a human to look at
	// Problems are the first maxProblems problem workflows, for the
	// harness (their histories are exported); not part of the report.
	Problems []Problem `json:"-"`
	// LostAt are the start times (unix ms) of lost workflows, at most
	// maxLostAt of them, so reports can place losses in fault windows.
	LostAt []int64 `json:"lost_at,omitempty"`
	// History of the checked workflows' latest runs.
	HistoryMaxLength int64 `json:"history_max_length"`
	HistoryMaxBytes  int64 `json:"history_max_bytes"`
	// Duration is how long verification took after the load (with
	// batches, only what they left).
	Duration string `json:"duration"`
	// VerifiedDuringLoad are the workflows settled by batches while the
	// load ran, in Batches batches (0: all verified after the load).
	VerifiedDuringLoad int64 `json:"verified_during_load,omitempty"`
	Batches            int   `json:"batches_during_load,omitempty"`
}

// Invariants renders the generic invariants every scenario has.
func (r *Result) Invariants() []scenarios.Invariant {
	return []scenarios.Invariant{
		{Name: "no-lost-workflows", OK: r.Lost == 0 && r.Unverifiable == 0,
			Detail: fmt.Sprintf("%d journaled, %d lost, %d unverifiable%s", r.Journaled, r.Lost, r.Unverifiable, r.examples())},
		{Name: "expected-end-state", OK: r.Unexpected == 0,
			Detail: fmt.Sprintf("expected %s; found %s%s", formatCounts(r.Expected), formatCounts(r.ByStatus), r.examples())},
	}
}

// StartsJournaled is the harness's own check that no start escaped the
// journal: a run whose iterations ran but journaled nothing, or whose
// server acknowledged more starts on the driver's connection than the
// journal holds, would otherwise pass with "0 journaled, 0 lost".
// serverStarts < 0 means the count is not known (not checked).
func StartsJournaled(iterations int64, journaledAcked, journaled int64, serverStarts int64) scenarios.Invariant {
	inv := scenarios.Invariant{Name: "every-start-journaled", OK: true,
		Detail: fmt.Sprintf("%d iterations, %d starts journaled (%d acknowledged)", iterations, journaled, journaledAcked)}
	if serverStarts >= 0 {
		inv.Detail += fmt.Sprintf(", %d starts acknowledged by the server", serverStarts)
	}
	switch {
	case iterations > 0 && journaled == 0:
		inv.OK = false
		inv.Detail += ": iterations ran but journaled no workflow (a driver started workflows outside env.Start?)"
	case serverStarts > journaledAcked:
		inv.OK = false
		inv.Detail += fmt.Sprintf(": %d started workflows are missing from the journal (started outside env.Start)", serverStarts-journaledAcked)
	}
	return inv
}

func (r *Result) examples() string {
	if len(r.Examples) == 0 {
		return ""
	}
	return "; e.g. " + strings.Join(r.Examples, ", ")
}

func formatCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Options tune a verification pass.
type Options struct {
	// Wait bounds how long to keep polling workflows still running
	// (Journal; Incremental.Finish takes it as an argument).
	Wait time.Duration
	// Concurrency is the number of parallel Describe calls.
	Concurrency int
	// Scenario, if set, verifies only that scenario's entries (a suite's
	// earlier entries ran against another server).
	Scenario string
	// BatchMax caps the entries one Batch takes (0: no cap), so a long
	// journal (a resumed run's past) is caught up over several batches
	// instead of in one burst of describe calls beside the load.
	BatchMax int
}

// Describer is the one call verification makes of Temporal (a
// client.Client has it; tests pass a fake).
type Describer interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// Problem is a workflow that was lost, unverifiable or did not end as
// expected.
type Problem struct {
	WorkflowID, RunID, What string
}

const (
	maxExamples = 5
	maxProblems = 100
	maxLostAt   = 10000
)

type check struct {
	e     bench.JournalEntry
	state string // status name, "missing", or "error"
	hlen  int64
	hsize int64
}

// Journal verifies every entry of the journal at path.
func Journal(ctx context.Context, cl Describer, path string, o Options) (map[string]*Result, error) {
	return NewIncremental(cl, path, o).Finish(ctx, o.Wait)
}

// Incremental verifies a journal while the load still writes it, so a long
// run's verification is spread over the run instead of all left to its
// end. Each Batch reads the entries journaled since the previous one and
// settles those whose workflow has closed; anything else (still running,
// not found, Temporal not answering) waits for Finish, which judges it
// exactly as verifying after the load would. A closed workflow stays
// closed, so settling it early changes no verdict; and nothing but the
// journal's offset and the unsettled entries is kept between batches.
type Incremental struct {
	cl   Describer
	path string
	o    Options

	mu       sync.Mutex
	offset   int64                // of the journal, read up to here
	deferred []bench.JournalEntry // read, not settled: for Finish
	results  map[string]*Result
	batches  int
}

// NewIncremental verifies the journal at path from its start.
func NewIncremental(cl Describer, path string, o Options) *Incremental {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	return &Incremental{cl: cl, path: path, o: o, results: map[string]*Result{}}
}

var errBatchFull = errors.New("batch full")

// closed: a workflow in this state has ended for good.
func closed(state string) bool {
	return state != "running" && state != "missing" && state != "error"
}

// Batch settles the closed workflows among the entries journaled since
// the last batch (the journal must be flushed first to include the
// latest); it returns how many it settled. Batches must not overlap.
func (v *Incremental) Batch(ctx context.Context) (int64, error) {
	var fresh []bench.JournalEntry
	next, err := bench.ReadJournalFrom(v.path, v.offset, func(e bench.JournalEntry) error {
		if v.o.BatchMax > 0 && len(fresh) >= v.o.BatchMax {
			return errBatchFull // the rest is the next batch's
		}
		if v.o.Scenario == "" || e.Scenario == v.o.Scenario {
			fresh = append(fresh, e)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, errBatchFull) {
		return 0, fmt.Errorf("read journal: %w", err)
	}
	var settled int64
	sent := 0
	_ = v.pass(ctx, func(jobs chan<- bench.JournalEntry) error {
		for _, e := range fresh {
			select {
			case jobs <- e:
				sent++
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}, func(c check) {
		if !closed(c.state) {
			v.deferred = append(v.deferred, c.e)
			return
		}
		v.add(c).VerifiedDuringLoad++
		settled++
	})
	v.deferred = append(v.deferred, fresh[sent:]...) // not asked: the batch was stopped
	v.offset = next
	v.batches++
	return settled, ctx.Err()
}

// Finish verifies what the batches left: the entries they deferred and
// the rest of the journal, waiting up to wait for workflows still running;
// it returns every scenario's result, batches included.
func (v *Incremental) Finish(ctx context.Context, wait time.Duration) (map[string]*Result, error) {
	began := time.Now()
	deadline := began.Add(wait)
	var running []bench.JournalEntry // still running after a pass: asked again
	settle := func(c check) {
		if c.state == "running" && time.Now().Before(deadline) {
			running = append(running, c.e)
			return
		}
		v.add(c)
	}
	deferred := v.deferred
	v.deferred = nil
	err := v.pass(ctx, func(jobs chan<- bench.JournalEntry) error {
		send := func(e bench.JournalEntry) error {
			select {
			case jobs <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for _, e := range deferred {
			if err := send(e); err != nil {
				return err
			}
		}
		_, err := bench.ReadJournalFrom(v.path, v.offset, func(e bench.JournalEntry) error {
			if v.o.Scenario != "" && e.Scenario != v.o.Scenario {
				return nil
			}
			return send(e)
		})
		return err
	}, settle)
	if err != nil {
		return v.results, fmt.Errorf("read journal: %w", err)
	}
	for len(running) > 0 && ctx.Err() == nil {
		again := running
		running = nil
		if time.Now().Before(deadline) {
			sleep.For(ctx, 500*time.Millisecond)
		}
		_ = v.pass(ctx, func(jobs chan<- bench.JournalEntry) error {
			for _, e := range again {
				jobs <- e
			}
			return nil
		}, settle)
	}
	// Interrupted while waiting: what is still running is reported as such.
	deadline = time.Time{}
	for _, e := range running {
		settle(check{e: e, state: "running"})
	}
	for _, r := range v.results {
		r.Duration = time.Since(began).Round(time.Millisecond).String()
		r.Batches = v.batches
	}
	return v.results, ctx.Err()
}

// pass describes every entry feed sends, o.Concurrency at a time, and
// hands each check to settle (one at a time).
func (v *Incremental) pass(ctx context.Context, feed func(chan<- bench.JournalEntry) error, settle func(check)) error {
	jobs := make(chan bench.JournalEntry, v.o.Concurrency*4)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range v.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range jobs {
				c := describe(ctx, v.cl, e)
				mu.Lock()
				settle(c)
				mu.Unlock()
			}
		}()
	}
	err := feed(jobs)
	close(jobs)
	wg.Wait()
	return err
}

// add counts a settled check into its scenario's result, and returns it.
func (v *Incremental) add(c check) *Result {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := v.results[c.e.Scenario]
	if r == nil {
		r = NewResult(c.e.Scenario)
		v.results[c.e.Scenario] = r
	}
	expect := scenarios.Expect(c.e.Expect)
	r.Journaled++
	r.Expected[expect.String()]++
	r.ByStatus[c.state]++
	r.HistoryMaxLength = max(r.HistoryMaxLength, c.hlen)
	r.HistoryMaxBytes = max(r.HistoryMaxBytes, c.hsize)
	problem := ""
	switch {
	case c.state == "error":
		r.Unverifiable++
		problem = "unverifiable"
	case c.state == "missing" && c.e.Acked:
		r.Lost++
		problem = "lost"
		if len(r.LostAt) < maxLostAt {
			r.LostAt = append(r.LostAt, c.e.At)
		}
	case c.state == "missing":
		r.StartFailed++
	default:
		if !c.e.Acked {
			r.StartedDespiteError++
		}
		if !expect.Matches(c.state) {
			r.Unexpected++
			problem = "expected " + expect.String() + ", found " + c.state
		}
	}
	if problem != "" && len(r.Examples) < maxExamples {
		r.Examples = append(r.Examples, c.e.WorkflowID+" ("+problem+")")
	}
	if problem != "" && len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, Problem{WorkflowID: c.e.WorkflowID, RunID: c.e.RunID, What: problem})
	}
	return r
}

// NewResult is an empty result for scenario.
func NewResult(scenario string) *Result {
	return &Result{Scenario: scenario, Expected: map[string]int64{}, ByStatus: map[string]int64{}}
}

func describe(ctx context.Context, cl Describer, e bench.JournalEntry) check {
	c := check{e: e}
	// A chain that continues as new is judged by its latest run, except
	// where the entry expects that very run to have continued.
	runID := ""
	if scenarios.Expect(e.Expect) == scenarios.ExpectContinuedAsNew {
		runID = e.RunID
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		d, derr := cl.DescribeWorkflowExecution(ctx, e.WorkflowID, runID)
		err = derr
		if err == nil {
			info := d.GetWorkflowExecutionInfo()
			c.state = scenarios.StatusName(info.GetStatus())
			c.hlen = info.GetHistoryLength()
			c.hsize = info.GetHistorySizeBytes()
			return c
		}
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			c.state = "missing"
			return c
		}
		if ctx.Err() != nil {
			break
		}
		sleep.For(ctx, time.Duration(attempt+1)*200*time.Millisecond)
	}
	c.state = "error"
	return c
}
