package fanout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/squallbench/squall/scenarios"
)

// execution is one workflow as Temporal describes it.
type execution struct {
	typ          string
	state        string // status name, "missing", or "error: ..."
	start, close time.Time
	length, size int64
}

func (e execution) closed() bool {
	return e.state != "running" && e.state != "" && !strings.HasPrefix(e.state, "error")
}

func (d *driver) describe(ctx context.Context, id string) execution {
	var err error
	for attempt := range 4 {
		r, derr := d.env.Client.DescribeWorkflowExecution(ctx, id, "")
		if derr == nil {
			info := r.GetWorkflowExecutionInfo()
			e := execution{typ: info.GetType().GetName(), start: info.GetStartTime().AsTime(),
				state:  strings.ToLower(strings.TrimPrefix(info.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_")),
				length: info.GetHistoryLength(), size: info.GetHistorySizeBytes()}
			if info.GetCloseTime() != nil {
				e.close = info.GetCloseTime().AsTime()
			}
			return e
		}
		err = derr
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return execution{state: "missing"}
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return execution{state: "error: " + err.Error()}
}

type problems struct {
	list []string
	n    int
}

func (p *problems) add(format string, a ...any) {
	p.n++
	if len(p.list) < 5 {
		p.list = append(p.list, fmt.Sprintf(format, a...))
	}
}

func (p *problems) invariant(name, okDetail string) scenarios.Invariant {
	if p.n == 0 {
		return scenarios.Invariant{Name: name, OK: true, Detail: okDetail}
	}
	d := strings.Join(p.list, "; ")
	if p.n > len(p.list) {
		d += fmt.Sprintf("; ... %d problems in all", p.n)
	}
	return scenarios.Invariant{Name: name, OK: false, Detail: d}
}

// maxOverlap is the largest number of [start,close) intervals open at once
// (a close and a start at the same instant do not overlap).
func maxOverlap(es []execution) int {
	type ev struct {
		t     time.Time
		delta int
	}
	var evs []ev
	for _, e := range es {
		if e.start.IsZero() || e.close.IsZero() {
			continue
		}
		evs = append(evs, ev{e.start, 1}, ev{e.close, -1})
	}
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].t.Equal(evs[j].t) {
			return evs[i].t.Before(evs[j].t)
		}
		return evs[i].delta < evs[j].delta
	})
	cur, best := 0, 0
	for _, e := range evs {
		cur += e.delta
		best = max(best, cur)
	}
	return best
}

// Invariants describes every parent and every child (waiting, bounded by
// policy-wait, for children whose close policy the server has yet to
// apply) and checks that each ended as its pattern and policy say.
func (d *driver) Invariants(ctx context.Context) []scenarios.Invariant {
	d.mu.Lock()
	parents := append([]*parentRec(nil), d.parents...)
	d.mu.Unlock()
	n := d.in.Children

	pex := make([]execution, len(parents))
	results := make([]ParentResult, len(parents))
	resultErr := make([]error, len(parents))
	scenarios.ParallelDo(len(parents), 8, func(i int) {
		pex[i] = d.describe(ctx, parents[i].id)
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resultErr[i] = d.env.Client.GetWorkflow(gctx, parents[i].id, "").Get(gctx, &results[i])
	})

	// Children: describe all; ask again for those not closed yet until the
	// policy wait is over.
	kids := make([][]execution, len(parents))
	for i := range kids {
		kids[i] = make([]execution, n)
	}
	type ref struct{ p, c int }
	var todo []ref
	for p := range parents {
		for c := range n {
			todo = append(todo, ref{p, c})
		}
	}
	deadline := time.Now().Add(d.policyW)
	began := time.Now()
	for len(todo) > 0 && ctx.Err() == nil {
		scenarios.ParallelDo(len(todo), 16, func(i int) {
			r := todo[i]
			kids[r.p][r.c] = d.describe(ctx, ChildID(parents[r.p].id, r.c))
		})
		var again []ref
		for _, r := range todo {
			e := kids[r.p][r.c]
			// Only children whose close the policy still owes are waited for.
			if !e.closed() && e.state != "missing" {
				again = append(again, r)
			}
		}
		todo = again
		if len(todo) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	waited := time.Since(began).Round(time.Millisecond)

	return d.evaluate(parents, pex, kids, results, resultErr, waited)
}

// evaluate checks what was described against the pattern and policy.
func (d *driver) evaluate(parents []*parentRec, pex []execution, kids [][]execution, results []ParentResult, resultErr []error, waited time.Duration) []scenarios.Invariant {
	n := d.in.Children
	var ended, lifetimes, conc, outlived, res problems
	byState := map[string]int{}
	var life durStats
	maxConc := 0
	for p, rec := range parents {
		parent := pex[p]
		for c, e := range kids[p] {
			byState[e.state]++
			if e.state != d.childWant {
				ended.add("%s is %s, want %s", ChildID(rec.id, c), e.state, d.childWant)
				continue
			}
			if parent.close.IsZero() {
				continue
			}
			if d.in.Pattern == PatternFireAndForget {
				if e.close.Before(parent.close) {
					lifetimes.add("%s closed %s before its parent", ChildID(rec.id, c), parent.close.Sub(e.close))
				}
			} else if e.close.After(parent.close) {
				lifetimes.add("%s closed %s after the parent that waits for it", ChildID(rec.id, c), e.close.Sub(parent.close))
			}
			if !e.close.IsZero() {
				life.add(e.close.Sub(e.start))
			}
		}
		mc := maxOverlap(kids[p])
		maxConc = max(maxConc, mc)
		if (d.in.Pattern == PatternThrottled || d.in.Pattern == PatternRollingWindow) && mc > d.in.MaxChildren {
			conc.add("%s ran %d children at once, max-children is %d", rec.id, mc, d.in.MaxChildren)
		}
		if d.in.Pattern == PatternRollingWindow {
			for b := d.in.MaxChildren; b < n; b += d.in.MaxChildren {
				var prevClose, firstStart time.Time
				for c := b - d.in.MaxChildren; c < b; c++ {
					if t := kids[p][c].close; t.After(prevClose) {
						prevClose = t
					}
				}
				for c := b; c < min(b+d.in.MaxChildren, n); c++ {
					if t := kids[p][c].start; firstStart.IsZero() || t.Before(firstStart) {
						firstStart = t
					}
				}
				if firstStart.Before(prevClose) {
					conc.add("%s: batch at child %d started before the previous batch had finished", rec.id, b)
				}
			}
		}
		if d.in.Pattern == PatternFireAndForget && d.in.ClosePolicy == PolicyAbandon {
			if rec.runningAfterClose != n || rec.released != n {
				outlived.add("%s: %d of %d children running after the parent closed, %d released %s",
					rec.id, rec.runningAfterClose, n, rec.released, strings.Join(rec.observeErrs, ", "))
			}
		}
		r := results[p]
		switch {
		case resultErr[p] != nil:
			res.add("%s: no result: %v", rec.id, resultErr[p])
		case r.Started != n:
			res.add("%s started %d children, want %d", rec.id, r.Started, n)
		case d.in.Pattern != PatternFireAndForget && (r.Completed != n || r.Failed != 0 || r.Sum != int64(n)*int64(n+1)/2):
			res.add("%s saw %d completed, %d failed, sum %d; want %d, 0, %d", rec.id, r.Completed, r.Failed, r.Sum, n, int64(n)*int64(n+1)/2)
		}
	}
	total := len(parents) * n
	inv := []scenarios.Invariant{
		ended.invariant("children-ended-per-policy", fmt.Sprintf("all %d children of %d parents %s (pattern %s, close policy %s; waited %s)",
			total, len(parents), d.childWant, d.in.Pattern, d.in.ClosePolicy, waited)),
		lifetimes.invariant("child-lifetimes", lifetimeDetail(d.in.Pattern)),
		res.invariant("parent-results", fmt.Sprintf("every parent started %d children and saw what they returned", n)),
	}
	if d.in.Pattern == PatternThrottled || d.in.Pattern == PatternRollingWindow {
		inv = append(inv, conc.invariant("max-concurrent-children", fmt.Sprintf("at most %d children ran at once (max-children %d)", maxConc, d.in.MaxChildren)))
	}
	if d.in.Pattern == PatternFireAndForget && d.in.ClosePolicy == PolicyAbandon {
		inv = append(inv, outlived.invariant("abandoned-children-outlived-parent",
			fmt.Sprintf("all %d children were still running after their parent closed, then were released and completed", total)))
	}
	if len(parents) == 0 {
		inv = append(inv, scenarios.Invariant{Name: "parents-started", OK: false, Detail: "no parent was started"})
	}
	if d.env.Emit != nil {
		d.env.Emit("children", map[string]any{"by_state": byState, "expected": d.childWant, "max_concurrent_observed": maxConc,
			"parents": len(parents), "per_parent": n, "policy_wait": waited.String(), "lifetime_ms": life.summary()})
		d.env.Emit("history", historyByType(append(pex, flatten(kids)...)))
	}
	return inv
}

// durStats summarises durations (observations after the load do not reach
// the report's histograms, so child lifetimes are summarised here).
type durStats struct {
	n             int64
	sum, min, max time.Duration
}

func (s *durStats) add(d time.Duration) {
	if s.n == 0 || d < s.min {
		s.min = d
	}
	s.max = max(s.max, d)
	s.sum += d
	s.n++
}

func (s durStats) summary() map[string]float64 {
	if s.n == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return map[string]float64{"count": float64(s.n), "min": ms(s.min), "mean": ms(s.sum / time.Duration(s.n)), "max": ms(s.max)}
}

func lifetimeDetail(pattern string) string {
	if pattern == PatternFireAndForget {
		return "every child closed after its parent (the parent does not wait for it)"
	}
	return "every child closed before its parent (the parent waits for it)"
}

func flatten(k [][]execution) []execution {
	var out []execution
	for _, x := range k {
		out = append(out, x...)
	}
	return out
}

// TypeHistory is the history distribution of one workflow type.
type TypeHistory struct {
	Described  int64   `json:"described"`
	MaxLength  int64   `json:"max_length"`
	MeanLength float64 `json:"mean_length"`
	MaxBytes   int64   `json:"max_bytes"`
	MeanBytes  float64 `json:"mean_bytes"`
}

func historyByType(es []execution) map[string]*TypeHistory {
	out := map[string]*TypeHistory{}
	for _, e := range es {
		if e.typ == "" {
			continue
		}
		h := out[e.typ]
		if h == nil {
			h = &TypeHistory{}
			out[e.typ] = h
		}
		h.MeanLength = (h.MeanLength*float64(h.Described) + float64(e.length)) / float64(h.Described+1)
		h.MeanBytes = (h.MeanBytes*float64(h.Described) + float64(e.size)) / float64(h.Described+1)
		h.Described++
		h.MaxLength = max(h.MaxLength, e.length)
		h.MaxBytes = max(h.MaxBytes, e.size)
	}
	return out
}
