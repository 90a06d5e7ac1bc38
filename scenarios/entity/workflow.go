package entity

import (
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names the entity workflow is registered and signalled under.
const (
	WorkflowName = "squall.entity"
	SignalTx     = "tx"
	// UpdateTx is the update form of a transaction: validated before it is
	// accepted, answered with the balance it produced.
	UpdateTx    = "tx"
	SignalClose = "close"
	QueryState  = "state"
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

// TxAnswer is what an accepted tx update returns: the balance and the
// transaction count right after this transaction was applied, and the run
// that applied it.
type TxAnswer struct {
	Balance int64  `json:"balance"`
	TxCount int64  `json:"tx_count"`
	RunID   string `json:"run_id"`
}

// MaxAmount bounds a transaction's amount (cents, either sign); AmountOf
// stays within it, so only deliberately malformed transactions exceed it.
const MaxAmount = 10000

// ValidateTx is the tx update's validator: a malformed transaction (no
// id, or an amount out of range) is rejected before it is accepted, so
// it never reaches the history.
func ValidateTx(tx Tx) error {
	switch {
	case tx.ID < 0:
		return fmt.Errorf("transaction id %d: ids are not negative", tx.ID)
	case tx.Amount < -MaxAmount || tx.Amount > MaxAmount:
		return fmt.Errorf("transaction %d: amount %d outside [-%d, %d]", tx.ID, tx.Amount, MaxAmount, MaxAmount)
	}
	return nil
}

// rules are the continue-as-new rules the workflow keeps. Workflow keeps
// all; the tests register variants that break one each, to show the
// checks catch it.
type rules struct {
	drain         bool // receive every delivered signal before deciding (and so before continuing)
	awaitHandlers bool // apply queued updates and wait for workflow.AllHandlersFinished before deciding
	validate      bool // reject malformed tx updates in the validator
}

var keepAll = rules{drain: true, awaitHandlers: true, validate: true}

// pendingTx is an accepted tx update waiting for the main loop to apply
// it: transactions are applied in one place, in one order, whether they
// came as signals or updates.
type pendingTx struct {
	tx     Tx
	done   bool
	answer TxAnswer
}

// Workflow is a long-running account: it applies transactions, arriving as
// "tx" signals or "tx" updates, to its balance until it receives "close",
// continuing as new according to its strategy.
//
// Around continue-as-new it follows the documented pattern: every signal
// already delivered to this run is drained from the channel (ReceiveAsync
// until empty), and every accepted update applied and its handler
// finished (workflow.AllHandlersFinished), before the run returns
// ContinueAsNewError, so none is dropped with the run. Signals arriving at
// the server while the final workflow task runs make the server reject the
// completion and hand them to a new task of this run, which drains them
// too; updates the server admitted but had not yet delivered are handed
// to the new run.
func Workflow(ctx workflow.Context, in Input) (Result, error) { return run(ctx, in, keepAll) }

func run(ctx workflow.Context, in Input, r rules) (Result, error) {
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
	// Accepted updates queue here for the main loop; the channel is
	// workflow-internal (no events), so signal-only histories replay as
	// before.
	updCh := workflow.NewBufferedChannel(ctx, 1<<20)
	runID := workflow.GetInfo(ctx).WorkflowExecution.RunID
	var opts workflow.UpdateHandlerOptions
	if r.validate {
		opts.Validator = func(_ workflow.Context, tx Tx) error { return ValidateTx(tx) }
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateTx, func(ctx workflow.Context, tx Tx) (TxAnswer, error) {
		for _, a := range st.Answers {
			if a.ID == tx.ID {
				return a.Answer, nil // a repeat: answered before, applied once
			}
		}
		p := &pendingTx{tx: tx}
		updCh.SendAsync(p)
		if err := workflow.Await(ctx, func() bool { return p.done }); err != nil {
			return TxAnswer{}, err
		}
		return p.answer, nil
	}, opts); err != nil {
		return Result{}, err
	}

	runStart := workflow.Now(ctx)
	processed := 0
	closing := false
	apply := func(tx Tx) {
		st.Apply(tx)
		processed++
	}
	applyUpdate := func(p *pendingTx) {
		apply(p.tx)
		p.answer = TxAnswer{Balance: st.Balance, TxCount: st.TxCount, RunID: runID}
		p.done = true
		st.remember(p.tx.ID, p.answer)
	}
	// drain takes everything delivered so far: signals (drain rule),
	// queued updates (handler rule) and close.
	drain := func() {
		for r.drain {
			var tx Tx
			if !txCh.ReceiveAsync(&tx) {
				break
			}
			apply(tx)
		}
		for r.awaitHandlers {
			var p *pendingTx
			if !updCh.ReceiveAsync(&p) {
				break
			}
			applyUpdate(p)
		}
		for closeCh.ReceiveAsync(nil) {
			closing = true
		}
	}
	// finishHandlers waits until every update handler of this task has
	// queued its transaction and returned its answer, applying (and
	// draining) whatever arrives meanwhile. An update delivered in the task
	// that decides may not have run its handler yet when the main loop
	// decides: without this wait it is accepted and never answered.
	finishHandlers := func() error {
		for {
			drain()
			if err := workflow.Await(ctx, func() bool { return updCh.Len() > 0 || workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			if updCh.Len() == 0 {
				return nil
			}
		}
	}
	var ageTimer workflow.Future
	if in.Strategy.timed() {
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
		sel.AddReceive(updCh, func(c workflow.ReceiveChannel, _ bool) {
			var p *pendingTx
			c.Receive(ctx, &p)
			applyUpdate(p)
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
		// one go: batching is what keeps the history short under load, and
		// no signal delivered is left behind by a continue-as-new below.
		drain()
		if closing {
			if r.awaitHandlers {
				if err := finishHandlers(); err != nil {
					return Result{}, err
				}
			}
			return Result{State: st, ProcessedInRun: processed}, nil
		}
		info := workflow.GetInfo(ctx)
		reason := in.Strategy.decide(processed, info.GetContinueAsNewSuggested(), workflow.Now(ctx).Sub(runStart))
		if reason == "" {
			continue
		}
		// The documented pattern: let every handler finish before
		// continuing (their answers need a yield; finishHandlers drains
		// whatever arrives meanwhile).
		if r.awaitHandlers {
			if err := finishHandlers(); err != nil {
				return Result{}, err
			}
		}
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
