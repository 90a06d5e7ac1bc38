package entity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

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

	// Updates: answered (accepted and completed, the answer received),
	// with answerHash the sum of answerHashOf over the answers; crossed
	// counts answers from a later run than the newest the driver knew when
	// it sent the update (it was admitted in flight across a
	// continue-as-new); lastRun is that newest run. malformedRejected and
	// malformedAccepted count the deliberately malformed updates.
	answered, crossed                    int64
	answerHash                           uint64
	lastRun                              string
	runOrder                             map[string]int // run id -> order of first answer
	malformedRejected, malformedAccepted int64
	// notReadyRetries: updates sent again after the server aborted them
	// unaccepted because the workflow task carrying them failed.
	notReadyRetries int64

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

// Message kinds: how a transaction reaches its entity.
const (
	MsgSignal          = "signal"            // signal-with-start
	MsgUpdate          = "update"            // update to the (prestarted) entity
	MsgUpdateWithStart = "update-with-start" // update-with-start: the first one creates the entity
	MsgMixed           = "mixed"             // the three in turn
)

// kindOf says how transaction id is sent.
func (d *driver) kindOf(id int64) string {
	if d.message != MsgMixed {
		return d.message
	}
	return [...]string{MsgSignal, MsgUpdate, MsgUpdateWithStart}[id%3]
}

func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	l := d.entities[int(it.N%int64(len(d.entities)))]
	// A storm sends burst transactions to the entity at once, faster than
	// one workflow task can take them one by one.
	errs := make([]error, d.burst)
	var wg sync.WaitGroup
	for k := range d.burst {
		id := it.N*int64(d.burst) + int64(k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = d.send(ctx, l, id, it.Due)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// send delivers transaction id to l as its message kind says.
func (d *driver) send(ctx context.Context, l *ledger, id int64, due time.Time) error {
	tx := Tx{ID: id, Amount: AmountOf(id), SentUnixNano: time.Now().UnixNano()}
	if !due.IsZero() {
		tx.DueUnixNano = due.UnixNano()
	}
	kind := d.kindOf(id)
	if kind == MsgSignal {
		return d.signal(ctx, l, tx)
	}
	if d.malformedEvery > 0 && id%int64(d.malformedEvery) == int64(d.malformedEvery)-1 {
		// A malformed twin first: the validator must reject it, so it
		// never reaches the history (its id is the good one's, so an
		// accepted twin also shows as a duplicate there).
		bad := tx
		bad.Amount = MaxAmount*100 + 1
		if err := d.update(ctx, l, kind, bad, due, true); err != nil {
			return err
		}
	}
	return d.update(ctx, l, kind, tx, due, false)
}

func (d *driver) signal(ctx context.Context, l *ledger, tx Tx) error {
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

// Update latency histograms: from the transaction's intended send time to
// the update's acceptance (the validator passed, the update is in the
// history) and to its answer; the uncompleted figure from the actual send.
// The server answers no earlier than at acceptance, so "admitted" has no
// figure of its own.
const (
	HistUpdateAccepted             = "update-accepted"
	HistUpdateCompleted            = "update-completed"
	HistUpdateCompletedUncorrected = "update-completed-uncorrected"
)

// maxNotReadyRetries bounds how often one update is sent again after the
// server aborted it unaccepted (WorkflowNotReady).
const maxNotReadyRetries = 10

// update sends tx as a tx update (or update-with-start) and books the
// answer. malformed: tx is a deliberately malformed twin that must be
// rejected.
func (d *driver) update(ctx context.Context, l *ledger, kind string, tx Tx, due time.Time, malformed bool) error {
	uid := fmt.Sprintf("tx-%d", tx.ID)
	if malformed {
		uid = fmt.Sprintf("malformed-%d", tx.ID)
	}
	opts := client.UpdateWorkflowOptions{WorkflowID: l.id, UpdateName: UpdateTx, UpdateID: uid, Args: []any{tx},
		WaitForStage: client.WorkflowUpdateStageAccepted}
	l.mu.Lock()
	knownRun := l.lastRun
	l.mu.Unlock()
	sent := time.Unix(0, tx.SentUnixNano)
	origin := cmp.Or(due, sent)
	var (
		h   client.WorkflowUpdateHandle
		err error
		ans TxAnswer
	)
	for attempt := 0; ; attempt++ {
		if kind == MsgUpdateWithStart {
			h, err = d.env.UpdateWithStart(ctx, scenarios.StartSpec{ID: l.id, Workflow: WorkflowName,
				Args:    []any{Input{EntityID: l.id, Strategy: d.strategy}},
				Options: client.StartWorkflowOptions{WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE},
				Expect:  d.expect}, opts)
		} else {
			h, err = d.env.Client.UpdateWorkflow(ctx, opts)
		}
		if err == nil {
			accepted := time.Now()
			if err = h.Get(ctx, &ans); err == nil && !malformed {
				done := time.Now()
				d.env.Observe(HistUpdateAccepted, accepted.Sub(origin))
				d.env.Observe(HistUpdateCompleted, done.Sub(origin))
				d.env.Observe(HistUpdateCompletedUncorrected, done.Sub(sent))
			}
		}
		// The workflow task that carried the update failed before the
		// update was accepted (e.g. the server refused a continue-as-new
		// because a signal arrived meanwhile): the server aborts it with
		// WorkflowNotReady and it is not in any history. The caller's part
		// is to send it again, same update id.
		var notReady *serviceerror.WorkflowNotReady
		if !errors.As(err, &notReady) || attempt >= maxNotReadyRetries || ctx.Err() != nil {
			break
		}
		l.mu.Lock()
		l.notReadyRetries++
		l.mu.Unlock()
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	var appErr *temporal.ApplicationError
	switch {
	case malformed && errors.As(err, &appErr):
		l.mu.Lock()
		l.malformedRejected++
		l.mu.Unlock()
		return nil
	case malformed && err == nil:
		l.mu.Lock()
		l.malformedAccepted++
		l.mu.Unlock()
		return nil // the invariants report it
	case err != nil && d.strategy.Kind == KindNever && l.refusedAsExpected(err):
		return nil
	case err != nil:
		// Rejected (a good transaction never is) or the call failed: the
		// update may have landed; the history says.
		l.uncertainTx(tx)
		return &scenarios.WorkflowError{ID: l.id, Err: fmt.Errorf("update %s: %w", uid, err)}
	}
	l.ack(tx)
	l.answer(tx, ans, knownRun)
	return nil
}

// pureUpdates: every transaction is an update, so the answers alone
// account for every balance the entity went through.
func (d *driver) pureUpdates() bool { return d.message == MsgUpdate || d.message == MsgUpdateWithStart }

// answer books an update's answer.
func (l *ledger) answer(tx Tx, a TxAnswer, knownRun string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answered++
	l.answerHash += answerHashOf(tx.ID, a)
	if l.runOrder == nil {
		l.runOrder = map[string]int{}
	}
	if _, ok := l.runOrder[a.RunID]; !ok {
		l.runOrder[a.RunID] = len(l.runOrder)
	}
	if knownRun != "" && l.runOrder[a.RunID] > l.runOrder[knownRun] {
		l.crossed++
	}
	if l.runOrder[a.RunID] >= l.runOrder[l.lastRun] || l.lastRun == "" {
		l.lastRun = a.RunID
	}
}

// answerHashOf fingerprints one update's answer (which transaction, the
// balance and count it produced, the run that applied it); summed over the
// answers it compares the driver's answers with the history's.
func answerHashOf(id int64, a TxAnswer) uint64 {
	h := IDHashOf(id) ^ IDHashOf(a.Balance^0x51) ^ IDHashOf(a.TxCount^0x7f3)
	for _, c := range []byte(a.RunID) {
		h = (h ^ uint64(c)) * 0x100000001b3
	}
	return IDHashOf(int64(h))
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
	l.chain, l.chainErr = walkChain(ctx, d.env.Client, l.id, d.strategy.Kind == KindNever, d.pureUpdates(), func(tx Tx, t time.Time) {
		if _, ok := uncertain[tx.ID]; ok && !landedSeen[tx.ID] {
			landedSeen[tx.ID] = true
			l.landed++
			l.landedHash += IDHashOf(tx.ID)
			l.landedAmount += uncertain[tx.ID]
		}
		onTx(tx, t)
	})
}
