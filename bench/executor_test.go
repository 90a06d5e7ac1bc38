package bench

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock never really sleeps. SleepUntil jumps to the target time, except
// at stallAt, where it jumps stallFor further: the dispatcher "was
// descheduled", as under a GC pause or a starved CPU. If settle is set, each
// sleep first waits until it returns true, so iterations finish (and read
// the clock) before time moves on: the test is deterministic.
type fakeClock struct {
	mu       sync.Mutex
	now      time.Time
	stallAt  time.Time
	stallFor time.Duration
	stalled  bool
	settle   func() bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	if c.settle != nil {
		for !c.settle() {
			runtime.Gosched()
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stalled && !c.stallAt.IsZero() && !t.Before(c.stallAt) {
		c.now = c.stallAt.Add(c.stallFor)
		c.stalled = true
	} else if t.After(c.now) {
		c.now = t
	}
	return nil
}

func totals(rec *Recorder, now time.Time) (Counts, map[string]*Histogram) {
	iv := rec.Cut(now)
	hs := map[string]*Histogram{}
	for name, enc := range iv.Hists {
		h, err := DecodeHistogram(enc)
		if err != nil {
			panic(err)
		}
		hs[name] = h
	}
	return iv.Counts, hs
}

func TestArrivalRateCountsLateStartsUnderStall(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	// 100/s: start n is due at n×10 ms. The dispatcher stalls at 200 ms for
	// 300 ms, so starts 20..49 (due 200..490 ms) go out at 500 ms, late by
	// 300..10 ms; start 50 is due at 500 ms and is on time.
	clock.stallAt = start.Add(200 * time.Millisecond)
	clock.stallFor = 300 * time.Millisecond
	rec := NewRecorder(start)
	clock.settle = func() bool { return rec.InFlight() == 0 }
	var dueMu sync.Mutex
	dues := map[int64]time.Time{}
	res := ArrivalRate{Pacer: Constant{PerSec: 100}, MaxInFlight: 1000, LateAfter: 5 * time.Millisecond,
		Limits: Limits{Iterations: 100}, Clock: clock}.
		Run(context.Background(), context.Background(), time.Second, rec, func(_ context.Context, n int64, due time.Time) error {
			dueMu.Lock()
			dues[n] = due
			dueMu.Unlock()
			return nil
		})
	// Work is told its place in the schedule, not when it actually began
	// (start 30 went out late, at 500 ms).
	for _, n := range []int64{0, 30, 99} {
		if want := start.Add(time.Duration(n) * 10 * time.Millisecond); !dues[n].Equal(want) {
			t.Errorf("start %d was told due %v, want %v", n, dues[n].Sub(start), want.Sub(start))
		}
	}

	c, hs := totals(rec, clock.Now())
	if res.Scheduled != 100 || c.Started != 100 || c.Completed != 100 || c.Dropped != 0 {
		t.Fatalf("scheduled %d, counts %+v; want 100 started and completed, none dropped", res.Scheduled, c)
	}
	if c.Late != 30 {
		t.Errorf("late = %d, want 30 (starts 20..49)", c.Late)
	}
	late := hs[HistLateness]
	if late == nil || late.Count() != 30 {
		t.Fatalf("lateness histogram missing or wrong count")
	}
	if m := late.Max(); m < 299*time.Millisecond || m > 301*time.Millisecond {
		t.Errorf("max lateness = %v, want 300ms", m)
	}
	if m := late.Quantile(0); m < 9*time.Millisecond || m > 11*time.Millisecond {
		t.Errorf("min lateness = %v, want 10ms", m)
	}
	// Coordinated omission: corrected latency (from the intended start) shows
	// the stall; uncorrected (from the actual start) does not.
	if m := hs[HistCorrected].Max(); m < 299*time.Millisecond {
		t.Errorf("corrected max = %v, want ≥ 300ms", m)
	}
	if m := hs[HistUncorrected].Max(); m > time.Millisecond {
		t.Errorf("uncorrected max = %v, want ~0 (the work itself took no time)", m)
	}
}

func TestArrivalRateDropsAtMaxInFlight(t *testing.T) {
	clock := newFakeClock()
	rec := NewRecorder(clock.Now())
	release := make(chan struct{})
	var started atomic.Int64
	done := make(chan Result)
	go func() {
		done <- ArrivalRate{Pacer: Constant{PerSec: 10}, MaxInFlight: 5, LateAfter: time.Millisecond,
			Limits: Limits{Iterations: 20}, Clock: clock}.
			Run(context.Background(), context.Background(), time.Minute, rec, func(ctx context.Context, n int64, _ time.Time) error {
				started.Add(1)
				<-release
				return nil
			})
	}()
	// The dispatcher issues 5, then finds the limit reached for the other 15.
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec.mu.Lock()
		dropped := rec.counts.Dropped
		rec.mu.Unlock()
		if dropped == 15 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dropped = %d, want 15", dropped)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	res := <-done
	c, _ := totals(rec, clock.Now())
	if c.Started != 5 || c.Dropped != 15 || c.Completed != 5 || res.Scheduled != 20 || started.Load() != 5 {
		t.Errorf("counts %+v, scheduled %d, work ran %d times; want 5 started+completed, 15 dropped, 20 scheduled", c, res.Scheduled, started.Load())
	}
}

func TestArrivalRateStopsOnCancelAndAbandonsAfterGrace(t *testing.T) {
	clock := newFakeClock()
	rec := NewRecorder(clock.Now())
	ctx, cancel := context.WithCancel(context.Background())
	var entered atomic.Int64
	// Time moves on only once every issued iteration is running.
	clock.settle = func() bool { return entered.Load() == rec.InFlight() }
	res := ArrivalRate{Pacer: Constant{PerSec: 10}, MaxInFlight: 100, LateAfter: time.Millisecond,
		Limits: Limits{Iterations: 1000}, Clock: clock}.
		Run(ctx, context.Background(), 50*time.Millisecond, rec, func(wctx context.Context, n int64, _ time.Time) error {
			entered.Add(1)
			if n == 9 {
				cancel() // Ctrl-C after the tenth start
			}
			<-wctx.Done() // never finishes by itself
			return wctx.Err()
		})
	c, _ := totals(rec, clock.Now())
	if !res.Interrupted {
		t.Error("not marked interrupted")
	}
	if c.Started != 10 || c.Abandoned != 10 || c.Failed != 0 {
		t.Errorf("counts %+v; want 10 started, all 10 abandoned after the grace period, none failed", c)
	}
}

func TestArrivalRateDurationLimitAndFailures(t *testing.T) {
	clock := newFakeClock()
	rec := NewRecorder(clock.Now())
	clock.settle = func() bool { return rec.InFlight() == 0 }
	boom := errors.New("boom")
	res := ArrivalRate{Pacer: Constant{PerSec: 20}, MaxInFlight: 100, LateAfter: time.Millisecond,
		Limits: Limits{Duration: 2 * time.Second}, Clock: clock}.
		Run(context.Background(), context.Background(), time.Second, rec, func(_ context.Context, n int64, _ time.Time) error {
			if n%4 == 0 {
				return boom
			}
			return nil
		})
	c, _ := totals(rec, clock.Now())
	// Due offsets 0, 50 ms, ... 1950 ms: 40 starts; every 4th fails.
	if res.Scheduled != 40 || c.Started != 40 || c.Failed != 10 || c.Completed != 30 || c.Late != 0 {
		t.Errorf("scheduled %d, counts %+v; want 40 started, 10 failed, 30 completed, 0 late", res.Scheduled, c)
	}
}

func TestConcurrencyRunsIterations(t *testing.T) {
	rec := NewRecorder(time.Now())
	var running, peak atomic.Int64
	Concurrency{N: 3, Limits: Limits{Iterations: 30}}.Run(context.Background(), context.Background(), time.Second, rec,
		func(context.Context, int64, time.Time) error {
			r := running.Add(1)
			for {
				p := peak.Load()
				if r <= p || peak.CompareAndSwap(p, r) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			running.Add(-1)
			return nil
		})
	c, _ := totals(rec, time.Now())
	if c.Started != 30 || c.Completed != 30 {
		t.Errorf("counts %+v; want 30 started and completed", c)
	}
	if peak.Load() > 3 {
		t.Errorf("peak concurrency %d > 3", peak.Load())
	}
}

// The pool reuses a goroutine that is idle (its grown stack with it) and
// makes a new one only when none is: a start never waits.
func TestPoolReusesIdleGoroutines(t *testing.T) {
	block := make(chan struct{})
	fin := make(chan int64)
	p := newPool(func(j job) {
		if j.n < 0 {
			<-block // a long iteration: its goroutine stays busy
			return
		}
		fin <- j.n
	})
	defer p.close()
	p.submit(job{n: -1})
	for i := range 50 {
		p.submit(job{n: int64(i)})
		<-fin
		time.Sleep(time.Millisecond) // let it go idle
	}
	if made := p.made.Load(); made != 2 {
		t.Errorf("%d goroutines made for 51 iterations, 50 of them one after another: want 2 (reuse)", made)
	}
	// Every goroutine busy: further starts do not wait, each gets one.
	done := make(chan struct{})
	go func() {
		p.submit(job{n: -1})
		p.submit(job{n: -1})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("submit waited for a free goroutine")
	}
	if made := p.made.Load(); made != 3 {
		t.Errorf("%d goroutines made, want 3: the idle one reused, one new", made)
	}
	close(block)
}
