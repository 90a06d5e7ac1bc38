// Package entity is the long-history entity scenario:
// long-running account workflows receive transactions at an open-loop rate
// (as signals, validated updates answered with the balance they produced,
// or update-with-start) and continue-as-new by a strategy (after
// N events, at the server's suggestion, by age, or hybrid). One iteration
// is one transaction (or a burst, in storm mode); after the load every entity is closed and checked:
// balance, exactly-once processing and answers across continue-as-new
// (which run handled each message), runs per entity against the strategy,
// and the history of every run against the server's limits. The `never` strategy shows the failure the others avoid:
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
		Description: "long-running account entities receive transactions as signals, validated updates or update-with-start " +
			"(one iteration = one transaction, or a burst of them) and continue-as-new by strategy; checks balances, exactly-once " +
			"processing and answers across continue-as-new, runs per trigger and history limits",
		Options: []scenarios.Option{
			{Name: "entities", Kind: scenarios.Int, Default: "50", Min: scenarios.MinOf(1),
				Help: "entity workflows; iteration i signals entity i mod entities"},
			{Name: "can", Kind: scenarios.String, Default: "hybrid",
				Help: "continue-as-new strategy: events:N (after N processed transactions), age:DURATION (after the run lived that " +
					"long, also while idle), suggested (when the server suggests it), " +
					"hybrid (hybrid-events, suggestion or max-age, whichever first) or never (the server terminates the run at " +
					"limit.historyCount.error; a signal-only entity writes about 2-4 events per signal and the server takes at most " +
					"10,000 signals per run, so at default limits lower limit.historyCount.error to see it)"},
			{Name: "hybrid-events", Kind: scenarios.Int, Default: "5", Min: scenarios.MinOf(1),
				Help: "hybrid: continue-as-new after this many processed transactions in a run"},
			{Name: "max-age", Kind: scenarios.Duration, Default: "15s", Min: scenarios.MinOf(1),
				Help: "hybrid: continue-as-new when a run is this old (also while idle)"},
			{Name: "prestart", Kind: scenarios.Bool, Default: "true",
				Help: "start every entity (and let it run its first workflow task) before the load, so the load measures " +
					"signals to live entities; false: the first signal-with-start of each entity creates it under load"},
			{Name: "message", Kind: scenarios.String, Default: MsgSignal,
				Help: "how transactions arrive: signal (signal-with-start), update (a validated update to the prestarted entity, " +
					"answered with the balance it produced), update-with-start (the first update creates the entity; prestart is " +
					"skipped) or mixed (the three in turn)"},
			{Name: "malformed-every", Kind: scenarios.Int, Default: "10", Min: scenarios.MinOf(0),
				Help: "updates: every Nth transaction is preceded by a malformed twin (amount out of range) the validator must " +
					"reject; 0: none"},
			{Name: "burst", Kind: scenarios.Int, Default: "1", Min: scenarios.MinOf(1),
				Help: "storm mode: each iteration sends this many transactions to its entity at once (the rate counts iterations), " +
					"faster than a run applies them one task at a time; continue-as-new must still happen and nothing be lost"},
			{Name: "finish-timeout", Kind: scenarios.Duration, Default: "5m", Min: scenarios.MinOf(1),
				Help: "after the load: how long closing the entities and reading their histories may take"},
		},
		// Signals are cheap: the harness's open-loop default suits, spread
		// over the default 50 entities (12 signals each in 30 s); the
		// hybrid thresholds (5 transactions, 15 s) are low so that every
		// entity crosses continue-as-new more than once (measured: 3 runs
		// each, all by events; the age timer stands by for an idle run),
		// with signals arriving around each boundary.
		Defaults: scenarios.Defaults{Rate: "20/s", Duration: 30 * time.Second},
		Proves: "50 entities take 12 transactions each and continue as new more than once (hybrid: after 5 transactions or " +
			"15 s, the age timer also while idle); every signal is recorded and applied exactly once across those boundaries, " +
			"balances match, every continue-as-new had its trigger (counted by trigger: events, suggestion, age) and none was " +
			"missed; message=update|update-with-start|mixed proves the same for updates, each answered once with the balance " +
			"it produced, malformed ones rejected and never in history",
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
	// message, malformedEvery, burst: see the options of the same names.
	message        string
	malformedEvery int
	burst          int

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
	strat, err := strategy(o)
	if err != nil {
		return err
	}
	msg := o.String("message")
	switch msg {
	case MsgSignal, MsgUpdateWithStart:
	case MsgUpdate, MsgMixed:
		if !o.Bool("prestart") {
			return fmt.Errorf("message=%s sends updates to existing entities and needs prestart=true; "+
				"use message=update-with-start to create entities by their first update", msg)
		}
	default:
		return fmt.Errorf("message=%q: want signal, update, update-with-start or mixed", msg)
	}
	if strat.Kind == KindNever && msg != MsgSignal {
		return fmt.Errorf("can=never runs with message=signal only (it shows the server terminating a signalled entity)")
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
	d := &driver{env: env, strategy: strat, finishTimeout: opts.Duration("finish-timeout"), expect: scenarios.ExpectCompleted,
		message: opts.String("message"), malformedEvery: int(opts.Int("malformed-every")), burst: int(opts.Int("burst"))}
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
	// update-with-start creates its entities by their first update.
	if opts.Bool("prestart") && d.message != MsgUpdateWithStart {
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
