package approval

import (
	"fmt"
	"math"
	"math/rand"
	"time"
)

// Approver actions.
const (
	ActApprove = "approve"
	ActReject  = "reject"
	ActIgnore  = "ignore"
)

// Delay distributions.
const (
	DistUniform     = "uniform"
	DistExponential = "exponential"
	DistFixed       = "fixed"
)

// PlanConfig shapes the simulated approvers.
type PlanConfig struct {
	Chain             bool // the multi-level chain; false: single approval
	Approve, Reject   float64
	Dist              string
	Mean              time.Duration
	Timeout           time.Duration
	Margin            time.Duration
	MinAmount, MaxAmt float64
}

// Check validates c.
func (c PlanConfig) Check() error {
	switch {
	case c.Approve < 0 || c.Reject < 0 || c.Approve+c.Reject > 1:
		return fmt.Errorf("approve %g + reject %g must be within 0..1 (the rest ignore)", c.Approve, c.Reject)
	case c.MinAmount <= 0 || c.MaxAmt < c.MinAmount:
		return fmt.Errorf("amounts %g..%g: need 0 < min <= max", c.MinAmount, c.MaxAmt)
	case c.Timeout <= 2*c.Margin:
		return fmt.Errorf("timeout %s must exceed twice the race margin %s", c.Timeout, c.Margin)
	case c.Timeout <= NotifyRecovery:
		return fmt.Errorf("timeout %s is not longer than the recovery of a lost notification (%s: the notify attempt's %s StartToClose "+
			"plus up to %s before its retry): such a loss would more than double the approver's window; give timeout=%s or more",
			c.Timeout, NotifyRecovery, NotifyStartToClose, NotifyRetryMax, NotifyRecovery+time.Second)
	}
	return nil
}

// LateDelay is where a decision past the window is placed, after the
// notification: beyond the window, the race margin and the recovery of a
// lost notification, so it lands after the level timed out even when the
// workflow learned of the notification NotifyRecovery late.
func (c PlanConfig) LateDelay() time.Duration { return c.Timeout + c.Margin + NotifyRecovery }

// RequestSpan is the longest one request takes the driver: every level
// approved just in time, each notified up to NotifyRecovery late, the last
// one's decision late.
func (c PlanConfig) RequestSpan(levels int) time.Duration {
	return time.Duration(levels-1)*(c.Timeout-c.Margin+NotifyRecovery) + NotifyRecovery + c.LateDelay()
}

// Decision is what one simulated approver does.
type Decision struct {
	Level  string        `json:"level"`
	Action string        `json:"action"`
	Delay  time.Duration `json:"delay"` // after the notification
	// Late: the delay is past the timeout: the signal is sent anyway, after
	// the level timed out, and must change nothing.
	Late bool `json:"late,omitempty"`
}

// Plan is one request's simulated approvers and the outcome they decide.
type Plan struct {
	Amount    float64    `json:"amount"`
	Levels    []string   `json:"levels"`
	Decisions []Decision `json:"decisions"` // up to the deciding level
	Want      Outcome    `json:"want"`      // Status and Level
}

// NewPlan draws request n's amount and approvers from rng. A delay within
// Margin of the timeout would make the outcome a race between the signal
// and the timer (timers fire up to about a second late on a default
// server): such delays are moved past LateDelay, a clear miss even if the
// notification was lost once (see NotifyRecovery).
func NewPlan(c PlanConfig, rng *rand.Rand) Plan {
	lo, hi := math.Log(c.MinAmount), math.Log(c.MaxAmt)
	p := Plan{Amount: math.Round(math.Exp(lo+rng.Float64()*(hi-lo))*100) / 100}
	p.Levels = []string{Approver}
	if c.Chain {
		p.Levels = Levels(p.Amount)
	}
	p.Want = Outcome{Status: StatusApproved}
	for _, l := range p.Levels {
		d := Decision{Level: l, Action: ActIgnore}
		switch u := rng.Float64(); {
		case u < c.Approve:
			d.Action = ActApprove
		case u < c.Approve+c.Reject:
			d.Action = ActReject
		}
		d.Delay = c.draw(rng)
		if d.Action != ActIgnore && d.Delay > c.Timeout-c.Margin {
			d.Delay = max(d.Delay, c.LateDelay())
			d.Late = true
		}
		p.Decisions = append(p.Decisions, d)
		switch {
		case d.Action == ActIgnore || d.Late:
			p.Want = Outcome{Status: StatusTimeout, Level: l}
		case d.Action == ActReject:
			p.Want = Outcome{Status: StatusRejected, Level: l}
		default:
			continue
		}
		break
	}
	return p
}

func (c PlanConfig) draw(rng *rand.Rand) time.Duration {
	switch c.Dist {
	case DistFixed:
		return c.Mean
	case DistExponential:
		return time.Duration(rng.ExpFloat64() * float64(c.Mean))
	}
	return time.Duration(rng.Float64() * 2 * float64(c.Mean))
}
