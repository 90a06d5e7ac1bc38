package throttled

import (
	"fmt"
	"time"
)

// Workflow-side limiter kinds: one central limiter workflow grants permits.
const (
	KindSemaphore     = "semaphore"
	KindTokenBucket   = "token-bucket"
	KindSlidingWindow = "sliding-window"
)

// Gate is the state of a workflow-side limiter guarding an API that allows
// at most Limit requests in any window of Window. It is pure and
// deterministic: every method takes the current (workflow) time, nothing
// reads a clock, so the limiter workflow may keep it in its state and carry
// it across continue-as-new.
//
// All three kinds count a call as "in flight" from its grant until its
// completion is reported (Release), and compute their guarantee from that,
// because what the API counts is the arrival of the request, which happens
// at some unknown point between the grant and the completion (the activity
// may be dispatched late, or retried). A limiter that counts grants
// only lets a burst of delayed dispatches land in one window of the
// API; these versions provably cannot overrun it:
//
//   - sliding-window: a call keeps its slot until Window after its
//     completion. At any grant, every call whose request can arrive in the
//     same window as the new one is still counted, so at most Limit arrive
//     in any window.
//   - semaphore: Permits concurrent calls;
//     a permit returns Hold = Window/floor(Limit/Permits) after the call's
//     completion, so one permit's requests arrive at least Hold apart, at
//     most floor(Limit/Permits) per window, at most Limit for all permits.
//     Without the hold a semaphore bounds concurrency, not rate.
//   - token-bucket: Burst tokens, Refill tokens per Window, and at most
//     Permits calls in flight. Requests arriving in a window were either in
//     flight at its start (at most Permits) or granted in it (at most
//     Burst + Refill - 1), so Refill = Limit - Burst - Permits + 1 keeps the
//     sum within Limit. (The textbook bucket, capacity = limit and refill =
//     limit per window, admits up to twice the limit in one window.)
type Gate struct {
	Kind   string        `json:"kind"`
	Limit  int           `json:"limit"`
	Window time.Duration `json:"window"`
	// Cap is the number of calls in flight or holding a slot, at most:
	// the semaphore's permits, the window's limit, the bucket's in-flight cap.
	Cap int `json:"cap"`
	// Hold is how long a finished call keeps its slot (semaphore, window).
	Hold time.Duration `json:"hold"`
	// Token bucket: Burst tokens at most, Refill tokens per Window. Tokens
	// are kept exactly, scaled by Window in nanoseconds (one token is
	// Window ns), so refilling never rounds.
	Burst  int64     `json:"burst,omitempty"`
	Refill int64     `json:"refill,omitempty"`
	Scaled int64     `json:"scaled,omitempty"`
	Last   time.Time `json:"last"`

	InFlight int `json:"in_flight"`
	// Expiries are the times held slots return, ascending.
	Expiries []time.Time `json:"expiries,omitempty"`
}

// NewGate configures a limiter of kind for an API allowing limit requests
// per window. permits and burst of 0 choose max(1, limit/10).
func NewGate(kind string, limit int, window time.Duration, permits, burst int, now time.Time) (Gate, error) {
	if limit < 1 || window <= 0 {
		return Gate{}, fmt.Errorf("limit %d per %s: need a positive limit and window", limit, window)
	}
	auto := max(1, limit/10)
	if permits == 0 {
		permits = auto
	}
	if burst == 0 {
		burst = auto
	}
	g := Gate{Kind: kind, Limit: limit, Window: window, Last: now}
	switch kind {
	case KindSlidingWindow:
		g.Cap, g.Hold = limit, window
	case KindSemaphore:
		if permits > limit {
			return Gate{}, fmt.Errorf("semaphore: %d permits exceed the limit %d", permits, limit)
		}
		per := int64(limit / permits) // requests per window one permit may make
		g.Cap = permits
		g.Hold = time.Duration((int64(window) + per - 1) / per) // ceil: never shorter
	case KindTokenBucket:
		refill := int64(limit-burst-permits) + 1
		if refill < 1 {
			return Gate{}, fmt.Errorf("token bucket: limit %d leaves no refill after burst %d and %d in flight (need limit >= burst + in-flight)", limit, burst, permits)
		}
		g.Cap, g.Burst, g.Refill = permits, int64(burst), refill
		g.Scaled = g.Burst * int64(window) // starts full: the first Burst calls go at once
	default:
		return Gate{}, fmt.Errorf("unknown workflow-side limiter %q", kind)
	}
	return g, nil
}

// Describe is a one-line account of the configuration and its guarantee.
func (g *Gate) Describe() string {
	switch g.Kind {
	case KindSlidingWindow:
		return fmt.Sprintf("sliding window: %d per %s, a slot returns %s after the call completes", g.Limit, g.Window, g.Hold)
	case KindSemaphore:
		return fmt.Sprintf("semaphore: %d permits, a permit returns %s after the call completes (<= %d per %s)",
			g.Cap, g.Hold, g.Cap*(g.Limit/g.Cap), g.Window)
	case KindTokenBucket:
		return fmt.Sprintf("token bucket: burst %d, refill %d per %s, %d in flight (<= %d per %s)",
			g.Burst, g.Refill, g.Window, g.Cap, g.Burst+g.Refill+int64(g.Cap)-1, g.Window)
	}
	return g.Kind
}

func (g *Gate) expire(now time.Time) {
	i := 0
	for i < len(g.Expiries) && !g.Expiries[i].After(now) {
		i++
	}
	if i > 0 {
		g.Expiries = append(g.Expiries[:0:0], g.Expiries[i:]...)
	}
}

func (g *Gate) refill(now time.Time) {
	el := int64(now.Sub(g.Last))
	if el <= 0 {
		return
	}
	g.Last = now
	full := g.Burst * int64(g.Window)
	room := full - g.Scaled
	if room <= 0 {
		return
	}
	if el >= (room+g.Refill-1)/g.Refill {
		g.Scaled = full
		return
	}
	g.Scaled += el * g.Refill
}

// TryAcquire grants one call at now if the limiter allows it. If not,
// retryAt is the earliest time a grant may become possible by time alone,
// or zero when only a Release can make room.
func (g *Gate) TryAcquire(now time.Time) (ok bool, retryAt time.Time) {
	switch g.Kind {
	case KindTokenBucket:
		g.refill(now)
		if g.InFlight >= g.Cap {
			return false, time.Time{}
		}
		unit := int64(g.Window)
		if g.Scaled >= unit {
			g.Scaled -= unit
			g.InFlight++
			return true, time.Time{}
		}
		need := (unit - g.Scaled + g.Refill - 1) / g.Refill
		return false, now.Add(time.Duration(need))
	default:
		g.expire(now)
		if g.InFlight+len(g.Expiries) < g.Cap {
			g.InFlight++
			return true, time.Time{}
		}
		if len(g.Expiries) > 0 {
			return false, g.Expiries[0]
		}
		return false, time.Time{}
	}
}

// Release reports that a granted call completed (or failed) at now.
func (g *Gate) Release(now time.Time) {
	if g.InFlight > 0 {
		g.InFlight--
	}
	if g.Kind != KindTokenBucket {
		at := now.Add(g.Hold)
		if n := len(g.Expiries); n > 0 && at.Before(g.Expiries[n-1]) {
			at = g.Expiries[n-1] // workflow time never runs backwards; keep ascending anyway
		}
		g.Expiries = append(g.Expiries, at)
	}
}
