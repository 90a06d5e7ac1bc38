package degradation

import (
	"fmt"
	"time"
)

// Breaker states.
const (
	Closed   = "closed"
	Open     = "open"
	HalfOpen = "half-open"
)

// BreakerConfig is when a breaker opens, probes and closes.
type BreakerConfig struct {
	// FailureThreshold consecutive primary failures open the breaker.
	FailureThreshold int `json:"failure_threshold"`
	// OpenTimeout after the last failure, an open breaker lets a probe
	// through (half-open).
	OpenTimeout time.Duration `json:"open_timeout"`
	// HalfOpenSuccesses consecutive successful probes close it again; any
	// failed probe reopens it.
	HalfOpenSuccesses int `json:"half_open_successes"`
}

// Check validates c.
func (c BreakerConfig) Check() error {
	if c.FailureThreshold < 1 || c.HalfOpenSuccesses < 1 || c.OpenTimeout <= 0 {
		return fmt.Errorf("breaker %+v: threshold and half-open successes must be >= 1, the open timeout positive", c)
	}
	return nil
}

// Transition is one change of a breaker's state.
type Transition struct {
	At   time.Time `json:"at"`
	From string    `json:"from"`
	To   string    `json:"to"`
	Seq  int       `json:"seq"` // the request during which it happened
}

// Breaker is a circuit breaker as a pure,
// deterministic state machine: the workflow passes workflow time in, so
// it replays identically; the driver replays it on a workflow's recorded
// outcomes to check the live breaker followed its rules.
type Breaker struct {
	Cfg         BreakerConfig `json:"cfg"`
	State       string        `json:"state"`
	Failures    int           `json:"failures"`  // consecutive, while closed
	Successes   int           `json:"successes"` // consecutive probes, while half-open
	LastFailure time.Time     `json:"last_failure"`
	Transitions []Transition  `json:"transitions,omitempty"`
}

// NewBreaker returns a closed breaker.
func NewBreaker(cfg BreakerConfig) *Breaker { return &Breaker{Cfg: cfg, State: Closed} }

func (b *Breaker) move(now time.Time, seq int, to string) {
	b.Transitions = append(b.Transitions, Transition{At: now, From: b.State, To: to, Seq: seq})
	b.State = to
}

// Allow reports whether request seq may try the primary at now, moving an
// open breaker to half-open once its timeout has passed.
func (b *Breaker) Allow(now time.Time, seq int) bool {
	if b.State == Open && now.Sub(b.LastFailure) >= b.Cfg.OpenTimeout {
		b.Successes = 0
		b.move(now, seq, HalfOpen)
	}
	return b.State != Open
}

// OnSuccess records a successful primary call.
func (b *Breaker) OnSuccess(now time.Time, seq int) {
	switch b.State {
	case HalfOpen:
		b.Successes++
		if b.Successes >= b.Cfg.HalfOpenSuccesses {
			b.Failures = 0
			b.move(now, seq, Closed)
		}
	case Closed:
		b.Failures = 0
	}
}

// OnFailure records a failed primary call.
func (b *Breaker) OnFailure(now time.Time, seq int) {
	b.LastFailure = now
	switch b.State {
	case HalfOpen:
		b.move(now, seq, Open)
	case Closed:
		b.Failures++
		if b.Failures >= b.Cfg.FailureThreshold {
			b.move(now, seq, Open)
		}
	}
}
