package approval

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
	WorkflowSingle   = "squall.approval.single"
	WorkflowChain    = "squall.approval.chain"
	ActivityValidate = "squall.approval.validate"
	ActivityNotify   = "squall.approval.notify"
	ActivityExecute  = "squall.approval.execute"

	// Single approval (section 9.7.1).
	SignalApprove = "approve"
	SignalReject  = "reject"
	QueryStatus   = "get_status"
	// Chain (section 9.7.2).
	SignalApproveStep = "approve_step"
	SignalRejectStep  = "reject_step"
	QueryChainStatus  = "get_approval_status"
)

// Outcomes.
const (
	StatusApproved = "approved"
	StatusRejected = "rejected"
	StatusTimeout  = "timeout"
)

// Approval levels.
const (
	Manager  = "manager"
	Director = "director"
	VP       = "vp"
	CEO      = "ceo"
	// Approver is the single approval's one level.
	Approver = "approver"
)

// Levels returns the chain for amount: manager below 10,000, director
// below 100,000, VP below 1,000,000, CEO from there.
func Levels(amount float64) []string {
	switch {
	case amount < 10_000:
		return []string{Manager}
	case amount < 100_000:
		return []string{Manager, Director}
	case amount < 1_000_000:
		return []string{Manager, Director, VP}
	}
	return []string{Manager, Director, VP, CEO}
}

// Register adds the workflows and activities to a worker.
func Register(r worker.Registry) {
	r.RegisterWorkflowWithOptions(SingleWorkflow, workflow.RegisterOptions{Name: WorkflowSingle})
	r.RegisterWorkflowWithOptions(ChainWorkflow, workflow.RegisterOptions{Name: WorkflowChain})
	r.RegisterActivityWithOptions(Validate, activity.RegisterOptions{Name: ActivityValidate})
	r.RegisterActivityWithOptions(Notify, activity.RegisterOptions{Name: ActivityNotify})
	r.RegisterActivityWithOptions(Execute, activity.RegisterOptions{Name: ActivityExecute})
}

// Request is what needs approval.
type Request struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount"`
	// NotifyURL receives one request per approver asked (key
	// "<workflow id>/notify/<level>"); ActionsURL one per executed
	// approved action (key "<workflow id>/execute").
	NotifyURL  string `json:"notify_url"`
	ActionsURL string `json:"actions_url"`
}

// Input is one approval workflow's input.
type Input struct {
	Request Request `json:"request"`
	// Timeout per approval step (in production typically 7 days for a
	// single approval, 24 h a level; runs use seconds).
	Timeout time.Duration `json:"timeout"`
}

// Validation is the validate activity's answer.
type Validation struct {
	Valid  bool   `json:"valid"`
	Reason string `json:"reason,omitempty"`
}

// Validate checks the request (a positive amount).
func Validate(_ context.Context, r Request) (Validation, error) {
	if r.Amount <= 0 {
		return Validation{Reason: "amount must be positive"}, nil
	}
	return Validation{Valid: true}, nil
}

// NotifyInput names the approver to notify.
type NotifyInput struct {
	URL   string `json:"url"`
	Key   string `json:"key"`
	Level string `json:"level"`
}

// Notify sends an approval request to an approver (the fake notification
// service; the driver's simulated approver reacts to it).
func Notify(ctx context.Context, in NotifyInput) error {
	_, err := fakes.Call(ctx, in.URL, in.Key)
	return err
}

// Execute performs the approved action (recorded by the fake actions
// service: the invariant "executed only if approved" reads its log).
func Execute(ctx context.Context, in NotifyInput) (string, error) {
	rep, err := fakes.Call(ctx, in.URL, in.Key)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("executed at %d", rep.At), nil
}

// NotifyKey and ExecuteKey are the keys the fake services log.
func NotifyKey(workflowID, level string) string { return workflowID + "/notify/" + level }

// ExecuteKey names a workflow's executed action.
func ExecuteKey(workflowID string) string { return workflowID + "/execute" }

// Outcome is an approval workflow's result.
type Outcome struct {
	Status string `json:"status"`
	Level  string `json:"level,omitempty"` // where it was rejected or timed out
	Reason string `json:"reason,omitempty"`
	// Chain: who approved each level, when.
	Chain  []StepRecord `json:"chain,omitempty"`
	Result string       `json:"result,omitempty"`
}

// StepRecord is one approved level.
type StepRecord struct {
	Level      string    `json:"level"`
	ApprovedBy string    `json:"approved_by"`
	ApprovedAt time.Time `json:"approved_at"`
}

// A lost notification and the approval window.
//
// The window of a level starts when the workflow learns the approver was
// notified: when the notify activity's completion is recorded. The
// approver may learn of it earlier: an attempt whose request reached the
// notification service but whose answer or completion was lost (its
// worker killed, the server restarting) ends only by its StartToClose
// timeout, and the retry's success is what the workflow sees. Decisions
// that arrive meanwhile are taken (the level is already current), so the
// rule is:
//
//   - an approver always gets at least the full window after the
//     notification reached them; a lost notification lengthens it by at
//     most NotifyRecovery, never shortens it;
//   - NotifyRecovery is kept small against the window (a notification is
//     one quick call: StartToClose NotifyStartToClose, retries at most
//     NotifyRetryMax apart), and windows not longer than it are refused;
//   - whoever judges outcomes (the scenario's simulated approvers) counts a
//     decision as on time only within the window minus the race margin,
//     and as late only past the window plus the race margin plus
//     NotifyRecovery.
const (
	NotifyStartToClose = 5 * time.Second
	NotifyRetryMax     = time.Second
	// NotifyRecovery is the longest an approver may know of a request
	// before the workflow does (one lost attempt, then its retry).
	NotifyRecovery = NotifyStartToClose + NotifyRetryMax
)

// awaitDecision waits up to the window for decided, as
// workflow.AwaitWithTimeout does, with one difference that faults expose:
// a decision the server recorded inside the window can reach the workflow
// in the same workflow task as the window's timer (the worker was cut off
// while both came in: measured under a partition, the signal 11 s into a
// 20 s window, the task started 7 s after the window closed).
// AwaitWithTimeout then judges the timer before the signal handlers have
// run, and the decision is lost to a timeout. So a timeout is judged only
// after yielding once: the handlers take what that task delivered, and a
// decision delivered with the timer counts. (A decision recorded just
// after the window closed but delivered in the same task counts too: the
// race margin of the oracle covers it.)
func awaitDecision(ctx workflow.Context, window time.Duration, decided func() bool) (bool, error) {
	ok, err := workflow.AwaitWithTimeout(ctx, window, decided)
	if ok || err != nil {
		return ok, err
	}
	yielded := false
	if err := workflow.Await(ctx, func() bool { y := yielded; yielded = true; return y }); err != nil {
		return false, err
	}
	return decided(), nil
}

// activityCtx is every activity's options: each is one quick call, so
// the notification's short timeout suits them all (a lost execute is then
// retried as soon, too).
func activityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: NotifyStartToClose,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaximumInterval: NotifyRetryMax},
	})
}

// SingleStatus is the single approval's query answer.
type SingleStatus struct {
	Approved        bool   `json:"approved"`
	Rejected        bool   `json:"rejected"`
	RejectionReason string `json:"rejection_reason,omitempty"`
	Waiting         bool   `json:"waiting"`
}

// SingleWorkflow is a manual approval: validate, ask, wait for
// approve or reject (or time out), execute if approved.
func SingleWorkflow(ctx workflow.Context, in Input) (Outcome, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	var approved bool
	var rejection *string
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (SingleStatus, error) {
		s := SingleStatus{Approved: approved, Rejected: rejection != nil, Waiting: !approved && rejection == nil}
		if rejection != nil {
			s.RejectionReason = *rejection
		}
		return s, nil
	}); err != nil {
		return Outcome{}, err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, SignalApprove)
		for {
			var by string
			ch.Receive(ctx, &by)
			if rejection == nil {
				approved = true
			}
		}
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, SignalReject)
		for {
			var reason string
			ch.Receive(ctx, &reason)
			if !approved && rejection == nil {
				rejection = &reason
			}
		}
	})
	// Decisions by update: validated (one decision, only while the request
	// is open) and answered with the outcome at once. Registering the
	// handler adds no command, so histories of the signal variant replay.
	closed := false
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide, func(ctx workflow.Context, d DecideUpdate) (DecideResult, error) {
		if d.Approve {
			approved = true
			return DecideResult{Level: Approver, Status: StatusApproved}, nil
		}
		reason := d.Reason
		rejection = &reason
		return DecideResult{Level: Approver, Status: StatusRejected}, nil
	}, workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, d DecideUpdate) error {
		switch {
		case closed:
			return errors.New("request closed")
		case d.Level != Approver:
			return fmt.Errorf("wrong level %q: this request waits for %q", d.Level, Approver)
		case approved || rejection != nil:
			return errors.New("already decided")
		}
		return nil
	}}); err != nil {
		return Outcome{}, err
	}
	actx := activityCtx(ctx)
	var v Validation
	if err := workflow.ExecuteActivity(actx, ActivityValidate, in.Request).Get(ctx, &v); err != nil {
		return Outcome{}, err
	}
	if !v.Valid {
		return Outcome{Status: StatusRejected, Reason: "validation_failed: " + v.Reason}, nil
	}
	if err := workflow.ExecuteActivity(actx, ActivityNotify,
		NotifyInput{URL: in.Request.NotifyURL, Key: NotifyKey(id, Approver), Level: Approver}).Get(ctx, nil); err != nil {
		return Outcome{}, err
	}
	ok, err := awaitDecision(ctx, in.Timeout, func() bool { return approved || rejection != nil })
	if err != nil {
		return Outcome{}, err
	}
	closed = true
	if !ok {
		return Outcome{Status: StatusTimeout, Level: Approver, Reason: fmt.Sprintf("no decision within %s", in.Timeout)}, nil
	}
	if rejection != nil {
		return Outcome{Status: StatusRejected, Level: Approver, Reason: *rejection}, nil
	}
	var res string
	if err := workflow.ExecuteActivity(actx, ActivityExecute,
		NotifyInput{URL: in.Request.ActionsURL, Key: ExecuteKey(id)}).Get(ctx, &res); err != nil {
		return Outcome{}, err
	}
	return Outcome{Status: StatusApproved, Result: res}, nil
}

// UpdateDecide is the decision by update (via=update): one name for both
// modes, the level in the payload.
const UpdateDecide = "decide"

// DecideUpdate is an approver's decision sent as an update.
type DecideUpdate struct {
	Level    string `json:"level"`
	Approve  bool   `json:"approve"`
	Approver string `json:"approver,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// DecideResult is the decision's outcome, returned synchronously: the
// level and its status after the decision.
type DecideResult struct {
	Level  string `json:"level"`
	Status string `json:"status"`
}

// StepSignal approves or rejects one level of a chain.
type StepSignal struct {
	Level    string `json:"level"`
	Approver string `json:"approver,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// StepStatus is one level in the chain's query answer.
type StepStatus struct {
	Level    string `json:"level"`
	Approved bool   `json:"approved"`
	Rejected bool   `json:"rejected"`
	Pending  bool   `json:"pending"`
}

// ChainStatus is the chain's query answer.
type ChainStatus struct {
	CurrentStep int          `json:"current_step"`
	TotalSteps  int          `json:"total_steps"`
	Steps       []StepStatus `json:"steps"`
}

type step struct {
	level      string
	approvedBy string
	approvedAt time.Time
	rejected   bool
	reason     string
}

// ChainWorkflow is a multi-step approval: the chain's length
// depends on the amount; each level is notified in turn and must approve
// within the timeout; a rejection or a timeout ends it.
func ChainWorkflow(ctx workflow.Context, in Input) (Outcome, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	var chain []*step
	for _, l := range Levels(in.Request.Amount) {
		chain = append(chain, &step{level: l})
	}
	current := 0
	if err := workflow.SetQueryHandler(ctx, QueryChainStatus, func() (ChainStatus, error) {
		s := ChainStatus{CurrentStep: current, TotalSteps: len(chain)}
		for _, st := range chain {
			s.Steps = append(s.Steps, StepStatus{Level: st.level, Approved: st.approvedBy != "", Rejected: st.rejected,
				Pending: st.approvedBy == "" && !st.rejected})
		}
		return s, nil
	}); err != nil {
		return Outcome{}, err
	}
	// Signals act on the current step only, and only once (the first
	// decision of a level stands).
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, SignalApproveStep)
		for {
			var s StepSignal
			ch.Receive(ctx, &s)
			if st := chain[current]; st.level == s.Level && st.approvedBy == "" && !st.rejected {
				st.approvedBy, st.approvedAt = s.Approver, workflow.Now(ctx)
			}
		}
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, SignalRejectStep)
		for {
			var s StepSignal
			ch.Receive(ctx, &s)
			if st := chain[current]; st.level == s.Level && st.approvedBy == "" && !st.rejected {
				st.rejected, st.reason = true, s.Reason
			}
		}
	})
	// Decisions by update: validated (the current level only, once, while
	// the request is open) and answered with the level's outcome at once.
	closed := false
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide, func(ctx workflow.Context, d DecideUpdate) (DecideResult, error) {
		st := chain[current]
		if d.Approve {
			st.approvedBy, st.approvedAt = d.Approver, workflow.Now(ctx)
			return DecideResult{Level: st.level, Status: StatusApproved}, nil
		}
		st.rejected, st.reason = true, d.Reason
		return DecideResult{Level: st.level, Status: StatusRejected}, nil
	}, workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, d DecideUpdate) error {
		st := chain[current]
		switch {
		case closed:
			return errors.New("request closed")
		case d.Level != st.level:
			return fmt.Errorf("wrong level %q: this request waits for %q", d.Level, st.level)
		case st.approvedBy != "" || st.rejected:
			return errors.New("already decided")
		}
		return nil
	}}); err != nil {
		return Outcome{}, err
	}
	actx := activityCtx(ctx)
	for i, st := range chain {
		current = i
		if err := workflow.ExecuteActivity(actx, ActivityNotify,
			NotifyInput{URL: in.Request.NotifyURL, Key: NotifyKey(id, st.level), Level: st.level}).Get(ctx, nil); err != nil {
			return Outcome{}, err
		}
		ok, err := awaitDecision(ctx, in.Timeout, func() bool { return st.approvedBy != "" || st.rejected })
		if err != nil {
			return Outcome{}, err
		}
		closed = !ok || st.rejected || i == len(chain)-1
		if !ok {
			return Outcome{Status: StatusTimeout, Level: st.level, Reason: "approval_timeout"}, nil
		}
		if st.rejected {
			return Outcome{Status: StatusRejected, Level: st.level, Reason: st.reason}, nil
		}
	}
	var res string
	if err := workflow.ExecuteActivity(actx, ActivityExecute, NotifyInput{URL: in.Request.ActionsURL, Key: ExecuteKey(id)}).Get(ctx, &res); err != nil {
		return Outcome{}, err
	}
	out := Outcome{Status: StatusApproved, Result: res}
	for _, st := range chain {
		out.Chain = append(out.Chain, StepRecord{Level: st.level, ApprovedBy: st.approvedBy, ApprovedAt: st.approvedAt})
	}
	return out, nil
}
