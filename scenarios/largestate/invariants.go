package largestate

import (
	"context"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
)

// outcome is one iteration as the driver saw it, judged and dropped as
// the iteration ends.
type outcome struct {
	mode string
	id   string
	seed int64
	obs  *ObserverResult
	ext  *ExternalResult
	inc  *IncrementalResult
	// The workflow whose history holds the state (inline/compressed: the
	// child), described after the end.
	histID, histRun string
	hist            check.Execution
	term            *termination
}

// termination is what a stopped grow workflow's history says.
type termination struct {
	Accepted     int    `json:"accepted_steps"`       // digest activities the server accepted
	AcceptedSize int64  `json:"accepted_state_bytes"` // the largest state that went through history
	RejectedSize int64  `json:"rejected_state_bytes"` // the state the server refused
	Cause        string `json:"cause"`
	Message      string `json:"message"`
	Reason       string `json:"reason,omitempty"` // of a termination
	// ActivityTimeouts are attempts that timed out on the way (a lost or
	// slow attempt: what the run timeout must leave room for).
	ActivityTimeouts int    `json:"activity_timeouts,omitempty"`
	Mode             string `json:"mode"`
	Outcome          string `json:"outcome"`
}

// inspect describes the workflow holding the state and, for a stopped
// one, reads where it stopped from its history.
func (d *driver) inspect(ctx context.Context, oc *outcome) {
	ictx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	oc.hist = check.Describe(ictx, d.env.Client, oc.histID, oc.histRun)
	if oc.obs == nil || (oc.obs.Status != string(scenarios.ExpectTerminated) && oc.obs.Status != string(scenarios.ExpectTimedOut)) {
		return
	}
	t := &termination{Mode: oc.mode, Outcome: oc.obs.Status}
	it := d.env.Client.GetWorkflowHistory(ictx, oc.histID, oc.histRun, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Message = "history: " + err.Error()
			break
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == ActivityDigest {
				t.Accepted++
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			a := ev.GetWorkflowTaskFailedEventAttributes()
			t.Cause, t.Message = a.GetCause().String(), a.GetFailure().GetMessage()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			t.ActivityTimeouts++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
			t.Reason = ev.GetWorkflowExecutionTerminatedEventAttributes().GetReason()
		}
	}
	t.AcceptedSize = int64(t.Accepted) * int64(d.chunk)
	t.RejectedSize = int64(t.Accepted+1) * int64(d.chunk)
	oc.term = t
}

// ModeRow is one mode's line of the side-by-side table (details "modes").
type ModeRow struct {
	Mode           string         `json:"mode"`
	Workflows      int            `json:"workflows"`
	Outcomes       map[string]int `json:"outcomes"` // of the workflow holding the state ("error": no result)
	Predicted      string         `json:"predicted,omitempty"`
	DatasetBytes   int64          `json:"dataset_bytes"`
	HistoryBytes   int64          `json:"history_bytes_max"` // of the workflow holding the state (latest run)
	HistoryMean    int64          `json:"history_bytes_mean"`
	HistoryEvents  int64          `json:"history_events_max"`
	DescribeErrors int            `json:"describe_errors,omitempty"`
	Runs           int            `json:"runs_max,omitempty"` // incremental: continue-as-new chain
	Checkpoints    int            `json:"checkpoints,omitempty"`
	StoppedAtBytes int64          `json:"terminated_at_state_bytes,omitempty"`

	histSum, described int64
}

// maxTerminations bounds the sample of stopped workflows kept for the report.
const maxTerminations = 20

// tally folds each iteration into the counts as it ends, so memory does
// not grow with the run.
type tally struct {
	mu           sync.Mutex
	rows         map[string]*ModeRow
	lost         check.Problems // no-data-lost
	checked      int
	limitBad     check.Problems // state-ends-at-payload-limit
	stopped      int            // grow children judged at the limit
	expectedPuts int            // objects the workflows reported putting
	storeFailed  int            // external and incremental iterations without a result
	terms        []termination  // a sample
}

func newTally(modes []string, predict map[string]scenarios.Expect, dataset, items int64) *tally {
	t := &tally{rows: map[string]*ModeRow{}}
	for _, m := range modes {
		t.rows[m] = &ModeRow{Mode: m, Outcomes: map[string]int{}, Predicted: string(predict[m]), DatasetBytes: dataset}
	}
	if r := t.rows[ModeIncremental]; r != nil {
		r.DatasetBytes = items // ids
	}
	return t
}

// failed books an iteration without a result (the runner has its error).
func (t *tally) failed(mode string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	row := t.rows[mode]
	row.Workflows++
	row.Outcomes["error"]++
	if mode == ModeExternal || mode == ModeIncremental {
		t.storeFailed++
	}
}

// judge checks one iteration's data end to end against the seed and,
// for a grow child stopped at the limit, where and why it stopped.
func (t *tally) judge(d *driver, oc *outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	row := t.rows[oc.mode]
	row.Workflows++
	if h := oc.hist; h.Status == "error" || h.Missing() {
		row.DescribeErrors++
	} else {
		row.HistoryBytes = max(row.HistoryBytes, h.HistoryBytes)
		row.HistoryEvents = max(row.HistoryEvents, h.HistoryLength)
		row.histSum += h.HistoryBytes
		row.described++
	}
	wantSum, wantSize := "", int64(0)
	if oc.mode != ModeIncremental {
		wantSum, wantSize = Expected(oc.seed, d.steps, d.chunk)
	}
	switch oc.mode {
	case ModeInline, ModeInlineServer, ModeCompressed:
		// Whether the child ended as predicted is verification's (it is
		// journaled with that expectation); here: its data, or its stop.
		row.Outcomes[oc.obs.Status]++
		if oc.obs.Status == string(scenarios.ExpectCompleted) {
			t.checked++
			if r := oc.obs.Result; r.SHA256 != wantSum || r.Size != wantSize {
				t.lost.Add("%s (%s): state %d bytes sha256 %.12s, the dataset is %d bytes %.12s", oc.id, oc.mode, r.Size, r.SHA256, wantSize, wantSum)
			}
			return
		}
		t.judgeStop(d, oc, row)
	case ModeExternal:
		row.Outcomes[string(scenarios.ExpectCompleted)]++
		t.checked++
		t.expectedPuts += d.steps
		if r := oc.ext; r.SHA256 != wantSum || r.Size != wantSize || r.Objects != d.steps || r.Deleted != d.steps {
			t.lost.Add("%s: %d bytes sha256 %.12s from %d objects (%d deleted); the dataset is %d bytes %.12s in %d",
				oc.id, r.Size, r.SHA256, r.Objects, r.Deleted, wantSize, wantSum, d.steps)
		}
	case ModeIncremental:
		row.Outcomes[string(scenarios.ExpectCompleted)]++
		t.checked++
		r := oc.inc
		t.expectedPuts += r.Checkpoints
		row.Runs = max(row.Runs, r.Runs)
		row.Checkpoints = max(row.Checkpoints, r.Checkpoints)
		v := r.Verify
		if r.Processed != d.items || v.Unique != d.items || v.Duplicates != 0 || v.Missing != 0 || v.Outside != 0 || v.SHA256 != ExpectedIDs(d.items) || r.Deleted != r.Checkpoints {
			t.lost.Add("%s: processed %d of %d; checkpoints hold %d ids, %d unique, %d duplicates, %d missing, %d outside; %d of %d checkpoints deleted",
				oc.id, r.Processed, d.items, v.IDs, v.Unique, v.Duplicates, v.Missing, v.Outside, r.Deleted, r.Checkpoints)
		}
	}
}

// judgeStop: a stuck or terminated grow child stopped exactly at the
// limit, for the payload size: refused by the SDK (PayloadsTooLarge) or
// the server (BadScheduleActivityAttributes). Under mu.
func (t *tally) judgeStop(d *driver, oc *outcome, row *ModeRow) {
	t.stopped++
	tm := oc.term
	if tm == nil {
		t.limitBad.Add("%s (%s): %s, history not read", oc.id, oc.mode, oc.obs.Status)
		return
	}
	if len(t.terms) < maxTerminations {
		t.terms = append(t.terms, *tm)
	}
	row.StoppedAtBytes = tm.RejectedSize
	// Raw state travels as it is (binary/plain); compressed sizes are no
	// multiple of the chunk and are judged by the cause.
	if oc.mode != ModeCompressed && !(tm.AcceptedSize <= d.limit && tm.RejectedSize > d.limit-limitMargin) {
		t.limitBad.Add("%s: accepted %d steps (%d bytes), refused %d bytes: not at the limit %d", oc.id, tm.Accepted, tm.AcceptedSize, tm.RejectedSize, d.limit)
	}
	wantCause := enumspb.WORKFLOW_TASK_FAILED_CAUSE_PAYLOADS_TOO_LARGE
	if oc.obs.Status == string(scenarios.ExpectTerminated) {
		wantCause = enumspb.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES
	}
	if tm.Cause != wantCause.String() || !strings.Contains(strings.ToLower(tm.Message), "size") {
		t.limitBad.Add("%s: %s by %s %q (reason %q; %d activity timeouts on the way), not the payload limit", oc.id, oc.obs.Status, tm.Cause, tm.Message, tm.Reason, tm.ActivityTimeouts)
	}
}

// Invariants: no data lost (checksums against the regenerated dataset);
// inline and compressed stop where and why the payload limit says (that
// they end as predicted is verification's); the blob store is left clean,
// by its own operation log.
func (d *driver) Invariants(ctx context.Context) []scenarios.Invariant {
	d.t.mu.Lock()
	defer d.t.mu.Unlock()
	out := []scenarios.Invariant{noDataLost(d.t)}
	if d.t.rows[ModeInline] != nil || d.t.rows[ModeInlineServer] != nil || d.t.rows[ModeCompressed] != nil {
		out = append(out, stateEndsAtPayloadLimit(d))
	}
	if d.t.rows[ModeExternal] != nil || d.t.rows[ModeIncremental] != nil {
		out = append(out, blobStoreClean(ctx, d))
	}
	return out
}

func noDataLost(t *tally) scenarios.Invariant {
	inv := t.lost.Invariant("no-data-lost", "")
	return check.That("no-data-lost", inv.OK && t.checked > 0,
		"%d datasets checked end to end against the regenerated data (sha256 and size; incremental: every id exactly once), %d differ%s",
		t.checked, t.lost.Count(), examples(inv.Detail))
}

func stateEndsAtPayloadLimit(d *driver) scenarios.Invariant {
	t := d.t
	inv := t.limitBad.Invariant("state-ends-at-payload-limit", "")
	return check.That("state-ends-at-payload-limit", inv.OK,
		"for a %d-byte dataset under the %d-byte payload limit: inline predicted %q (SDK check), inline-server %q, compressed %q; "+
			"%d stopped grow workflows read from their histories, %d not where or why the limit says%s",
		int64(d.chunk)*int64(d.steps), d.limit, d.predict[ModeInline], d.predict[ModeInlineServer], d.predict[ModeCompressed],
		t.stopped, t.limitBad.Count(), examples(inv.Detail))
}

// blobStoreClean: no object of this run is left in the store, and by the
// store's own log every object put was deleted.
func blobStoreClean(ctx context.Context, d *driver) scenarios.Invariant {
	const name = "blob-store-clean"
	st := DirStore{Dir: d.blobDir}
	prefix := strings.TrimSuffix(WorkflowID(d.env.RunID, 0), "0") // "<name>-<run>-"
	left, err := st.List(ctx, prefix)
	if err != nil {
		return check.Fail(name, "list %s: %v", d.blobDir, err)
	}
	ops, err := st.Ops()
	if err != nil {
		return check.Fail(name, "operation log: %v", err)
	}
	live := map[string]bool{}
	puts, dels := 0, 0
	for _, op := range ops {
		if !strings.HasPrefix(op.Key, prefix) {
			continue
		}
		switch op.Op {
		case "put":
			puts++
			live[op.Key] = true
		case "delete":
			dels++
			delete(live, op.Key)
		}
	}
	orphans := make([]string, 0, len(live))
	for k := range live {
		orphans = append(orphans, k)
	}
	sort.Strings(orphans)
	var p check.Problems
	for _, k := range orphans {
		p.Add("%s", k)
	}
	t := d.t
	ok := len(left) == 0 && len(orphans) == 0 && puts > 0 && (t.storeFailed > 0 || puts >= t.expectedPuts)
	return check.That(name, ok,
		"store %s: %d objects left; its operation log: %d puts, %d deletes, %d put but never deleted%s; the workflows reported %d objects",
		d.blobDir, len(left), puts, dels, len(orphans), examples(p.Invariant("", "").Detail), t.expectedPuts)
}

func examples(detail string) string {
	if detail == "" {
		return ""
	}
	return "; e.g. " + detail
}

var _ scenarios.Finisher = (*driver)(nil)

// Finish emits the side-by-side table, the codec's account and a sample
// of the stopped workflows.
func (d *driver) Finish(context.Context) error {
	t := d.t
	t.mu.Lock()
	table := make([]ModeRow, 0, len(d.modes))
	for _, m := range d.modes {
		r := *t.rows[m]
		r.Outcomes = maps.Clone(r.Outcomes)
		if r.described > 0 {
			r.HistoryMean = r.histSum / r.described
		}
		table = append(table, r)
	}
	terms := append([]termination(nil), t.terms...)
	t.mu.Unlock()
	d.env.Emit("modes", table)
	if d.codec != nil {
		d.env.Emit("compression", d.codec.stats())
	}
	if len(terms) > 0 {
		d.env.Emit("terminations", terms)
	}
	return nil
}
