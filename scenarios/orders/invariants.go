package orders

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
	"github.com/squallbench/squall/scenarios/orders/orderstore"
)

// batchCheck is one batch as Temporal and the store each record it.
type batchCheck struct {
	n       int64
	ledger  orderstore.Ledger
	totals  Totals
	state   string // "completed", "threshold-failed", or what went wrong
	outcome bool   // totals are known
}

// Finish reads back, for every batch, the store's ledger and the
// workflow's own result (from Temporal, not from memory), describes the
// workflows for the history distribution, and emits what the run did.
// The checks then compare three independent accounts: the model's
// prediction, the store's ledger and the workflow's result.
func (d *driver) Finish(ctx context.Context) error {
	ns := d.store.Batches()
	slices.Sort(ns)
	d.batches = make([]batchCheck, len(ns))
	scenarios.ParallelDo(len(ns), 8, func(i int) { d.batches[i] = d.readBatch(ctx, ns[i]) })
	d.hist = d.histories(ctx, ns)

	sum, wf := d.sums()
	d.env.Emit("plan", map[string]any{"mode": d.mode, "store": d.in.StoreURL, "prediction_per_batch": d.pred,
		"expected": d.expect.String(), "top_activities": d.plan.TopActivities, "children": d.plan.Slices,
		"child_activities":     d.plan.ChildActivities,
		"estimated_max_events": map[string]int64{"top": d.plan.TopEvents, "child": d.plan.ChildEvents}})
	d.env.Emit("store", sum)
	d.env.Emit("api_faults", map[string]int64{"requests_refused": d.store.Refused()})
	d.env.Emit("workload", map[string]any{
		"batches": len(d.batches), "orders": sum.Orders,
		"workflows": int64(len(d.batches)) + wf.Children, "child_workflows": wf.Children,
		"activities": wf.Activities, "activity_attempts_at_store": sum.ApplyRequests,
		"activity_errors": wf.Errors, "duplicates_seen_by_workflows": wf.Duplicates, "injected_duplicates": wf.Injected,
	})
	d.env.Emit("history", d.hist)
	return nil
}

func (d *driver) readBatch(ctx context.Context, n int64) batchCheck {
	c := batchCheck{n: n}
	c.ledger, _ = d.store.Ledger(n)
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t, thr, err := outcome(gctx, d.env.Client.GetWorkflow(gctx, WorkflowID(d.env.RunID, n), ""))
	switch {
	case err != nil:
		c.state = "no result: " + err.Error()
	case thr:
		c.state, c.totals, c.outcome = "threshold-failed", t, true
	default:
		c.state, c.totals, c.outcome = "completed", t, true
	}
	return c
}

// sums adds up the ledgers and the workflows' totals over all batches.
func (d *driver) sums() (orderstore.Ledger, Totals) {
	var sum orderstore.Ledger
	var wf Totals
	for _, c := range d.batches {
		l := c.ledger
		sum.Orders += l.Orders
		sum.Applied += l.Applied
		sum.Amount += l.Amount
		sum.Failed += l.Failed
		sum.NeverAttempted += l.NeverAttempted
		sum.Attempts += l.Attempts
		sum.FailedAttempts += l.FailedAttempts
		sum.MaxAttempts = max(sum.MaxAttempts, l.MaxAttempts)
		sum.ApplyRequests += l.ApplyRequests
		sum.Fetches += l.Fetches
		sum.RetryDuplicates += l.RetryDuplicates
		sum.ForeignDuplicates += l.ForeignDuplicates
		sum.BadIDs += l.BadIDs
		sum.Misapplied += l.Misapplied
		wf.add(c.totals)
	}
	return sum, wf
}

// Invariants are the checks over what Finish read back.
func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	if len(d.batches) == 0 {
		return []scenarios.Invariant{check.Fail("batches-processed", "no batch was started")}
	}
	return []scenarios.Invariant{
		d.appliedExactlyOnce(),
		d.grandTotal(),
		d.countsMatchStore(),
		d.noDoubleApplication(),
		d.thresholdOutcome(),
	}
}

// appliedExactlyOnce: the store applies an id at most once by
// construction, so "once" is: every order that must succeed was applied,
// none that must fail was, and nothing was left untried.
func (d *driver) appliedExactlyOnce() scenarios.Invariant {
	var p check.Problems
	for _, c := range d.batches {
		l := c.ledger
		if l.Applied != d.pred.Successful || l.NeverAttempted != 0 || l.Misapplied != 0 || l.BadIDs != 0 {
			p.Add("batch %d: %d applied (want %d), %d never attempted, %d misapplied, %d bad ids",
				c.n, l.Applied, d.pred.Successful, l.NeverAttempted, l.Misapplied, l.BadIDs)
		}
	}
	sum, wf := d.sums()
	if wf.Errors > 0 {
		// Say why orders are missing when Temporal legitimately gave up:
		// activities past their apply-deadline, or failed children.
		p.Add("%d apply activities or children failed outright (past apply-deadline %s, or a child failed): their orders count as failed; "+
			"the worker logs name them; store refused %d requests under api-errors", wf.Errors, d.in.Retry.Deadline, d.store.Refused())
	}
	return p.Invariant("orders-applied-exactly-once", fmt.Sprintf("%d batches: %d orders applied once each, %d failed as seeded, none left unattempted (%d attempts in %d apply calls)",
		len(d.batches), sum.Applied, sum.Failed, sum.Attempts, sum.ApplyRequests))
}

// grandTotal: the store, the workflow (and a mapreduce's reduce step) and
// the seed agree on the amount.
func (d *driver) grandTotal() scenarios.Invariant {
	var p check.Problems
	for _, c := range d.batches {
		l := c.ledger
		if l.Amount != d.pred.Amount {
			p.Add("batch %d: store applied %s, the orders sum to %s", c.n, cents(l.Amount), cents(d.pred.Amount))
		}
		if c.outcome && c.totals.Amount != l.Amount {
			p.Add("batch %d: workflow returned %s, store applied %s", c.n, cents(c.totals.Amount), cents(l.Amount))
		}
		for _, r := range l.Reduces {
			if r.Amount != l.Amount || r.Successful != l.Applied || r.Failed != l.Failed {
				p.Add("batch %d: reduce reported %d ok/%d failed/%s, store has %d/%d/%s",
					c.n, r.Successful, r.Failed, cents(r.Amount), l.Applied, l.Failed, cents(l.Amount))
			}
		}
		if d.mode == ModeMapReduce && c.outcome && len(l.Reduces) == 0 {
			p.Add("batch %d: no reduce recorded in the store", c.n)
		}
	}
	sum, _ := d.sums()
	return p.Invariant("grand-total", fmt.Sprintf("%d batches: store, workflows and seed agree on %s", len(d.batches), cents(sum.Amount)))
}

// countsMatchStore: what each workflow says it did is what the store
// recorded and what the seed predicts.
func (d *driver) countsMatchStore() scenarios.Invariant {
	var p check.Problems
	for _, c := range d.batches {
		l, t := c.ledger, c.totals
		switch {
		case !c.outcome:
			p.Add("batch %d: %s", c.n, c.state)
		case t.Orders != l.Orders || t.Successful != l.Applied || t.Failed != l.Failed:
			p.Add("batch %d: workflow says %d orders, %d ok, %d failed; store says %d, %d, %d",
				c.n, t.Orders, t.Successful, t.Failed, l.Orders, l.Applied, l.Failed)
		case l.Failed != d.pred.Failed:
			p.Add("batch %d: %d failed, %d predicted by the seed", c.n, l.Failed, d.pred.Failed)
		}
	}
	_, wf := d.sums()
	return p.Invariant("counts-match-store", fmt.Sprintf("%d batches: workflows report %d ok / %d failed, as the store records and the seed predicts",
		len(d.batches), wf.Successful, wf.Failed))
}

// noDoubleApplication: no order applied by two operations (a retry of
// the same activity re-sending an order is absorbed by idempotency).
func (d *driver) noDoubleApplication() scenarios.Invariant {
	var p check.Problems
	for _, c := range d.batches {
		if l := c.ledger; l.ForeignDuplicates > 0 {
			p.Add("batch %d: %d orders applied again by another operation (%s)", c.n, l.ForeignDuplicates, strings.Join(l.ForeignExamples, ", "))
		}
	}
	sum, _ := d.sums()
	return p.Invariant("no-double-application", fmt.Sprintf("no order applied by two operations; %d duplicate attempts by retried activities (absorbed by idempotency)",
		sum.RetryDuplicates))
}

// thresholdOutcome: a batch failed as a whole iff more than the threshold
// of its orders failed.
func (d *driver) thresholdOutcome() scenarios.Invariant {
	var p check.Problems
	for _, c := range d.batches {
		if !c.outcome {
			continue // counts-match-store names it
		}
		over := c.totals.Orders > 0 && float64(c.totals.Failed)/float64(c.totals.Orders) > d.in.Threshold
		if over != (c.state == "threshold-failed") {
			p.Add("batch %d: %s with %d of %d failed (threshold %.2f%%)", c.n, c.state, c.totals.Failed, c.totals.Orders, 100*d.in.Threshold)
		}
	}
	return p.Invariant("failure-threshold-outcome", fmt.Sprintf("each batch failed as a whole iff more than %.2f%% of its orders failed (expected: %s)",
		100*d.in.Threshold, d.expect))
}

func cents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// histories describes every batch workflow and a sample of each one's
// children (history-sample, spread over the slices) and returns the
// distribution per workflow type. Whether the children exist and
// completed is verification's (they are journaled).
func (d *driver) histories(ctx context.Context, batches []int64) []check.HistoryRow {
	var ids []string
	for _, n := range batches {
		parent := WorkflowID(d.env.RunID, n)
		ids = append(ids, parent)
		if k := min(d.historySample, d.plan.Slices); k > 0 {
			for j := range k {
				ids = append(ids, ChildID(parent, j*d.plan.Slices/k))
			}
		}
	}
	var h check.Histories
	scenarios.ParallelDo(len(ids), 16, func(i int) { h.Add(check.Describe(ctx, d.env.Client, ids[i], "")) })
	return h.Rows()
}
