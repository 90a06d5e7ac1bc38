// Package fanout is the fanout scenario: child-workflow lifecycles
// (wait-all, fire-and-forget, throttled, rolling window) and the three
// parent close policies. One iteration is one parent
// with its children.
//
// In fire-and-forget the parent closes as soon as its children have
// started, and its close policy decides their fate: TERMINATE and
// REQUEST_CANCEL must end them as terminated and cancelled (the server
// applies policies asynchronously: the check waits, bounded); ABANDON must
// leave them running — the driver observes them running after the parent
// closed, then releases them with a signal, and they must complete.
//
// Parents are journaled (expected: completed), and so is every child,
// with the end state its pattern and policy demand: verification holds
// each to it. Each iteration then describes its parent's children once
// they have ended and checks their timing and concurrency.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/squallbench/squall/internal/sleep"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
)

// Name is the scenario's registry name.
const Name = "fanout"

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name: Name,
		Description: "child-workflow lifecycles (wait-all, fire-and-forget, throttled, rolling window) and parent close policies " +
			"(terminate, request-cancel, abandon), each child checked to end as its policy says",
		Proves: "parents wait for 10 children each: every child is started once and ends as its parent close policy says",
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
				Help: "fire-and-forget: how long an iteration waits for every child to end as its close policy says (abandoned ones: once released)"},
		},
		// A parent is 1 + children workflows (11 by default, each with a
		// timer and an activity): one every 2 s stays inside what a 2-core
		// embedded server sustains (about 30 noop workflows/s); at 1/s it
		// measured saturated (p50 20 s) on a shared machine.
		Defaults: scenarios.Defaults{Rate: "1/2s", Duration: 30 * time.Second},
		Validate: func(o scenarios.Values, _ scenarios.Load) error { _, err := configure(o); return err },
		Register: Register,
		New:      newDriver,
	})
}

type driver struct {
	env       scenarios.Env
	in        ParentInput
	childWant scenarios.Expect // the end state every child must reach
	policyW   time.Duration

	tally tally
}

// configure checks the options against Temporal's limits (no side
// effects: it is also the scenario's Validate, run before any server starts).
func configure(o scenarios.Values) (*driver, error) {
	in := ParentInput{Pattern: o.String("pattern"), Children: int(o.Int("children")), MaxChildren: int(o.Int("max-children")),
		ClosePolicy: o.String("close-policy"), ChildDuration: o.Duration("child-duration")}
	policyW := o.Duration("policy-wait")
	var problems []string
	concurrent := in.Children
	if in.Pattern == PatternThrottled || in.Pattern == PatternRollingWindow {
		concurrent = min(in.MaxChildren, in.Children)
	}
	if concurrent > check.MaxPending {
		problems = append(problems, fmt.Sprintf("%d children would be pending at once; Temporal allows %d per workflow: use pattern=throttled or rolling-window with max-children <= %d",
			concurrent, check.MaxPending, check.MaxPending))
	}
	// About 6.5 history events per child in the parent (measured); refuse
	// well before the server's limit.
	if ev := 5 + 9*int64(in.Children); ev > check.HistoryEventsError {
		problems = append(problems, fmt.Sprintf("children=%d: the parent's history would reach about %d events (limit %d): use fewer children per parent and more iterations",
			in.Children, ev, check.HistoryEventsError))
	}
	// An abandoned child ends by its work activity once released, a
	// cancelled one by its cleanup activity: a killed worker holds either
	// up until the lost task's timeouts expire. A wait shorter than that
	// would judge a recovering child as one the policy failed.
	if in.Pattern == PatternFireAndForget && in.ClosePolicy != PolicyTerminate && policyW < RecoveryTime {
		problems = append(problems, fmt.Sprintf("policy-wait=%s is shorter than a %s child's recovery from a killed worker (workflow task timeout %s + activity timeout %s): make it at least %s",
			policyW, in.ClosePolicy, WorkflowTaskTimeout, ActivityTimeout, RecoveryTime))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return &driver{in: in, childWant: ExpectedChildState(in.Pattern, in.ClosePolicy), policyW: policyW}, nil
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
func ExpectedChildState(pattern, policy string) scenarios.Expect {
	if pattern == PatternFireAndForget {
		switch policy {
		case PolicyTerminate:
			return scenarios.ExpectTerminated
		case PolicyRequestCancel:
			return scenarios.ExpectCanceled
		}
	}
	return scenarios.ExpectCompleted
}

// WorkflowID names iteration n's parent.
func WorkflowID(runID string, n int64) string { return fmt.Sprintf("%s-%s-%d", Name, runID, n) }

// Iterate runs one parent, journals its children with the end state each
// must reach, and (fire-and-forget) waits for the children's fate: the
// iteration spans the parent and what becomes of its children. Then it
// judges the children's timing.
func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	id := WorkflowID(d.env.RunID, it.N)
	run, err := d.env.Start(ctx, scenarios.StartSpec{ID: id, Workflow: WorkflowParent, Args: []any{d.in}})
	if err != nil {
		return err
	}
	obs := parentObs{id: id}
	err = scenarios.Await(ctx, run, &obs.result)
	// A completed parent surely started every child; otherwise a missing
	// child may never have been started.
	for i := range d.in.Children {
		d.env.ExpectChild(ChildID(id, i), d.childWant, err == nil)
	}
	if err != nil {
		return err
	}
	obs.parent = check.Describe(ctx, d.env.Client, id, "")
	if d.in.Pattern == PatternFireAndForget && d.in.ClosePolicy == PolicyAbandon {
		d.releaseAbandoned(ctx, &obs)
	}
	obs.kids = d.awaitChildren(ctx, id, obs.parent)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	d.judge(obs)
	return nil
}

// awaitChildren describes every child of parentID until all have ended
// (waiting patterns: at once, the parent waited for them; fire-and-forget:
// bounded by policy-wait) and records how long after the parent's close
// a close policy ended each child (histogram close-policy-applied).
func (d *driver) awaitChildren(ctx context.Context, parentID string, parent check.Execution) []check.Execution {
	kids := make([]check.Execution, d.in.Children)
	pending := make([]int, d.in.Children)
	for i := range pending {
		pending[i] = i
	}
	policyApplies := d.in.Pattern == PatternFireAndForget && d.in.ClosePolicy != PolicyAbandon
	deadline := time.Now().Add(d.policyW)
	for len(pending) > 0 && ctx.Err() == nil {
		scenarios.ParallelDo(len(pending), 8, func(i int) { kids[pending[i]] = check.Describe(ctx, d.env.Client, ChildID(parentID, pending[i]), "") })
		var again []int
		for _, c := range pending {
			e := kids[c]
			switch {
			case e.Missing():
			case !e.Closed():
				again = append(again, c)
			case policyApplies && !parent.Close.IsZero() && d.env.Observe != nil:
				d.env.Observe("close-policy-applied", e.Close.Sub(parent.Close))
			}
		}
		pending = again
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		sleep.For(ctx, 200*time.Millisecond)
	}
	return kids
}

// releaseAbandoned observes that the abandoned children outlived their
// parent (still running now that it has closed), then lets them finish.
func (d *driver) releaseAbandoned(ctx context.Context, obs *parentObs) {
	running := make([]bool, d.in.Children)
	errs := make([]error, d.in.Children)
	scenarios.ParallelDo(d.in.Children, 8, func(i int) {
		cid := ChildID(obs.id, i)
		running[i] = check.Describe(ctx, d.env.Client, cid, "").Status == "running"
		errs[i] = scenarios.Signal(ctx, d.env.Client, cid, SignalRelease, nil)
	})
	for i := range d.in.Children {
		if running[i] {
			obs.runningAfterClose++
		}
		if errs[i] == nil {
			obs.released++
		} else if len(obs.releaseErrs) < 3 {
			obs.releaseErrs = append(obs.releaseErrs, fmt.Sprintf("release %s: %v", ChildID(obs.id, i), errs[i]))
		}
	}
}

func (d *driver) Close() error { return nil }
