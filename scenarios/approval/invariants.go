package approval

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/squallbench/squall/scenarios"
)

// Summary is the run's outcome (report details "summary").
type Summary struct {
	Requests       int            `json:"requests"`
	Expected       map[string]int `json:"expected"` // outcome the approvers decided
	Got            map[string]int `json:"got"`
	ByChainLength  map[int]int    `json:"by_chain_length"`
	Decisions      map[string]int `json:"decisions"` // approver actions taken (late ones counted as late)
	Queries        int            `json:"queries"`
	Signals        int            `json:"signals"`
	LateSignals    int            `json:"late_signals"`
	Notifications  int64          `json:"notifications"` // the notify service's own count
	ActionsApplied int64          `json:"actions_executed"`
}

func firstOf(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return "; e.g. " + xs[0]
}

// Invariants: every request ended as its approvers decided; the queries
// answered correctly mid-flight; the notification and actions services saw
// exactly what the decisions imply.
func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	d.mu.Lock()
	recs := append([]*record(nil), d.records...)
	unacked := d.unacked
	sum := Summary{Expected: map[string]int{}, Got: map[string]int{}, ByChainLength: map[int]int{}, Decisions: map[string]int{}}
	var outcomeBad, queryBad, errs []string
	for _, r := range recs {
		sum.Requests++
		sum.Expected[r.plan.Want.Status]++
		sum.ByChainLength[len(r.plan.Levels)]++
		for _, dec := range r.plan.Decisions {
			a := dec.Action
			if dec.Late {
				a = "late-" + a
			}
			sum.Decisions[a]++
		}
		sum.Queries += r.queries
		sum.Signals += r.signals
		sum.LateSignals += r.lateSent
		for _, q := range r.qerrs {
			queryBad = append(queryBad, r.id+": "+q)
		}
		for _, s := range r.sigErrs {
			errs = append(errs, r.id+": signal "+s)
		}
		if r.err != "" {
			errs = append(errs, r.id+": "+r.err)
		}
		if r.got == nil {
			continue
		}
		sum.Got[r.got.Status]++
		if r.got.Status != r.plan.Want.Status || r.got.Level != r.plan.Want.Level {
			outcomeBad = append(outcomeBad, fmt.Sprintf("%s (amount %.2f, %s): ended %s at %q, the approvers decided %s at %q",
				r.id, r.plan.Amount, describe(r.plan), r.got.Status, r.got.Level, r.plan.Want.Status, r.plan.Want.Level))
		}
	}
	d.mu.Unlock()

	var out []scenarios.Invariant
	out = append(out, scenarios.Invariant{Name: "every-request-decided", OK: len(errs) == 0 && unacked == 0 && sum.Requests > 0,
		Detail: fmt.Sprintf("%d requests, %d with a result; %d errors (workflow or signal), %d starts unacknowledged%s",
			sum.Requests, count(sum.Got), len(errs), unacked, firstOf(errs))})
	out = append(out, scenarios.Invariant{Name: "outcome-as-approvers-decided", OK: len(outcomeBad) == 0 && count(sum.Got) == sum.Requests,
		Detail: fmt.Sprintf("expected %s; got %s; %d differ%s", fmtCounts(sum.Expected), fmtCounts(sum.Got), len(outcomeBad), firstOf(outcomeBad))})
	out = append(out, scenarios.Invariant{Name: "queries-correct-mid-flight", OK: len(queryBad) == 0 && sum.Queries > 0,
		Detail: fmt.Sprintf("%d status queries before and after each decision, %d wrong%s", sum.Queries, len(queryBad), firstOf(queryBad))})

	// The services' own logs: who was notified, what was executed.
	if d.env.Dir != "" {
		_ = d.notify.WriteLog(filepath.Join(d.env.Dir, "notifications.jsonl"))
		_ = d.actions.WriteLog(filepath.Join(d.env.Dir, "actions.jsonl"))
	}
	notified := map[string]int{}
	for _, e := range d.notify.Log() {
		notified[e.Key]++
	}
	executed := map[string]int{}
	for _, e := range d.actions.Log() {
		executed[e.Key]++
	}
	sum.Notifications, sum.ActionsApplied = d.notify.Counts().Requests, d.actions.Counts().Requests
	var notifyBad, execBad []string
	for _, r := range recs {
		if r.got == nil {
			continue
		}
		reached := len(r.plan.Decisions) // levels notified: up to the deciding one
		for j, l := range r.plan.Levels {
			n := notified[NotifyKey(r.id, l)]
			if (j < reached && n == 0) || (j >= reached && n > 0) {
				notifyBad = append(notifyBad, fmt.Sprintf("%s: level %s notified %d times (reached: %v)", r.id, l, n, j < reached))
			}
		}
		n := executed[ExecuteKey(r.id)]
		if (r.plan.Want.Status == StatusApproved) != (n > 0) {
			execBad = append(execBad, fmt.Sprintf("%s: executed %d times, decided %s", r.id, n, r.plan.Want.Status))
		}
	}
	out = append(out, scenarios.Invariant{Name: "approvers-notified-as-reached", OK: len(notifyBad) == 0,
		Detail: fmt.Sprintf("%d notifications in the notification service's log; %d levels wrongly notified or not%s",
			sum.Notifications, len(notifyBad), firstOf(notifyBad))})
	out = append(out, scenarios.Invariant{Name: "executed-only-if-approved", OK: len(execBad) == 0,
		Detail: fmt.Sprintf("%d actions in the actions service's log for %d approved requests; %d wrong%s",
			sum.ActionsApplied, sum.Expected[StatusApproved], len(execBad), firstOf(execBad))})
	d.env.Emit("summary", sum)
	return out
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

func count(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
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
