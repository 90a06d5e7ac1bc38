package fanout

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
)

// parentObs is one parent as an iteration saw it: its result, its
// execution and its children's, and (fire-and-forget + abandon) how many
// children were running after it closed and how many the release reached.
type parentObs struct {
	id                          string
	result                      ParentResult
	parent                      check.Execution
	kids                        []check.Execution
	runningAfterClose, released int
	releaseErrs                 []string
}

// tally aggregates what the iterations judged, in bounded memory: counts,
// a few examples per check, a history sample.
type tally struct {
	mu                             sync.Mutex
	parents                        int
	lifetimes, conc, outlived, res check.Problems
	byState                        map[string]int
	maxConc                        int
	hist                           check.Histories
}

// judge checks one parent's children against its pattern and policy.
// Whether each child ended as it must is verification's (they are
// journaled with that expectation); this is about timing and concurrency.
func (d *driver) judge(o parentObs) {
	n := d.in.Children
	t := &d.tally
	t.mu.Lock()
	defer t.mu.Unlock()
	t.parents++
	if t.byState == nil {
		t.byState = map[string]int{}
	}
	t.hist.Add(o.parent)
	if n > 0 {
		t.hist.Add(o.kids[0])
		t.hist.Add(o.kids[n-1])
	}
	for c, e := range o.kids {
		t.byState[e.Status]++
		if !d.childWant.Matches(e.Status) || o.parent.Close.IsZero() {
			continue
		}
		if d.in.Pattern == PatternFireAndForget {
			if e.Close.Before(o.parent.Close) {
				t.lifetimes.Add("%s closed %s before its parent", ChildID(o.id, c), o.parent.Close.Sub(e.Close))
			}
		} else if e.Close.After(o.parent.Close) {
			t.lifetimes.Add("%s closed %s after the parent that waits for it", ChildID(o.id, c), e.Close.Sub(o.parent.Close))
		}
		if d.env.Observe != nil && !e.Close.IsZero() {
			d.env.Observe("child-lifetime", e.Close.Sub(e.Start))
		}
	}
	mc := maxOverlap(o.kids)
	t.maxConc = max(t.maxConc, mc)
	if (d.in.Pattern == PatternThrottled || d.in.Pattern == PatternRollingWindow) && mc > d.in.MaxChildren {
		t.conc.Add("%s ran %d children at once, max-children is %d", o.id, mc, d.in.MaxChildren)
	}
	if d.in.Pattern == PatternRollingWindow {
		if b := batchOverlap(o.kids, d.in.MaxChildren); b > 0 {
			t.conc.Add("%s: batch at child %d started before the previous batch had finished", o.id, b)
		}
	}
	if d.in.Pattern == PatternFireAndForget && d.in.ClosePolicy == PolicyAbandon && (o.runningAfterClose != n || o.released != n) {
		t.outlived.Add("%s: %d of %d children running after the parent closed, %d released %s",
			o.id, o.runningAfterClose, n, o.released, strings.Join(o.releaseErrs, ", "))
	}
	r, sum := o.result, int64(n)*int64(n+1)/2
	switch {
	case r.Started != n:
		t.res.Add("%s started %d children, want %d", o.id, r.Started, n)
	case d.in.Pattern != PatternFireAndForget && (r.Completed != n || r.Failed != 0 || r.Sum != sum):
		t.res.Add("%s saw %d completed, %d failed, sum %d; want %d, 0, %d", o.id, r.Completed, r.Failed, r.Sum, n, sum)
	}
}

// batchOverlap returns the first child of a rolling-window batch that
// started before the previous batch had finished (0: none).
func batchOverlap(kids []check.Execution, size int) int {
	for b := size; b < len(kids); b += size {
		var prevClose, firstStart time.Time
		for _, k := range kids[b-size : b] {
			if k.Close.After(prevClose) {
				prevClose = k.Close
			}
		}
		for _, k := range kids[b:min(b+size, len(kids))] {
			if firstStart.IsZero() || k.Start.Before(firstStart) {
				firstStart = k.Start
			}
		}
		if firstStart.Before(prevClose) {
			return b
		}
	}
	return 0
}

// maxOverlap is the largest number of [start,close) intervals open at once
// (a close and a start at the same instant do not overlap).
func maxOverlap(es []check.Execution) int {
	type ev struct {
		t     time.Time
		delta int
	}
	var evs []ev
	for _, e := range es {
		if e.Start.IsZero() || e.Close.IsZero() {
			continue
		}
		evs = append(evs, ev{e.Start, 1}, ev{e.Close, -1})
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

// Finish emits what the iterations saw of the children and the history
// distribution per workflow type.
func (d *driver) Finish(context.Context) error {
	t := &d.tally
	t.mu.Lock()
	defer t.mu.Unlock()
	d.env.Emit("children", map[string]any{"by_state": t.byState, "expected": d.childWant.String(),
		"max_concurrent_observed": t.maxConc, "parents": t.parents, "per_parent": d.in.Children})
	d.env.Emit("history", t.hist.Rows())
	return nil
}

// Invariants are the checks the iterations accumulated.
func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	t := &d.tally
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.parents == 0 {
		return []scenarios.Invariant{check.Fail("parents-checked", "no parent completed, so no child could be checked")}
	}
	inv := []scenarios.Invariant{d.childLifetimes(), d.parentResults()}
	if d.in.Pattern == PatternThrottled || d.in.Pattern == PatternRollingWindow {
		inv = append(inv, d.maxConcurrentChildren())
	}
	if d.in.Pattern == PatternFireAndForget && d.in.ClosePolicy == PolicyAbandon {
		inv = append(inv, d.abandonedOutlivedParent())
	}
	return inv
}

func (d *driver) childLifetimes() scenarios.Invariant {
	ok := "every child closed before its parent (the parent waits for it)"
	if d.in.Pattern == PatternFireAndForget {
		ok = "every child closed after its parent (the parent does not wait for it)"
	}
	return d.tally.lifetimes.Invariant("child-lifetimes", fmt.Sprintf("%s; %d parents", ok, d.tally.parents))
}

func (d *driver) parentResults() scenarios.Invariant {
	return d.tally.res.Invariant("parent-results", fmt.Sprintf("every parent started %d children and saw what they returned", d.in.Children))
}

func (d *driver) maxConcurrentChildren() scenarios.Invariant {
	return d.tally.conc.Invariant("max-concurrent-children",
		fmt.Sprintf("at most %d children ran at once (max-children %d)", d.tally.maxConc, d.in.MaxChildren))
}

func (d *driver) abandonedOutlivedParent() scenarios.Invariant {
	return d.tally.outlived.Invariant("abandoned-children-outlived-parent",
		fmt.Sprintf("all %d children were still running after their parent closed, then were released", d.tally.parents*d.in.Children))
}
