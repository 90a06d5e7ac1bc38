package bench

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"
)

// schedule runs e on a fake clock and returns the intended start of every
// iteration it issued, by iteration number.
func schedule(t *testing.T, e ArrivalRate) map[int64]time.Time {
	t.Helper()
	e.Clock = newFakeClock()
	var mu sync.Mutex
	got := map[int64]time.Time{}
	rec := NewRecorder(e.Clock.Now())
	res := e.Run(context.Background(), context.Background(), time.Second, rec, func(_ context.Context, n int64, due time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := got[n]; dup {
			t.Errorf("iteration %d issued twice", n)
		}
		got[n] = due
		return nil
	})
	if res.Scheduled != int64(len(got)) {
		t.Errorf("scheduled %d, issued %d", res.Scheduled, len(got))
	}
	return got
}

func TestShareUnionIsTheSingleDriverSchedule(t *testing.T) {
	origin := time.Unix(2_000_000, 0)
	pacers := map[string]Pacer{
		"constant": Constant{PerSec: 30},
		"ramp":     Ramp{From: 0, To: 50, Over: 4 * time.Second},
		"steps":    Steps{{PerSec: 10, For: 2 * time.Second}, {PerSec: 40, For: 2 * time.Second}, {PerSec: 25, For: time.Second}},
	}
	for name, p := range pacers {
		for _, limits := range []Limits{{Duration: 7 * time.Second}, {Iterations: 101}, {Duration: 3 * time.Second, Iterations: 1000}} {
			for _, n := range []int{1, 2, 3, 7} {
				base := ArrivalRate{Pacer: p, MaxInFlight: 100000, LateAfter: time.Millisecond, Limits: limits, Origin: origin}
				want := schedule(t, base)
				if len(want) < 20 {
					t.Fatalf("%s %+v: single driver issued only %d starts", name, limits, len(want))
				}
				union := map[int64]time.Time{}
				var rate float64
				for i := 1; i <= n; i++ {
					e := base
					e.Share = Share{Index: i, Of: n}
					rate += e.IntendedRate(1500 * time.Millisecond)
					for k, due := range schedule(t, e) {
						if !e.Share.Owns(k) || k%int64(n) != int64(i-1) {
							t.Errorf("%s: driver %d/%d issued iteration %d, not its own", name, i, n, k)
						}
						if _, dup := union[k]; dup {
							t.Errorf("%s: iteration %d issued by two drivers", name, k)
						}
						union[k] = due
					}
				}
				if len(union) != len(want) {
					t.Errorf("%s %+v n=%d: union has %d starts, single driver %d", name, limits, n, len(union), len(want))
				}
				for k, due := range want {
					if got, ok := union[k]; !ok || !got.Equal(due) {
						t.Errorf("%s %+v n=%d: iteration %d due %v in the union, %v alone", name, limits, n, k, got, due)
					}
				}
				if single := base.IntendedRate(1500 * time.Millisecond); diff(rate, single) > 1e-9 {
					t.Errorf("%s n=%d: drivers' intended rates sum to %v, want %v", name, n, rate, single)
				}
			}
		}
	}
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}

// A driver that begins after the shared origin issues its overdue starts at
// once, late against the origin, and counts them.
func TestShareLateDriverCountsLateStarts(t *testing.T) {
	clock := newFakeClock()
	origin := clock.Now().Add(-2 * time.Second) // the driver is 2 s late
	rec := NewRecorder(clock.Now())
	e := ArrivalRate{Pacer: Constant{PerSec: 10}, MaxInFlight: 1000, LateAfter: 10 * time.Millisecond,
		Limits: Limits{Duration: 4 * time.Second}, Clock: clock, Share: Share{Index: 2, Of: 2}, Origin: origin}
	res := e.Run(context.Background(), context.Background(), time.Second, rec, func(context.Context, int64, time.Time) error { return nil })
	c, _ := totals(rec, clock.Now())
	// Driver 2 of 2 owns the odd iterations 1..39 (20 starts); those due in
	// the first 2 s (1, 3, ..., 19: 10 of them) were overdue at its start.
	if res.Scheduled != 20 || c.Started != 20 || c.Late != 10 {
		t.Errorf("scheduled %d, started %d, late %d; want 20, 20, 10", res.Scheduled, c.Started, c.Late)
	}
	if !res.Start.Equal(origin) {
		t.Errorf("result start %v, want the origin %v", res.Start, origin)
	}
}

func TestShareClosedLoopSplitsLoopsAndIterations(t *testing.T) {
	const n, loops, limit = 3, 10, 100
	var all []int64
	total := 0
	for i := 1; i <= n; i++ {
		s := Share{Index: i, Of: n}
		total += s.loops(loops)
		var mu sync.Mutex
		clock := newFakeClock()
		rec := NewRecorder(clock.Now())
		Concurrency{N: loops, Limits: Limits{Iterations: limit}, Clock: clock, Share: s}.Run(context.Background(), context.Background(), time.Second, rec,
			func(_ context.Context, k int64, _ time.Time) error {
				mu.Lock()
				defer mu.Unlock()
				if !s.Owns(k) {
					t.Errorf("driver %s ran iteration %d", s, k)
				}
				all = append(all, k)
				return nil
			})
	}
	if total != loops {
		t.Errorf("drivers run %d loops together, want %d", total, loops)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	if len(all) != limit {
		t.Fatalf("drivers ran %d iterations together, want %d", len(all), limit)
	}
	for k, v := range all {
		if v != int64(k) {
			t.Fatalf("iteration %d missing or duplicated (got %d at %d)", k, v, k)
		}
	}
}

func TestParseShare(t *testing.T) {
	for _, bad := range []string{"", "3", "0/3", "4/3", "1/0", "a/b", "-1/2"} {
		if _, err := ParseShare(bad); err == nil {
			t.Errorf("ParseShare(%q) accepted", bad)
		}
	}
	if s, err := ParseShare("2/3"); err != nil || s != (Share{Index: 2, Of: 3}) {
		t.Errorf("ParseShare(2/3) = %v, %v", s, err)
	}
}
