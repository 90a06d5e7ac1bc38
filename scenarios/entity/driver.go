package entity

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/scenarios"
)

// HistSignalToProcessed is the histogram of signal-to-processed latency:
// from the transaction's intended send time (Iteration.Due) to the server's
// time of the workflow task completion that applied it. Driver, server and
// workers share one machine, hence one clock.
const HistSignalToProcessed = "signal-to-processed"

// HistSignalToProcessedUncorrected is the same from the actual send: beside
// the corrected figure it shows how much of the latency was the send being
// late (the driver or the server stalling the signal calls themselves).
const HistSignalToProcessedUncorrected = "signal-to-processed-uncorrected"

// ledger is the driver's own account of one entity: what it sent and what
// the server acknowledged. It is the ground truth the entity is checked
// against.
type ledger struct {
	id    string
	index int

	mu        sync.Mutex
	journaled bool
	acked     int64
	amount    int64
	hash      uint64
	// ackedIDs (never only, where the number of signals per entity is
	// bounded by the history limit) lets the check find exactly which
	// acknowledged signals the terminating server discarded.
	ackedIDs map[int64]bool
	// uncertain: the signal call failed; the signal may have landed.
	uncertain map[int64]int64 // id -> amount
	// never: signals refused because the entity had been ended by the
	// server (closed), because they pushed it over the history limit (the
	// server terminates it then), or because it had reached the server's
	// signals-per-run limit.
	rejectedClosed, rejectedAtLimit, rejectedLimit int64

	// After Finish: the uncertain signals found in the history.
	landed, landedAmount int64
	landedHash           uint64
	result               *Result
	resultErr            error
	chain                Chain
	chainErr             error
}

// ack books an acknowledged signal; it reports whether this was the
// entity's first (the driver journals the entity then).
func (l *ledger) ack(tx Tx) (first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked++
	l.amount += tx.Amount
	l.hash += IDHashOf(tx.ID)
	if l.ackedIDs != nil {
		l.ackedIDs[tx.ID] = true
	}
	first = !l.journaled
	l.journaled = true
	return first
}

func (l *ledger) uncertainTx(tx Tx) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.uncertain == nil {
		l.uncertain = map[int64]int64{}
	}
	l.uncertain[tx.ID] = tx.Amount
}

func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	l := d.entities[int(it.N%int64(len(d.entities)))]
	tx := Tx{ID: it.N, Amount: AmountOf(it.N), SentUnixNano: time.Now().UnixNano()}
	if !it.Due.IsZero() {
		tx.DueUnixNano = it.Due.UnixNano()
	}
	opts := client.StartWorkflowOptions{
		ID:        l.id,
		TaskQueue: d.env.TaskQueue,
		// An entity that ended (closed, or terminated by the server) must
		// not be silently restarted with an empty balance by a late signal.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}
	run, err := d.env.Client.SignalWithStartWorkflow(ctx, l.id, SignalTx, tx, opts, WorkflowName,
		Input{EntityID: l.id, Strategy: d.strategy})
	if err != nil {
		if d.strategy.Kind == KindNever {
			var started *serviceerror.WorkflowExecutionAlreadyStarted
			switch {
			case errors.As(err, &started):
				l.mu.Lock()
				l.rejectedClosed++
				l.mu.Unlock()
				return nil // expected for this variant: the server ended the entity
			case strings.Contains(err.Error(), "history count exceeds limit"), strings.Contains(err.Error(), "history size exceeds limit"):
				// This signal pushed the run over the limit: the server
				// discarded it, terminated the entity and said so.
				l.mu.Lock()
				l.rejectedAtLimit++
				l.mu.Unlock()
				return nil
			case strings.Contains(err.Error(), "limit for signal events"):
				l.mu.Lock()
				l.rejectedLimit++
				l.mu.Unlock()
				return nil // the other wall a never-continuing entity hits
			}
		}
		l.uncertainTx(tx)
		return fmt.Errorf("signal-with-start %s tx %d: %w", l.id, tx.ID, err)
	}
	if l.ack(tx) {
		d.env.Journal.Started(Name, l.id, run.GetRunID(), true)
	}
	return nil
}

// Finish closes every entity, waits for its result and reads its runs from
// the server; Invariants reports what that showed.
func (d *driver) Finish(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.finishTimeout)
	defer cancel()
	began := time.Now()
	lat := bench.NewHistogram()
	var latMu sync.Mutex
	scenarios.ParallelDo(len(d.entities), 8, func(i int) {
		d.finishEntity(ctx, d.entities[i], func(tx Tx, processed time.Time) {
			if processed.IsZero() {
				return
			}
			v := processed.Sub(tx.origin())
			d.env.Observe(HistSignalToProcessed, v)
			d.env.Observe(HistSignalToProcessedUncorrected, processed.Sub(time.Unix(0, tx.SentUnixNano)))
			latMu.Lock()
			lat.Record(v)
			latMu.Unlock()
		})
	})

	checks, details := d.evaluate()
	details["signal_to_processed_ms"] = quantilesMS(lat)
	details["finish_seconds"] = time.Since(began).Seconds()
	details["strategy"] = d.strategy.String()
	for k, v := range details {
		d.env.Emit(k, v)
	}
	d.mu.Lock()
	d.finished, d.checks = true, checks
	d.mu.Unlock()
	return ctx.Err()
}

func (d *driver) finishEntity(ctx context.Context, l *ledger, onTx func(Tx, time.Time)) {
	l.mu.Lock()
	journaled, tried := l.journaled, l.journaled || len(l.uncertain) > 0
	l.mu.Unlock()
	if !tried {
		return // never signalled (fewer iterations than entities)
	}
	if !journaled {
		// Every attempt failed: the entity may or may not exist.
		d.env.Journal.Started(Name, l.id, "", false)
	}
	if err := d.env.Client.SignalWorkflow(ctx, l.id, "", SignalClose, nil); err != nil {
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) { // not found: already closed (never) or never started
			l.resultErr = fmt.Errorf("close %s: %w", l.id, err)
		}
	}
	if l.resultErr == nil {
		var res Result
		if err := d.env.Client.GetWorkflow(ctx, l.id, "").Get(ctx, &res); err != nil {
			l.resultErr = err
		} else {
			l.result = &res
		}
	}
	// Failed calls whose signal did land are recognised by id as the
	// history goes by (the driver knows their ids; there are few).
	l.mu.Lock()
	uncertain := l.uncertain
	l.mu.Unlock()
	landedSeen := map[int64]bool{}
	l.chain, l.chainErr = walkChain(ctx, d.env.Client, l.id, d.strategy.Kind == KindNever, func(tx Tx, t time.Time) {
		if _, ok := uncertain[tx.ID]; ok && !landedSeen[tx.ID] {
			landedSeen[tx.ID] = true
			l.landed++
			l.landedHash += IDHashOf(tx.ID)
			l.landedAmount += uncertain[tx.ID]
		}
		onTx(tx, t)
	})
}

func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.finished {
		return []scenarios.Invariant{{Name: "entities-checked", OK: false,
			Detail: "the entities were never closed and read back (Finish did not run)"}}
	}
	return d.checks
}

// Quantiles in milliseconds (reports' shape), for details.
type Quantiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

func quantilesMS(h *bench.Histogram) Quantiles {
	if h.Count() == 0 {
		return Quantiles{}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Quantiles{Count: h.Count(), P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max())}
}

// Server limits at their defaults (server v1.32.2), for the report's words.
const (
	defaultHistoryCountError   = 51200
	defaultHistoryCountWarn    = 10240
	defaultHistoryCountSuggest = 4096
	defaultHistorySizeError    = 50 << 20
)

// problems collects failures of one invariant across entities, keeping a few
// examples.
type problems struct {
	n        int
	examples []string
}

func (p *problems) add(format string, a ...any) {
	p.n++
	if len(p.examples) < 5 {
		p.examples = append(p.examples, fmt.Sprintf(format, a...))
	}
}

func (p *problems) inv(name, okDetail string) scenarios.Invariant {
	if p.n == 0 {
		return scenarios.Invariant{Name: name, OK: true, Detail: okDetail}
	}
	return scenarios.Invariant{Name: name, OK: false,
		Detail: fmt.Sprintf("%d entities: %s", p.n, strings.Join(p.examples, "; "))}
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

// evaluate turns the ledgers and chains into invariants and details.
func (d *driver) evaluate() ([]scenarios.Invariant, map[string]any) {
	var (
		readErr, recorded, processed, balance, runsOK, limits       problems
		totalAcked, totalUncertain, rejClosed, rejLimit, rejAtLimit int64
		totalLanded                                                 int64
		signalled, totalRuns, maxEvents, maxBytes                   int64
		canRows                                                     []canRow
		cans                                                        int
		canEvents, canBytes                                         []int64
		runsByEntity                                                = map[string]int{}
		minRuns, maxRuns                                            = -1, 0
		histEvents, unprocessed                                     int64
	)
	never := d.strategy.Kind == KindNever
	var neverTerm problems
	var terminatedAt []int64
	for _, l := range d.entities {
		l.mu.Lock()
		acked, amount, hash := l.acked, l.amount, l.hash
		uncertain := l.uncertain
		totalAcked += acked
		totalLanded += l.landed
		totalUncertain += int64(len(uncertain))
		rejClosed += l.rejectedClosed
		rejLimit += l.rejectedLimit
		rejAtLimit += l.rejectedAtLimit
		l.mu.Unlock()
		if acked == 0 && len(uncertain) == 0 {
			continue
		}
		signalled++
		e := l.index
		if l.chainErr != nil {
			readErr.add("entity %d: %v", e, l.chainErr)
			continue
		}
		ch := l.chain
		histEvents += ch.Events
		unprocessed += ch.Unprocessed
		runs := len(ch.Runs)
		totalRuns += int64(runs)
		runsByEntity[fmt.Sprint(e)] = runs
		if minRuns < 0 || runs < minRuns {
			minRuns = runs
		}
		maxRuns = max(maxRuns, runs)
		for i, r := range ch.Runs {
			maxEvents, maxBytes = max(maxEvents, r.Events), max(maxBytes, r.Bytes)
			if r.Status == "continued_as_new" {
				cans++
				canEvents, canBytes = append(canEvents, r.Events), append(canBytes, r.Bytes)
				if len(canRows) < 200 {
					canRows = append(canRows, canRow{Entity: e, Run: i + 1, Events: r.Events, Bytes: r.Bytes, Tx: r.Tx, Why: why(r, d.strategy)})
				}
			}
		}

		if never {
			d.checkNever(l, ch, &neverTerm, &recorded, &terminatedAt)
			continue
		}

		// What the server recorded must be exactly what it acknowledged,
		// plus whichever failed calls did land.
		wantCount, wantHash, wantAmount := acked+l.landed, hash+l.landedHash, amount+l.landedAmount
		if ch.Count != wantCount || ch.Hash != wantHash || ch.Amount != wantAmount {
			recorded.add("entity %d: history holds %d transactions (amount %d), want the %d acknowledged or landed (amount %d)%s",
				e, ch.Count, ch.Amount, wantCount, wantAmount, hashNote(ch.Count == wantCount && ch.Hash != wantHash))
		}
		switch {
		case l.resultErr != nil:
			processed.add("entity %d: no result: %v", e, l.resultErr)
			balance.add("entity %d: no result", e)
			continue
		case l.result == nil:
			processed.add("entity %d: no result", e)
			continue
		}
		st := l.result.State
		if st.TxCount != ch.Count || st.IDHash != ch.Hash || ch.Unprocessed != 0 {
			processed.add("entity %d: the workflow processed %d transactions, the history holds %d (%d never processed)%s",
				e, st.TxCount, ch.Count, ch.Unprocessed, hashNote(st.TxCount == ch.Count && st.IDHash != ch.Hash))
		}
		if st.Balance != wantAmount {
			balance.add("entity %d: final balance %d, signalled amounts sum to %d", e, st.Balance, wantAmount)
		}
		d.checkRuns(e, st, ch, &runsOK, &limits)
	}

	var invs []scenarios.Invariant
	if readErr.n > 0 {
		invs = append(invs, readErr.inv("entity-histories-read", ""))
	}
	rangeNote := ""
	if totalUncertain > 0 {
		rangeNote = fmt.Sprintf(" (plus %d of the %d signals whose call failed: they landed)", totalLanded, totalUncertain)
	}
	if never {
		invs = append(invs,
			neverTerm.inv("terminated-at-history-limit", fmt.Sprintf(
				"expected outcome of can=never: all %d entities were terminated by the server (history limit) at %s events; "+
					"%d signals were refused at or after the limit, %d accepted ones were never processed (terminated first)",
				signalled, spread(terminatedAt), rejAtLimit+rejClosed, unprocessed)),
			recorded.inv("signals-recorded-exactly-once", fmt.Sprintf(
				"the histories of %d entities hold each of the %d acknowledged transactions exactly once%s", signalled, totalAcked, rangeNote)),
		)
	} else {
		invs = append(invs,
			recorded.inv("signals-recorded-exactly-once", fmt.Sprintf(
				"the histories of %d entities hold each of the %d acknowledged transactions exactly once%s", signalled, totalAcked, rangeNote)),
			processed.inv("signals-processed-exactly-once", fmt.Sprintf(
				"every recorded transaction was applied exactly once (count and id hash of %d entities, across %d runs)", signalled, totalRuns)),
			balance.inv("balance-matches-signals", fmt.Sprintf("final balance = sum of signalled amounts for all %d entities", signalled)),
			runsOK.inv("runs-match-strategy", fmt.Sprintf("%d runs, %d continue-as-new, each as %s prescribes", totalRuns, cans, d.strategy)),
			limits.inv("runs-within-server-limits", fmt.Sprintf(
				"no run terminated by the server; largest run %d events / %d bytes (server defaults: suggest %d, warn %d, error %d events / %d MiB)",
				maxEvents, maxBytes, defaultHistoryCountSuggest, defaultHistoryCountWarn, defaultHistoryCountError, defaultHistorySizeError>>20)),
		)
	}

	details := map[string]any{
		"signals": map[string]int64{"acknowledged": totalAcked, "uncertain": totalUncertain, "uncertain_landed": totalLanded,
			"rejected_entity_ended": rejClosed, "rejected_at_history_limit": rejAtLimit, "rejected_signal_limit": rejLimit, "recorded_unprocessed": unprocessed},
		"runs_per_entity": map[string]any{"entities": signalled, "total": totalRuns, "min": max(minRuns, 0), "max": maxRuns,
			"by_entity": limitMap(runsByEntity, 200)},
		"continue_as_new": map[string]any{"count": cans, "events": spreadMap(canEvents), "bytes": spreadMap(canBytes),
			"runs": canRows, "runs_listed": len(canRows)},
		"history_events_read": histEvents,
	}
	if never {
		details["termination"] = map[string]any{"terminated_at_events": spreadMap(terminatedAt),
			"refused_at_or_after_limit": rejAtLimit + rejClosed, "recorded_never_processed": unprocessed}
	}
	return invs, details
}

// checkRuns checks one entity's runs against the strategy and the limits.
func (d *driver) checkRuns(e int, st State, ch Chain, runsOK, limits *problems) {
	s := d.strategy
	runs := len(ch.Runs)
	canBy := 0
	for _, n := range st.CANBy {
		canBy += n
	}
	if st.Runs != runs || canBy != runs-1 {
		runsOK.add("entity %d: the server shows %d runs, the workflow counted %d runs and %d continue-as-new", e, runs, st.Runs, canBy)
		return
	}
	for i, r := range ch.Runs {
		last := i == runs-1
		switch {
		case r.TerminateReason != "":
			limits.add("entity %d run %d: terminated at %d events / %d bytes: %s (%s)", e, i+1, r.Events, r.Bytes, r.TerminateReason, r.TerminateIdentity)
			continue
		case !last && r.Status != "continued_as_new", last && r.Status != "completed":
			runsOK.add("entity %d run %d: status %s", e, i+1, r.Status)
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
			runsOK.add("entity %d run %d: kept running after its trigger (%d transactions before its last task, %d suggested tasks)",
				e, i+1, r.TxBeforeLastTask, r.SuggestedTasks)
			continue
		}
		// ...and a continued run must have had one.
		if !last && why(r, s) == "" {
			runsOK.add("entity %d run %d: continued as new without a trigger (%d transactions, suggestion %v, age %s)",
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

// checkNever: the only run must have been terminated by the server's history
// limit; the history must hold exactly the acknowledged signals (plus any
// failed calls that landed), each once.
func (d *driver) checkNever(l *ledger, ch Chain, term, recorded *problems, terminatedAt *[]int64) {
	e := l.index
	if len(ch.Runs) != 1 {
		term.add("entity %d: %d runs; can=never must have exactly one", e, len(ch.Runs))
		return
	}
	r := ch.Runs[0]
	limitReason := strings.Contains(r.TerminateReason, "history count exceeds limit") ||
		strings.Contains(r.TerminateReason, "history size exceeds limit")
	if r.Status != "terminated" || !limitReason {
		term.add("entity %d: ended %s at %d events (%s): it never reached the server's history limit; send more signals per "+
			"entity or lower limit.historyCount.error", e, r.Status, r.Events, r.TerminateReason)
	} else {
		*terminatedAt = append(*terminatedAt, r.Events)
	}
	// Exact check: the history's transaction ids against the acked set.
	l.mu.Lock()
	acked, uncertain := l.ackedIDs, l.uncertain
	l.mu.Unlock()
	seen := make(map[int64]bool, len(acked))
	var unknownN, dupN, ackedSeen int64
	err := replayIDs(ch, func(id int64) {
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
		recorded.add("entity %d: %v", e, err)
		return
	}
	if missing := int64(len(acked)) - ackedSeen; unknownN > 0 || dupN > 0 || missing > 0 {
		recorded.add("entity %d: %d acknowledged transactions missing from the history, %d recorded twice, %d recorded but never sent",
			e, missing, dupN, unknownN)
	}
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
