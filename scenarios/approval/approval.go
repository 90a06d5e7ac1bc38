// Package approval is the human-in-the-loop scenario: the single
// manual approval (validate, ask, wait for a
// signal with a timeout, status query) and the multi-level chain whose
// length depends on the amount (manager < 10,000 <= director < 100,000 <=
// VP < 1,000,000 <= CEO).
//
// The approvers are simulated by the driver: each iteration draws an
// amount and, per level, a decision (approve / reject / ignore, by the
// configured mix) and a delay (by the configured distribution). The
// workflow notifies an approver through a fake notification service in
// the driver process; the simulated approver's clock starts when that
// notification arrives, and it signals after its delay. Before and after
// each decision the driver queries the workflow and checks the answer
// against what has happened so far. Approved requests execute their action
// through a fake actions service. Both services' logs are ground truth.
//
// Production-length timeouts (7 days single, 24 hours a level) are exercised
// by the unit tests with the SDK test environment's time skipping; the
// load scenario uses a short, configurable timeout.
package approval

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/fakes"
)

// Name is the scenario's registry name.
const Name = "approval"

// How approvers decide.
const (
	ViaSignal = "signal"
	ViaUpdate = "update"
)

// Modes.
const (
	ModeSingle = "single"
	ModeChain  = "chain"
)

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name: Name,
		Description: "human-in-the-loop: single approval or the amount-dependent chain (manager/director/VP/CEO), simulated approvers " +
			"signalling after a seeded delay with an approve/reject/ignore mix, status queries checked mid-flight",
		Proves: "requests through the amount-dependent approval chain with 80% approve, 10% reject and 10% never answering (10 s " +
			"timeout per level): every request ends approved, rejected or timed out exactly as its decisions and deadlines say, and " +
			"status queries answer mid-flight; via=update proves the same with decisions validated and answered synchronously",
		Options: []scenarios.Option{
			{Name: "mode", Kind: scenarios.Enum, Default: ModeChain, Choices: []string{ModeSingle, ModeChain},
				Help: "single: one approval (validate, ask, wait, execute); chain: levels by amount"},
			{Name: "timeout", Kind: scenarios.Duration, Default: "10s", Min: scenarios.MinOf(0.001),
				Help: "approval timeout per step (production approvals wait days: the unit tests run 7 days single and 24 h a level with time skipping); " +
					"more than the 6 s a lost notification may take to be retried"},
			{Name: "approve", Kind: scenarios.Float, Default: "0.8", Min: scenarios.MinOf(0), Help: "fraction of approvers who approve"},
			{Name: "reject", Kind: scenarios.Float, Default: "0.1", Min: scenarios.MinOf(0), Help: "fraction who reject (the rest ignore the request)"},
			{Name: "delay-dist", Kind: scenarios.Enum, Default: DistUniform, Choices: []string{DistUniform, DistExponential, DistFixed},
				Help: "approver delay after the notification: uniform on [0, 2*delay], exponential with mean delay, or fixed"},
			{Name: "delay", Kind: scenarios.Duration, Default: "2s", Min: scenarios.MinOf(0), Help: "mean approver delay"},
			{Name: "race-margin", Kind: scenarios.Duration, Default: "2s", Min: scenarios.MinOf(0),
				Help: "delays this close to the timeout are moved past it (timer vs signal would be a race); late ones also past the 6 s a lost notification may take"},
			{Name: "min-amount", Kind: scenarios.Float, Default: "1000", Min: scenarios.MinOf(0.01), Help: "smallest amount (log-uniform)"},
			{Name: "max-amount", Kind: scenarios.Float, Default: "5000000", Min: scenarios.MinOf(0.01), Help: "largest amount"},
			{Name: "seed", Kind: scenarios.Int, Default: "1", Help: "seed of amounts, decisions and delays"},
			{Name: "via", Kind: scenarios.Enum, Default: ViaSignal, Choices: []string{ViaSignal, ViaUpdate},
				Help: "how approvers decide: signal, or update (validated: the current level only, once, while the request is open; " +
					"the outcome answered at once). With update every on-time decision is preceded by one for a wrong level, and " +
					"late decisions must be rejected"},
		},
		// A few requests a second: each is a conversation of queries and
		// signals over up to four approval windows. The grace covers the
		// longest request of the default options (see RequestSpan).
		Defaults: scenarios.Defaults{Rate: "2/s", Duration: 30 * time.Second, Grace: 2 * time.Minute},
		Validate: validate,
		Register: Register,
		New:      newDriver,
	})
}

// record is one iteration as the driver saw it (kept while it runs).
type record struct {
	id       string
	plan     Plan
	queries  int
	qerrs    []string
	signals  int
	sigErrs  []string // signals that should have landed and did not
	lateSent int
	// via=update: decisions accepted, late ones rejected as they must be,
	// wrong-level ones rejected, and decisions answered against the rules
	// (a late or wrong-level one accepted, an on-time one rejected).
	accepted, lateRejected, wrongRejected int
	misjudged                             []string
}

type driver struct {
	env     scenarios.Env
	cfg     PlanConfig
	seed    int64
	byUpd   bool // via=update
	notify  *fakes.Service
	actions *fakes.Service

	mu      sync.Mutex
	waiters map[string]chan int64 // notify key -> arrival
	// seen counts the services' requests per key of the requests in
	// flight (every level's notify key and the execute key), so each
	// request is judged when it ends and forgotten.
	seen  map[string]int
	tally tally
}

// validate checks the options against each other: the approval window
// must leave room for the race margin and for the recovery of a lost
// notification (PlanConfig.Check).
func validate(o scenarios.Values, _ scenarios.Load) error { return planConfig(o).Check() }

func planConfig(o scenarios.Values) PlanConfig {
	return PlanConfig{Chain: o.String("mode") == ModeChain, Approve: o.Float("approve"), Reject: o.Float("reject"),
		Dist: o.String("delay-dist"), Mean: o.Duration("delay"), Timeout: o.Duration("timeout"), Margin: o.Duration("race-margin"),
		MinAmount: o.Float("min-amount"), MaxAmt: o.Float("max-amount")}
}

func newDriver(_ context.Context, env scenarios.Env, o scenarios.Values) (_ scenarios.Driver, err error) {
	d := &driver{env: env, seed: o.Int("seed"), byUpd: o.String("via") == ViaUpdate, waiters: map[string]chan int64{}, seen: map[string]int{}, cfg: planConfig(o), tally: newTally()}
	if err := d.cfg.Check(); err != nil {
		return nil, err
	}
	if d.notify, err = fakes.Start(fakes.Config{Name: Name + ".notify", OnRequest: d.notified}); err != nil {
		return nil, err
	}
	if d.actions, err = fakes.Start(fakes.Config{Name: Name + ".actions", OnRequest: d.count}); err != nil {
		_ = d.notify.Close()
		return nil, err
	}
	return d, nil
}

// notified wakes the simulated approver of a notification that got
// through (a failed attempt, e.g. under the api-errors fault, is retried by
// the activity; the workflow's timeout starts after the one that worked).
func (d *driver) notified(e fakes.Entry) {
	d.count(e)
	if e.Status != http.StatusOK {
		return
	}
	d.mu.Lock()
	ch := d.waiters[e.Key]
	d.mu.Unlock()
	if ch != nil {
		select {
		case ch <- e.At:
		default: // a repeated notification (activity retry): the first counts
		}
	}
}

// WorkflowID names iteration n of a run.
func WorkflowID(runID string, n int64) string { return fmt.Sprintf("%s-%s-%d", Name, runID, n) }

// count books a request to either service for the request in flight it
// belongs to.
func (d *driver) count(e fakes.Entry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[e.Key]; ok {
		d.seen[e.Key]++
	}
}

func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	rng := rand.New(rand.NewSource(d.seed*1_000_003 + it.N))
	rec := &record{id: WorkflowID(d.env.RunID, it.N), plan: NewPlan(d.cfg, rng)}
	chans := map[string]chan int64{}
	keys := []string{ExecuteKey(rec.id)}
	for _, l := range rec.plan.Levels {
		keys = append(keys, NotifyKey(rec.id, l))
	}
	d.mu.Lock()
	for _, dec := range rec.plan.Decisions {
		ch := make(chan int64, 1)
		chans[dec.Level] = ch
		d.waiters[NotifyKey(rec.id, dec.Level)] = ch
	}
	for _, k := range keys {
		d.seen[k] = 0
	}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		for _, dec := range rec.plan.Decisions {
			delete(d.waiters, NotifyKey(rec.id, dec.Level))
		}
		for _, k := range keys {
			delete(d.seen, k)
		}
		d.mu.Unlock()
	}()
	wf := WorkflowSingle
	if d.cfg.Chain {
		wf = WorkflowChain
	}
	in := Input{Request: Request{ID: rec.id, Amount: rec.plan.Amount, NotifyURL: d.notify.URL, ActionsURL: d.actions.URL}, Timeout: d.cfg.Timeout}
	start := time.Now()
	run, err := d.env.Start(ctx, scenarios.StartSpec{ID: rec.id, Workflow: wf, Args: []any{in}})
	if err != nil {
		return err
	}
	aerr := d.approvers(ctx, rec, chans)
	var out Outcome
	gerr := scenarios.Await(ctx, run, &out)
	d.mu.Lock()
	defer d.mu.Unlock()
	var got *Outcome
	if gerr == nil {
		got = &out
		d.env.Observe("request."+out.Status, time.Since(start))
	}
	d.tally.add(rec, got, errors.Join(aerr, gerr), d.seen)
	if gerr != nil {
		return gerr
	}
	if aerr != nil {
		return &scenarios.WorkflowError{ID: rec.id, Err: aerr}
	}
	return nil
}

// approvers plays the request's simulated approvers: wait for each
// notification, query, wait the drawn delay, signal, query again.
func (d *driver) approvers(ctx context.Context, rec *record, chans map[string]chan int64) error {
	for i, dec := range rec.plan.Decisions {
		var notifiedAt time.Time
		select {
		case at := <-chans[dec.Level]:
			notifiedAt = time.Unix(0, at)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d.cfg.Timeout + 2*time.Minute):
			return fmt.Errorf("level %s was never notified", dec.Level)
		}
		d.check(ctx, rec, i, false, "")
		if dec.Action == ActIgnore {
			return nil
		}
		select {
		case <-time.After(time.Until(notifiedAt.Add(dec.Delay))):
		case <-ctx.Done():
			return ctx.Err()
		}
		d.env.Observe("approver-delay", time.Since(notifiedAt))
		var err error
		if d.byUpd {
			err = d.decide(ctx, rec, i, dec)
		} else {
			err = d.signal(ctx, rec.id, dec)
		}
		d.mu.Lock()
		rec.signals++
		if dec.Late {
			rec.lateSent++
		} else if err != nil {
			rec.sigErrs = append(rec.sigErrs, fmt.Sprintf("%s %s: %v", dec.Action, dec.Level, err))
		}
		d.mu.Unlock()
		if dec.Late {
			// The level timed out before; the workflow has ended (or
			// ignores it). Either way the outcome must not change.
			return nil
		}
		d.check(ctx, rec, i, true, dec.Action)
		if dec.Action == ActReject {
			return nil
		}
	}
	return nil
}

// decide sends dec as an update (via=update), preceded by a decision for
// a wrong level, and books what the validator said: the wrong-level one
// and a late one must be rejected, an on-time one accepted and answered
// with its level's outcome.
func (d *driver) decide(ctx context.Context, rec *record, i int, dec Decision) error {
	send := func(level, tag string) (DecideResult, bool, error) {
		by := "sim-" + dec.Level
		u := DecideUpdate{Level: level, Approve: dec.Action == ActApprove, Approver: by}
		if !u.Approve {
			u.Reason = "rejected by " + by
		}
		h, err := d.env.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: rec.id, UpdateName: UpdateDecide,
			UpdateID: fmt.Sprintf("%s-%d-%s", tag, i, level), Args: []any{u}, WaitForStage: client.WorkflowUpdateStageCompleted})
		var res DecideResult
		if err == nil {
			err = h.Get(ctx, &res)
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			return res, false, nil // rejected by the validator
		}
		return res, err == nil, err
	}
	_, ok, err := send("no-such-level", "wrong")
	if err != nil && !dec.Late {
		return err
	}
	d.mu.Lock()
	if ok {
		rec.misjudged = append(rec.misjudged, fmt.Sprintf("a decision for a wrong level at %s was accepted", dec.Level))
	} else if err == nil {
		rec.wrongRejected++
	}
	d.mu.Unlock()
	began := time.Now()
	res, ok, err := send(dec.Level, "decide")
	if err != nil && !dec.Late {
		return err
	}
	if err != nil {
		// Late: the request closed. If its workflow has ended too, the
		// server refuses the update before any validator sees it; either
		// way it never reaches the history.
		d.mu.Lock()
		rec.lateRejected++
		d.mu.Unlock()
		return nil
	}
	d.env.Observe("decide-update", time.Since(began))
	want := map[bool]string{true: StatusApproved, false: StatusRejected}[dec.Action == ActApprove]
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case dec.Late && ok:
		rec.misjudged = append(rec.misjudged, fmt.Sprintf("a late decision at %s was accepted", dec.Level))
	case dec.Late:
		rec.lateRejected++
	case !ok:
		rec.misjudged = append(rec.misjudged, fmt.Sprintf("the on-time decision at %s was rejected", dec.Level))
	case res.Level != dec.Level || res.Status != want:
		rec.misjudged = append(rec.misjudged, fmt.Sprintf("the decision at %s was answered %s at %q, want %s", dec.Level, res.Status, res.Level, want))
	default:
		rec.accepted++
	}
	return nil
}

func (d *driver) signal(ctx context.Context, id string, dec Decision) error {
	by := "sim-" + dec.Level
	if !d.cfg.Chain {
		if dec.Action == ActApprove {
			return scenarios.Signal(ctx, d.env.Client, id, SignalApprove, by)
		}
		return scenarios.Signal(ctx, d.env.Client, id, SignalReject, "rejected by "+by)
	}
	if dec.Action == ActApprove {
		return scenarios.Signal(ctx, d.env.Client, id, SignalApproveStep, StepSignal{Level: dec.Level, Approver: by})
	}
	return scenarios.Signal(ctx, d.env.Client, id, SignalRejectStep, StepSignal{Level: dec.Level, Reason: "rejected by " + by})
}

// queryWait bounds how long a status query may take to show what the
// approvers did. A decision that landed while the level's notification
// was being recovered shows as soon as the notify retry completes (up to
// NotifyRecovery later), so this must stay well above it.
const queryWait = 30 * time.Second

// check queries the workflow and compares its answer with what the
// simulated approvers have done: levels before i approved, level i
// pending (before its decision) or decided (after), the rest pending.
func (d *driver) check(ctx context.Context, rec *record, i int, after bool, action string) {
	qctx, cancel := context.WithTimeout(ctx, queryWait)
	defer cancel()
	// A query needs a worker and a reachable server: during a fault window
	// it may fail and succeed a moment later. Ask again until the 30 s are
	// up; only then is a failed query a finding.
	query := func(name string, out any) error {
		for {
			v, err := d.env.Client.QueryWorkflow(qctx, rec.id, "", name)
			if err == nil {
				return v.Get(out)
			}
			select {
			case <-qctx.Done():
				return err
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	// compare asks once and describes any difference from what the
	// approvers have done ("" when none).
	compare := func() string {
		if !d.cfg.Chain {
			var st SingleStatus
			if err := query(QueryStatus, &st); err != nil {
				return "query: " + err.Error()
			}
			want := SingleStatus{Waiting: true}
			if after && action == ActApprove {
				want = SingleStatus{Approved: true}
			} else if after {
				want = SingleStatus{Rejected: true, RejectionReason: "rejected by sim-" + Approver}
			}
			if st != want {
				return fmt.Sprintf("status %+v, want %+v", st, want)
			}
			return ""
		}
		var st ChainStatus
		if err := query(QueryChainStatus, &st); err != nil {
			return "query: " + err.Error()
		}
		return chainMismatch(st, rec.plan.Levels, i, after, action)
	}
	problem := compare()
	// After a decision the workflow must come to show it, but not
	// necessarily at once: under a fault the level's notify activity may
	// still be waiting for its completion to be recorded (the approver
	// reacts to the notification reaching the service), so the chain has
	// recorded the approval without moving on yet. Ask again until
	// queryWait is up. Before a decision nothing may change, so one answer
	// is the verdict.
	for after && problem != "" && qctx.Err() == nil {
		select {
		case <-qctx.Done():
		case <-time.After(500 * time.Millisecond):
			if p := compare(); qctx.Err() == nil {
				problem = p // (a query cut off by the deadline keeps the last real answer)
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	rec.queries++
	if problem != "" {
		phase := "before"
		if after {
			phase = "after"
		}
		rec.qerrs = append(rec.qerrs, fmt.Sprintf("%s the %s decision: %s", phase, rec.plan.Levels[i], problem))
	}
}

// chainMismatch describes how st differs from the expected chain status,
// or returns "".
func chainMismatch(st ChainStatus, levels []string, i int, after bool, action string) string {
	cur := i
	if after && action == ActApprove && i+1 < len(levels) {
		cur = i + 1 // the workflow moved on to notify the next level
	}
	var want []string
	for j, l := range levels {
		s := "pending"
		if j < i || (j == i && after && action == ActApprove) {
			s = "approved"
		} else if j == i && after {
			s = "rejected"
		}
		want = append(want, l+":"+s)
	}
	var got []string
	for _, s := range st.Steps {
		state := "?"
		switch {
		case s.Approved && !s.Rejected && !s.Pending:
			state = "approved"
		case s.Rejected && !s.Approved && !s.Pending:
			state = "rejected"
		case s.Pending && !s.Approved && !s.Rejected:
			state = "pending"
		}
		got = append(got, s.Level+":"+state)
	}
	if st.CurrentStep != cur || st.TotalSteps != len(levels) || strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Sprintf("step %d of %d [%s], want step %d of %d [%s]", st.CurrentStep, st.TotalSteps, strings.Join(got, ","),
			cur, len(levels), strings.Join(want, ","))
	}
	return ""
}

// APIs are the notification and actions services, for the api-errors and
// api-latency faults.
func (d *driver) APIs() []scenarios.APIControl {
	var out []scenarios.APIControl
	for _, s := range []*fakes.Service{d.notify, d.actions} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (d *driver) Close() error {
	var errs []error
	for _, s := range []*fakes.Service{d.notify, d.actions} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
