package largestate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/squallbench/squall/scenarios"
)

// termination is what a terminated grow workflow's history says.
type termination struct {
	Accepted     int    `json:"accepted_steps"`       // digest activities the server accepted
	AcceptedSize int64  `json:"accepted_state_bytes"` // the largest state that went through history
	RejectedSize int64  `json:"rejected_state_bytes"` // the state the server refused
	Cause        string `json:"cause"`
	Message      string `json:"message"`
	Reason       string `json:"reason,omitempty"` // of a termination
	Mode         string `json:"mode"`
	Outcome      string `json:"outcome"`
}

// inspect describes the workflow holding the state and, for a terminated
// one, reads where it stopped from its history.
func (d *driver) inspect(ctx context.Context, oc *outcome) {
	ictx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	desc, err := d.env.Client.DescribeWorkflowExecution(ictx, oc.histID, oc.histRun)
	d.mu.Lock()
	if err != nil {
		oc.describeErr = err.Error()
	} else {
		oc.histLen = desc.GetWorkflowExecutionInfo().GetHistoryLength()
		oc.histBytes = desc.GetWorkflowExecutionInfo().GetHistorySizeBytes()
	}
	d.mu.Unlock()
	if oc.obs == nil || (oc.obs.Status != "terminated" && oc.obs.Status != "timed_out") {
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
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
			t.Reason = ev.GetWorkflowExecutionTerminatedEventAttributes().GetReason()
		}
	}
	t.AcceptedSize = int64(t.Accepted) * int64(d.chunk)
	t.RejectedSize = int64(t.Accepted+1) * int64(d.chunk)
	d.mu.Lock()
	oc.term = t
	d.mu.Unlock()
}

// ModeRow is one mode's line of the side-by-side table (details "modes").
type ModeRow struct {
	Mode           string         `json:"mode"`
	Workflows      int            `json:"workflows"`
	Outcomes       map[string]int `json:"outcomes"` // of the workflow holding the state
	Predicted      string         `json:"predicted,omitempty"`
	DatasetBytes   int64          `json:"dataset_bytes"`
	HistoryBytes   int64          `json:"history_bytes_max"` // of the workflow holding the state (latest run)
	HistoryMean    int64          `json:"history_bytes_mean"`
	HistoryEvents  int64          `json:"history_events_max"`
	Runs           int            `json:"runs_max,omitempty"` // incremental: continue-as-new chain
	Checkpoints    int            `json:"checkpoints,omitempty"`
	StoppedAtBytes int64          `json:"terminated_at_state_bytes,omitempty"`
}

func inv(name string, ok bool, format string, a ...any) scenarios.Invariant {
	return scenarios.Invariant{Name: name, OK: ok, Detail: fmt.Sprintf(format, a...)}
}

func ex(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return "; e.g. " + xs[0]
}

// Invariants: no data lost (checksums against the regenerated dataset);
// inline and compressed end where the payload limit says; the blob store
// is left clean, by its own operation log.
func (d *driver) Invariants(ctx context.Context) []scenarios.Invariant {
	d.mu.Lock()
	ocs := append([]*outcome(nil), d.outcomes...)
	unacked := d.unacked
	d.mu.Unlock()

	rows := map[string]*ModeRow{}
	for _, m := range d.modes {
		rows[m] = &ModeRow{Mode: m, Outcomes: map[string]int{}, Predicted: d.predict[m], DatasetBytes: int64(d.chunk) * int64(d.steps)}
	}
	if r := rows[ModeIncremental]; r != nil {
		r.DatasetBytes = d.items // ids
	}
	var errs, lost, limitBad []string
	checked := 0
	expectedPuts := 0
	for _, oc := range ocs {
		row := rows[oc.mode]
		row.Workflows++
		if oc.err != "" {
			errs = append(errs, oc.id+": "+oc.err)
			row.Outcomes["error"]++
			continue
		}
		if oc.describeErr != "" {
			errs = append(errs, oc.id+": describe: "+oc.describeErr)
		}
		row.HistoryBytes = max(row.HistoryBytes, oc.histBytes)
		row.HistoryMean += oc.histBytes
		row.HistoryEvents = max(row.HistoryEvents, oc.histLen)
		wantSum, wantSize := "", int64(0)
		if oc.mode != ModeIncremental {
			wantSum, wantSize = Expected(oc.seed, d.steps, d.chunk)
		}
		switch oc.mode {
		case ModeInline, ModeInlineServer, ModeCompressed:
			row.Outcomes[oc.obs.Status]++
			if oc.obs.Status != d.predict[oc.mode] {
				limitBad = append(limitBad, fmt.Sprintf("%s (%s): the grow workflow %s, predicted %s (%s)", oc.id, oc.mode, oc.obs.Status, d.predict[oc.mode], oc.obs.Error))
				continue
			}
			if oc.obs.Status == "completed" {
				checked++
				if r := oc.obs.Result; r.SHA256 != wantSum || r.Size != wantSize {
					lost = append(lost, fmt.Sprintf("%s (%s): state %d bytes sha256 %.12s, the dataset is %d bytes %.12s", oc.id, oc.mode, r.Size, r.SHA256, wantSize, wantSum))
				}
				continue
			}
			// Stuck or terminated: exactly at the limit, for the payload
			// size: refused by the SDK (PayloadsTooLarge) or the server
			// (BadScheduleActivityAttributes).
			t := oc.term
			if t == nil {
				limitBad = append(limitBad, oc.id+": "+oc.obs.Status+", history not read")
				continue
			}
			row.StoppedAtBytes = t.RejectedSize
			// Raw state travels as it is (binary/plain); compressed sizes
			// are no multiple of the chunk and are judged by the cause.
			if oc.mode != ModeCompressed && !(t.AcceptedSize <= d.limit && t.RejectedSize > d.limit-limitMargin) {
				limitBad = append(limitBad, fmt.Sprintf("%s: accepted %d steps (%d bytes), refused %d bytes: not at the limit %d", oc.id, t.Accepted, t.AcceptedSize, t.RejectedSize, d.limit))
			}
			wantCause := enumspb.WORKFLOW_TASK_FAILED_CAUSE_PAYLOADS_TOO_LARGE
			if oc.obs.Status == "terminated" {
				wantCause = enumspb.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES
			}
			if t.Cause != wantCause.String() || !strings.Contains(strings.ToLower(t.Message), "size") {
				limitBad = append(limitBad, fmt.Sprintf("%s: terminated by %s %q (reason %q), not the payload limit", oc.id, t.Cause, t.Message, t.Reason))
			}
		case ModeExternal:
			row.Outcomes["completed"]++
			checked++
			expectedPuts += d.steps
			if r := oc.ext; r.SHA256 != wantSum || r.Size != wantSize || r.Objects != d.steps || r.Deleted != d.steps {
				lost = append(lost, fmt.Sprintf("%s: %d bytes sha256 %.12s from %d objects (%d deleted); the dataset is %d bytes %.12s in %d",
					oc.id, r.Size, r.SHA256, r.Objects, r.Deleted, wantSize, wantSum, d.steps))
			}
		case ModeIncremental:
			row.Outcomes["completed"]++
			checked++
			r := oc.inc
			expectedPuts += r.Checkpoints
			row.Runs = max(row.Runs, r.Runs)
			row.Checkpoints = max(row.Checkpoints, r.Checkpoints)
			v := r.Verify
			if r.Processed != d.items || v.Unique != d.items || v.Duplicates != 0 || v.Missing != 0 || v.Outside != 0 || v.SHA256 != ExpectedIDs(d.items) || r.Deleted != r.Checkpoints {
				lost = append(lost, fmt.Sprintf("%s: processed %d of %d; checkpoints hold %d ids, %d unique, %d duplicates, %d missing, %d outside; %d of %d checkpoints deleted",
					oc.id, r.Processed, d.items, v.IDs, v.Unique, v.Duplicates, v.Missing, v.Outside, r.Deleted, r.Checkpoints))
			}
		}
	}
	var out []scenarios.Invariant
	out = append(out, inv("every-iteration-ended", len(errs) == 0 && unacked == 0 && len(ocs) > 0,
		"%d workflows, %d errors, %d starts unacknowledged%s", len(ocs), len(errs), unacked, ex(errs)))
	out = append(out, inv("no-data-lost", len(lost) == 0 && checked > 0,
		"%d datasets checked end to end against the regenerated data (sha256 and size; incremental: every id exactly once), %d differ%s",
		checked, len(lost), ex(lost)))
	if rows[ModeInline] != nil || rows[ModeInlineServer] != nil || rows[ModeCompressed] != nil {
		out = append(out, inv("state-ends-at-payload-limit", len(limitBad) == 0,
			"for a %d-byte dataset under the %d-byte payload limit: inline predicted %q (SDK check), inline-server %q, compressed %q; %d differ%s",
			int64(d.chunk)*int64(d.steps), d.limit, d.predict[ModeInline], d.predict[ModeInlineServer], d.predict[ModeCompressed], len(limitBad), ex(limitBad)))
	}
	if rows[ModeExternal] != nil || rows[ModeIncremental] != nil {
		out = append(out, d.storeClean(ctx, ocs, expectedPuts))
	}

	var table []ModeRow
	for _, m := range d.modes {
		r := rows[m]
		if r.Workflows > 0 {
			r.HistoryMean /= int64(r.Workflows)
		}
		table = append(table, *r)
	}
	d.env.Emit("modes", table)
	if d.codec != nil {
		d.env.Emit("compression", d.codec.stats())
	}
	var terms []termination
	for _, oc := range ocs {
		if oc.term != nil {
			terms = append(terms, *oc.term)
		}
	}
	if len(terms) > 0 {
		d.env.Emit("terminations", terms)
	}
	return out
}

// storeClean: no object of this run is left in the store, and by the
// store's own log every object put was deleted.
func (d *driver) storeClean(ctx context.Context, ocs []*outcome, expectedPuts int) scenarios.Invariant {
	st := DirStore{Dir: d.blobDir}
	prefix := WorkflowID(d.env.RunID, 0)
	prefix = prefix[:len(prefix)-1] // "<name>-<run>-"
	left, err := st.List(ctx, prefix)
	if err != nil {
		return inv("blob-store-clean", false, "list %s: %v", d.blobDir, err)
	}
	ops, err := st.Ops()
	if err != nil {
		return inv("blob-store-clean", false, "operation log: %v", err)
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
	var orphans []string
	for k := range live {
		orphans = append(orphans, k)
	}
	sort.Strings(orphans)
	failed := 0
	for _, oc := range ocs {
		if oc.err != "" && (oc.mode == ModeExternal || oc.mode == ModeIncremental) {
			failed++
		}
	}
	ok := len(left) == 0 && len(orphans) == 0 && puts > 0 && (failed > 0 || puts >= expectedPuts)
	return inv("blob-store-clean", ok,
		"store %s: %d objects left; its operation log: %d puts, %d deletes, %d put but never deleted%s; the workflows reported %d objects",
		d.blobDir, len(left), puts, dels, len(orphans), ex(orphans), expectedPuts)
}
