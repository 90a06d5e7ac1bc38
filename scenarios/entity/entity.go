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
	"context"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
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
			{Name: "finish-timeout", Kind: scenarios.Duration, Default: "5m", Min: scenarios.MinOf(1),
				Help: "after the load: how long closing the entities and reading their histories may take"},
		},
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
	finishTimeout time.Duration
	entities      []*ledger

	mu       sync.Mutex
	finished bool
	checks   []scenarios.Invariant
}

func newDriver(_ context.Context, env scenarios.Env, opts scenarios.Values) (scenarios.Driver, error) {
	strat, err := ParseStrategy(opts.String("can"), int(opts.Int("hybrid-events")), opts.Duration("max-age"))
	if err != nil {
		return nil, err
	}
	n := int(opts.Int("entities"))
	d := &driver{env: env, strategy: strat, finishTimeout: opts.Duration("finish-timeout")}
	for e := range n {
		l := &ledger{id: WorkflowID(env.RunID, e), index: e}
		if strat.Kind == KindNever {
			l.ackedIDs = map[int64]bool{}
		}
		d.entities = append(d.entities, l)
	}
	return d, nil
}

func (d *driver) ExpectedStatus() enumspb.WorkflowExecutionStatus {
	if d.strategy.Kind == KindNever {
		// The point of this variant: the server ends the entity.
		return enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED
	}
	return enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
}

func (d *driver) Close() error { return nil }
