// Package check is the kit scenarios build their invariants from: one way
// to describe a workflow, to collect problems into a named invariant, to
// tally histories per workflow type, and the server's limits in one place.
// Each scenario's invariants are then a list of short named checks.
package check

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/squallbench/squall/internal/sleep"
	"github.com/squallbench/squall/scenarios"
)

// The server's limits at their defaults (server v1.32.2).
const (
	HistoryEventsError   = 51200 // limit.historyCount.error: the workflow is terminated
	HistoryEventsWarn    = 10240
	HistoryEventsSuggest = 4096 // continue-as-new is suggested from here
	HistoryBytesError    = 50 << 20
	HistoryBytesWarn     = 10 << 20
	HistoryBytesSuggest  = 4 << 20
	PayloadBytesError    = 2 << 20 // limit.blobSize.error, per payload
	PayloadBytesWarn     = 512 << 10
	GRPCMessageBytes     = 4 << 20 // requests above are rejected
	MaxPending           = 2000    // pending activities / children / outgoing signals per execution
	MaxSignalsReceived   = 10000   // signals per execution
)

// Describer is the one call Describe makes (a client.Client has it).
type Describer interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// Execution is one workflow run as Temporal describes it.
type Execution struct {
	ID, RunID, Type string
	// Status is scenarios.StatusName's spelling, or "missing" (Temporal
	// does not know it) or "error" (it could not be asked: Err says why).
	Status        string
	Start, Close  time.Time
	HistoryLength int64
	HistoryBytes  int64
	Err           error
}

// Missing: Temporal does not know the workflow.
func (e Execution) Missing() bool { return e.Status == "missing" }

// Closed: the run has ended, however.
func (e Execution) Closed() bool {
	return e.Status != "running" && e.Status != "missing" && e.Status != "error" && e.Status != ""
}

// Describe asks Temporal for a workflow run (runID "" is the latest),
// riding out transient errors for a few attempts.
func Describe(ctx context.Context, cl Describer, id, runID string) Execution {
	var err error
	for attempt := range 5 {
		r, derr := cl.DescribeWorkflowExecution(ctx, id, runID)
		if derr == nil {
			info := r.GetWorkflowExecutionInfo()
			e := Execution{ID: id, RunID: info.GetExecution().GetRunId(), Type: info.GetType().GetName(),
				Status: scenarios.StatusName(info.GetStatus()), HistoryLength: info.GetHistoryLength(), HistoryBytes: info.GetHistorySizeBytes()}
			if t := info.GetStartTime(); t != nil {
				e.Start = t.AsTime()
			}
			if t := info.GetCloseTime(); t != nil {
				e.Close = t.AsTime()
			}
			return e
		}
		err = derr
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return Execution{ID: id, RunID: runID, Status: "missing"}
		}
		if ctx.Err() != nil {
			break
		}
		sleep.For(ctx, time.Duration(attempt+1)*200*time.Millisecond)
	}
	return Execution{ID: id, RunID: runID, Status: "error", Err: err}
}

// Problems collects the failures of one check, keeping a few examples.
type Problems struct {
	n        int
	examples []string
}

// MaxExamples is how many problems an invariant's detail names.
const MaxExamples = 5

// Add records one problem.
func (p *Problems) Add(format string, a ...any) {
	p.n++
	if len(p.examples) < MaxExamples {
		p.examples = append(p.examples, fmt.Sprintf(format, a...))
	}
}

// Count is the number of problems recorded.
func (p *Problems) Count() int { return p.n }

// Invariant is the check named name: ok with okDetail when nothing was
// added, otherwise failed with the examples and the count.
func (p *Problems) Invariant(name, okDetail string) scenarios.Invariant {
	if p.n == 0 {
		return scenarios.Invariant{Name: name, OK: true, Detail: okDetail}
	}
	d := strings.Join(p.examples, "; ")
	if p.n > len(p.examples) {
		d += fmt.Sprintf("; ... %d problems in all", p.n)
	}
	return scenarios.Invariant{Name: name, OK: false, Detail: d}
}

// Pass and Fail build an invariant directly, for checks that are one
// comparison.
func Pass(name, format string, a ...any) scenarios.Invariant {
	return scenarios.Invariant{Name: name, OK: true, Detail: fmt.Sprintf(format, a...)}
}

// Fail: see Pass.
func Fail(name, format string, a ...any) scenarios.Invariant {
	return scenarios.Invariant{Name: name, OK: false, Detail: fmt.Sprintf(format, a...)}
}

// That is Pass when ok, Fail otherwise, with the same detail.
func That(name string, ok bool, format string, a ...any) scenarios.Invariant {
	return scenarios.Invariant{Name: name, OK: ok, Detail: fmt.Sprintf(format, a...)}
}
