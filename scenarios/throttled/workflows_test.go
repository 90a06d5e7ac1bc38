package throttled

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// grantLog records the limiter's grant signals (mocked external signals)
// in workflow time.
type grantLog struct {
	mu     sync.Mutex
	env    *testsuite.TestWorkflowEnvironment
	grants map[string]time.Duration // call -> offset from start
	start  time.Time
}

func (g *grantLog) record(_ string, _ string, _ string, _ string, arg any) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.grants[arg.(string)] = g.env.Now().Sub(g.start)
	return nil
}

func TestLimiterWorkflowGrantsBySlidingWindow(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(LimiterWorkflow, workflow.RegisterOptions{Name: WorkflowLimiter})
	gl := &grantLog{env: env, grants: map[string]time.Duration{}, start: env.Now()}
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", SignalGrant, mock.Anything).Return(gl.record)

	g, err := NewGate(KindSlidingWindow, 2, 10*time.Second, 0, 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// Five callers ask at once; two are granted at once, each release at
	// +1s lets one more in at +11s (a window after the completion).
	env.RegisterDelayedCallback(func() {
		for _, c := range []string{"a", "b", "c", "d", "e"} {
			env.SignalWorkflow(SignalAcquire, Acquire{Caller: "caller-" + c, Call: c})
		}
	}, time.Millisecond)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalRelease, Release{Call: "a"})
		env.SignalWorkflow(SignalRelease, Release{Call: "b"})
		env.SignalWorkflow(SignalRelease, Release{Call: "nobody"})
	}, time.Second)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalRelease, Release{Call: "c"})
		env.SignalWorkflow(SignalRelease, Release{Call: "d"})
		env.SignalWorkflow(SignalStop, nil)
	}, 12*time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalRelease, Release{Call: "e"}) }, 30*time.Second)
	env.ExecuteWorkflow(WorkflowLimiter, LimiterInput{Gate: g})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("limiter did not complete: %v", env.GetWorkflowError())
	}
	var st LimiterStats
	if err := env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	if st.Grants != 5 || st.Releases != 5 || st.UnknownReleases != 1 || st.MaxWaiters != 3 {
		t.Errorf("stats %+v", st)
	}
	want := map[string]time.Duration{"a": 0, "b": 0, "c": 11 * time.Second, "d": 11 * time.Second, "e": 22 * time.Second}
	for c, w := range want {
		got, ok := gl.grants[c]
		// Workflow time starts at the first task; grants within 100 ms of
		// the due time (the signals themselves arrive at +1 ms, +1 s...).
		if !ok || got < w || got > w+100*time.Millisecond {
			t.Errorf("grant of %s at %v (granted %v), want %v", c, got, ok, w)
		}
	}
	// It stopped only after e's release (+30 s), not at the stop (+12 s).
	if d := env.Now().Sub(gl.start); d < 30*time.Second {
		t.Errorf("limiter ended at +%s, before the last release", d)
	}
}

func TestLimiterWorkflowContinuesAsNewWithItsState(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(LimiterWorkflow, workflow.RegisterOptions{Name: WorkflowLimiter})
	gl := &grantLog{env: env, grants: map[string]time.Duration{}, start: env.Now()}
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", SignalGrant, mock.Anything).Return(gl.record)
	g, _ := NewGate(KindSemaphore, 4, 4*time.Second, 1, 0, time.Time{})
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalAcquire, Acquire{Caller: "x", Call: "1"})
		env.SignalWorkflow(SignalAcquire, Acquire{Caller: "y", Call: "2"})
	}, time.Millisecond)
	env.ExecuteWorkflow(WorkflowLimiter, LimiterInput{Gate: g, MaxGrants: 1})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new after one grant, got %v", err)
	}
	var next LimiterInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	// The state travels: one granted (the only permit), one waiting.
	if len(next.Granted) != 1 || next.Granted["1"] != "x" || len(next.Waiters) != 1 || next.Waiters[0].Call != "2" ||
		next.Gate.InFlight != 1 || next.Stats.Grants != 1 || next.Stats.Runs != 1 {
		t.Errorf("carried state %+v", next)
	}
}

func TestCallerWorkflowDirectRetriesThrottledCalls(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(CallerWorkflow, workflow.RegisterOptions{Name: WorkflowCaller})
	var mu sync.Mutex
	attempts := map[string]int{}
	env.RegisterActivityWithOptions(func(ctx context.Context, in CallInput) (CallReply, error) {
		mu.Lock()
		attempts[in.Key]++
		n := attempts[in.Key]
		mu.Unlock()
		if n < 3 {
			return CallReply{}, temporal.NewApplicationError("429", ErrThrottled)
		}
		return CallReply{Attempt: activity.GetInfo(ctx).Attempt}, nil
	}, activity.RegisterOptions{Name: ActivityCall})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "it-1"})
	env.ExecuteWorkflow(WorkflowCaller, CallerInput{URL: "http://x", Calls: 3, RetryInterval: time.Second, MaxRetry: 4 * time.Second})
	var res CallerResult
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(res.Calls) != 3 {
		t.Fatalf("%d calls", len(res.Calls))
	}
	for i, c := range res.Calls {
		if c.Key != Key("it-1", i) || c.Attempts != 3 || c.Total < 3*time.Second {
			t.Errorf("call %d: %+v: want key %s, 3 attempts, >= 1s+2s of backoff", i, c, Key("it-1", i))
		}
	}
}

// Through the limiter: every attempt asks for its own permit and returns
// it, a failed attempt included.
func TestCallerWorkflowThroughLimiter(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(CallerWorkflow, workflow.RegisterOptions{Name: WorkflowCaller})
	var mu sync.Mutex
	var acquired, released []string
	calls := 0
	env.RegisterActivityWithOptions(func(ctx context.Context, in CallInput) (CallReply, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return CallReply{}, errors.New("503")
		}
		return CallReply{Attempt: activity.GetInfo(ctx).Attempt}, nil
	}, activity.RegisterOptions{Name: ActivityCall})
	env.OnSignalExternalWorkflow(mock.Anything, "lim", "", SignalAcquire, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			a := arg.(Acquire)
			mu.Lock()
			acquired = append(acquired, a.Call)
			mu.Unlock()
			if a.Caller != "it-2" {
				t.Errorf("acquire from %q", a.Caller)
			}
			// Granted two seconds later.
			env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalGrant, a.Call) }, 2*time.Second)
			return nil
		})
	env.OnSignalExternalWorkflow(mock.Anything, "lim", "", SignalRelease, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			mu.Lock()
			released = append(released, arg.(Release).Call)
			mu.Unlock()
			return nil
		})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "it-2"})
	env.ExecuteWorkflow(WorkflowCaller, CallerInput{URL: "http://x", Calls: 1, Limiter: "lim", RetryInterval: time.Second, MaxRetry: time.Second})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res CallerResult
	_ = env.GetWorkflowResult(&res)
	want := []string{"it-2/0#1", "it-2/0#2"}
	if len(acquired) != 2 || acquired[0] != want[0] || acquired[1] != want[1] || len(released) != 2 || released[1] != want[1] {
		t.Errorf("acquired %v released %v, want %v both", acquired, released, want)
	}
	if c := res.Calls[0]; c.Attempts != 2 || c.Wait < 4*time.Second {
		t.Errorf("call %+v: want 2 attempts and two 2 s waits", c)
	}
}
