package health

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nexus-rpc/sdk-go/nexus"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/scenarios"
)

// NameReplay is the invariant of the replay check.
const NameReplay = "replay-deterministic"

// Temporal is what the replay and stuck checks ask of the cluster (a
// client.Client has it).
type Temporal interface {
	ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
	GetWorkflowHistory(ctx context.Context, workflowID, runID string, isLongPoll bool, filterType enumspb.HistoryEventFilterType) client.HistoryEventIterator
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// ReplayOptions say which workflows to replay against which code.
type ReplayOptions struct {
	Namespace string
	// Query is the visibility query selecting the run's workflows (the
	// check adds the status it wants).
	Query string
	// Sample is how many completed workflows of each type to replay.
	Sample int
	// Register registers the workflow code to replay against: the code
	// squall's workers ran (scenarios.RegisterAll).
	Register func(worker.Registry)
	// ExportDir, if set, receives every sampled history as JSON.
	ExportDir string
	// DataConverter decodes the histories' payloads as squall's workers
	// encoded them (nil: the SDK's default). A payload the replayer cannot
	// decode makes the workflow code fail where the original succeeded,
	// which the SDK reports as non-determinism.
	DataConverter converter.DataConverter
	// MaxScan bounds the visibility rows looked at (default 20,000): a huge
	// run's sample comes from its first workflows of each type.
	MaxScan int
}

// TypeReplay counts one workflow type's replays.
type TypeReplay struct {
	Replayed         int `json:"replayed"`
	Nondeterministic int `json:"nondeterministic"`
	Errors           int `json:"errors"`       // replay failed for another reason
	Unregistered     int `json:"unregistered"` // squall's code has no such workflow (the user's own)
}

// ReplayFailure is one workflow that did not replay.
type ReplayFailure struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Type       string `json:"type"`
	Error      string `json:"error"`
}

// ReplayResult is the replay check's outcome.
type ReplayResult struct {
	Types            map[string]*TypeReplay `json:"types"`
	Nondeterministic []ReplayFailure        `json:"nondeterministic,omitempty"`
	Errors           []ReplayFailure        `json:"errors,omitempty"`
	Scanned          int                    `json:"scanned"`
	Exported         int                    `json:"exported"`
	Duration         time.Duration          `json:"duration"`
	// Failed: the check itself could not run (visibility refused the query).
	Failed string `json:"failed,omitempty"`
}

// replayRegistry lets scenarios register on a replayer what they register
// on workers: activities and Nexus services do not take part in replay.
type replayRegistry struct{ worker.WorkflowReplayer }

func (replayRegistry) RegisterActivity(any)                                         {}
func (replayRegistry) RegisterActivityWithOptions(any, activity.RegisterOptions)    {}
func (replayRegistry) RegisterDynamicActivity(any, activity.DynamicRegisterOptions) {}
func (replayRegistry) RegisterNexusService(*nexus.Service)                          {}

var _ worker.Registry = replayRegistry{}

// Replay replays a sample of the completed workflows the query selects.
func Replay(ctx context.Context, t Temporal, o ReplayOptions) *ReplayResult {
	began := time.Now()
	r := &ReplayResult{Types: map[string]*TypeReplay{}}
	defer func() { r.Duration = time.Since(began).Round(time.Millisecond) }()
	if o.MaxScan <= 0 {
		o.MaxScan = 20000
	}
	replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: o.DataConverter})
	if err != nil {
		r.Failed = "replayer: " + err.Error()
		return r
	}
	o.Register(replayRegistry{replayer})
	if o.ExportDir != "" {
		if err := os.MkdirAll(o.ExportDir, 0o755); err != nil {
			r.Failed = "export directory: " + err.Error()
			return r
		}
	}
	logger := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	query := "ExecutionStatus = 'Completed'"
	if o.Query != "" {
		query = o.Query + " AND " + query
	}
	var token []byte
	for r.Scanned < o.MaxScan && ctx.Err() == nil {
		page, err := t.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: o.Namespace, PageSize: 1000, NextPageToken: token, Query: query})
		if err != nil {
			r.Failed = fmt.Sprintf("list workflows (%s): %v", query, err)
			return r
		}
		for _, info := range page.GetExecutions() {
			r.Scanned++
			typ := info.GetType().GetName()
			tr := r.Types[typ]
			if tr == nil {
				tr = &TypeReplay{}
				r.Types[typ] = tr
			}
			if tr.Replayed+tr.Unregistered+tr.Errors >= o.Sample {
				continue
			}
			id, run := info.GetExecution().GetWorkflowId(), info.GetExecution().GetRunId()
			h, err := History(ctx, t, id, run)
			if err != nil {
				tr.Errors++
				r.Errors = append(r.Errors, ReplayFailure{WorkflowID: id, RunID: run, Type: typ, Error: "fetch history: " + err.Error()})
				continue
			}
			if o.ExportDir != "" {
				if err := ExportHistory(o.ExportDir, id, run, h); err == nil {
					r.Exported++
				}
			}
			err = replayer.ReplayWorkflowHistoryWithOptions(logger, h, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: id, RunID: run}})
			switch {
			case err == nil:
				tr.Replayed++
			case strings.Contains(err.Error(), "unable to find workflow type"):
				tr.Unregistered++
			case nondeterministic(err):
				tr.Nondeterministic++
				tr.Replayed++
				r.Nondeterministic = append(r.Nondeterministic, ReplayFailure{WorkflowID: id, RunID: run, Type: typ, Error: quote(err.Error(), 400)})
			default:
				tr.Errors++
				r.Errors = append(r.Errors, ReplayFailure{WorkflowID: id, RunID: run, Type: typ, Error: quote(err.Error(), 400)})
			}
		}
		token = page.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	return r
}

// nondeterministic says whether a replay error is the SDK's verdict that
// the code no longer produces the history's commands.
func nondeterministic(err error) bool {
	s := err.Error()
	return strings.Contains(s, "TMPRL1100") || strings.Contains(s, "nondeterministic") ||
		strings.Contains(s, "doesn't return the same result")
}

// History fetches a workflow run's whole history.
func History(ctx context.Context, t Temporal, id, run string) (*historypb.History, error) {
	it := t.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		h.Events = append(h.Events, e)
	}
	return h, nil
}

// ExportHistory writes h as JSON in the format `temporal workflow show
// --output json` writes and worker.WorkflowReplayer's
// ReplayWorkflowHistoryFromJSONFile reads: DIR/WORKFLOWID_RUNID.json.
func ExportHistory(dir, id, run string, h *historypb.History) error {
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		return err
	}
	name := strings.NewReplacer("/", "_", string(os.PathSeparator), "_").Replace(id)
	if run != "" {
		name += "_" + run
	}
	return os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644)
}

// Invariant is the replay check's verdict.
func (r *ReplayResult) Invariant(mode Mode) scenarios.Invariant {
	if r.Failed != "" {
		return invariant(NameReplay, mode, false, "replay not checked: "+r.Failed)
	}
	names := make([]string, 0, len(r.Types))
	replayed, unreg := 0, 0
	for n, t := range r.Types {
		names = append(names, n)
		replayed += t.Replayed
		unreg += t.Unregistered
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%d completed workflow(s) of %d type(s) replayed against squall's workflow code in %s (%d listed)", replayed, len(names), r.Duration, r.Scanned)
	if len(names) > 0 {
		b.WriteString(":")
		for _, n := range names {
			t := r.Types[n]
			fmt.Fprintf(&b, " %s %d", n, t.Replayed)
			if t.Nondeterministic > 0 {
				fmt.Fprintf(&b, " (%d NON-DETERMINISTIC)", t.Nondeterministic)
			}
			if t.Unregistered > 0 {
				fmt.Fprintf(&b, " (%d not squall's: export with --export-histories)", t.Unregistered)
			}
			b.WriteString(";")
		}
	}
	for i, f := range r.Nondeterministic {
		if i == 5 {
			fmt.Fprintf(&b, " …and %d more non-deterministic", len(r.Nondeterministic)-5)
			break
		}
		fmt.Fprintf(&b, " non-deterministic: %s (run %s, %s): %s;", f.WorkflowID, f.RunID, f.Type, f.Error)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, " %d could not be replayed (not a determinism finding), e.g. %s: %s;", len(r.Errors), r.Errors[0].WorkflowID, r.Errors[0].Error)
	}
	if r.Exported > 0 {
		fmt.Fprintf(&b, " %d history file(s) exported", r.Exported)
	}
	return invariant(NameReplay, mode, len(r.Nondeterministic) == 0, strings.TrimSuffix(b.String(), ";"))
}
