package approval

import (
	"context"
	"errors"
	"math/rand"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/scenarios"
)

// lostNotifyEnv is the approval workflow with a notification service that
// delivers the first attempt to the approver and then loses it: no
// answer and no failure, as when the worker or the server goes away after
// the request went out. Only the attempt's StartToClose ends it; the
// retry gets through.
func lostNotifyEnv(t *testing.T, attempts *atomic.Int32) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(SingleWorkflow, workflow.RegisterOptions{Name: WorkflowSingle})
	env.RegisterActivityWithOptions(Validate, activity.RegisterOptions{Name: ActivityValidate})
	env.RegisterActivityWithOptions(func(ctx context.Context, _ NotifyInput) error {
		if attempts.Add(1) > 1 {
			return nil
		}
		// Delivered, then lost: nothing comes back until the attempt's
		// StartToClose. (The test environment does not retry an attempt
		// that reached its deadline, as the server does, so the attempt
		// ends a moment before it, with a retryable error, which is the
		// same to the workflow.)
		dl, _ := ctx.Deadline()
		select {
		case <-time.After(time.Until(dl) - 50*time.Millisecond):
		case <-ctx.Done():
		}
		return errors.New("notification attempt lost")
	}, activity.RegisterOptions{Name: ActivityNotify})
	// The test environment's clock follows the wall clock only while a
	// timer is due; this one makes the lost attempt's time pass on the
	// workflow's clock too.
	env.RegisterDelayedCallback(func() {}, NotifyStartToClose-100*time.Millisecond)
	env.SetActivityTimeoutGracePeriod(time.Minute)
	env.RegisterActivityWithOptions(func(context.Context, NotifyInput) (string, error) { return "done", nil },
		activity.RegisterOptions{Name: ActivityExecute})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "lost-notify"})
	env.SetTestTimeout(time.Minute) // the lost attempt is waited out on the wall clock
	return env
}

// lostNotifyCase plays one approver whose notification was lost once:
// the plan (the oracle of the load scenario) decides when it signals and
// what the outcome must be; the workflow must end that way.
func lostNotifyCase(t *testing.T, mean time.Duration) {
	t.Parallel()
	cfg := PlanConfig{Approve: 1, Dist: DistFixed, Mean: mean, Timeout: 10 * time.Second, Margin: 2 * time.Second,
		MinAmount: 1000, MaxAmt: 1000}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	p := NewPlan(cfg, rand.New(rand.NewSource(1)))
	dec := p.Decisions[0]
	var attempts atomic.Int32
	env := lostNotifyEnv(t, &attempts)
	// The first attempt reaches the approver at once (the workflow starts
	// at 0 and validates in no time): its clock starts there.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalApprove, "sim") }, dec.Delay)
	began := time.Now()
	env.ExecuteWorkflow(WorkflowSingle, Input{Request: Request{ID: "lost-notify", Amount: p.Amount}, Timeout: cfg.Timeout})
	o := outcome(t, env)
	if n := attempts.Load(); n != 2 {
		t.Fatalf("%d notify attempts, want the lost one and its retry", n)
	}
	if o.Status != p.Want.Status {
		t.Errorf("approver decided %s after %s (late %v): the workflow ended %s, the oracle says %s", dec.Action, dec.Delay, dec.Late, o.Status, p.Want.Status)
	}
	// The lost attempt is waited out in real time (the test environment
	// times activities by the wall clock): it must be as short as the rule says.
	if took := time.Since(began); took > NotifyRecovery+5*time.Second {
		t.Errorf("the lost notification took %s to recover, NotifyRecovery is %s", took.Round(time.Millisecond), NotifyRecovery)
	}
}

// A late approver whose notification was lost once: the workflow learned
// of the notification up to NotifyRecovery after the approver did, and
// still timed out before the late decision arrived. (With the notify's
// StartToClose above the window, the decision landed while the lost
// attempt was still pending and approved a request the oracle timed out.)
func TestLostNotificationLateApproverTimesOut(t *testing.T) {
	lostNotifyCase(t, 10*time.Second) // in the race band: moved past LateDelay
}

// An on-time approver whose notification was lost once decides while the
// workflow still waits for the notify retry: the decision stands (a lost
// notification never shortens an approver's window).
func TestLostNotificationOnTimeApproverIsHonoured(t *testing.T) {
	lostNotifyCase(t, time.Second)
}

// The driver's deadlines that depend on the recovery of a lost
// notification stay above it.
func TestDeadlinesAboveNotifyRecovery(t *testing.T) {
	if queryWait < 2*NotifyRecovery {
		t.Errorf("queryWait %s: a decision taken during a lost notification shows up to %s later", queryWait, NotifyRecovery)
	}
	if NotifyStartToClose >= 10*time.Second {
		t.Errorf("notify StartToClose %s is not well below the default window", NotifyStartToClose)
	}
}

// The plain invocation's grace lets the longest request of the default
// options finish (every level approved just in time, notified late, the
// last one decided late).
func TestDefaultGraceCoversLongestRequest(t *testing.T) {
	s, ok := scenarios.Get(Name)
	if !ok {
		t.Fatal("approval is not registered")
	}
	vals, err := s.ParseOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if span := planConfig(vals).RequestSpan(len(Levels(1e9))); span > s.Defaults.Grace {
		t.Errorf("a request may take %s, the default grace is %s", span, s.Defaults.Grace)
	}
}
