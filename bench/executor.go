package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/squallbench/squall/internal/sleep"
)

// Work performs iteration n and returns when it has finished. due is its
// intended start (open loop: the schedule's; closed loop: the actual start),
// for work that measures latencies of its own from the same origin.
type Work func(ctx context.Context, n int64, due time.Time) error

// Clock lets tests run executors without real time.
type Clock interface {
	Now() time.Time
	// SleepUntil returns at t, or early with ctx's error.
	SleepUntil(ctx context.Context, t time.Time) error
}

// RealClock is the wall clock.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) SleepUntil(ctx context.Context, t time.Time) error {
	if !sleep.Until(ctx, t) {
		return ctx.Err()
	}
	return nil
}

// Limits end the load: whichever is reached first. Zero means no limit (but
// at least one must be set).
type Limits struct {
	Duration   time.Duration // no start is scheduled at or after this offset
	Iterations int64         // scheduled starts, dropped ones included
}

// Result says how the executor's run went.
type Result struct {
	Start, End  time.Time // first scheduled start; last iteration finished (or abandoned)
	LoadEnd     time.Time // when the last start was issued (or the load was stopped)
	Scheduled   int64
	Interrupted bool // ctx was cancelled before the limits were reached
}

// Executor drives iterations of work under a load model. Adding a model
// (a capacity probe, per-VU iteration counts) is one new type here.
type Executor interface {
	// Run drives work until the executor's limits are reached or ctx is
	// cancelled (no new starts), then waits up to grace for in-flight
	// iterations; those still running after that (or when workCtx ends)
	// are cancelled and recorded as abandoned. Iterations run under
	// workCtx, which outlives ctx on purpose: stopping the load must not
	// kill the work already started.
	Run(ctx, workCtx context.Context, grace time.Duration, rec *Recorder, work Work) Result
	// Name is the model: "arrival-rate" (open loop) or "concurrency" (closed).
	Name() string
	// String describes the load shape for reports ("constant 20/s").
	String() string
	// IntendedRate is the scheduled start rate at offset t (0 for a
	// closed loop, which has no schedule).
	IntendedRate(t time.Duration) float64
}

var (
	_ Executor = ArrivalRate{}
	_ Executor = Concurrency{}
)

// ArrivalRate is the open-loop executor: starts follow the pacer's schedule
// and never wait for earlier iterations. Latency is measured from the
// intended start. A start issued more than LateAfter behind schedule is
// counted late (with its lateness); a start due while MaxInFlight iterations
// are running is dropped and counted. Nothing is skipped silently.
type ArrivalRate struct {
	Pacer       Pacer
	MaxInFlight int
	LateAfter   time.Duration
	Limits      Limits
	Clock       Clock
	// Share, when set, drives only this driver's part of the schedule
	// (Limits stay those of the whole schedule).
	Share Share
	// Origin, when set, is the schedule's t=0 (shared by all drivers of a
	// run); otherwise the moment Run is called. A driver that begins after
	// its origin issues the overdue starts at once and counts them late.
	Origin time.Time
	// From, when set, is the first iteration scheduled: a resumed run
	// continues its schedule there (with Origin moved by the gap), and the
	// iterations before it are not started again. Not with Share.
	From int64
}

func (e ArrivalRate) Name() string   { return "arrival-rate" }
func (e ArrivalRate) String() string { return e.Pacer.String() }

// IntendedRate is this driver's share of the schedule's rate.
func (e ArrivalRate) IntendedRate(t time.Duration) float64 {
	return e.Pacer.Rate(t) / float64(e.Share.of())
}

// Run implements Executor.
func (e ArrivalRate) Run(ctx, workCtx context.Context, grace time.Duration, rec *Recorder, work Work) Result {
	clock := e.Clock
	if clock == nil {
		clock = RealClock{}
	}
	workCtx, cancelWork := context.WithCancel(workCtx)
	defer cancelWork()
	var (
		wg       sync.WaitGroup
		inFlight atomic.Int64
		res      = Result{Start: clock.Now()}
	)
	if !e.Origin.IsZero() {
		res.Start = e.Origin
	}
	pool := newPool(func(j job) {
		defer wg.Done()
		err := work(workCtx, j.n, j.due)
		end := clock.Now()
		inFlight.Add(-1)
		rec.Done(outcome(workCtx, err), end.Sub(j.due), end.Sub(j.actual))
	})
	defer pool.close()
	// Only this driver's iterations are visited: the others' are neither
	// slept for nor counted.
	for n := e.Share.first() + e.From; ; n += int64(e.Share.of()) {
		if e.Limits.Iterations > 0 && n >= e.Limits.Iterations {
			break
		}
		offset := e.Pacer.Due(n)
		if e.Limits.Duration > 0 && offset >= e.Limits.Duration {
			break
		}
		due := res.Start.Add(offset)
		if err := clock.SleepUntil(ctx, due); err != nil {
			res.Interrupted = true
			break
		}
		res.Scheduled++
		if e.MaxInFlight > 0 && inFlight.Load() >= int64(e.MaxInFlight) {
			rec.Dropped()
			continue
		}
		actual := clock.Now()
		lateness := actual.Sub(due)
		rec.Started(lateness, lateness > e.LateAfter)
		inFlight.Add(1)
		wg.Add(1)
		pool.submit(job{n: n, due: due, actual: actual})
	}
	res.LoadEnd = clock.Now()
	drain(&wg, grace, cancelWork)
	res.End = clock.Now()
	return res
}

// job is one iteration handed to the pool: its number, intended and
// actual start.
type job struct {
	n           int64
	due, actual time.Time
}

// pool reuses iteration goroutines. One that finished its iteration waits
// a moment for the next instead of exiting, so the stack it grew (the
// SDK's start and result-poll calls need tens of KB) is not grown again
// for every workflow: growing fresh stacks was about a fifth of the
// driver's CPU at high rates. A start never waits for a goroutine: with
// none idle, a new one is made, so the open loop stays open.
type pool struct {
	jobs chan job      // unbuffered: a send succeeds only into an idle goroutine
	stop chan struct{} // closed when the executor is done: idle goroutines exit
	do   func(job)
	made atomic.Int64 // goroutines made
}

// poolIdle is how long a goroutine waits for its next iteration.
const poolIdle = 2 * time.Second

func newPool(do func(job)) *pool {
	return &pool{jobs: make(chan job), stop: make(chan struct{}), do: do}
}

func (p *pool) submit(j job) {
	select {
	case p.jobs <- j:
	default:
		p.made.Add(1)
		go p.loop(j)
	}
}

func (p *pool) loop(j job) {
	t := time.NewTimer(poolIdle)
	defer t.Stop()
	for {
		p.do(j)
		t.Reset(poolIdle)
		select {
		case j = <-p.jobs:
		case <-t.C:
			return
		case <-p.stop:
			return
		}
	}
}

func (p *pool) close() { close(p.stop) }

// Concurrency is the closed-loop executor: N loops, each starting the next
// iteration when its previous one finished. Offered for comparison with
// closed-loop tools; its latency cannot see stalls (there is no schedule to
// be late against), so corrected and uncorrected are the same.
type Concurrency struct {
	N      int
	Limits Limits
	Clock  Clock
	// Share, when set, runs this driver's part: its share of the N loops
	// and of the iteration limit, with iteration numbers global to the run.
	Share Share
}

func (e Concurrency) Name() string                       { return "concurrency" }
func (e Concurrency) String() string                     { return fmt.Sprintf("%d concurrent", e.N) }
func (e Concurrency) IntendedRate(time.Duration) float64 { return 0 }

// Run implements Executor.
func (e Concurrency) Run(ctx, workCtx context.Context, grace time.Duration, rec *Recorder, work Work) Result {
	clock := e.Clock
	if clock == nil {
		clock = RealClock{}
	}
	workCtx, cancelWork := context.WithCancel(workCtx)
	defer cancelWork()
	res := Result{Start: clock.Now()}
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range e.Share.loops(e.N) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := e.Share.first() + (next.Add(1)-1)*int64(e.Share.of())
				if e.Limits.Iterations > 0 && n >= e.Limits.Iterations {
					return
				}
				actual := clock.Now()
				if e.Limits.Duration > 0 && actual.Sub(res.Start) >= e.Limits.Duration {
					return
				}
				rec.Started(0, false)
				err := work(workCtx, n, actual)
				lat := clock.Now().Sub(actual)
				rec.Done(outcome(workCtx, err), lat, lat)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		res.Interrupted = true
		drain(&wg, grace, cancelWork)
	}
	res.LoadEnd = clock.Now()
	res.End = clock.Now()
	return res
}

// drain waits for wg up to grace, then cancels the remaining work and waits
// for it to return (work must honour its context).
func drain(wg *sync.WaitGroup, grace time.Duration, cancel context.CancelFunc) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cancel()
		<-done
	}
}

// outcome classifies an iteration's end. Once the work context is gone (the
// grace period ran out, or a second Ctrl-C), whatever error the iteration
// returned — the SDK reports a cancelled wait in several shapes — means it
// was abandoned, not that it failed.
func outcome(workCtx context.Context, err error) Outcome {
	switch {
	case err == nil:
		return Completed
	case workCtx.Err() != nil:
		return Abandoned
	default:
		return Failed
	}
}
