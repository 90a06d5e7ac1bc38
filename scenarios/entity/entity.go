// Package entity is the long-history entity scenario (chapter section 9.1):
// long-running account workflows receive transactions as signals at an
// open-loop rate and continue-as-new by one of the chapter's strategies.
// One iteration is one signal (signal-with-start); after the load every
// entity is closed and checked: balance, exactly-once processing, runs per
// entity against the strategy, and the history of every run against the
// server's limits. The `never` strategy shows the failure the others avoid:
// the server terminates the entity at its history limit.
package entity

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/scenarios"
)

// Name is the scenario's registry name.
const Name = "entity"

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name: Name,
		Description: "long-running account entities receive transaction signals (one iteration = one signal-with-start) " +
			"and continue-as-new by strategy; checks balances, exactly-once processing, runs and history limits",
		Options: []scenarios.Option{
			{Name: "entities", Kind: scenarios.Int, Default: "50", Min: scenarios.MinOf(1),
				Help: "entity workflows; iteration i signals entity i mod entities"},
			{Name: "can", Kind: scenarios.String, Default: "hybrid",
				Help: "continue-as-new strategy: events:N (after N processed transactions), suggested (when the server suggests it), " +
					"hybrid (hybrid-events, suggestion or max-age, whichever first) or never (the server terminates the run at " +
					"limit.historyCount.error; a signal-only entity writes about 2-4 events per signal and the server takes at most " +
					"10,000 signals per run, so at default limits lower limit.historyCount.error to see it)"},
			{Name: "hybrid-events", Kind: scenarios.Int, Default: "1000", Min: scenarios.MinOf(1),
				Help: "hybrid: continue-as-new after this many processed transactions in a run"},
			{Name: "max-age", Kind: scenarios.Duration, Default: "10m", Min: scenarios.MinOf(1),
				Help: "hybrid: continue-as-new when a run is this old (also while idle)"},
			{Name: "prestart", Kind: scenarios.Bool, Default: "true",
				Help: "start every entity (and let it run its first workflow task) before the load, so the load measures " +
					"signals to live entities; false: the first signal-with-start of each entity creates it under load"},
			{Name: "finish-timeout", Kind: scenarios.Duration, Default: "5m", Min: scenarios.MinOf(1),
				Help: "after the load: how long closing the entities and reading their histories may take"},
		},
		// Signals are cheap: the harness's open-loop default suits, spread
		// over the default 50 entities (12 signals each in 30 s).
		Defaults: scenarios.Defaults{Rate: "20/s", Duration: 30 * time.Second},
		Validate: validate,
		Register: Register,
		New:      newDriver,
	})
}

// Register adds the entity workflow to a worker.
func Register(r worker.Registry) {
	r.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
}

// WorkflowID names entity e of a run.
func WorkflowID(runID string, e int) string { return fmt.Sprintf("%s-%s-%d", Name, runID, e) }

type driver struct {
	env           scenarios.Env
	strategy      Strategy
	expect        scenarios.Expect // what verification demands of every entity
	finishTimeout time.Duration
	entities      []*ledger

	mu       sync.Mutex
	finished bool
	tally    tally
}

func strategy(opts scenarios.Values) (Strategy, error) {
	return ParseStrategy(opts.String("can"), int(opts.Int("hybrid-events")), opts.Duration("max-age"))
}

// minFinishTimeout: closing an entity needs one workflow task. If the
// worker holding it dies, that task comes back only by the sticky queue's
// schedule-to-start timeout (5 s) or the workflow task timeout (10 s), so
// a finish deadline below that would blame the entity for the recovery.
const minFinishTimeout = 30 * time.Second

func validate(o scenarios.Values, _ scenarios.Load) error {
	if _, err := strategy(o); err != nil {
		return err
	}
	if ft := o.Duration("finish-timeout"); ft < minFinishTimeout {
		return fmt.Errorf("finish-timeout %s is shorter than %s: an entity whose last workflow task was lost with its worker "+
			"is recovered only by the workflow task timeout (10 s); give finish-timeout=%s or more", ft, minFinishTimeout, minFinishTimeout)
	}
	return nil
}

func newDriver(ctx context.Context, env scenarios.Env, opts scenarios.Values) (scenarios.Driver, error) {
	strat, err := strategy(opts)
	if err != nil {
		return nil, err
	}
	n := int(opts.Int("entities"))
	d := &driver{env: env, strategy: strat, finishTimeout: opts.Duration("finish-timeout"), expect: scenarios.ExpectCompleted}
	if strat.Kind == KindNever {
		// The point of this variant: the server ends the entity.
		d.expect = scenarios.ExpectTerminated
	}
	for e := range n {
		l := &ledger{id: WorkflowID(env.RunID, e), index: e}
		if strat.Kind == KindNever {
			l.ackedIDs = map[int64]bool{}
		}
		d.entities = append(d.entities, l)
	}
	if opts.Bool("prestart") {
		if err := d.prestart(ctx); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// prestart starts every entity and waits until each has completed its first
// workflow task (it then waits for signals, cached by its worker).
func (d *driver) prestart(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
	)
	scenarios.ParallelDo(len(d.entities), 8, func(i int) {
		if err := d.prestartOne(ctx, d.entities[i]); err != nil {
			mu.Lock()
			first = cmp.Or(first, err)
			mu.Unlock()
		}
	})
	return first
}

func (d *driver) prestartOne(ctx context.Context, l *ledger) error {
	run, err := d.env.Start(ctx, scenarios.StartSpec{ID: l.id, Workflow: WorkflowName, SignalledLater: true,
		Args:    []any{Input{EntityID: l.id, Strategy: d.strategy}},
		Options: client.StartWorkflowOptions{WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE},
		Expect:  d.expect})
	if err != nil {
		return fmt.Errorf("prestart: %w", err)
	}
	l.mu.Lock()
	l.prestarted = true
	l.mu.Unlock()
	for {
		desc, err := d.env.Client.DescribeWorkflowExecution(ctx, l.id, run.GetRunID())
		if err == nil && desc.GetPendingWorkflowTask() == nil && desc.GetWorkflowExecutionInfo().GetHistoryLength() >= 4 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("prestart %s: first workflow task not done: %w", l.id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *driver) Close() error { return nil }
