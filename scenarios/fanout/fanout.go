// Package fanout is the fanout scenario: child-workflow lifecycles (the
// chapter's 9.2.3 — wait-all, fire-and-forget, throttled, rolling window)
// and the three parent close policies (9.2.4). One iteration is one parent
// with its children.
//
// In fire-and-forget the parent closes as soon as its children have
// started, and its close policy decides their fate: TERMINATE and
// REQUEST_CANCEL must end them as terminated and cancelled (the server
// applies policies asynchronously: the check waits, bounded); ABANDON must
// leave them running — the driver observes them running after the parent
// closed, then releases them with a signal, and they must complete.
//
// Parents are journaled (expected: completed); children are journaled too
// when they are expected to complete, and every child's end state, timing
// and concurrency are checked by this scenario's own invariants.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios"
)

// Name is the scenario's registry name.
const Name = "fanout"

const maxPending = 2000 // Temporal's pending children per execution

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name: Name,
		Description: "child-workflow lifecycles (wait-all, fire-and-forget, throttled, rolling window) and parent close policies " +
			"(terminate, request-cancel, abandon), each child checked to end as its policy says",
		Options: []scenarios.Option{
			{Name: "pattern", Kind: scenarios.Enum, Default: PatternWaitAll,
				Choices: []string{PatternWaitAll, PatternFireAndForget, PatternThrottled, PatternRollingWindow},
				Help: "wait-all: start all, await all; fire-and-forget: start all, close once they started; " +
					"throttled: at most max-children at once, a new one as one finishes; rolling-window: batches of max-children"},
			{Name: "children", Kind: scenarios.Int, Default: "10", Min: scenarios.MinOf(1), Help: "children per parent"},
			{Name: "max-children", Kind: scenarios.Int, Default: "3", Min: scenarios.MinOf(1), Help: "throttled, rolling-window: children running at once, at most"},
			{Name: "close-policy", Kind: scenarios.Enum, Default: PolicyAbandon, Choices: []string{PolicyAbandon, PolicyTerminate, PolicyRequestCancel},
				Help: "the children's parent close policy; decisive in fire-and-forget, where the parent closes before them"},
			{Name: "child-duration", Kind: scenarios.Duration, Default: "1s", Min: scenarios.MinOf(0),
				Help: "waiting patterns: each child sleeps this long (durable timer) before its activity"},
			{Name: "policy-wait", Kind: scenarios.Duration, Default: "30s", Min: scenarios.MinOf(0),
				Help: "how long the check waits for the server to apply a close policy to every child"},
		},
		Validate: func(o scenarios.Values) error { _, err := configure(o); return err },
		Register: Register,
		New:      newDriver,
	})
}

type parentRec struct {
	id     string
	result ParentResult
	ok     bool // the parent completed and its result was read
	// fire-and-forget + abandon: children seen running once the parent had
	// closed, and children the release signal reached.
	runningAfterClose, released int
	observeErrs                 []string
}

type driver struct {
	env       scenarios.Env
	in        ParentInput
	childWant string // the end state every child must reach
	policyW   time.Duration

	mu      sync.Mutex
	parents []*parentRec
}

// configure checks the options against Temporal's limits (no side
// effects: it is also the scenario's Validate, run before any server starts).
func configure(o scenarios.Values) (*driver, error) {
	in := ParentInput{Pattern: o.String("pattern"), Children: int(o.Int("children")), MaxChildren: int(o.Int("max-children")),
		ClosePolicy: o.String("close-policy"), ChildDuration: o.Duration("child-duration")}
	var problems []string
	concurrent := in.Children
	if in.Pattern == PatternThrottled || in.Pattern == PatternRollingWindow {
		concurrent = min(in.MaxChildren, in.Children)
	}
	if concurrent > maxPending {
		problems = append(problems, fmt.Sprintf("%d children would be pending at once; Temporal allows %d per workflow: use pattern=throttled or rolling-window with max-children <= %d",
			concurrent, maxPending, maxPending))
	}
	// About 6.5 history events per child in the parent (measured); refuse
	// well before the 51,200-event limit.
	if ev := 5 + 9*int64(in.Children); ev > 51200 {
		problems = append(problems, fmt.Sprintf("children=%d: the parent's history would reach about %d events (limit 51200): use fewer children per parent and more iterations",
			in.Children, ev))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return &driver{in: in, childWant: ExpectedChildState(in.Pattern, in.ClosePolicy), policyW: o.Duration("policy-wait")}, nil
}

func newDriver(_ context.Context, env scenarios.Env, o scenarios.Values) (scenarios.Driver, error) {
	d, err := configure(o)
	if err != nil {
		return nil, err
	}
	d.env = env
	return d, nil
}

// ExpectedChildState is how every child must end: completed, unless the
// parent closes before its children (fire-and-forget) under TERMINATE or
// REQUEST_CANCEL.
func ExpectedChildState(pattern, policy string) string {
	if pattern == PatternFireAndForget {
		switch policy {
		case PolicyTerminate:
			return "terminated"
		case PolicyRequestCancel:
			return "canceled"
		}
	}
	return "completed"
}

// WorkflowID names iteration n's parent.
func WorkflowID(runID string, n int64) string { return fmt.Sprintf("%s-%s-%d", Name, runID, n) }

func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	id := WorkflowID(d.env.RunID, it.N)
	rec := &parentRec{id: id}
	d.mu.Lock()
	d.parents = append(d.parents, rec)
	d.mu.Unlock()
	run, err := scenarios.StartWorkflow(ctx, d.env.Client, client.StartWorkflowOptions{ID: id, TaskQueue: d.env.TaskQueue}, WorkflowParent, d.in)
	if err != nil {
		d.env.Journal.Started(Name, id, "", false)
		return fmt.Errorf("start %s: %w", id, err)
	}
	d.env.Journal.Started(Name, id, run.GetRunID(), true)
	err = run.Get(ctx, &rec.result)
	if ctx.Err() != nil {
		return err
	}
	if d.childWant == "completed" {
		// Every child the parent started must complete: journaled, the
		// generic verifier checks they exist and did (acked only when the
		// parent completed, i.e. surely started them).
		for i := range d.in.Children {
			d.env.Journal.Started(Name, ChildID(id, i), "", err == nil)
		}
	}
	if err != nil {
		return fmt.Errorf("parent %s: %w", id, err)
	}
	rec.ok = true
	if d.in.Pattern == PatternFireAndForget {
		if d.in.ClosePolicy == PolicyAbandon {
			d.releaseAbandoned(ctx, rec)
		} else {
			d.awaitPolicy(ctx, rec)
		}
	}
	return nil
}

// awaitPolicy waits (bounded by policy-wait) until the server has applied
// the close policy to every child, and records how long after the
// parent's close each child ended (histogram close-policy-applied).
// The iteration thus spans the parent and its children's fate.
func (d *driver) awaitPolicy(ctx context.Context, rec *parentRec) {
	parent := d.describe(ctx, rec.id)
	if parent.close.IsZero() {
		return
	}
	pending := make([]int, d.in.Children)
	for i := range pending {
		pending[i] = i
	}
	deadline := time.Now().Add(d.policyW)
	for len(pending) > 0 && ctx.Err() == nil {
		closed := make([]execution, len(pending))
		scenarios.ParallelDo(len(pending), 8, func(i int) { closed[i] = d.describe(ctx, ChildID(rec.id, pending[i])) })
		var again []int
		for i, e := range closed {
			if !e.closed() {
				again = append(again, pending[i])
				continue
			}
			if d.env.Observe != nil && !e.close.IsZero() {
				d.env.Observe("close-policy-applied", e.close.Sub(parent.close))
			}
		}
		pending = again
		if len(pending) == 0 || time.Now().After(deadline) {
			return
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// releaseAbandoned observes that the abandoned children outlived their
// parent (still running now that it has closed), then lets them finish.
func (d *driver) releaseAbandoned(ctx context.Context, rec *parentRec) {
	var mu sync.Mutex
	scenarios.ParallelDo(d.in.Children, 8, func(i int) {
		cid := ChildID(rec.id, i)
		desc, err := d.env.Client.DescribeWorkflowExecution(ctx, cid, "")
		running := err == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
		serr := d.env.Client.SignalWorkflow(ctx, cid, "", SignalRelease, nil)
		mu.Lock()
		defer mu.Unlock()
		if running {
			rec.runningAfterClose++
		}
		if serr == nil {
			rec.released++
		} else if len(rec.observeErrs) < 3 {
			rec.observeErrs = append(rec.observeErrs, fmt.Sprintf("release %s: %v", cid, serr))
		}
	})
}

func (d *driver) ExpectedStatus() enumspb.WorkflowExecutionStatus {
	return enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
}

func (d *driver) Close() error { return nil }
