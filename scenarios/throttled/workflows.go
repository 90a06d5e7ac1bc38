package throttled

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/scenarios/fakes"
)

// Registered names.
const (
	WorkflowCaller  = "squall.throttled.caller"
	WorkflowLimiter = "squall.throttled.limiter"
	ActivityCall    = "squall.throttled.call"

	SignalAcquire = "squall.throttled.acquire"
	SignalRelease = "squall.throttled.release"
	SignalStop    = "squall.throttled.stop"
	SignalGrant   = "squall.throttled.grant"

	// ErrThrottled is the activity error type of a 429 answer.
	ErrThrottled = "Throttled"
)

// Register adds the scenario's workflows and activity to a worker.
func Register(r worker.Registry) {
	r.RegisterWorkflowWithOptions(CallerWorkflow, workflow.RegisterOptions{Name: WorkflowCaller})
	r.RegisterWorkflowWithOptions(LimiterWorkflow, workflow.RegisterOptions{Name: WorkflowLimiter})
	registerActivity(r)
}

func registerActivity(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(CallActivity, activity.RegisterOptions{Name: ActivityCall})
}

// CallInput is one request to the API.
type CallInput struct {
	URL string `json:"url"`
	Key string `json:"key"`
}

// CallReply is the API's answer.
type CallReply struct {
	At      int64 `json:"at"` // arrival at the API, Unix ns
	Attempt int32 `json:"attempt"`
}

// CallActivity sends one request. A 429 is a retryable error of type
// ErrThrottled; a 503 is retryable too.
func CallActivity(ctx context.Context, in CallInput) (CallReply, error) {
	rep, err := fakes.Call(ctx, in.URL, in.Key)
	if err != nil {
		var se *fakes.StatusError
		if errors.As(err, &se) && se.Status == http.StatusTooManyRequests {
			return CallReply{}, temporal.NewApplicationError("API answered 429 Too Many Requests", ErrThrottled)
		}
		return CallReply{}, err
	}
	return CallReply{At: rep.At, Attempt: activity.GetInfo(ctx).Attempt}, nil
}

// CallerInput is one iteration: Calls requests to the API, concurrently.
type CallerInput struct {
	URL   string `json:"url"`
	Calls int    `json:"calls"`
	// Limiter is the limiter workflow's ID; empty: call directly (worker,
	// task-queue and none strategies: the activity's task queue limits).
	Limiter       string        `json:"limiter,omitempty"`
	ActivityQueue string        `json:"activity_queue,omitempty"`
	RetryInterval time.Duration `json:"retry_interval"`
	MaxRetry      time.Duration `json:"max_retry"`
}

// CallStat is what one call of an iteration took.
type CallStat struct {
	Key      string        `json:"key"`
	Wait     time.Duration `json:"wait"`  // waiting for the limiter's grants
	Total    time.Duration `json:"total"` // workflow time from asking to done
	Attempts int           `json:"attempts"`
}

// CallerResult is an iteration's outcome.
type CallerResult struct {
	Calls []CallStat `json:"calls"`
}

// Acquire asks the limiter for a permit for Call; the grant is signalled
// back to Caller.
type Acquire struct {
	Caller string `json:"caller"`
	Call   string `json:"call"`
}

// Release returns Call's permit: the call completed (or failed).
type Release struct {
	Call string `json:"call"`
}

// Key names call i of the iteration workflow id (the API logs it).
func Key(workflowID string, i int) string { return fmt.Sprintf("%s/%d", workflowID, i) }

// callStartToClose bounds one attempt of a call. It is also how long a
// lost attempt (its worker killed, its answer lost) takes to be noticed
// and retried, holding its limiter permit meanwhile; the scenario refuses
// API latencies that come near it and waits longer than it for a
// stopped limiter to drain.
const callStartToClose = 30 * time.Second

// CallerWorkflow makes in.Calls requests concurrently, each through the
// limiter workflow when one is named.
func CallerWorkflow(ctx workflow.Context, in CallerInput) (CallerResult, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	granted := map[string]bool{}
	if in.Limiter != "" {
		ch := workflow.GetSignalChannel(ctx, SignalGrant)
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var call string
				ch.Receive(ctx, &call)
				granted[call] = true
			}
		})
	}
	res := CallerResult{Calls: make([]CallStat, in.Calls)}
	var firstErr error
	wg := workflow.NewWaitGroup(ctx)
	for i := 0; i < in.Calls; i++ {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			st, err := doCall(ctx, in, id, i, granted)
			res.Calls[i] = st
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait(ctx)
	return res, firstErr
}

func doCall(ctx workflow.Context, in CallerInput, id string, i int, granted map[string]bool) (CallStat, error) {
	st := CallStat{Key: Key(id, i)}
	start := workflow.Now(ctx)
	arg := CallInput{URL: in.URL, Key: st.Key}
	ao := workflow.ActivityOptions{
		TaskQueue:           in.ActivityQueue,
		StartToCloseTimeout: callStartToClose,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: in.RetryInterval, BackoffCoefficient: 2,
			MaximumInterval: in.MaxRetry},
	}
	if in.Limiter == "" {
		// The activity's task queue is the limiter (worker or server side);
		// 429s are retried by the retry policy, through the same limits.
		var rep CallReply
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ao), ActivityCall, arg).Get(ctx, &rep)
		st.Total, st.Attempts = workflow.Now(ctx).Sub(start), int(rep.Attempt)
		return st, err
	}
	// Through the limiter: every attempt holds its own permit (a retry
	// without one would be a request the limiter does not know about).
	ao.RetryPolicy = &temporal.RetryPolicy{MaximumAttempts: 1}
	actx := workflow.WithActivityOptions(ctx, ao)
	backoff := in.RetryInterval
	for attempt := 1; ; attempt++ {
		call := fmt.Sprintf("%s#%d", st.Key, attempt)
		t0 := workflow.Now(ctx)
		if err := workflow.SignalExternalWorkflow(ctx, in.Limiter, "", SignalAcquire, Acquire{Caller: id, Call: call}).Get(ctx, nil); err != nil {
			return st, fmt.Errorf("ask limiter %s: %w", in.Limiter, err)
		}
		if err := workflow.Await(ctx, func() bool { return granted[call] }); err != nil {
			return st, err
		}
		delete(granted, call)
		st.Wait += workflow.Now(ctx).Sub(t0)
		st.Attempts = attempt
		err := workflow.ExecuteActivity(actx, ActivityCall, arg).Get(ctx, nil)
		if rerr := workflow.SignalExternalWorkflow(ctx, in.Limiter, "", SignalRelease, Release{Call: call}).Get(ctx, nil); rerr != nil {
			return st, fmt.Errorf("release to limiter %s: %w", in.Limiter, rerr)
		}
		if err == nil {
			st.Total = workflow.Now(ctx).Sub(start)
			return st, nil
		}
		if err := workflow.Sleep(ctx, backoff); err != nil {
			return st, err
		}
		backoff = min(2*backoff, in.MaxRetry)
	}
}

// LimiterInput is the limiter workflow's whole state (carried across
// continue-as-new).
type LimiterInput struct {
	Gate Gate `json:"gate"`
	// Waiters asked for a permit and wait, in order.
	Waiters []Acquire `json:"waiters,omitempty"`
	// Granted calls not yet released, call -> caller.
	Granted  map[string]string `json:"granted,omitempty"`
	Stopping bool              `json:"stopping,omitempty"`
	// MaxEvents: continue as new beyond this history length (or when the
	// server suggests it).
	MaxEvents int `json:"max_events"`
	// MaxGrants > 0: continue as new after this many grants in one run.
	MaxGrants int          `json:"max_grants,omitempty"`
	Stats     LimiterStats `json:"stats"`
}

// LimiterStats are the limiter's own counts over all its runs.
type LimiterStats struct {
	Grants          int64 `json:"grants"`
	Releases        int64 `json:"releases"`
	UnknownReleases int64 `json:"unknown_releases"`
	FailedGrants    int64 `json:"failed_grants"` // the caller was gone; its permit released
	MaxWaiters      int   `json:"max_waiters"`
	Runs            int   `json:"runs"` // this one included (continue-as-new chain length)
}

// LimiterWorkflow is one run's central workflow-side limiter: callers
// signal Acquire and wait for a grant signal, then signal Release. It keeps
// the Gate in workflow state, decides with workflow time and waits with
// workflow timers, so it is deterministic and survives worker restarts.
// It ends after the stop signal once no call is waiting or in flight.
func LimiterWorkflow(ctx workflow.Context, in LimiterInput) (LimiterStats, error) {
	if in.Granted == nil {
		in.Granted = map[string]string{}
	}
	in.Stats.Runs++
	acqCh := workflow.GetSignalChannel(ctx, SignalAcquire)
	relCh := workflow.GetSignalChannel(ctx, SignalRelease)
	stopCh := workflow.GetSignalChannel(ctx, SignalStop)

	onAcquire := func(a Acquire) {
		in.Waiters = append(in.Waiters, a)
		in.Stats.MaxWaiters = max(in.Stats.MaxWaiters, len(in.Waiters))
	}
	onRelease := func(r Release) {
		if _, ok := in.Granted[r.Call]; !ok {
			in.Stats.UnknownReleases++
			return
		}
		delete(in.Granted, r.Call)
		in.Stats.Releases++
		in.Gate.Release(workflow.Now(ctx))
	}
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(acqCh, func(c workflow.ReceiveChannel, _ bool) {
		var a Acquire
		c.Receive(ctx, &a)
		onAcquire(a)
	})
	sel.AddReceive(relCh, func(c workflow.ReceiveChannel, _ bool) {
		var r Release
		c.Receive(ctx, &r)
		onRelease(r)
	})
	sel.AddReceive(stopCh, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		in.Stopping = true
	})

	pending := 0 // grant signals not yet confirmed delivered
	grants := 0  // in this run
	var timer workflow.Future
	var timerAt time.Time
	var cancelTimer workflow.CancelFunc
	for {
		now := workflow.Now(ctx)
		var retryAt time.Time
		for len(in.Waiters) > 0 {
			ok, at := in.Gate.TryAcquire(now)
			if !ok {
				retryAt = at
				break
			}
			w := in.Waiters[0]
			in.Waiters = in.Waiters[1:]
			in.Granted[w.Call] = w.Caller
			in.Stats.Grants++
			grants++
			pending++
			f := workflow.SignalExternalWorkflow(ctx, w.Caller, "", SignalGrant, w.Call)
			sel.AddFuture(f, func(f workflow.Future) {
				pending--
				if err := f.Get(ctx, nil); err != nil {
					// The caller is gone (terminated, timed out): it will
					// never call nor release. Free the permit now.
					if _, ok := in.Granted[w.Call]; ok {
						delete(in.Granted, w.Call)
						in.Stats.FailedGrants++
						in.Gate.Release(workflow.Now(ctx))
					}
				}
			})
		}
		if pending == 0 {
			if in.Stopping && len(in.Waiters) == 0 && len(in.Granted) == 0 {
				return in.Stats, nil
			}
			info := workflow.GetInfo(ctx)
			if info.GetContinueAsNewSuggested() || (in.MaxEvents > 0 && info.GetCurrentHistoryLength() >= in.MaxEvents) ||
				(in.MaxGrants > 0 && grants >= in.MaxGrants) {
				// Take every signal already delivered into the state; the
				// server refuses to close the run if more arrive meanwhile,
				// and the SDK then replays with them.
				for {
					var a Acquire
					if !acqCh.ReceiveAsync(&a) {
						break
					}
					onAcquire(a)
				}
				for {
					var r Release
					if !relCh.ReceiveAsync(&r) {
						break
					}
					onRelease(r)
				}
				if stopCh.ReceiveAsync(nil) {
					in.Stopping = true
				}
				return LimiterStats{}, workflow.NewContinueAsNewError(ctx, WorkflowLimiter, in)
			}
		}
		// Wake up when time alone may allow the next grant. Keep an earlier
		// timer (it fires, the loop re-checks); replace a later one.
		if !retryAt.IsZero() && (timer == nil || timerAt.After(retryAt.Add(time.Millisecond))) {
			if cancelTimer != nil {
				cancelTimer()
			}
			tctx, cancel := workflow.WithCancel(ctx)
			d := max(retryAt.Sub(now), time.Millisecond)
			t := workflow.NewTimer(tctx, d)
			timer, timerAt, cancelTimer = t, retryAt, cancel
			sel.AddFuture(t, func(workflow.Future) {
				if timer == t {
					timer, cancelTimer = nil, nil
				}
			})
		}
		sel.Select(ctx)
	}
}
