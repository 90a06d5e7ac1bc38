package entity

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
)

// Invariants judges what Finish read back, one named check each. can=never
// has its own pair: its entities must have been terminated at the limit.
func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	d.mu.Lock()
	finished := d.finished
	d.mu.Unlock()
	if !finished {
		return []scenarios.Invariant{check.Fail("entities-checked", "the entities were never closed and read back (Finish did not run)")}
	}
	checks := []func() scenarios.Invariant{d.checkHistoriesRead, d.checkRecorded, d.checkProcessed, d.checkBalance, d.checkRuns, d.checkLimits,
		d.checkSignalsDrained}
	if d.message != MsgSignal {
		checks = append(checks, d.checkHandlersFinished, d.checkAnswered, d.checkRejected)
	}
	if d.pureUpdates() {
		checks = append(checks, d.checkAnswerChain)
	}
	if d.burst > 1 {
		checks = append(checks, d.checkStormContinued)
	}
	if d.strategy.Kind == KindNever {
		checks = []func() scenarios.Invariant{d.checkHistoriesRead, d.checkTerminatedAtLimit, d.checkRecordedNever}
	}
	out := make([]scenarios.Invariant, 0, len(checks))
	for _, c := range checks {
		out = append(out, c())
	}
	return out
}

// read calls f for every entity that was signalled and whose chain was
// read (the ledger is quiet by now: Finish is done).
func (d *driver) read(f func(l *ledger)) {
	for _, l := range d.entities {
		if l.signalled() && l.chainErr == nil {
			f(l)
		}
	}
}

func (l *ledger) signalled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked > 0 || len(l.uncertain) > 0
}

// entity-histories-read: every signalled entity's chain of runs could be read.
func (d *driver) checkHistoriesRead() scenarios.Invariant {
	var p check.Problems
	for _, l := range d.entities {
		if l.signalled() && l.chainErr != nil {
			p.Add("entity %d: %v", l.index, l.chainErr)
		}
	}
	return p.Invariant("entity-histories-read", fmt.Sprintf("the runs of all %d signalled entities read (%d events)",
		d.tally.signalled, d.tally.histEvents))
}

// signals-recorded-exactly-once: what the server recorded is exactly what
// it acknowledged, plus whichever failed calls did land.
func (d *driver) checkRecorded() scenarios.Invariant {
	var p check.Problems
	d.read(func(l *ledger) {
		ch := l.chain
		wantCount, wantHash, wantAmount := l.acked+l.landed, l.hash+l.landedHash, l.amount+l.landedAmount
		if ch.Count != wantCount || ch.Hash != wantHash || ch.Amount != wantAmount {
			p.Add("entity %d: history holds %d transactions (amount %d), want the %d acknowledged or landed (amount %d)%s",
				l.index, ch.Count, ch.Amount, wantCount, wantAmount, hashNote(ch.Count == wantCount && ch.Hash != wantHash))
		}
	})
	return p.Invariant("signals-recorded-exactly-once", d.tally.recordedDetail())
}

// signals-processed-exactly-once: the workflow applied every recorded
// transaction once (its count and id hash against the history's).
func (d *driver) checkProcessed() scenarios.Invariant {
	var p check.Problems
	d.read(func(l *ledger) {
		switch {
		case l.resultErr != nil:
			p.Add("entity %d: no result: %v", l.index, l.resultErr)
		case l.result == nil:
			p.Add("entity %d: no result", l.index)
		default:
			st, ch := l.result.State, l.chain
			if st.TxCount != ch.Count || st.IDHash != ch.Hash || ch.Unprocessed != 0 {
				p.Add("entity %d: the workflow processed %d transactions, the history holds %d (%d never processed)%s",
					l.index, st.TxCount, ch.Count, ch.Unprocessed, hashNote(st.TxCount == ch.Count && st.IDHash != ch.Hash))
			}
		}
	})
	return p.Invariant("signals-processed-exactly-once", fmt.Sprintf(
		"every recorded transaction was applied exactly once (count and id hash of %d entities, across %d runs)", d.tally.signalled, d.tally.runs))
}

// balance-matches-signals: the final balance is the sum of what was sent
// and landed.
func (d *driver) checkBalance() scenarios.Invariant {
	var p check.Problems
	d.read(func(l *ledger) {
		want := l.amount + l.landedAmount
		switch {
		case l.result == nil:
			p.Add("entity %d: no result", l.index)
		case l.result.State.Balance != want:
			p.Add("entity %d: final balance %d, signalled amounts sum to %d", l.index, l.result.State.Balance, want)
		}
	})
	return p.Invariant("balance-matches-signals", fmt.Sprintf("final balance = sum of signalled amounts for all %d entities", d.tally.signalled))
}

// runs-match-strategy: every continue-as-new had its trigger, and none
// was missed.
func (d *driver) checkRuns() scenarios.Invariant {
	var p check.Problems
	d.read(func(l *ledger) {
		if l.result != nil {
			d.strategyProblems(l.index, l.result.State, l.chain, &p)
		}
	})
	by := d.tally.canByTrigger()
	return p.Invariant("runs-match-strategy", fmt.Sprintf("%d runs, %d continue-as-new (by events %d, suggestion %d, age %d), each as %s prescribes",
		d.tally.runs, d.tally.cans, by[ReasonEvents], by[ReasonSuggested], by[ReasonAge], d.strategy))
}

// runs-within-server-limits: no run was terminated by the server.
func (d *driver) checkLimits() scenarios.Invariant {
	var p check.Problems
	d.read(func(l *ledger) {
		for i, r := range l.chain.Runs {
			if r.TerminateReason != "" {
				p.Add("entity %d run %d: terminated at %d events / %d bytes: %s (%s)", l.index, i+1, r.Events, r.Bytes, r.TerminateReason, r.TerminateIdentity)
			}
		}
	})
	return p.Invariant("runs-within-server-limits", fmt.Sprintf(
		"no run terminated by the server; largest run %d events / %d bytes (server defaults: suggest %d, warn %d, error %d events / %d MiB)",
		d.tally.maxEvents, d.tally.maxBytes, check.HistoryEventsSuggest, check.HistoryEventsWarn, check.HistoryEventsError, check.HistoryBytesError>>20))
}

// signals-drained-on-receiving-run: every signal a run recorded was seen by
// a later workflow task of that same run, so none was left behind by a
// continue-as-new (the server retries a task that completes with signals
// pending, and the workflow drains them before continuing).
func (d *driver) checkSignalsDrained() scenarios.Invariant {
	var p check.Problems
	var signals int64
	d.read(func(l *ledger) {
		for i, r := range l.chain.Runs {
			signals += r.Signals
			if r.UnprocessedSignals > 0 && r.TerminateReason == "" {
				p.Add("entity %d run %d (%s): %d signals recorded but never seen by the run", l.index, i+1, r.Status, r.UnprocessedSignals)
			}
		}
	})
	return p.Invariant("signals-drained-on-receiving-run", fmt.Sprintf(
		"each of the %d recorded signals was handled by the run whose history holds it (%d runs)", signals, d.tally.runs))
}

// handlers-finished-before-continue-as-new: every update a run accepted
// was completed in that run: no handler was still running when the run
// continued as new or closed.
func (d *driver) checkHandlersFinished() scenarios.Invariant {
	var p check.Problems
	var updates int64
	d.read(func(l *ledger) {
		for i, r := range l.chain.Runs {
			updates += r.Updates
			if r.UnfinishedUpdates > 0 && r.TerminateReason == "" {
				p.Add("entity %d run %d (%s): %d accepted updates never completed in it", l.index, i+1, r.Status, r.UnfinishedUpdates)
			}
		}
	})
	return p.Invariant("handlers-finished-before-continue-as-new", fmt.Sprintf(
		"each of the %d accepted updates completed in the run that accepted it", updates))
}

// updates-answered-exactly-once: every answer the driver received is the
// one the history recorded (transaction, balance, count and run, by
// fingerprint), no update completed twice, none answered by another run
// than the one that applied it, and every accepted update was answered
// (updates admitted in flight across a continue-as-new included).
func (d *driver) checkAnswered() scenarios.Invariant {
	var p check.Problems
	d.read(func(l *ledger) {
		l.mu.Lock()
		answered, hash, uncertain := l.answered, l.answerHash, int64(len(l.uncertain))
		l.mu.Unlock()
		ch := l.chain
		switch {
		case ch.UpdatesTwice > 0:
			p.Add("entity %d: %d updates completed twice, e.g. %s", l.index, ch.UpdatesTwice, ch.TwiceExample)
		case uncertain == 0 && (ch.UpdatesCompleted != answered || ch.AnswerHash != hash):
			p.Add("entity %d: the driver received %d answers, the history completed %d updates%s", l.index, answered,
				ch.UpdatesCompleted, hashNote(answered == ch.UpdatesCompleted && hash != ch.AnswerHash))
		case ch.UpdatesCompleted < answered:
			p.Add("entity %d: the driver received %d answers, the history completed only %d updates", l.index, answered, ch.UpdatesCompleted)
		}
	})
	t := d.tally
	return p.Invariant("updates-answered-exactly-once", fmt.Sprintf(
		"%d updates answered, each applied exactly once and answered as the history recorded it; %d of them were answered by a run "+
			"newer than the newest the driver knew when it sent them (admitted in flight across a continue-as-new); %d were delivered "+
			"again to a later run after they completed and answered there from the carried answers, not applied twice",
		t.answered, t.crossed, t.repeated))
}

// rejected-updates-never-in-history: every malformed transaction was
// rejected by the validator, and no accepted update in any history carries
// one.
func (d *driver) checkRejected() scenarios.Invariant {
	var p check.Problems
	d.read(func(l *ledger) {
		l.mu.Lock()
		accepted := l.malformedAccepted
		l.mu.Unlock()
		if accepted > 0 {
			p.Add("entity %d: %d malformed transactions were accepted", l.index, accepted)
		}
		if l.chain.Malformed > 0 {
			p.Add("entity %d: %d malformed transactions in the history", l.index, l.chain.Malformed)
		}
	})
	t := d.tally
	return p.Invariant("rejected-updates-never-in-history", fmt.Sprintf(
		"%d malformed transactions sent, %d rejected by the validator, none in any history", t.malformedSent, t.malformedRejected))
}

// update-answers-consistent (every transaction an update): ordered by the
// transaction count they report, the answers of an entity run 1, 2, 3...
// without a gap, and each balance is the previous one plus its
// transaction's amount: every answer is the balance its transaction
// produced, across continue-as-new.
func (d *driver) checkAnswerChain() scenarios.Invariant {
	var p check.Problems
	d.read(func(l *ledger) {
		l.mu.Lock()
		uncertain := len(l.uncertain)
		l.mu.Unlock()
		a := append([]answerRec(nil), l.chain.answers...)
		sort.Slice(a, func(i, j int) bool { return a[i].Answer.TxCount < a[j].Answer.TxCount })
		var balance int64
		for i, r := range a {
			if r.Answer.TxCount != int64(i+1) {
				if uncertain == 0 { // a failed call whose update landed unanswered leaves a gap
					p.Add("entity %d: answer %d reports transaction count %d", l.index, i+1, r.Answer.TxCount)
				}
				return
			}
			balance += r.Amount
			if r.Answer.Balance != balance {
				p.Add("entity %d: transaction %d answered balance %d, the transactions before it sum to %d", l.index, i+1, r.Answer.Balance, balance)
				return
			}
		}
	})
	return p.Invariant("update-answers-consistent", fmt.Sprintf(
		"the answers of %d entities form one unbroken chain of balances each", d.tally.signalled))
}

// storm-continued-as-new (burst > 1): under the storm every entity still
// continued as new.
func (d *driver) checkStormContinued() scenarios.Invariant {
	var p check.Problems
	d.read(func(l *ledger) {
		if len(l.chain.Runs) < 2 {
			p.Add("entity %d: one run only: the storm kept it from continuing as new", l.index)
		}
	})
	return p.Invariant("storm-continued-as-new", fmt.Sprintf(
		"bursts of %d transactions at once: every entity continued as new (runs %d..%d)", d.burst, max(d.tally.minRuns, 0), d.tally.maxRuns))
}

// strategyProblems checks one entity's runs against the strategy.
func (d *driver) strategyProblems(e int, st State, ch Chain, p *check.Problems) {
	s := d.strategy
	runs := len(ch.Runs)
	canBy := 0
	for _, n := range st.CANBy {
		canBy += n
	}
	if st.Runs != runs || canBy != runs-1 {
		p.Add("entity %d: the server shows %d runs, the workflow counted %d runs and %d continue-as-new", e, runs, st.Runs, canBy)
		return
	}
	for i, r := range ch.Runs {
		last := i == runs-1
		switch {
		case r.TerminateReason != "":
			continue // runs-within-server-limits reports it
		case !last && r.Status != statusContinued, last && r.Status != statusCompleted:
			p.Add("entity %d run %d: status %s", e, i+1, r.Status)
			continue
		}
		// No trigger may have been missed before the last task...
		early := false
		switch s.Kind {
		case KindEvents:
			early = r.TxBeforeLastTask >= int64(s.Events)
		case KindSuggested:
			early = r.SuggestedTasks > 1 || (r.SuggestedTasks == 1 && !r.LastTaskSuggested)
		case KindHybrid:
			early = r.TxBeforeLastTask >= int64(s.Events) || r.SuggestedTasks > 1 || (r.SuggestedTasks == 1 && !r.LastTaskSuggested)
		}
		if early {
			p.Add("entity %d run %d: kept running after its trigger (%d transactions before its last task, %d suggested tasks)",
				e, i+1, r.TxBeforeLastTask, r.SuggestedTasks)
			continue
		}
		// ...and a continued run must have had one.
		if !last && why(r, s) == "" {
			p.Add("entity %d run %d: continued as new without a trigger (%d transactions, suggestion %v, age %s)",
				e, i+1, r.Tx, r.LastTaskSuggested, r.Age.Round(time.Millisecond))
		}
	}
}

// why names the trigger the history shows for a continued run ("" if none).
func why(r RunStat, s Strategy) string {
	var w []string
	if (s.Kind == KindEvents || s.Kind == KindHybrid) && r.Tx >= int64(s.Events) {
		w = append(w, "events")
	}
	if (s.Kind == KindSuggested || s.Kind == KindHybrid) && r.LastTaskSuggested {
		w = append(w, "suggested")
	}
	// The age timer fires at MaxAge after the run's first task; the run's
	// span (first to last event) is at least that.
	if s.timed() && r.Age >= s.MaxAge {
		w = append(w, "age")
	}
	return strings.Join(w, "+")
}

// terminated-at-history-limit (can=never): the only run was terminated by
// the server's history limit, the expected outcome of the variant.
func (d *driver) checkTerminatedAtLimit() scenarios.Invariant {
	var p check.Problems
	d.read(func(l *ledger) {
		ch := l.chain
		if len(ch.Runs) != 1 {
			p.Add("entity %d: %d runs; can=never must have exactly one", l.index, len(ch.Runs))
			return
		}
		if r := ch.Runs[0]; !terminatedAtLimit(r) {
			p.Add("entity %d: ended %s at %d events (%s): it never reached the server's history limit; send more signals per "+
				"entity or lower limit.historyCount.error", l.index, r.Status, r.Events, r.TerminateReason)
		}
	})
	t := d.tally
	return p.Invariant("terminated-at-history-limit", fmt.Sprintf(
		"expected outcome of can=never: all %d entities were terminated by the server (history limit) at %s events; "+
			"%d signals were refused at or after the limit, %d accepted ones were never processed (terminated first)",
		t.signalled, spread(t.terminatedAt), t.rejAtLimit+t.rejClosed, t.unprocessed))
}

func terminatedAtLimit(r RunStat) bool {
	return r.Status == statusTerminated && (strings.Contains(r.TerminateReason, "history count exceeds limit") ||
		strings.Contains(r.TerminateReason, "history size exceeds limit"))
}

// signals-recorded-exactly-once (can=never): the history's transaction ids
// are exactly the acknowledged ones (plus failed calls that landed), each
// once; the ids are few, bounded by the history limit.
func (d *driver) checkRecordedNever() scenarios.Invariant {
	var p check.Problems
	d.read(func(l *ledger) {
		l.mu.Lock()
		acked, uncertain := l.ackedIDs, l.uncertain
		l.mu.Unlock()
		seen := make(map[int64]bool, len(acked))
		var unknownN, dupN, ackedSeen int64
		err := replayIDs(l.chain, func(id int64) {
			_, maybe := uncertain[id]
			switch {
			case seen[id]:
				dupN++
			case acked[id]:
				ackedSeen++
			case !maybe:
				unknownN++
			}
			seen[id] = true
		})
		if err != nil {
			p.Add("entity %d: %v", l.index, err)
			return
		}
		if missing := int64(len(acked)) - ackedSeen; unknownN > 0 || dupN > 0 || missing > 0 {
			p.Add("entity %d: %d acknowledged transactions missing from the history, %d recorded twice, %d recorded but never sent",
				l.index, missing, dupN, unknownN)
		}
	})
	return p.Invariant("signals-recorded-exactly-once", d.tally.recordedDetail())
}

// replayIDs feeds the ids recorded in ch (kept during the walk for never).
func replayIDs(ch Chain, f func(int64)) error {
	if ch.ids == nil {
		return errors.New("transaction ids were not kept during the history walk")
	}
	for _, id := range ch.ids {
		f(id)
	}
	return nil
}

func hashNote(sameCountDifferentHash bool) string {
	if sameCountDifferentHash {
		return " (same count, different id hash: one lost and one duplicated)"
	}
	return ""
}

// tally is the run's totals over every entity, counted once in Finish for
// the details and the checks' wording.
type tally struct {
	signalled, acked, uncertain, landed int64
	rejClosed, rejAtLimit, rejLimit     int64
	runs, cans, maxEvents, maxBytes     int64
	histEvents, unprocessed             int64
	minRuns, maxRuns                    int
	runsByEntity                        map[string]int
	canRows                             []canRow
	canEvents, canBytes, terminatedAt   []int64
	// canBy counts continue-as-new by the trigger the workflow recorded.
	canBy map[string]int
	// Updates: answered, crossed a continue-as-new, malformed sent and
	// rejected, completed in histories.
	answered, crossed, malformedSent, malformedRejected, updatesCompleted, repeated int64
	notReadyRetries                                                                 int64
}

// canRow is one continue-as-new in the details (history at that moment).
type canRow struct {
	Entity int    `json:"entity"`
	Run    int    `json:"run"` // 1-based
	Events int64  `json:"events"`
	Bytes  int64  `json:"bytes"`
	Tx     int64  `json:"tx"`
	Why    string `json:"why"` // evidence from the history: events, suggested
}

// maxCANRows bounds the continue-as-new rows and entities listed in the
// details.
const maxCANRows = 200

func (d *driver) count() tally {
	t := tally{minRuns: -1, runsByEntity: map[string]int{}, canBy: map[string]int{}}
	for _, l := range d.entities {
		l.mu.Lock()
		t.answered += l.answered
		t.crossed += l.crossed
		t.notReadyRetries += l.notReadyRetries
		t.malformedSent += l.malformedRejected + l.malformedAccepted
		t.malformedRejected += l.malformedRejected
		t.acked += l.acked
		t.landed += l.landed
		t.uncertain += int64(len(l.uncertain))
		t.rejClosed += l.rejectedClosed
		t.rejLimit += l.rejectedLimit
		t.rejAtLimit += l.rejectedAtLimit
		l.mu.Unlock()
	}
	for _, l := range d.entities {
		if !l.signalled() {
			continue
		}
		t.signalled++
		if l.chainErr != nil {
			continue
		}
		ch := l.chain
		t.updatesCompleted += ch.UpdatesCompleted
		t.repeated += ch.UpdatesRepeated
		if l.result != nil {
			for k, v := range l.result.State.CANBy {
				t.canBy[k] += v
			}
		}
		t.histEvents += ch.Events
		t.unprocessed += ch.Unprocessed
		runs := len(ch.Runs)
		t.runs += int64(runs)
		t.runsByEntity[fmt.Sprint(l.index)] = runs
		if t.minRuns < 0 || runs < t.minRuns {
			t.minRuns = runs
		}
		t.maxRuns = max(t.maxRuns, runs)
		for i, r := range ch.Runs {
			t.maxEvents, t.maxBytes = max(t.maxEvents, r.Events), max(t.maxBytes, r.Bytes)
			if r.Status == statusContinued {
				t.cans++
				t.canEvents, t.canBytes = append(t.canEvents, r.Events), append(t.canBytes, r.Bytes)
				if len(t.canRows) < maxCANRows {
					t.canRows = append(t.canRows, canRow{Entity: l.index, Run: i + 1, Events: r.Events, Bytes: r.Bytes, Tx: r.Tx, Why: why(r, d.strategy)})
				}
			}
			if terminatedAtLimit(r) {
				t.terminatedAt = append(t.terminatedAt, r.Events)
			}
		}
	}
	return t
}

func (t tally) recordedDetail() string {
	note := ""
	if t.uncertain > 0 {
		note = fmt.Sprintf(" (plus %d of the %d signals whose call failed: they landed)", t.landed, t.uncertain)
	}
	return fmt.Sprintf("the histories of %d entities hold each of the %d acknowledged transactions exactly once%s", t.signalled, t.acked, note)
}

// details are what Finish emits.
func (t tally) details(never bool) map[string]any {
	out := map[string]any{
		"signals": map[string]int64{"acknowledged": t.acked, "uncertain": t.uncertain, "uncertain_landed": t.landed,
			"rejected_entity_ended": t.rejClosed, "rejected_at_history_limit": t.rejAtLimit, "rejected_signal_limit": t.rejLimit,
			"recorded_unprocessed": t.unprocessed},
		"runs_per_entity": map[string]any{"entities": t.signalled, "total": t.runs, "min": max(t.minRuns, 0), "max": t.maxRuns,
			"by_entity": limitMap(t.runsByEntity, maxCANRows)},
		"continue_as_new": map[string]any{"count": t.cans, "by_trigger": t.canByTrigger(), "events": spreadMap(t.canEvents), "bytes": spreadMap(t.canBytes),
			"runs": t.canRows, "runs_listed": len(t.canRows)},
		"history_events_read": t.histEvents,
	}
	if t.answered > 0 || t.malformedSent > 0 || t.updatesCompleted > 0 {
		out["updates"] = map[string]int64{"answered": t.answered, "completed_in_history": t.updatesCompleted,
			"answered_by_newer_run": t.crossed, "malformed_sent": t.malformedSent, "malformed_rejected": t.malformedRejected,
			"resent_after_task_failure": t.notReadyRetries, "repeated_to_a_later_run": t.repeated}
	}
	if never {
		out["termination"] = map[string]any{"terminated_at_events": spreadMap(t.terminatedAt),
			"refused_at_or_after_limit": t.rejAtLimit + t.rejClosed, "recorded_never_processed": t.unprocessed}
	}
	return out
}

// canByTrigger counts continue-as-new by trigger, every trigger named (0
// where it never fired), so reports of every strategy read alike.
func (t tally) canByTrigger() map[string]int {
	out := map[string]int{ReasonEvents: 0, ReasonSuggested: 0, ReasonAge: 0}
	for k, v := range t.canBy {
		out[k] += v
	}
	return out
}

func spreadMap(v []int64) map[string]int64 {
	if len(v) == 0 {
		return map[string]int64{}
	}
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return map[string]int64{"min": s[0], "median": s[len(s)/2], "max": s[len(s)-1]}
}

func spread(v []int64) string {
	m := spreadMap(v)
	if len(m) == 0 {
		return "-"
	}
	if m["min"] == m["max"] {
		return fmt.Sprint(m["min"])
	}
	return fmt.Sprintf("%d..%d (median %d)", m["min"], m["max"], m["median"])
}

func limitMap(m map[string]int, n int) map[string]int {
	if len(m) <= n {
		return m
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string]int{}
	for _, k := range keys[:n] {
		out[k] = m[k]
	}
	return out
}
