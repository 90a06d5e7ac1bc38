package entity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/scenarios"
)

// HistSignalToProcessed is the histogram of signal-to-processed latency:
// from the transaction's intended send time (Iteration.Due) to the server's
// time of the workflow task completion that applied it. Driver, server and
// workers share one machine, hence one clock.
const HistSignalToProcessed = "signal-to-processed"

// HistSignalToProcessedUncorrected is the same from the actual send: beside
// the corrected figure it shows how much of the latency was the send being
// late (the driver or the server stalling the signal calls themselves).
const HistSignalToProcessedUncorrected = "signal-to-processed-uncorrected"

// ledger is the driver's own account of one entity: what it sent and what
// the server acknowledged. It is the ground truth the entity is checked
// against.
type ledger struct {
	id    string
	index int

	mu sync.Mutex
	// prestarted: started before the load (so closed in Finish even if
	// no iteration reached it).
	prestarted bool
	acked      int64
	amount     int64
	hash       uint64
	// ackedIDs (never only, where the number of signals per entity is
	// bounded by the history limit) lets the check find exactly which
	// acknowledged signals the terminating server discarded.
	ackedIDs map[int64]bool
	// uncertain: the signal call failed; the signal may have landed.
	uncertain map[int64]int64 // id -> amount
	// never: signals refused because the entity had been ended by the
	// server (closed), because they pushed it over the history limit (the
	// server terminates it then), or because it had reached the server's
	// signals-per-run limit.
	rejectedClosed, rejectedAtLimit, rejectedLimit int64

	// After Finish: the uncertain signals found in the history.
	landed, landedAmount int64
	landedHash           uint64
	result               *Result
	resultErr            error
	chain                Chain
	chainErr             error
}

// ack books an acknowledged signal.
func (l *ledger) ack(tx Tx) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked++
	l.amount += tx.Amount
	l.hash += IDHashOf(tx.ID)
	if l.ackedIDs != nil {
		l.ackedIDs[tx.ID] = true
	}
}

func (l *ledger) uncertainTx(tx Tx) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.uncertain == nil {
		l.uncertain = map[int64]int64{}
	}
	l.uncertain[tx.ID] = tx.Amount
}

func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	l := d.entities[int(it.N%int64(len(d.entities)))]
	tx := Tx{ID: it.N, Amount: AmountOf(it.N), SentUnixNano: time.Now().UnixNano()}
	if !it.Due.IsZero() {
		tx.DueUnixNano = it.Due.UnixNano()
	}
	// The harness journals the entity once, at its first acknowledged
	// signal (or, all failed, when the load is over).
	_, err := d.env.Start(ctx, scenarios.StartSpec{ID: l.id, Workflow: WorkflowName,
		Args: []any{Input{EntityID: l.id, Strategy: d.strategy}},
		// An entity that ended (closed, or terminated by the server) must
		// not be silently restarted with an empty balance by a late signal.
		Options: client.StartWorkflowOptions{WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE},
		Expect:  d.expect, Signal: SignalTx, SignalArg: tx})
	if err != nil {
		if d.strategy.Kind == KindNever && l.refusedAsExpected(err) {
			return nil
		}
		l.uncertainTx(tx)
		return err
	}
	l.ack(tx)
	return nil
}

// refusedAsExpected books the refusals can=never runs into by design
// and says whether err was one.
func (l *ledger) refusedAsExpected(err error) bool {
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	msg := err.Error()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case errors.As(err, &started):
		l.rejectedClosed++ // the server ended the entity
	case strings.Contains(msg, "history count exceeds limit"), strings.Contains(msg, "history size exceeds limit"):
		// This signal pushed the run over the limit: the server discarded
		// it, terminated the entity and said so.
		l.rejectedAtLimit++
	case strings.Contains(msg, "limit for signal events"):
		l.rejectedLimit++ // the other wall a never-continuing entity hits
	default:
		return false
	}
	return true
}

// Finish closes every entity, waits for its result and reads its runs from
// the server, and emits what that showed; Invariants judges it.
func (d *driver) Finish(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.finishTimeout)
	defer cancel()
	began := time.Now()
	lat := bench.NewHistogram()
	var latMu sync.Mutex
	scenarios.ParallelDo(len(d.entities), 8, func(i int) {
		d.finishEntity(ctx, d.entities[i], func(tx Tx, processed time.Time) {
			if processed.IsZero() {
				return
			}
			v := processed.Sub(tx.origin())
			d.env.Observe(HistSignalToProcessed, v)
			d.env.Observe(HistSignalToProcessedUncorrected, processed.Sub(time.Unix(0, tx.SentUnixNano)))
			latMu.Lock()
			lat.Record(v)
			latMu.Unlock()
		})
	})

	t := d.count()
	for k, v := range t.details(d.strategy.Kind == KindNever) {
		d.env.Emit(k, v)
	}
	d.env.Emit("signal_to_processed_ms", bench.QuantilesOf(lat))
	d.env.Emit("finish_seconds", time.Since(began).Seconds())
	d.env.Emit("strategy", d.strategy.String())
	d.mu.Lock()
	d.finished, d.tally = true, t
	d.mu.Unlock()
	return ctx.Err()
}

func (d *driver) finishEntity(ctx context.Context, l *ledger, onTx func(Tx, time.Time)) {
	l.mu.Lock()
	tried := l.prestarted || l.acked > 0 || len(l.uncertain) > 0
	l.mu.Unlock()
	if !tried {
		return // never signalled (fewer iterations than entities)
	}
	if err := d.env.Client.SignalWorkflow(ctx, l.id, "", SignalClose, nil); err != nil {
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) { // not found: already closed (never) or never started
			l.resultErr = fmt.Errorf("close %s: %w", l.id, err)
		}
	}
	if l.resultErr == nil {
		var res Result
		// One wait, not AwaitResult: a terminated entity (can=never) must
		// answer at once, not be asked again until the finish deadline.
		if err := d.env.Client.GetWorkflow(ctx, l.id, "").Get(ctx, &res); err != nil {
			l.resultErr = err
		} else {
			l.result = &res
		}
	}
	// Failed calls whose signal did land are recognised by id as the
	// history goes by (the driver knows their ids; there are few).
	l.mu.Lock()
	uncertain := l.uncertain
	l.mu.Unlock()
	landedSeen := map[int64]bool{}
	l.chain, l.chainErr = walkChain(ctx, d.env.Client, l.id, d.strategy.Kind == KindNever, func(tx Tx, t time.Time) {
		if _, ok := uncertain[tx.ID]; ok && !landedSeen[tx.ID] {
			landedSeen[tx.ID] = true
			l.landed++
			l.landedHash += IDHashOf(tx.ID)
			l.landedAmount += uncertain[tx.ID]
		}
		onTx(tx, t)
	})
}
