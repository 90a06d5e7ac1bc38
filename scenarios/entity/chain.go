package entity

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
)

// RunStat is what the server's history says about one run of an entity.
type RunStat struct {
	RunID  string `json:"run_id"`
	Status string `json:"status"` // scenarios.StatusName's spelling
	// Events and Bytes: the run's history length and size (Describe), i.e.
	// at its continue-as-new for every run but the last.
	Events int64 `json:"events"`
	Bytes  int64 `json:"bytes"`
	// Tx is the number of transactions recorded in the run: signals, and
	// updates accepted; Signals and Updates split it.
	Tx      int64 `json:"tx"`
	Signals int64 `json:"signals"`
	Updates int64 `json:"updates"`
	// UnprocessedSignals: signals recorded in the run that no later
	// workflow task of the run saw (left behind by its continue-as-new).
	UnprocessedSignals int64 `json:"unprocessed_signals,omitempty"`
	// UnfinishedUpdates: updates accepted in the run and never completed
	// in it (a handler left running when the run continued or closed).
	UnfinishedUpdates int64 `json:"unfinished_updates,omitempty"`
	// TxBeforeLastTask: transactions the run had processed before its last
	// completed workflow task (the one that continued or closed it).
	TxBeforeLastTask int64 `json:"tx_before_last_task"`
	// SuggestedTasks counts completed workflow tasks whose start carried the
	// server's continue-as-new suggestion; LastTaskSuggested is that flag
	// for the run's last completed task.
	SuggestedTasks    int           `json:"suggested_tasks"`
	LastTaskSuggested bool          `json:"last_task_suggested"`
	Age               time.Duration `json:"age_ns"`
	// TerminateReason and TerminateIdentity, when the run was terminated.
	TerminateReason   string `json:"terminate_reason,omitempty"`
	TerminateIdentity string `json:"terminate_identity,omitempty"`
}

// Chain is the server's record of an entity: every run, oldest first, and
// the transaction signals recorded across them.
type Chain struct {
	Runs []RunStat
	// Count, Hash and Amount of the recorded transaction signals.
	Count  int64
	Hash   uint64
	Amount int64
	// Unprocessed: recorded, but no workflow task completed after them in
	// their run (only a terminated run can leave such signals).
	Unprocessed int64
	Events      int64 // events read
	// Updates: completed updates, the sum of answerHashOf over their
	// answers, how many update ids were applied more than once (or
	// answered again with an answer no run gave), and how many accepted
	// transactions fail the validator (none may).
	UpdatesCompleted, UpdatesTwice, Malformed int64
	// UpdatesRepeated: updates delivered again to a later run after they
	// completed, and answered there with their original answer (the
	// workflow's own deduplication across continue-as-new).
	UpdatesRepeated int64
	// TwiceExample names one update completed twice and its runs.
	TwiceExample string
	AnswerHash   uint64
	// answers are the completed updates' answers with their transaction's
	// amount, for the consistency check (kept when asked for).
	answers []answerRec
	// ids of the recorded transactions, in history order (only when asked
	// for: can=never, where their number is bounded by the history limit).
	ids []int64
}

// answerRec is one completed update as the history holds it.
type answerRec struct {
	Amount int64
	Answer TxAnswer
}

// walkChain reads every run of workflow id from the server, newest first
// (each run's start event names the run it continued), and reports each
// recorded transaction signal to onTx with the time the workflow task that
// applied it completed (zero if none did).
func walkChain(ctx context.Context, cl client.Client, id string, keepIDs, keepAnswers bool, onTx func(tx Tx, processed time.Time)) (Chain, error) {
	var ch Chain
	if keepIDs {
		ch.ids = []int64{}
	}
	// completedIDs: update id -> the run that completed it and its
	// answer's fingerprint (memory grows with the updates of one entity).
	type done struct {
		run  string
		hash uint64
	}
	completedIDs := map[string]done{}
	repeats := map[string]uint64{} // update id -> the repeated answer's fingerprint
	latest := check.Describe(ctx, cl, id, "")
	if err := describeErr(latest); err != nil {
		return ch, err
	}
	runID := latest.RunID
	dc := converter.GetDefaultDataConverter()
	var newestFirst []RunStat
	for runID != "" {
		if len(newestFirst) > 100000 {
			return ch, fmt.Errorf("%s: more than 100,000 runs; refusing to walk further", id)
		}
		rs := RunStat{RunID: runID}
		run := check.Describe(ctx, cl, id, runID)
		if err := describeErr(run); err != nil {
			return ch, err
		}
		rs.Status, rs.Bytes = run.Status, run.HistoryBytes

		prev := ""
		var pending []Tx // recorded, not yet applied by a completed task
		var processed int64
		lastStartedSuggested := false
		var first, last, lastTask time.Time
		accepted := map[string]Tx{} // update id -> its transaction, until completed
		it := cl.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return ch, fmt.Errorf("history of %s run %s: %w", id, runID, err)
			}
			rs.Events++
			ch.Events++
			t := ev.GetEventTime().AsTime()
			if first.IsZero() {
				first = t
			}
			last = t
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				prev = ev.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				a := ev.GetWorkflowExecutionSignaledEventAttributes()
				if a.GetSignalName() != SignalTx {
					continue
				}
				var tx Tx
				if err := dc.FromPayloads(a.GetInput(), &tx); err != nil {
					return ch, fmt.Errorf("%s run %s event %d: decode tx: %w", id, runID, ev.GetEventId(), err)
				}
				rs.Tx++
				rs.Signals++
				ch.Count++
				ch.Hash += IDHashOf(tx.ID)
				ch.Amount += tx.Amount
				pending = append(pending, tx)
				if keepIDs {
					ch.ids = append(ch.ids, tx.ID)
				}
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
				a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes()
				req := a.GetAcceptedRequest()
				if req.GetInput().GetName() != UpdateTx {
					continue
				}
				var tx Tx
				if err := dc.FromPayloads(req.GetInput().GetArgs(), &tx); err != nil {
					return ch, fmt.Errorf("%s run %s event %d: decode update tx: %w", id, runID, ev.GetEventId(), err)
				}
				if ValidateTx(tx) != nil {
					ch.Malformed++
				}
				// Counted at its completion: a repeat (see State.Answers)
				// is known only by its answer.
				accepted[req.GetMeta().GetUpdateId()] = tx
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
				a := ev.GetWorkflowExecutionUpdateCompletedEventAttributes()
				uid := a.GetMeta().GetUpdateId()
				tx, ok := accepted[uid]
				if !ok {
					continue // not a tx update
				}
				delete(accepted, uid)
				var ans TxAnswer
				if err := dc.FromPayloads(a.GetOutcome().GetSuccess(), &ans); err != nil {
					return ch, fmt.Errorf("%s run %s event %d: decode update answer: %w", id, runID, ev.GetEventId(), err)
				}
				h := answerHashOf(tx.ID, ans)
				if ans.RunID != runID {
					// The workflow applies an update in the run it runs in
					// and names that run; another run's name is the
					// original answer given again to a repeat.
					ch.UpdatesRepeated++
					repeats[uid] = h
					continue
				}
				if first, ok := completedIDs[uid]; ok {
					ch.UpdatesTwice++
					if ch.TwiceExample == "" {
						ch.TwiceExample = fmt.Sprintf("%s applied in runs %s and %s", uid, first.run, runID)
					}
					continue
				}
				completedIDs[uid] = done{run: runID, hash: h}
				ch.UpdatesCompleted++
				ch.AnswerHash += h
				rs.Tx++
				rs.Updates++
				ch.Count++
				ch.Hash += IDHashOf(tx.ID)
				ch.Amount += tx.Amount
				if keepIDs {
					ch.ids = append(ch.ids, tx.ID)
				}
				// Applied by the task that accepted and completed it: the
				// one whose completion precedes this event.
				processed++
				onTx(tx, lastTask)
				if keepAnswers {
					ch.answers = append(ch.answers, answerRec{Amount: tx.Amount, Answer: ans})
				}
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				lastStartedSuggested = ev.GetWorkflowTaskStartedEventAttributes().GetSuggestContinueAsNew()
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
				// Signals are written before the task that sees them starts
				// (those arriving during a task are buffered until it
				// completes), so everything pending was applied by this task.
				lastTask = t
				rs.TxBeforeLastTask = processed
				rs.LastTaskSuggested = lastStartedSuggested
				if lastStartedSuggested {
					rs.SuggestedTasks++
				}
				for _, tx := range pending {
					onTx(tx, t)
				}
				processed += int64(len(pending))
				pending = pending[:0]
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
				a := ev.GetWorkflowExecutionTerminatedEventAttributes()
				rs.TerminateReason, rs.TerminateIdentity = a.GetReason(), a.GetIdentity()
			}
		}
		for _, tx := range pending {
			onTx(tx, time.Time{})
		}
		ch.Unprocessed += int64(len(pending))
		rs.UnprocessedSignals = int64(len(pending))
		rs.UnfinishedUpdates = int64(len(accepted))
		rs.Age = last.Sub(first)
		newestFirst = append(newestFirst, rs)
		runID = prev
	}
	for uid, h := range repeats {
		if first, ok := completedIDs[uid]; !ok || first.hash != h {
			ch.UpdatesTwice++
			if ch.TwiceExample == "" {
				ch.TwiceExample = fmt.Sprintf("%s answered again with an answer no run gave it", uid)
			}
		}
	}
	for i := len(newestFirst) - 1; i >= 0; i-- {
		ch.Runs = append(ch.Runs, newestFirst[i])
	}
	return ch, nil
}

// The statuses the checks compare, in the spelling check.Describe uses.
var (
	statusContinued  = scenarios.StatusName(enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW)
	statusCompleted  = scenarios.StatusName(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	statusTerminated = scenarios.StatusName(enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED)
)

func describeErr(e check.Execution) error {
	switch {
	case e.Err != nil:
		return fmt.Errorf("describe %s run %q: %w", e.ID, e.RunID, e.Err)
	case e.Missing():
		return fmt.Errorf("describe %s run %q: Temporal does not know it", e.ID, e.RunID)
	}
	return nil
}
