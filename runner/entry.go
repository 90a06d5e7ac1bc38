package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/metrics"
	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/verify"
)

// Figures are what one entry measured, handed back to whoever ran it (a
// capacity search judges its probes from them), so nothing reads the
// result stream back. Kept only when asked for (EntryOptions.Keep): a long
// run's intervals belong in the stream, not in memory.
type Figures struct {
	Start     time.Time        // when the load began (the schedule's t=0)
	LoadEnd   time.Time        // when the load stopped (before draining)
	Intervals []bench.Interval // one a second, from Start
	Samples   []metrics.Sample // server and process samples of the load
	// DriverCPUSeconds is this process's CPU time over the entry.
	DriverCPUSeconds float64
}

// entry is one plan running on the session's current cluster: the
// scenario's driver under the executor, faults beside it, verification
// after it.
type entry struct {
	s    *Session
	c    *clusterHandle
	plan *Plan
	rec  *bench.Recorder
	keep bool
	figs Figures
	// health: run the server-health checks after verification (health.go).
	health bool
	// breach is the threshold that stopped the load (--abort-on-fail).
	breach *reports.LiveBreach
	// verifier verifies the journal: in batches during a long load
	// (Plan.VerifyEvery), the rest after it.
	verifier *verify.Incremental
}

// write appends a record of this entry to the result stream.
func (e *entry) write(rec bench.Record, data any) {
	rec.Scenario = e.plan.Entry
	e.s.stream.Write(rec, data)
}

func (e *entry) execute(ctx, loadCtx context.Context) error {
	p, s, c := e.plan, e.s, e.c
	name := p.Entry
	began := time.Now()
	cpuBefore, _ := cpuSeconds()
	defer func() {
		after, _ := cpuSeconds()
		e.figs.DriverCPUSeconds = after - cpuBefore
	}()
	// The scenario's records start here: details it emits while preparing
	// belong to it.
	if r := p.Resume; r == nil || r.Scenario == nil { // a resumed run's is on disk already
		e.write(bench.Record{Kind: bench.KindScenarioStart}, e.scenarioPlan())
	}
	e.rec = bench.NewRecorder(time.Now())
	e.rec.SetHook(s.mx.live.Hook(p.Scenario.Name)) // metrics
	env := scenarios.NewEnv(scenarios.HarnessConfig{Client: c.client, Journal: s.journal.For(name)})
	env.TaskQueue, env.RunID, env.Dir, env.Load = s.taskQueue, s.runID, s.dir, p.Load
	env.Address, env.Namespace = c.conn.Address, c.conn.Namespace
	env.Observe = func(h string, d time.Duration) { e.rec.Observe(h, d) }
	env.Emit = func(key string, v any) { e.write(bench.Record{Kind: bench.KindDetail}, map[string]any{key: v}) }
	serverStartsBefore := c.starts.Count()
	driver, err := p.Scenario.New(ctx, env, p.Options)
	if err != nil {
		if abort := (*scenarios.AbortError)(nil); errors.As(err, &abort) {
			return cluster.Usagef("scenario %s: %v", name, abort.Err)
		}
		return fmt.Errorf("prepare scenario %s: %w", name, err)
	}
	defer driver.Close()
	fenv, err := c.faultEnv(p, driver)
	if err != nil {
		return err
	}
	e.verifier = verify.NewIncremental(c.client, filepath.Join(s.dir, reports.FileJournal),
		verify.Options{Scenario: name, Concurrency: p.Flags.VerifyConcurrency, BatchMax: batchMax(p)})

	var abort *scenarios.AbortError
	if r := p.Resume; r == nil || !r.LoadEnded { // a driver killed while verifying left only that to do
		abort = e.load(ctx, loadCtx, driver, fenv)
	}
	if f, ok := driver.(scenarios.Finisher); ok {
		if err := f.Finish(ctx); err != nil {
			e.write(bench.Record{Kind: bench.KindError, Error: "finish: " + err.Error()}, nil)
		}
	}
	env.Settle()

	// Verification: the journal on disk against Temporal itself.
	if err := s.journal.Flush(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	wait := p.VerifyWait
	if abort != nil {
		wait = 0 // the load was stopped as misconfigured: nothing to wait for
	}
	hc := env.Counts()
	fmt.Fprintf(s.con.Out, "verifying %d workflows against Temporal (waiting up to %s for running ones)...\n", hc.Journaled+hc.Children, wait)
	results, verr := e.verifier.Finish(ctx, wait)
	res := results[name]
	if res == nil { // nothing was journaled
		res = verify.NewResult(name)
	}
	totals, _ := e.rec.Totals(bench.HistCorrected, 0.5)
	invs := append(res.Invariants(),
		verify.StartsJournaled(totals.Started+totals.Dropped, hc.Acked, hc.Journaled, c.starts.Count()-serverStartsBefore))
	invs = append(invs, driver.Invariants(ctx)...)
	if p.AbortOnFail > 0 {
		invs = append(invs, e.liveThresholdsInvariant())
	}
	if e.health && abort == nil && ctx.Err() == nil {
		invs = append(invs, e.serverHealth(ctx, began, res)...)
	}
	// What the scenario observed while checking (e.g. histories) is kept too.
	if iv := e.rec.Cut(time.Now()); len(iv.Hists) > 0 {
		e.write(bench.Record{Time: iv.End, Kind: bench.KindInterval, Interval: &iv}, nil)
	}
	e.write(bench.Record{Kind: bench.KindVerify}, reports.VerifyRecord{Result: res, Invariants: invs})
	if abort != nil {
		return cluster.Usagef("scenario %s: %v", name, abort.Err)
	}
	if verr != nil {
		return fmt.Errorf("verification: %w", verr)
	}
	return nil
}

// liveThresholdsInvariant is --abort-on-fail's verdict: whether the load
// ran its course or a threshold stopped it.
func (e *entry) liveThresholdsInvariant() scenarios.Invariant {
	inv := scenarios.Invariant{Name: "thresholds-held-during-load", OK: e.breach == nil}
	if e.breach != nil {
		inv.Detail = e.breach.String()
		if d := e.plan.Duration; d > 0 {
			inv.Detail += fmt.Sprintf(", %s into the planned %s", e.breach.At.Sub(e.figs.Start).Round(time.Second), d)
		}
		return inv
	}
	inv.Detail = fmt.Sprintf("no threshold stayed broken for %s while the load ran (checked each second over the trailing %s)",
		e.plan.AbortOnFail, min(e.plan.AbortOnFail/2, reports.LiveWindow))
	return inv
}

func (e *entry) scenarioPlan() reports.ScenarioPlan {
	p := e.plan
	plan := reports.ScenarioPlan{Name: p.Scenario.Name, Options: p.Options.Display(), MaxInFlight: p.MaxInFlight,
		Iterations: p.Iterations, LateAfter: p.LateAfter.String(), Thresholds: p.Thresholds}
	if p.Entry != p.Scenario.Name {
		plan.Entry = p.Entry
	}
	if p.Duration > 0 {
		plan.Duration = p.Duration.String()
	}
	plan.Executor = p.Executor.Name()
	if p.Load.Concurrency > 0 {
		plan.Concurrency = p.Load.Concurrency
	} else {
		plan.Pacer = p.Executor.String()
	}
	return plan
}

// load runs the executor, cutting an interval every second into the
// stream. It returns the first abort an iteration asked for (the load
// stopped there), if any.
func (e *entry) load(ctx, loadCtx context.Context, driver scenarios.Driver, fenv *faults.Env) *scenarios.AbortError {
	p, s := e.plan, e.s
	name := p.Entry
	start := waitForStart(loadCtx, p.StartAt, s.con)
	rec := e.rec
	rec.Cut(start) // anything observed while preparing belongs to no interval
	executor, faultSpecs := p.Executor, p.Faults
	var resumed *bench.Resume
	if p.Resume != nil {
		ex, res := resumePoint(p.Resume, p.Executor.(bench.ArrivalRate), start) // checkResume made sure
		executor, start, resumed = ex, ex.Origin, &res
		faultSpecs = faultsFrom(p.Faults, ex.Pacer.Due(res.From)) // the earlier ones were the killed driver's
		e.write(bench.Record{Kind: bench.KindResume}, res)
		s.wentOn = true
		fmt.Fprintf(s.con.Out, "resuming at iteration %d (%d due around the stop are not started again), the schedule moved %s\n",
			res.From, res.Unaccounted(), time.Duration(res.ShiftSeconds*float64(time.Second)).Round(time.Second))
	}
	e.figs.Start = start

	loadCtx, stopLoad := context.WithCancel(loadCtx)
	defer stopLoad()
	var (
		errCount int
		errMu    sync.Mutex
		aborted  *scenarios.AbortError
	)
	smp := e.startSampler(ctx, start) // metrics
	work := func(ctx context.Context, n int64, due time.Time) error {
		err := driver.Iterate(ctx, scenarios.Iteration{N: n, Due: due})
		if err != nil && ctx.Err() == nil {
			errMu.Lock()
			errCount++
			first := errCount <= 1000 // the report keeps the first few; the stream, a bounded sample
			if a := (*scenarios.AbortError)(nil); errors.As(err, &a) && aborted == nil {
				aborted = a
				stopLoad()
			}
			errMu.Unlock()
			if first {
				e.write(errorRecord(err), nil)
			}
		}
		return err
	}

	prog := &bench.Progress{Out: s.con.Out, TTY: s.con.TTY, LogEvery: 10 * time.Second, Scenario: name}
	var live *reports.LiveThresholds
	if p.AbortOnFail > 0 {
		live, _ = reports.NewLiveThresholds(p.Scenario.Name, p.Thresholds, p.AbortOnFail) // parsed by Validate
	}
	var keptMu sync.Mutex
	cut := func(now time.Time) {
		iv := rec.Cut(now)
		iv.Rate = executor.IntendedRate(now.Sub(start))
		e.write(bench.Record{Time: now, Kind: bench.KindInterval, Interval: &iv}, nil)
		if live != nil && e.breach == nil && loadCtx.Err() == nil {
			if b, err := live.Observe(iv); err == nil && b != nil {
				e.breach = b
				fmt.Fprintf(s.con.Out, "\nthreshold %s\n", b)
				stopLoad()
			}
		}
		if e.keep {
			keptMu.Lock()
			e.figs.Intervals = append(e.figs.Intervals, iv)
			keptMu.Unlock()
		}
		smp.Tick(now) // metrics
		totals, p99 := rec.Totals(bench.HistCorrected, 0.99)
		prog.Update(iv, totals, p99, now.Sub(start))
	}
	stopTicker := make(chan struct{})
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopTicker:
				return
			case now := <-t.C:
				cut(now)
			}
		}
	}()

	// Faults run beside the load; when the load is over (or stopped), any
	// still active are healed at once and pending ones are skipped.
	faultCtx, stopFaults := context.WithCancel(ctx)
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		faults.Run(faultCtx, fenv, start, faultSpecs, s.mx.faults(p.Scenario.Name, faultStream{e})) // metrics: active-faults gauge
	}()
	defer func() { stopFaults(); <-faultsDone }()
	stopBatches := e.verifyDuringLoad(ctx)
	defer stopBatches()

	res := executor.Run(loadCtx, ctx, p.Grace, rec, work)
	stopBatches()
	if resumed != nil {
		res.Scheduled += resumed.From // the schedule is the whole run's
	}
	e.figs.LoadEnd = res.LoadEnd
	stopFaults()
	<-faultsDone
	close(stopTicker)
	<-tickerDone
	cut(time.Now())
	smp.Stop(ctx) // metrics
	prog.Done()
	e.write(bench.Record{Kind: bench.KindLoadEnd}, res)
	errMu.Lock()
	defer errMu.Unlock()
	return aborted
}

// batchMax caps a verification batch during the load at twice what the
// load starts in one interval (at least 1,000; 10,000 for a closed loop,
// whose rate is not known ahead): batches keep up with the load, while a
// resumed run's past is caught up over several of them rather than in one
// burst of describe calls beside the load.
func batchMax(p *Plan) int {
	if p.Load.Rate <= 0 {
		return 10_000
	}
	return max(1_000, int(2*p.Load.Rate*p.VerifyEvery.Seconds()))
}

// verifyDuringLoad starts verifying the journal in batches, one every
// Plan.VerifyEvery, while the load runs (none when it is 0); the returned
// stop ends them and waits for the one under way. A batch that fails is
// recorded and left to the verification after the load.
func (e *entry) verifyDuringLoad(ctx context.Context) (stop func()) {
	every := e.plan.VerifyEvery
	if every <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := e.s.journal.Flush(); err != nil {
				return // the run fails on it when the load ends
			}
			if _, err := e.verifier.Batch(ctx); err != nil && ctx.Err() == nil {
				e.write(bench.Record{Kind: bench.KindError, Error: "verification during the load: " + err.Error()}, nil)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// errorRecord is a failed iteration as the result stream keeps it: the
// workflow it concerns beside the message, so reports name it once and
// group failures of one kind by message.
func errorRecord(err error) bench.Record {
	rec := bench.Record{Kind: bench.KindError, Error: err.Error()}
	var we *scenarios.WorkflowError
	if errors.As(err, &we) {
		rec.WorkflowID = we.ID
		rec.Error = strings.Replace(rec.Error, we.ID+": ", "", 1)
	}
	return rec
}
