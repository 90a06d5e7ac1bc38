package degradation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/scenarios/fakes"
)

// Registered names.
const (
	WorkflowName = "squall.degradation.requests"
	ActivityCall = "squall.degradation.call"
)

// Answer sources.
const (
	SourcePrimary   = "primary"
	SourceSecondary = "secondary"
	SourceStatic    = "static"
)

// StaticAnswer is the last fallback (a list of popular items): known in
// the workflow, needing no service.
const StaticAnswer = "popular-items"

// Register adds the workflow and activity to a worker.
func Register(r worker.Registry) {
	r.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	r.RegisterActivityWithOptions(CallActivity, activity.RegisterOptions{Name: ActivityCall})
}

// CallInput is one request to a service.
type CallInput struct {
	URL string `json:"url"`
	Key string `json:"key"`
}

// CallActivity asks one service; any non-2xx answer is an error.
func CallActivity(ctx context.Context, in CallInput) (string, error) {
	rep, err := fakes.Call(ctx, in.URL, in.Key)
	if err != nil {
		return "", err
	}
	return rep.Service + ":" + rep.Key, nil
}

// Input is one iteration: Requests requests, Interval apart, each
// answered through the breaker and the fallback chain.
type Input struct {
	PrimaryURL        string        `json:"primary_url"`
	SecondaryURL      string        `json:"secondary_url"`
	Requests          int           `json:"requests"`
	Interval          time.Duration `json:"interval"`
	Breaker           BreakerConfig `json:"breaker"`
	PrimaryTimeout    time.Duration `json:"primary_timeout"`
	SecondaryTimeout  time.Duration `json:"secondary_timeout"`
	SecondaryAttempts int32         `json:"secondary_attempts"`
}

// Answer is how one request was answered.
type Answer struct {
	Seq    int    `json:"seq"`
	Source string `json:"source"`
	Value  string `json:"value"`
	// At is the decision time (workflow time); State the breaker's state
	// then (after a possible open -> half-open move).
	At           time.Time `json:"at"`
	State        string    `json:"state"`
	PrimaryTried bool      `json:"primary_tried"`
	PrimaryOK    bool      `json:"primary_ok"`
	PrimaryDone  time.Time `json:"primary_done"` // when its outcome was known
	PrimaryErr   string    `json:"primary_err,omitempty"`
	SecondaryErr string    `json:"secondary_err,omitempty"`
	// A call that timed out may still have been answered 200 by the
	// service, too late: the service's log shows it, the workflow did not
	// use it.
	PrimaryTimedOut   bool      `json:"primary_timed_out,omitempty"`
	SecondaryTimedOut bool      `json:"secondary_timed_out,omitempty"`
	Done              time.Time `json:"done"` // answered
}

// Result is an iteration's outcome.
type Result struct {
	Answers     []Answer     `json:"answers"`
	Transitions []Transition `json:"transitions"`
	Final       string       `json:"final"`
}

// Key names request seq of workflow id at the services.
func Key(workflowID string, seq int) string { return fmt.Sprintf("%s/%d", workflowID, seq) }

// Workflow answers in.Requests requests: the primary when the breaker
// allows it and it answers; else the secondary; else the static answer.
// Every request is answered; where the answer came from is recorded.
func Workflow(ctx workflow.Context, in Input) (Result, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	b := NewBreaker(in.Breaker)
	primary := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: in.PrimaryTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1}, // the breaker decides, not retries
	})
	secondary := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: in.SecondaryTimeout,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: in.SecondaryAttempts, InitialInterval: 100 * time.Millisecond,
			BackoffCoefficient: 2},
	})
	var res Result
	for seq := 0; seq < in.Requests; seq++ {
		if seq > 0 && in.Interval > 0 {
			if err := workflow.Sleep(ctx, in.Interval); err != nil {
				return res, err
			}
		}
		key := Key(id, seq)
		a := Answer{Seq: seq, At: workflow.Now(ctx)}
		a.PrimaryTried = b.Allow(a.At, seq)
		a.State = b.State
		if a.PrimaryTried {
			var v string
			err := workflow.ExecuteActivity(primary, ActivityCall, CallInput{URL: in.PrimaryURL, Key: key}).Get(ctx, &v)
			a.PrimaryDone = workflow.Now(ctx)
			if err == nil {
				a.PrimaryOK, a.Source, a.Value = true, SourcePrimary, v
				b.OnSuccess(a.PrimaryDone, seq)
			} else {
				a.PrimaryErr, a.PrimaryTimedOut = err.Error(), isTimeout(err)
				b.OnFailure(a.PrimaryDone, seq)
			}
		}
		if a.Source == "" {
			var v string
			if err := workflow.ExecuteActivity(secondary, ActivityCall, CallInput{URL: in.SecondaryURL, Key: key}).Get(ctx, &v); err == nil {
				a.Source, a.Value = SourceSecondary, v
			} else {
				a.SecondaryErr, a.SecondaryTimedOut = err.Error(), isTimeout(err)
			}
		}
		if a.Source == "" {
			a.Source, a.Value = SourceStatic, StaticAnswer
		}
		a.Done = workflow.Now(ctx)
		res.Answers = append(res.Answers, a)
	}
	res.Transitions, res.Final = b.Transitions, b.State
	return res, nil
}

func isTimeout(err error) bool {
	var te *temporal.TimeoutError
	return errors.As(err, &te)
}

// Replay runs the pure breaker over a workflow's recorded answers (their
// decision times and primary outcomes) and returns the first difference
// between what the rules say and what the live workflow did, or "".
func Replay(cfg BreakerConfig, r Result) string {
	b := NewBreaker(cfg)
	for _, a := range r.Answers {
		tried := b.Allow(a.At, a.Seq)
		if tried != a.PrimaryTried || b.State != a.State {
			return fmt.Sprintf("request %d: rules say state %s, primary tried=%v; workflow recorded %s, tried=%v",
				a.Seq, b.State, tried, a.State, a.PrimaryTried)
		}
		if tried {
			if a.PrimaryOK {
				b.OnSuccess(a.PrimaryDone, a.Seq)
			} else {
				b.OnFailure(a.PrimaryDone, a.Seq)
			}
		}
	}
	if b.State != r.Final || len(b.Transitions) != len(r.Transitions) {
		return fmt.Sprintf("rules end %s after %d transitions; workflow ended %s after %d", b.State, len(b.Transitions), r.Final, len(r.Transitions))
	}
	for i, t := range b.Transitions {
		w := r.Transitions[i]
		if t.From != w.From || t.To != w.To || t.Seq != w.Seq || !t.At.Equal(w.At) {
			return fmt.Sprintf("transition %d: rules %+v, workflow %+v", i, t, w)
		}
	}
	return ""
}
