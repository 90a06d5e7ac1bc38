package throttled

import (
	"container/heap"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/squallbench/squall/scenarios/fakes"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

type step struct {
	op      string // "acq" or "rel"
	at      time.Duration
	ok      bool
	retryAt time.Duration // -1: zero (wait for a release)
}

func TestGateTable(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		kind                  string
		limit                 int
		window                time.Duration
		permits, burst        int
		wantCap               int
		wantHold              time.Duration
		wantBurst, wantRefill int64
		steps                 []step
	}{
		{
			name: "sliding window: limit in flight, then a slot returns a window after completion",
			kind: KindSlidingWindow, limit: 3, window: 10 * time.Second, wantCap: 3, wantHold: 10 * time.Second,
			steps: []step{
				{"acq", 0, true, 0}, {"acq", 0, true, 0}, {"acq", 0, true, 0},
				{"acq", 0, false, -1}, // all three in flight: only a release helps
				{"rel", time.Second, false, 0},
				{"acq", time.Second, false, 11 * time.Second},
				{"acq", 11*time.Second - 1, false, 11 * time.Second},
				{"acq", 11 * time.Second, true, 0},
				{"acq", 11 * time.Second, false, -1},
			},
		},
		{
			name: "semaphore: permits, each returning limit/permits per window after completion",
			kind: KindSemaphore, limit: 6, window: 2 * time.Second, permits: 2, wantCap: 2,
			wantHold: 666666667, // ceil(2s/3)
			steps: []step{
				{"acq", 0, true, 0}, {"acq", 0, true, 0}, {"acq", 0, false, -1},
				{"rel", 100 * time.Millisecond, false, 0},
				{"acq", 100 * time.Millisecond, false, 766666667},
				{"acq", 766666667, true, 0},
				{"rel", 800 * time.Millisecond, false, 0},
				{"rel", 900 * time.Millisecond, false, 0},
				{"acq", time.Second, false, 1466666667},
			},
		},
		{
			name: "semaphore that does not divide the limit rounds the per-permit share down",
			kind: KindSemaphore, limit: 7, window: time.Second, permits: 2, wantCap: 2,
			wantHold: 333333334, // 1s / floor(7/2) = 1s/3, ceil
			steps:    []step{{"acq", 0, true, 0}},
		},
		{
			name: "token bucket: burst, then exact refill; in-flight cap",
			kind: KindTokenBucket, limit: 10, window: 10 * time.Second, permits: 3, burst: 2,
			wantCap: 3, wantBurst: 2, wantRefill: 6, // 10 - 2 - 3 + 1
			steps: []step{
				{"acq", 0, true, 0}, {"acq", 0, true, 0},
				{"acq", 0, false, 1666666667}, // ceil(10s/6)
				{"acq", 1666666666, false, 1666666667},
				{"acq", 1666666667, true, 0},
				{"acq", 20 * time.Second, false, -1}, // three in flight: the cap, though tokens are back
				{"rel", 20 * time.Second, false, 0},
				{"acq", 20 * time.Second, true, 0},
				{"acq", 20 * time.Second, false, -1},
			},
		},
		{
			name: "token bucket never stores more than its burst",
			kind: KindTokenBucket, limit: 20, window: time.Second, permits: 10, burst: 2,
			wantCap: 10, wantBurst: 2, wantRefill: 9,
			steps: []step{
				{"acq", time.Hour, true, 0}, {"acq", time.Hour, true, 0},
				{"acq", time.Hour, false, time.Hour + 111111112}, // ceil(1s/9)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGate(tc.kind, tc.limit, tc.window, tc.permits, tc.burst, t0)
			if err != nil {
				t.Fatal(err)
			}
			if g.Cap != tc.wantCap || g.Hold != tc.wantHold || g.Burst != tc.wantBurst || g.Refill != tc.wantRefill {
				t.Fatalf("cap %d hold %s burst %d refill %d; want %d %s %d %d", g.Cap, g.Hold, g.Burst, g.Refill,
					tc.wantCap, tc.wantHold, tc.wantBurst, tc.wantRefill)
			}
			for i, s := range tc.steps {
				if s.op == "rel" {
					g.Release(at(s.at))
					continue
				}
				ok, retry := g.TryAcquire(at(s.at))
				want := time.Time{}
				if s.retryAt > 0 {
					want = at(s.retryAt)
				}
				if s.ok || s.retryAt == -1 {
					want = time.Time{}
				}
				if ok != s.ok || !retry.Equal(want) {
					t.Fatalf("step %d (%s at %s): ok %v retryAt %v; want %v %v", i, s.op, s.at, ok, retry, s.ok, want)
				}
			}
		})
	}
}

func TestNewGateRejects(t *testing.T) {
	for _, tc := range []struct {
		kind                  string
		limit, permits, burst int
		window                time.Duration
	}{
		{KindSemaphore, 5, 6, 0, time.Second},     // more permits than the limit
		{KindTokenBucket, 5, 3, 3, time.Second},   // no refill left
		{KindSlidingWindow, 0, 0, 0, time.Second}, // no limit
		{KindSlidingWindow, 5, 0, 0, 0},           // no window
		{"leaky-bucket", 5, 0, 0, time.Second},    // unknown
	} {
		if _, err := NewGate(tc.kind, tc.limit, tc.window, tc.permits, tc.burst, t0); err == nil {
			t.Errorf("%+v accepted", tc)
		}
	}
	// Defaults: a tenth of the limit.
	g, err := NewGate(KindTokenBucket, 100, time.Minute, 0, 0, t0)
	if err != nil || g.Cap != 10 || g.Burst != 10 || g.Refill != 81 {
		t.Errorf("defaults: %+v %v", g, err)
	}
}

// The guarantee, by simulation: whatever the dispatch delay between grant
// and the request's arrival at the API, the call time and the delay until
// the limiter hears of the completion, and however late timers fire, the
// API never sees more than the limit in any window, and every call is
// eventually granted.
func TestGateNeverOverrunsTheAPI(t *testing.T) {
	type cfg struct {
		kind           string
		limit          int
		window         time.Duration
		permits, burst int
	}
	cfgs := []cfg{
		{KindSlidingWindow, 5, time.Second, 0, 0},
		{KindSlidingWindow, 100, time.Minute, 0, 0},
		{KindSemaphore, 6, 2 * time.Second, 2, 0},
		{KindSemaphore, 7, time.Second, 3, 0},
		{KindSemaphore, 10, 5 * time.Second, 10, 0},
		{KindTokenBucket, 10, 2 * time.Second, 2, 3},
		{KindTokenBucket, 100, time.Minute, 0, 0},
		{KindTokenBucket, 4, time.Second, 1, 1},
	}
	r := rand.New(rand.NewSource(42))
	for _, c := range cfgs {
		for trial := 0; trial < 20; trial++ {
			g, err := NewGate(c.kind, c.limit, c.window, c.permits, c.burst, t0)
			if err != nil {
				t.Fatal(err)
			}
			n := 50 + r.Intn(150)
			maxDispatch := time.Duration(r.Int63n(int64(3 * c.window)))
			maxCall := time.Duration(r.Int63n(int64(c.window)))
			arrivals, granted := simulate(r, &g, n, 4*c.window, maxDispatch, maxCall)
			if granted != n {
				t.Fatalf("%+v: %d of %d calls granted", c, granted, n)
			}
			if p := fakes.MaxInWindow(arrivals, c.window); p.Max > c.limit {
				t.Fatalf("%+v trial %d: %d arrivals in one window (limit %d); dispatch delay up to %s, calls up to %s",
					c, trial, p.Max, c.limit, maxDispatch, maxCall)
			}
		}
	}
}

// A textbook token bucket (capacity = limit, refill = limit per window,
// granting on tokens alone) admits up to twice the limit in one window: the
// reason for this package's accounting. The same simulation catches it.
func TestTextbookTokenBucketOverruns(t *testing.T) {
	g := Gate{Kind: KindTokenBucket, Limit: 10, Window: time.Second, Cap: 1 << 30, Burst: 10, Refill: 10,
		Scaled: 10 * int64(time.Second), Last: t0}
	arrivals, _ := simulate(rand.New(rand.NewSource(1)), &g, 100, 0, 0, 0)
	if p := fakes.MaxInWindow(arrivals, time.Second); p.Max <= 10 {
		t.Fatalf("peak %d: expected the textbook bucket to exceed the limit of 10", p.Max)
	}
}

type event struct {
	at   time.Time
	kind int // 0 acquire, 1 release, 2 timer
}

type events []event

func (e events) Len() int           { return len(e) }
func (e events) Less(i, j int) bool { return e[i].at.Before(e[j].at) }
func (e events) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)        { *e = append(*e, x.(event)) }
func (e *events) Pop() any          { o := *e; x := o[len(o)-1]; *e = o[:len(o)-1]; return x }
func rnd(r *rand.Rand, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(r.Int63n(int64(d) + 1))
}

// simulate drives g like the limiter workflow: n acquires spread over
// spread; each grant's request arrives after a random dispatch delay, the
// call lasts a random time, the release reaches the limiter after a random
// delay; timers fire up to 1 s late. It returns the sorted arrival times.
func simulate(r *rand.Rand, g *Gate, n int, spread, maxDispatch, maxCall time.Duration) ([]int64, int) {
	q := &events{}
	for i := 0; i < n; i++ {
		heap.Push(q, event{at: t0.Add(rnd(r, spread)), kind: 0})
	}
	waiting, granted := 0, 0
	var arrivals []int64
	var timerAt time.Time
	for q.Len() > 0 {
		e := heap.Pop(q).(event)
		now := e.at
		switch e.kind {
		case 0:
			waiting++
		case 1:
			g.Release(now)
		case 2:
			if !now.Equal(timerAt) {
				continue // superseded
			}
			timerAt = time.Time{}
		}
		for waiting > 0 {
			ok, retry := g.TryAcquire(now)
			if !ok {
				if !retry.IsZero() && (timerAt.IsZero() || timerAt.After(retry)) {
					timerAt = retry.Add(rnd(r, time.Second)) // timers fire late
					heap.Push(q, event{at: timerAt, kind: 2})
				}
				break
			}
			waiting--
			granted++
			a := now.Add(rnd(r, maxDispatch))
			arrivals = append(arrivals, a.UnixNano())
			heap.Push(q, event{at: a.Add(rnd(r, maxCall)).Add(rnd(r, 200*time.Millisecond)), kind: 1})
		}
	}
	sort.Slice(arrivals, func(i, j int) bool { return arrivals[i] < arrivals[j] })
	return arrivals, granted
}

// The adversarial case, per kind: calls granted long ago all reach the API
// at the start of a window (their dispatch was delayed), complete at once,
// and from then on every grant arrives and completes instantly. The API
// must then see exactly the limit within that window: never more (the
// guarantee) and not less (the accounting is tight, no capacity wasted).
func TestGateWorstCaseIsExactlyTheLimit(t *testing.T) {
	for _, c := range []struct {
		kind                  string
		limit, permits, burst int
		window                time.Duration
	}{
		{KindTokenBucket, 10, 3, 2, 10 * time.Second},
		{KindTokenBucket, 100, 0, 0, time.Minute},
		{KindTokenBucket, 4, 1, 1, time.Second},
		{KindSlidingWindow, 5, 0, 0, time.Second},
		{KindSemaphore, 6, 2, 0, 2 * time.Second},
		{KindSemaphore, 9, 3, 0, time.Second},
	} {
		g, err := NewGate(c.kind, c.limit, c.window, c.permits, c.burst, t0)
		if err != nil {
			t.Fatal(err)
		}
		// Fill the in-flight capacity, taking grants as soon as allowed.
		now := t0
		for g.InFlight < g.Cap {
			ok, retry := g.TryAcquire(now)
			if !ok {
				if retry.IsZero() {
					break
				}
				now = retry
			}
		}
		delayed := g.InFlight
		// Long after (tokens and holds back), the delayed requests arrive
		// together at T and complete.
		T := now.Add(10 * c.window)
		for i := 0; i < delayed; i++ {
			g.Release(T)
		}
		count := delayed
		now = T
		for now.Before(T.Add(c.window)) {
			ok, retry := g.TryAcquire(now)
			if ok {
				count++
				g.Release(now) // arrives and completes at once
				continue
			}
			if retry.IsZero() {
				break
			}
			now = retry
		}
		// Semaphore and window: the delayed ones hold their slots for the
		// whole window; a full window is the limit (semaphore: permits x
		// floor(limit/permits)).
		want := c.limit
		if c.kind == KindSemaphore {
			want = g.Cap * (c.limit / g.Cap)
		}
		if count != want {
			t.Errorf("%s %d per %s (permits %d, burst %d): %d requests in the window, want exactly %d",
				c.kind, c.limit, c.window, c.permits, c.burst, count, want)
		}
	}
}
