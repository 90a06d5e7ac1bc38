package orders

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/orders/orderstore"
)

// batchCheck is one batch as Temporal and the store each record it.
type batchCheck struct {
	rec     batchRec
	ledger  orderstore.Ledger
	totals  Totals
	state   string // "completed", "threshold-failed", or what went wrong
	outcome bool   // totals are known
}

// Invariants compares, for every batch, three independent accounts: the
// model's prediction, the store's ledger and the workflow's own result
// (read back from Temporal, not from memory).
func (d *driver) Invariants(ctx context.Context) []scenarios.Invariant {
	d.mu.Lock()
	recs := append([]batchRec(nil), d.batches...)
	d.mu.Unlock()
	sort.Slice(recs, func(i, j int) bool { return recs[i].n < recs[j].n })

	checks := make([]batchCheck, len(recs))
	scenarios.ParallelDo(len(recs), 8, func(i int) {
		c := batchCheck{rec: recs[i]}
		c.ledger, _ = d.store.Ledger(recs[i].n)
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t, thr, err := outcome(gctx, d.env.Client.GetWorkflow(gctx, recs[i].parentID, ""))
		cancel()
		switch {
		case err != nil:
			c.state = "no result: " + err.Error()
		case thr:
			c.state, c.totals, c.outcome = "threshold-failed", t, true
		default:
			c.state, c.totals, c.outcome = "completed", t, true
		}
		checks[i] = c
	})

	var inv []scenarios.Invariant
	add := func(name string, problems []string, okDetail string) {
		if len(problems) == 0 {
			inv = append(inv, scenarios.Invariant{Name: name, OK: true, Detail: okDetail})
			return
		}
		n := len(problems)
		if n > 5 {
			problems = append(problems[:5], fmt.Sprintf("... and %d more", n-5))
		}
		inv = append(inv, scenarios.Invariant{Name: name, OK: false, Detail: strings.Join(problems, "; ")})
	}
	p := d.pred
	var sum orderstore.Ledger
	var wf Totals
	var once, total, counts, dups, outcomes []string
	for _, c := range checks {
		l, b := c.ledger, c.rec.n
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

		// Exactly once in effect: the store applies an id at most once by
		// construction, so "once" is: every order that must succeed was
		// applied, none that must fail was, and nothing was left untried.
		if l.Applied != p.Successful || l.NeverAttempted != 0 || l.Misapplied != 0 || l.BadIDs != 0 {
			once = append(once, fmt.Sprintf("batch %d: %d applied (want %d), %d never attempted, %d misapplied, %d bad ids",
				b, l.Applied, p.Successful, l.NeverAttempted, l.Misapplied, l.BadIDs))
		}
		if l.Amount != p.Amount {
			total = append(total, fmt.Sprintf("batch %d: store applied %s, the orders sum to %s", b, cents(l.Amount), cents(p.Amount)))
		}
		if c.outcome && c.totals.Amount != l.Amount {
			total = append(total, fmt.Sprintf("batch %d: workflow returned %s, store applied %s", b, cents(c.totals.Amount), cents(l.Amount)))
		}
		for _, r := range l.Reduces {
			if r.Amount != l.Amount || r.Successful != l.Applied || r.Failed != l.Failed {
				total = append(total, fmt.Sprintf("batch %d: reduce reported %d ok/%d failed/%s, store has %d/%d/%s",
					b, r.Successful, r.Failed, cents(r.Amount), l.Applied, l.Failed, cents(l.Amount)))
			}
		}
		if d.mode == ModeMapReduce && c.outcome && len(l.Reduces) == 0 {
			total = append(total, fmt.Sprintf("batch %d: no reduce recorded in the store", b))
		}
		switch {
		case !c.outcome:
			counts = append(counts, fmt.Sprintf("batch %d: %s", b, c.state))
		case c.totals.Orders != l.Orders || c.totals.Successful != l.Applied || c.totals.Failed != l.Failed:
			counts = append(counts, fmt.Sprintf("batch %d: workflow says %d orders, %d ok, %d failed; store says %d, %d, %d",
				b, c.totals.Orders, c.totals.Successful, c.totals.Failed, l.Orders, l.Applied, l.Failed))
		case l.Failed != p.Failed:
			counts = append(counts, fmt.Sprintf("batch %d: %d failed, %d predicted by the seed", b, l.Failed, p.Failed))
		}
		if l.ForeignDuplicates > 0 {
			dups = append(dups, fmt.Sprintf("batch %d: %d orders applied again by another operation (%s)",
				b, l.ForeignDuplicates, strings.Join(l.ForeignExamples, ", ")))
		}
		if c.outcome {
			over := c.totals.Orders > 0 && float64(c.totals.Failed)/float64(c.totals.Orders) > d.in.Threshold
			if over != (c.state == "threshold-failed") {
				outcomes = append(outcomes, fmt.Sprintf("batch %d: %s with %d of %d failed (threshold %.2f%%)",
					b, c.state, c.totals.Failed, c.totals.Orders, 100*d.in.Threshold))
			}
		}
	}
	if wf.Errors > 0 {
		// Say why orders are missing when Temporal legitimately gave up:
		// activities past their apply-deadline, or failed children.
		once = append(once, fmt.Sprintf("%d apply activities or children failed outright (past apply-deadline %s, or a child failed): their orders count as failed; the worker logs name them; store refused %d requests under api-errors",
			wf.Errors, d.in.Retry.Deadline, d.store.Refused()))
	}
	nb := len(checks)
	add("orders-applied-exactly-once", once, fmt.Sprintf("%d batches: %d orders applied once each, %d failed as seeded, none left unattempted (%d attempts in %d apply calls)",
		nb, sum.Applied, sum.Failed, sum.Attempts, sum.ApplyRequests))
	add("grand-total", total, fmt.Sprintf("%d batches: store, workflows and seed agree on %s", nb, cents(sum.Amount)))
	add("counts-match-store", counts, fmt.Sprintf("%d batches: workflows report %d ok / %d failed, as the store records and the seed predicts",
		nb, wf.Successful, wf.Failed))
	add("no-double-application", dups, fmt.Sprintf("no order applied by two operations; %d duplicate attempts by retried activities (absorbed by idempotency)",
		sum.RetryDuplicates))
	add("failure-threshold-outcome", outcomes, fmt.Sprintf("each batch failed as a whole iff more than %.2f%% of its orders failed (expected: %s)",
		100*d.in.Threshold, statusName(d.expected)))
	if nb == 0 {
		inv = append(inv, scenarios.Invariant{Name: "batches-processed", OK: false, Detail: "no batch was started"})
	}

	hist, kids := d.histories(ctx, recs)
	if d.plan.Slices > 0 && !d.journalKids {
		inv = append(inv, kids)
	}
	if d.env.Emit != nil {
		// (Emit is not allowed in New: the result stream has no scenario yet.)
		d.env.Emit("plan", map[string]any{"mode": d.mode, "store": d.in.StoreURL, "prediction_per_batch": d.pred,
			"expected_status": statusName(d.expected), "top_activities": d.plan.TopActivities, "children": d.plan.Slices,
			"child_activities":     d.plan.ChildActivities,
			"estimated_max_events": map[string]int64{"top": d.plan.TopEvents, "child": d.plan.ChildEvents}})
		d.env.Emit("store", sum)
		d.env.Emit("api_faults", map[string]int64{"requests_refused": d.store.Refused()})
		d.env.Emit("workload", map[string]any{
			"batches": nb, "orders": sum.Orders,
			"workflows": int64(nb) + wf.Children, "child_workflows": wf.Children,
			"activities": wf.Activities, "activity_attempts_at_store": sum.ApplyRequests,
			"activity_errors": wf.Errors, "duplicates_seen_by_workflows": wf.Duplicates, "injected_duplicates": wf.Injected,
		})
		d.env.Emit("history", hist)
	}
	return inv
}

func statusName(s fmt.Stringer) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

func cents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// TypeHistory is the history distribution of one workflow type.
type TypeHistory struct {
	Described  int64   `json:"described"`
	MaxLength  int64   `json:"max_length"`
	MeanLength float64 `json:"mean_length"`
	MinLength  int64   `json:"min_length"`
	MaxBytes   int64   `json:"max_bytes"`
	MeanBytes  float64 `json:"mean_bytes"`
	// OverSuggestCAN: histories past the server's continue-as-new
	// suggestion (4,096 events or 4 MiB); OverWarn: past the warning
	// limit (10,240 events or 10 MiB).
	OverSuggestCAN int64 `json:"over_suggest_can"`
	OverWarn       int64 `json:"over_warn"`
}

type described struct {
	typ         string
	status      string
	length, siz int64
	missing     bool
	err         error
}

// histories describes every parent and a sample of each parent's children
// (all of them when they are not journaled, to check they completed) and
// returns the per-type distribution, plus the children invariant.
func (d *driver) histories(ctx context.Context, recs []batchRec) (map[string]*TypeHistory, scenarios.Invariant) {
	type job struct {
		id    string
		child bool
	}
	var jobs []job
	for _, r := range recs {
		jobs = append(jobs, job{id: r.parentID})
		n := d.plan.Slices
		if n == 0 {
			continue
		}
		if d.journalKids { // verified by the generic check: sample them
			k := min(d.historySample, n)
			for j := range k {
				jobs = append(jobs, job{id: ChildID(r.parentID, j*n/k), child: true})
			}
		} else {
			for j := range n {
				jobs = append(jobs, job{id: ChildID(r.parentID, j), child: true})
			}
		}
	}
	out := make([]described, len(jobs))
	scenarios.ParallelDo(len(jobs), 16, func(i int) { out[i] = describe(ctx, d.env.Client, jobs[i].id) })

	dist := map[string]*TypeHistory{}
	kids := scenarios.Invariant{Name: "children-completed", OK: true}
	var kidsChecked int64
	var kidProblems []string
	for i, o := range out {
		if jobs[i].child {
			kidsChecked++
			if o.status != "completed" {
				what := o.status
				if o.missing {
					what = "missing"
				} else if o.err != nil {
					what = "unverifiable: " + o.err.Error()
				}
				kidProblems = append(kidProblems, jobs[i].id+" "+what)
			}
		}
		if o.missing || o.err != nil {
			continue
		}
		h := dist[o.typ]
		if h == nil {
			h = &TypeHistory{MinLength: o.length}
			dist[o.typ] = h
		}
		h.MeanLength = (h.MeanLength*float64(h.Described) + float64(o.length)) / float64(h.Described+1)
		h.MeanBytes = (h.MeanBytes*float64(h.Described) + float64(o.siz)) / float64(h.Described+1)
		h.Described++
		h.MaxLength = max(h.MaxLength, o.length)
		h.MinLength = min(h.MinLength, o.length)
		h.MaxBytes = max(h.MaxBytes, o.siz)
		if o.length > 4096 || o.siz > 4<<20 {
			h.OverSuggestCAN++
		}
		if o.length > 10240 || o.siz > 10<<20 {
			h.OverWarn++
		}
	}
	if len(kidProblems) > 0 {
		kids.OK = false
		n := len(kidProblems)
		if n > 5 {
			kidProblems = append(kidProblems[:5], fmt.Sprintf("... and %d more", n-5))
		}
		kids.Detail = fmt.Sprintf("%d of %d children did not complete: %s", n, kidsChecked, strings.Join(kidProblems, "; "))
	} else {
		kids.Detail = fmt.Sprintf("all %d children exist and completed", kidsChecked)
	}
	return dist, kids
}

func describe(ctx context.Context, cl client.Client, id string) described {
	var err error
	for attempt := range 4 {
		r, derr := cl.DescribeWorkflowExecution(ctx, id, "")
		if derr == nil {
			info := r.GetWorkflowExecutionInfo()
			return described{typ: info.GetType().GetName(), status: statusName(info.GetStatus()),
				length: info.GetHistoryLength(), siz: info.GetHistorySizeBytes()}
		}
		err = derr
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return described{missing: true}
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return described{err: err}
}
