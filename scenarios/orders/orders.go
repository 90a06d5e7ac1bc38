// Package orders is the orders-batch scenario: a batch of orders (default
// 100,000), each with an id and an amount, processed through batched
// activities and aggregated into totals, in one of four shapes: one workflow with bounded parallel
// groups, MapReduce, a parent fanning out to child workflows, or one child
// per order (the cautionary comparison, for small batches only).
//
// One iteration is one whole batch. The orders live in a fake order store
// (package orderstore) served by the driver process over loopback; the
// workflows carry only references (store URL, batch, ranges). The store is
// the ground truth of the invariants: every order applied exactly once in
// effect, the grand total equal to the sum of the amounts, the counts the
// workflows return equal to the store's, and duplicate attempts reported.
package orders

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
	"github.com/squallbench/squall/scenarios/orders/orderstore"
)

// Name is the scenario's registry name.
const Name = "orders-batch"

// Modes.
const (
	ModeBatched   = "batched"
	ModeMapReduce = "mapreduce"
	ModeChildren  = "children"
	ModePerOrder  = "per-order-children"
)

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name: Name,
		Description: "a batch of orders (default 100,000) from a fake order store through batched activities, " +
			"MapReduce or child workflows, with seeded partial failure; the store proves every order applied exactly once",
		Proves: "one batch of 100,000 orders through batched activities: the store proves every order applied exactly once",
		Options: []scenarios.Option{
			{Name: "mode", Kind: scenarios.Enum, Default: ModeBatched, Choices: []string{ModeBatched, ModeMapReduce, ModeChildren, ModePerOrder},
				Help: "batched: one workflow, activities in bounded parallel groups; mapreduce: map activities (rolling window) + one reduce; " +
					"children: a parent fans out to child workflows, each batching its slice; per-order-children: one child per order (small batches only)"},
			{Name: "orders", Kind: scenarios.Int, Default: "100000", Min: scenarios.MinOf(1), Help: "orders per batch (one batch per iteration)"},
			{Name: "batch-size", Kind: scenarios.Int, Default: "100", Min: scenarios.MinOf(1), Help: "orders per activity"},
			{Name: "parallel", Kind: scenarios.Int, Default: "10", Min: scenarios.MinOf(1), Help: "activities in flight per workflow, at most"},
			{Name: "children", Kind: scenarios.Int, Default: "100", Min: scenarios.MinOf(1), Help: "children mode: child workflows per batch (orders split evenly)"},
			{Name: "max-children", Kind: scenarios.Int, Default: "20", Min: scenarios.MinOf(1), Help: "children modes: child workflows in flight, at most (rolling window)"},
			{Name: "failure-rate", Kind: scenarios.Float, Default: "0", Min: scenarios.MinOf(0), Help: "fraction (or %) of orders the store refuses on every attempt (seeded)"},
			{Name: "transient-failure-rate", Kind: scenarios.Float, Default: "0", Min: scenarios.MinOf(0), Help: "fraction (or %) of orders the store refuses on the first attempt only (seeded)"},
			{Name: "failure-threshold", Kind: scenarios.Float, Default: "10%", Min: scenarios.MinOf(0), Help: "a batch fails as a whole when more than this fraction of its orders failed"},
			{Name: "max-attempts", Kind: scenarios.Int, Default: "3", Min: scenarios.MinOf(1), Help: "attempts at each order the store refuses (seeded failures); requests the store never answered do not count"},
			{Name: "apply-deadline", Kind: scenarios.Duration, Default: "10m", Min: scenarios.MinOf(1),
				Help: "an apply activity retries unanswered store requests (api-errors, a killed worker) until this schedule-to-close timeout; past it, its orders count as failed"},
			{Name: "attempt-timeout", Kind: scenarios.Duration, Default: DefaultAttemptTimeout.String(), Min: scenarios.MinOf(1),
				Help: "start-to-close timeout of one apply attempt: an attempt lost with its worker is retried only once it expires, so apply-deadline must leave room for it"},
			{Name: "retry-interval", Kind: scenarios.Duration, Default: "100ms", Min: scenarios.MinOf(0.001), Help: "first retry backoff of the apply activities (doubling)"},
			{Name: "seed", Kind: scenarios.Int, Default: "1", Help: "seed of the order amounts and of the failing subsets"},
			{Name: "inject-duplicates", Kind: scenarios.Int, Default: "0", Min: scenarios.MinOf(0),
				Help: "verifier self-test: re-apply this many already-applied orders per batch from a separate activity; the run must then fail its no-double-application invariant"},
			{Name: "history-sample", Kind: scenarios.Int, Default: "10", Min: scenarios.MinOf(0), Help: "children described per parent for the history distribution"},
			{Name: "max-history-events", Kind: scenarios.Int, Default: fmt.Sprint(DefaultMaxHistoryEvents), Min: scenarios.MinOf(100),
				Help: "the cluster's limit.historyCount.error: sizes whose history could reach it are refused"},
		},
		// One batch at a time, once: a batch is the unit of work (100,000
		// orders by default), and batches running side by side would only
		// measure each other. A batch runs to its end (closed loop); the
		// grace is for open-loop runs (--rate), where the load ends as the
		// last batch starts: it covers a batch whose activities retry up
		// to the default apply-deadline.
		Defaults: scenarios.Defaults{Concurrency: 1, Iterations: 1, Grace: 15 * time.Minute},
		Validate: func(o scenarios.Values, _ scenarios.Load) error { _, err := configure(o); return err },
		Register: Register,
		New:      newDriver,
	})
}

type driver struct {
	env    scenarios.Env
	in     Input // template; Batch set per iteration
	mode   string
	plan   Plan
	pred   orderstore.Prediction
	model  orderstore.Model
	expect scenarios.Expect // of every batch workflow (children always complete)

	historySample int64

	store *orderstore.Store
	srv   *orderstore.Server

	// What Finish read back (the store's ledgers, the workflows' results,
	// the history distribution), for the checks.
	batches []batchCheck
	hist    []check.HistoryRow
}

// configure checks the options as a whole and derives the run's plan
// (no side effects: it is also the scenario's Validate, run before any
// server starts).
func configure(o scenarios.Values) (*driver, error) {
	mode := o.String("mode")
	m := orderstore.Model{Seed: o.Int("seed"), FailureRate: o.Float("failure-rate"), TransientRate: o.Float("transient-failure-rate")}
	in := Input{
		Orders: o.Int("orders"), BatchSize: o.Int("batch-size"), Parallel: int(o.Int("parallel")),
		MaxChildren: int(o.Int("max-children")),
		Retry: Retry{MaxAttempts: int32(o.Int("max-attempts")), Interval: o.Duration("retry-interval"),
			Deadline: o.Duration("apply-deadline"), AttemptTimeout: o.Duration("attempt-timeout")},
		Threshold: o.Float("failure-threshold"), InjectDuplicates: o.Int("inject-duplicates"),
	}
	var problems []string
	if m.FailureRate+m.TransientRate > 1 {
		problems = append(problems, "failure-rate + transient-failure-rate must not exceed 1 (100%)")
	}
	if in.Threshold > 1 {
		problems = append(problems, "failure-threshold must be at most 1 (100%)")
	}
	if in.InjectDuplicates > in.Orders {
		problems = append(problems, fmt.Sprintf("inject-duplicates=%d exceeds orders=%d", in.InjectDuplicates, in.Orders))
	}
	if mode == ModeChildren && o.Int("children") > in.Orders {
		problems = append(problems, fmt.Sprintf("children=%d exceeds orders=%d", o.Int("children"), in.Orders))
	}
	if in.Retry.MaxAttempts > 1000 {
		problems = append(problems, "max-attempts must be at most 1000")
	}
	if err := in.Retry.checkRecovery(); err != nil {
		problems = append(problems, err.Error())
	}
	plan := NewPlan(mode, in.Orders, in.BatchSize, in.Parallel, o.Int("children"), in.MaxChildren, in.InjectDuplicates > 0)
	if err := plan.Check(o.Int("max-history-events")); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	in.Slices = plan.Slices

	d := &driver{in: in, mode: mode, plan: plan, model: m, historySample: o.Int("history-sample"),
		pred: m.Predict(in.Orders, int(in.Retry.MaxAttempts)), expect: scenarios.ExpectCompleted}
	if float64(d.pred.Failed)/float64(d.pred.Orders) > in.Threshold {
		d.expect = scenarios.ExpectFailed
	}
	return d, nil
}

// checkRecovery refuses an apply-deadline too short for the recovery it
// exists for: an attempt lost with its worker is only noticed when its
// start-to-close timeout expires, then the retry waits its backoff and
// needs an attempt of its own. A shorter deadline would turn every killed
// worker into failed orders (and, past the threshold, a failed batch)
// although nothing but the worker failed.
func (r Retry) checkRecovery() error {
	need := 2*r.attemptTimeout() + r.MaxBackoff()
	if r.Deadline < need {
		return fmt.Errorf("apply-deadline=%s is shorter than the recovery of one lost apply attempt (attempt-timeout %s until it is noticed, "+
			"up to %s backoff, then the retry's own attempt-timeout): make apply-deadline at least %s or attempt-timeout shorter",
			r.Deadline, r.attemptTimeout(), r.MaxBackoff(), need)
	}
	return nil
}

func newDriver(_ context.Context, env scenarios.Env, o scenarios.Values) (scenarios.Driver, error) {
	d, err := configure(o)
	if err != nil {
		return nil, err
	}
	d.env = env
	d.store = orderstore.New(d.model, env.Observe)
	srv, err := orderstore.Serve(d.store)
	if err != nil {
		return nil, err
	}
	d.srv = srv
	d.in.StoreURL = srv.URL
	return d, nil
}

// WorkflowID names batch n of a run.
func WorkflowID(runID string, n int64) string { return fmt.Sprintf("%s-%s-%d", Name, runID, n) }

func (d *driver) workflowType() string {
	switch d.mode {
	case ModeMapReduce:
		return WorkflowMapReduce
	case ModeChildren, ModePerOrder:
		return WorkflowParent
	}
	return WorkflowBatched
}

// outcome reads a finished batch workflow: its totals, and whether it
// failed by the threshold. Any other failure is returned as err.
func outcome(ctx context.Context, run client.WorkflowRun) (t Totals, thresholdFailed bool, err error) {
	err = scenarios.Await(ctx, run, &t)
	if err == nil {
		return t, false, nil
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == ErrThreshold {
		if derr := app.Details(&t); derr != nil {
			return t, true, &scenarios.WorkflowError{ID: run.GetID(), Err: fmt.Errorf("threshold failure without totals: %w", derr)}
		}
		return t, true, nil
	}
	return t, false, err
}

func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	id := WorkflowID(d.env.RunID, it.N)
	if err := d.store.Open(it.N, d.in.Orders); err != nil {
		return err
	}
	in := d.in
	in.Batch = it.N
	run, err := d.env.Start(ctx, scenarios.StartSpec{ID: id, Workflow: d.workflowType(), Args: []any{in}, Expect: d.expect})
	if err != nil {
		return err
	}
	t, thresholdFailed, err := outcome(ctx, run)
	d.expectChildren(id, err == nil)
	if err != nil {
		return err
	}
	wantFail := d.expect == scenarios.ExpectFailed
	switch {
	case thresholdFailed && !wantFail:
		return &scenarios.WorkflowError{ID: id, Err: fmt.Errorf("failed by the threshold (%d of %d failed) though %d failures were predicted",
			t.Failed, t.Orders, d.pred.Failed)}
	case !thresholdFailed && wantFail:
		return &scenarios.WorkflowError{ID: id, Err: fmt.Errorf("completed (%d of %d failed) though %d failures, above the threshold, were predicted",
			t.Failed, t.Orders, d.pred.Failed)}
	}
	return nil
}

// expectChildren journals the children of batch parentID: whatever the
// parent's outcome, each child completes (the threshold is the parent's).
// Their IDs are deterministic. Once the parent has run through (completed
// or failed by the threshold) it started every one, so a missing child is
// a lost one; otherwise (it failed otherwise, or the wait was abandoned)
// a child may never have been started.
func (d *driver) expectChildren(parentID string, ranThrough bool) {
	for i := range d.plan.Slices {
		d.env.ExpectChild(ChildID(parentID, i), scenarios.ExpectCompleted, ranThrough)
	}
}

// APIs exposes the order store to the api-errors and api-latency faults.
func (d *driver) APIs() []scenarios.APIControl { return []scenarios.APIControl{d.store} }

func (d *driver) Close() error {
	if d.srv != nil {
		return d.srv.Close()
	}
	return nil
}
