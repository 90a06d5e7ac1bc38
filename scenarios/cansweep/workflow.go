package cansweep

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Names the sweep workflow and its activity are registered under.
const (
	WorkflowName = "squall.can-sweep"
	ActivityName = "squall.can-sweep.step"
	SignalProbe  = "probe"
	QueryPhase   = "phase"
)

// StepTimeout is the start-to-close timeout of every activity: an attempt
// lost on the way is retried only once it expires.
const StepTimeout = time.Minute

// Phases of a sweep workflow, as its query reports them.
const (
	PhaseBuilding = "building"
	PhaseBuilt    = "built" // waiting for the probe signal
	PhaseProbing  = "probing"
)

// Input configures one sweep workflow.
type Input struct {
	// Target: build the history until it is at least this long (events),
	// then wait for the probe signal.
	Target int `json:"target"`
	// Batch activities run in parallel per step while building (1: a plain
	// loop of activities).
	Batch int `json:"batch"`
	// Payload bytes go into every activity's input and come back as its result.
	Payload int `json:"payload"`
	// Probes: sequential activities after the probe signal; the workflow
	// task after each is the measured one.
	Probes int `json:"probes"`
}

// Progress is what the phase query returns.
type Progress struct {
	Phase  string `json:"phase"`
	Length int    `json:"length"`
	Bytes  int    `json:"bytes"`
}

// Result is what a sweep workflow saw of its own history.
type Result struct {
	// BuiltLength/BuiltBytes: the history when the probe signal arrived.
	BuiltLength int `json:"built_length"`
	BuiltBytes  int `json:"built_bytes"`
	// Suggested*: the first workflow task in which the server suggested
	// continue-as-new (GetContinueAsNewSuggested), 0 if it never did.
	SuggestedAtLength int      `json:"suggested_at_length"`
	SuggestedAtBytes  int      `json:"suggested_at_bytes"`
	SuggestedReasons  []string `json:"suggested_reasons,omitempty"`
	// FinalLength is the history length at the last workflow task.
	FinalLength int `json:"final_length"`
}

// Register adds the sweep workflow and its activity to a worker.
func Register(r worker.Registry) {
	r.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	r.RegisterActivityWithOptions(Step, activity.RegisterOptions{Name: ActivityName})
}

// Step echoes its payload: the history gets the bytes twice (input and
// result), as real activities carry data both ways.
func Step(_ context.Context, payload []byte) ([]byte, error) { return payload, nil }

// Workflow builds a history of the requested length out of activities,
// records when the server suggested continue-as-new, waits for the probe
// signal and then runs Probes activities one after another: the driver
// measures the workflow tasks that follow them (on a worker without a
// sticky cache, each is a full replay of the whole history).
func Workflow(ctx workflow.Context, in Input) (Result, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: StepTimeout})
	var res Result
	prog := Progress{Phase: PhaseBuilding}
	if err := workflow.SetQueryHandler(ctx, QueryPhase, func() (Progress, error) { return prog, nil }); err != nil {
		return res, err
	}
	payload := make([]byte, in.Payload)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	observe := func() {
		info := workflow.GetInfo(ctx)
		prog.Length, prog.Bytes = info.GetCurrentHistoryLength(), info.GetCurrentHistorySize()
		res.FinalLength = prog.Length
		if res.SuggestedAtLength == 0 && info.GetContinueAsNewSuggested() {
			res.SuggestedAtLength, res.SuggestedAtBytes = prog.Length, prog.Bytes
			for _, r := range info.GetContinueAsNewSuggestedReasons() {
				res.SuggestedReasons = append(res.SuggestedReasons, reasonName(r))
			}
		}
	}
	batch := max(in.Batch, 1)

	// Build.
	for {
		observe()
		if prog.Length >= in.Target {
			break
		}
		futs := make([]workflow.Future, batch)
		for i := range futs {
			futs[i] = workflow.ExecuteActivity(ctx, ActivityName, payload)
		}
		for _, f := range futs {
			if err := f.Get(ctx, nil); err != nil {
				return res, err
			}
			observe() // most tasks of a batch pass here: see the suggestion early
		}
	}

	// Wait for the driver to switch to the worker without a sticky cache.
	prog.Phase = PhaseBuilt
	workflow.GetSignalChannel(ctx, SignalProbe).Receive(ctx, nil)
	observe()
	res.BuiltLength, res.BuiltBytes = prog.Length, prog.Bytes

	// Probe.
	prog.Phase = PhaseProbing
	for range in.Probes {
		if err := workflow.ExecuteActivity(ctx, ActivityName, payload[:min(len(payload), 16)]).Get(ctx, nil); err != nil {
			return res, err
		}
		observe()
	}
	return res, nil
}

func reasonName(r workflow.ContinueAsNewSuggestedReason) string {
	switch r {
	case workflow.ContinueAsNewSuggestedReasonHistorySizeTooLarge:
		return "history-size"
	case workflow.ContinueAsNewSuggestedReasonTooManyHistoryEvents:
		return "history-events"
	case workflow.ContinueAsNewSuggestedReasonTooManyUpdates:
		return "updates"
	default:
		return "unspecified"
	}
}
