package fakes

import (
	"context"
	"math/rand"
	"net/http"
	"sync"
	"time"

	"github.com/squallbench/squall/internal/sleep"
)

// Faults is the switchable misbehaviour of a fake HTTP service, as the
// api-errors and api-latency faults drive it: every request waits the
// added latency, and a seeded fraction of requests is refused with 503
// before it has any effect. A Service uses it for its own requests; any
// other fake (an order store with its own API) wraps its handler with
// Middleware. Safe for concurrent use.
type Faults struct {
	mu        sync.Mutex
	errorRate float64
	latency   time.Duration
	rng       *rand.Rand
	refused   int64
	changes   []ModeChange
}

// NewFaults returns healed faults whose refusals are drawn from seed.
func NewFaults(seed int64) *Faults { return &Faults{rng: rand.New(rand.NewSource(seed))} }

// Set switches the error rate (0..1) and the added latency for requests
// arriving from now on; values outside the ranges are an error.
func (f *Faults) Set(errorRate float64, latency time.Duration) error {
	if err := checkMode(errorRate, latency); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errorRate, f.latency = errorRate, latency
	f.changes = append(f.changes, ModeChange{At: time.Now().UnixNano(), ErrorRate: errorRate, Latency: latency})
	return nil
}

// SetFaults is Set for scenarios.APIControl: an error rate outside 0..1
// and a negative latency are clamped; zero values heal.
func (f *Faults) SetFaults(errorRate float64, latency time.Duration) {
	_ = f.Set(min(max(errorRate, 0), 1), max(latency, 0))
}

// Mode returns the current error rate and latency.
func (f *Faults) Mode() (errorRate float64, latency time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.errorRate, f.latency
}

// Changes returns every Set so far, in order.
func (f *Faults) Changes() []ModeChange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ModeChange(nil), f.changes...)
}

// Refused is how many requests the faults refused so far.
func (f *Faults) Refused() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

// Decide is one request's fault: the latency to add, and whether to
// refuse it. eligible false (e.g. a request the service answers 429
// anyway) gets the latency but no draw, so the seeded sequence of
// refusals depends only on the requests that could be refused.
func (f *Faults) Decide(eligible bool) (latency time.Duration, refuse bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	refuse = eligible && f.errorRate > 0 && f.rng.Float64() < f.errorRate
	if refuse {
		f.refused++
	}
	return f.latency, refuse
}

// Middleware applies the faults in front of next: the latency first, then
// a refusal (503) that never reaches next, so the service's own
// accounting never sees a refused request.
func (f *Faults) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		latency, refuse := f.Decide(true)
		if !Delay(r.Context(), latency) {
			return
		}
		if refuse {
			http.Error(w, "injected failure (api-errors)", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Delay waits d (nothing when d <= 0) and reports whether the request is
// still wanted: false when its caller gave up meanwhile.
func Delay(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	return sleep.For(ctx, d)
}
