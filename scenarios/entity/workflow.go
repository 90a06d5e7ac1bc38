package entity

import (
	"encoding/json"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names the entity workflow is registered and signalled under.
const (
	WorkflowName = "squall.entity"
	SignalTx     = "tx"
	SignalClose  = "close"
	QueryState   = "state"
)

// Input starts one run of an entity. State is empty on the first run and the
// previous run's state (JSON, versioned) after a continue-as-new.
type Input struct {
	EntityID string          `json:"entity_id"`
	Strategy Strategy        `json:"strategy"`
	State    json.RawMessage `json:"state,omitempty"`
}

// Result is what an entity returns when it is closed.
type Result struct {
	State State `json:"state"`
	// ProcessedInRun is the number of transactions the last run processed.
	ProcessedInRun int `json:"processed_in_run"`
}

// Workflow is a long-running account: it applies "tx" signals to its balance
// until it receives "close", continuing as new according to its strategy.
//
// Around continue-as-new it follows the SDK's documented pattern: every
// signal already delivered to this run is drained from the channel
// (ReceiveAsync until empty) before the run returns ContinueAsNewError, so
// none is dropped with the run. Signals arriving at the server while the
// final workflow task runs make the server reject the completion and hand
// them to a new task of this run, which drains them too.
func Workflow(ctx workflow.Context, in Input) (Result, error) {
	st, err := DecodeState(in.State, in.EntityID)
	if err != nil {
		return Result{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadEntityState", err)
	}
	st.Runs++
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return st, nil }); err != nil {
		return Result{}, err
	}

	txCh := workflow.GetSignalChannel(ctx, SignalTx)
	closeCh := workflow.GetSignalChannel(ctx, SignalClose)
	runStart := workflow.Now(ctx)
	processed := 0
	closing := false
	apply := func(tx Tx) {
		st.Apply(tx)
		processed++
	}
	drain := func() {
		for {
			var tx Tx
			if !txCh.ReceiveAsync(&tx) {
				break
			}
			apply(tx)
		}
		for closeCh.ReceiveAsync(nil) {
			closing = true
		}
	}
	var ageTimer workflow.Future
	if in.Strategy.Kind == KindHybrid {
		ageTimer = workflow.NewTimer(ctx, in.Strategy.MaxAge)
	}
	aged := false

	for {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(txCh, func(c workflow.ReceiveChannel, _ bool) {
			var tx Tx
			c.Receive(ctx, &tx)
			apply(tx)
		})
		sel.AddReceive(closeCh, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			closing = true
		})
		if ageTimer != nil && !aged {
			sel.AddFuture(ageTimer, func(workflow.Future) { aged = true })
		}
		sel.Select(ctx)
		// Everything delivered in this workflow task is processed now, in
		// one go: batching is what keeps the history short under load.
		drain()
		if closing {
			return Result{State: st, ProcessedInRun: processed}, nil
		}
		info := workflow.GetInfo(ctx)
		reason := in.Strategy.decide(processed, info.GetContinueAsNewSuggested(), workflow.Now(ctx).Sub(runStart))
		if reason == "" {
			continue
		}
		// The documented pattern: drain before continuing. (Nothing can have
		// arrived since the drain above without the coroutine yielding; this
		// keeps the invariant local to the return below.)
		drain()
		if closing {
			return Result{State: st, ProcessedInRun: processed}, nil
		}
		if st.CANBy == nil {
			st.CANBy = map[string]int{}
		}
		st.CANBy[reason]++
		st.MaxRunLength = max(st.MaxRunLength, info.GetCurrentHistoryLength())
		st.MaxRunBytes = max(st.MaxRunBytes, info.GetCurrentHistorySize())
		raw, err := EncodeState(st)
		if err != nil {
			return Result{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadEntityState", err)
		}
		workflow.GetLogger(ctx).Info("entity continues as new", "entity", in.EntityID, "reason", reason,
			"processed", processed, "history_length", info.GetCurrentHistoryLength(), "history_bytes", info.GetCurrentHistorySize())
		return Result{}, workflow.NewContinueAsNewError(ctx, WorkflowName, Input{EntityID: in.EntityID, Strategy: in.Strategy, State: raw})
	}
}
