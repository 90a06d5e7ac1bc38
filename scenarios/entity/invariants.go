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
	checks := []func() scenarios.Invariant{d.checkHistoriesRead, d.checkRecorded, d.checkProcessed, d.checkBalance, d.checkRuns, d.checkLimits}
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
	return p.Invariant("runs-match-strategy", fmt.Sprintf("%d runs, %d continue-as-new, each as %s prescribes", d.tally.runs, d.tally.cans, d.strategy))
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
	if s.Kind == KindHybrid && r.Age >= s.MaxAge {
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
	t := tally{minRuns: -1, runsByEntity: map[string]int{}}
	for _, l := range d.entities {
		l.mu.Lock()
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
		"continue_as_new": map[string]any{"count": t.cans, "events": spreadMap(t.canEvents), "bytes": spreadMap(t.canBytes),
			"runs": t.canRows, "runs_listed": len(t.canRows)},
		"history_events_read": t.histEvents,
	}
	if never {
		out["termination"] = map[string]any{"terminated_at_events": spreadMap(t.terminatedAt),
			"refused_at_or_after_limit": t.rejAtLimit + t.rejClosed, "recorded_never_processed": t.unprocessed}
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
