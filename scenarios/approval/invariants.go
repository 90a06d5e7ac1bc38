package approval

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
)

// Summary is the run's outcome (report details "summary").
type Summary struct {
	Requests      int            `json:"requests"`
	Expected      map[string]int `json:"expected"` // outcome the approvers decided
	Got           map[string]int `json:"got"`
	ByChainLength map[int]int    `json:"by_chain_length"`
	Decisions     map[string]int `json:"decisions"` // approver actions taken (late ones counted as late)
	Queries       int            `json:"queries"`
	Signals       int            `json:"signals"`
	LateSignals   int            `json:"late_signals"`
	// via=update: decisions accepted, late ones and wrong-level ones
	// rejected by the validator.
	DecisionsAccepted  int   `json:"decisions_accepted,omitempty"`
	LateRejected       int   `json:"late_decisions_rejected,omitempty"`
	WrongLevelRejected int   `json:"wrong_level_decisions_rejected,omitempty"`
	Notifications      int64 `json:"notifications"` // the notify service's own count
	ActionsApplied     int64 `json:"actions_executed"`
}

// tally is what the finished requests add up to: counts and the problems
// of each check, judged as each request ends (memory does not grow with
// the run).
type tally struct {
	sum                                     Summary
	withResult                              int
	errs, outcomes, queries, notify, execed check.Problems
	decisions                               check.Problems
}

func newTally() tally {
	return tally{sum: Summary{Expected: map[string]int{}, Got: map[string]int{}, ByChainLength: map[int]int{}, Decisions: map[string]int{}}}
}

// add judges one finished request: its outcome (nil: none), its error,
// and seen, the services' request counts per key while it ran.
func (t *tally) add(r *record, got *Outcome, err error, seen map[string]int) {
	s := &t.sum
	s.Requests++
	s.Expected[r.plan.Want.Status]++
	s.ByChainLength[len(r.plan.Levels)]++
	for _, dec := range r.plan.Decisions {
		a := dec.Action
		if dec.Late {
			a = "late-" + a
		}
		s.Decisions[a]++
	}
	s.Queries += r.queries
	s.Signals += r.signals
	s.LateSignals += r.lateSent
	for _, q := range r.qerrs {
		t.queries.Add("%s: %s", r.id, q)
	}
	s.DecisionsAccepted += r.accepted
	s.LateRejected += r.lateRejected
	s.WrongLevelRejected += r.wrongRejected
	for _, m := range r.misjudged {
		t.decisions.Add("%s: %s", r.id, m)
	}
	for _, e := range r.sigErrs {
		t.errs.Add("%s: signal %s", r.id, e)
	}
	if err != nil {
		t.errs.Add("%s: %v", r.id, err)
	}
	if got == nil {
		return
	}
	t.withResult++
	s.Got[got.Status]++
	if got.Status != r.plan.Want.Status || got.Level != r.plan.Want.Level {
		t.outcomes.Add("%s (amount %.2f, %s): ended %s at %q, the approvers decided %s at %q",
			r.id, r.plan.Amount, describe(r.plan), got.Status, got.Level, r.plan.Want.Status, r.plan.Want.Level)
	}
	// The services' own view: who was notified, what was executed.
	reached := len(r.plan.Decisions) // levels notified: up to the deciding one
	for j, l := range r.plan.Levels {
		n := seen[NotifyKey(r.id, l)]
		if (j < reached && n == 0) || (j >= reached && n > 0) {
			t.notify.Add("%s: level %s notified %d times (reached: %v)", r.id, l, n, j < reached)
		}
	}
	if n := seen[ExecuteKey(r.id)]; (r.plan.Want.Status == StatusApproved) != (n > 0) {
		t.execed.Add("%s: executed %d times, decided %s", r.id, n, r.plan.Want.Status)
	}
}

// Finish keeps the services' logs in the run directory and emits the
// summary.
func (d *driver) Finish(context.Context) error {
	var err error
	if d.env.Dir != "" {
		err = d.notify.WriteLog(filepath.Join(d.env.Dir, "notifications.jsonl"))
		if aerr := d.actions.WriteLog(filepath.Join(d.env.Dir, "actions.jsonl")); err == nil {
			err = aerr
		}
	}
	d.env.Emit("summary", d.summary())
	return err
}

func (d *driver) summary() Summary {
	d.mu.Lock()
	s := d.tally.sum
	d.mu.Unlock()
	s.Notifications, s.ActionsApplied = d.notify.Counts().Requests, d.actions.Counts().Requests
	return s
}

// Invariants: every request ended as its approvers decided; the queries
// answered correctly mid-flight; the notification and actions services saw
// exactly what the decisions imply.
func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	d.mu.Lock()
	t := d.tally
	d.mu.Unlock()
	s := d.summary()
	out := []scenarios.Invariant{
		checkDecided(t), checkOutcomes(t), checkQueries(t), checkNotified(t, s), checkExecuted(t, s),
	}
	if d.byUpd {
		out = append(out, checkDecisionsValidated(t))
	}
	return out
}

// decisions-validated (via=update): every on-time decision was accepted
// and answered with its level's outcome; every late decision (request
// closed) and every wrong-level one was rejected by the validator, so
// none reached the history; outcome-as-approvers-decided shows each
// accepted one applied once.
func checkDecisionsValidated(t tally) scenarios.Invariant {
	s := t.sum
	return t.decisions.Invariant("decisions-validated", fmt.Sprintf(
		"%d decisions accepted and answered with their outcome; rejected: %d late (request closed: by the validator, or by the server once the workflow ended), %d for a wrong level",
		s.DecisionsAccepted, s.LateRejected, s.WrongLevelRejected))
}

// every-request-decided: every request ended with a result and every
// approver's signal landed.
func checkDecided(t tally) scenarios.Invariant {
	inv := t.errs.Invariant("every-request-decided", fmt.Sprintf("%d requests, all with a result", t.sum.Requests))
	if t.sum.Requests == 0 {
		return check.Fail("every-request-decided", "no request ran")
	}
	if !inv.OK {
		inv.Detail = fmt.Sprintf("%d requests, %d with a result: ", t.sum.Requests, t.withResult) + inv.Detail
	}
	return inv
}

// outcome-as-approvers-decided: each result is what the simulated
// approvers' decisions imply.
func checkOutcomes(t tally) scenarios.Invariant {
	detail := fmt.Sprintf("expected %s; got %s", fmtCounts(t.sum.Expected), fmtCounts(t.sum.Got))
	inv := t.outcomes.Invariant("outcome-as-approvers-decided", detail)
	if !inv.OK {
		inv.Detail = detail + "; " + inv.Detail
	} else if t.withResult != t.sum.Requests {
		return check.Fail("outcome-as-approvers-decided", "%s; %d requests without a result", detail, t.sum.Requests-t.withResult)
	}
	return inv
}

// queries-correct-mid-flight: the status query was right before and after
// every decision.
func checkQueries(t tally) scenarios.Invariant {
	if t.sum.Queries == 0 {
		return check.Fail("queries-correct-mid-flight", "no status query was asked")
	}
	return t.queries.Invariant("queries-correct-mid-flight",
		fmt.Sprintf("%d status queries before and after each decision, all right", t.sum.Queries))
}

// approvers-notified-as-reached: the notification service heard of every
// level reached and of no other.
func checkNotified(t tally, s Summary) scenarios.Invariant {
	return t.notify.Invariant("approvers-notified-as-reached",
		fmt.Sprintf("%d notifications in the notification service's log, each level notified exactly when reached", s.Notifications))
}

// executed-only-if-approved: the actions service ran an action for every
// approved request and for no other.
func checkExecuted(t tally, s Summary) scenarios.Invariant {
	return t.execed.Invariant("executed-only-if-approved",
		fmt.Sprintf("%d actions in the actions service's log for %d approved requests", s.ActionsApplied, s.Expected[StatusApproved]))
}

func describe(p Plan) string {
	var parts []string
	for _, d := range p.Decisions {
		s := fmt.Sprintf("%s %s after %s", d.Level, d.Action, d.Delay.Round(1e6))
		if d.Late {
			s += " (late)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func fmtCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
