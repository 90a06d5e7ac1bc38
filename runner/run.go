package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/verify"
	"github.com/squallbench/squall/workers"
)

// Build identifies the squall binary in reports.
type Build struct{ Version, Commit string }

// Console is where a run talks to the user.
type Console struct {
	Out io.Writer // progress and summary
	TTY bool      // Out is a terminal: live progress line
}

// Run executes p. loadCtx ending stops new starts (Ctrl-C); ctx ending aborts
// verification too (a second Ctrl-C). Whatever was gathered is written to
// the run directory, which is returned even when err is not nil.
func Run(ctx, loadCtx context.Context, p *Plan, b Build, con Console) (*reports.Report, string, error) {
	runID := newRunID()
	dir := p.Out
	if dir == "" {
		dir = filepath.Join("reports", "out", runID+"-"+p.Scenario.Name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", cluster.Usagef("cannot create run directory %s (%v): choose another --out", dir, err)
	}
	stream, err := bench.CreateStream(filepath.Join(dir, reports.FileStream))
	if err != nil {
		return nil, dir, cluster.Usagef("run directory %s: %v: choose another --out", dir, err)
	}
	journal, err := bench.CreateJournal(filepath.Join(dir, reports.FileJournal))
	if err != nil {
		stream.Close()
		return nil, dir, cluster.Usagef("run directory %s: %v: choose another --out", dir, err)
	}
	r := &run{plan: p, build: b, con: con, dir: dir, runID: runID, stream: stream, journal: journal,
		taskQueue: "squall-" + runID, started: time.Now()}
	runErr := r.execute(ctx, loadCtx)

	// Whatever happened, close the books and write the report.
	r.stopProcesses()
	end := reports.RunEnd{Interrupted: loadCtx.Err() != nil}
	end.DriverCPUSeconds, end.ChildrenCPUSeconds = cpuSeconds()
	if runErr != nil {
		end.Error = runErr.Error()
	}
	if !r.wroteStart {
		r.writeRunStart()
	}
	stream.Write(bench.Record{Kind: bench.KindRunEnd}, end)
	_ = journal.Close()
	if err := stream.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("write result stream: %w", err)
	}
	rep, err := reports.Rebuild(dir)
	if err != nil && runErr == nil {
		runErr = err
	}
	return rep, dir, runErr
}

type run struct {
	plan      *Plan
	build     Build
	con       Console
	dir       string
	runID     string
	taskQueue string
	stream    *bench.Stream
	journal   *bench.Journal

	conn         cluster.Conn
	server       *cluster.Child
	workers      []*cluster.Child
	client       client.Client
	proxy        *faults.NetProxy
	serverArgs   []string // without fault flags
	controlPort  int
	staticFaults bool // the server runs with static persistence faults
	rec          *bench.Recorder
	started      time.Time
	wroteStart   bool

	containers *cluster.ContainerCluster // --cluster container
}

func newRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func (r *run) execute(ctx, loadCtx context.Context) error {
	p := r.plan
	if err := r.clusterUp(ctx); err != nil {
		return err
	}
	if err := r.workersUp(ctx); err != nil {
		return err
	}
	r.writeRunStart()

	name := p.Scenario.Name
	// The scenario's records start here: details it emits while preparing
	// belong to it.
	r.stream.Write(bench.Record{Kind: bench.KindScenarioStart, Scenario: name}, r.scenarioPlan())
	r.rec = bench.NewRecorder(time.Now())
	env := scenarios.Env{Client: r.client, TaskQueue: r.taskQueue, RunID: r.runID, Journal: r.journal, Dir: r.dir,
		Address: r.conn.Address, Namespace: r.conn.Namespace,
		Observe: func(h string, d time.Duration) { r.rec.Observe(h, d) },
		Emit: func(key string, v any) {
			r.stream.Write(bench.Record{Kind: bench.KindDetail, Scenario: name}, map[string]any{key: v})
		},
	}
	driver, err := p.Scenario.New(ctx, env, p.Options)
	if err != nil {
		return fmt.Errorf("prepare scenario %s: %w", name, err)
	}
	defer driver.Close()
	fenv, err := r.faultEnv(driver)
	if err != nil {
		return err
	}

	r.load(ctx, loadCtx, driver, fenv)
	if f, ok := driver.(scenarios.Finisher); ok {
		if err := f.Finish(ctx); err != nil {
			r.stream.Write(bench.Record{Kind: bench.KindError, Scenario: name, Error: "finish: " + err.Error()}, nil)
		}
	}

	// Verification: the journal on disk against Temporal itself.
	if err := r.journal.Flush(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	fmt.Fprintf(r.con.Out, "verifying %d workflows against Temporal (waiting up to %s for running ones)...\n", r.journal.Count(), p.VerifyWait)
	results, verr := verify.Journal(ctx, r.client, filepath.Join(r.dir, reports.FileJournal), verify.Options{
		Wait:     p.VerifyWait,
		Expected: map[string]enumspb.WorkflowExecutionStatus{p.Scenario.Name: driver.ExpectedStatus()},
	})
	res := results[p.Scenario.Name]
	if res == nil { // nothing was journaled
		res = &verify.Result{Scenario: p.Scenario.Name, Expected: verify.StatusName(driver.ExpectedStatus()), ByStatus: map[string]int64{}}
	}
	invs := append(res.Invariants(), driver.Invariants(ctx)...)
	// What the scenario observed while checking (e.g. histories) is kept too.
	if iv := r.rec.Cut(time.Now()); len(iv.Hists) > 0 {
		r.stream.Write(bench.Record{Time: iv.End, Kind: bench.KindInterval, Scenario: name, Interval: &iv}, nil)
	}
	r.stream.Write(bench.Record{Kind: bench.KindVerify, Scenario: p.Scenario.Name}, reports.VerifyRecord{Result: res, Invariants: invs})
	if verr != nil {
		return fmt.Errorf("verification: %w", verr)
	}
	return nil
}

func (r *run) scenarioPlan() reports.ScenarioPlan {
	p := r.plan
	plan := reports.ScenarioPlan{Name: p.Scenario.Name, Options: p.Options.Display(), MaxInFlight: p.MaxInFlight,
		Iterations: p.Iterations, LateAfter: p.LateAfter.String()}
	if p.Duration > 0 {
		plan.Duration = p.Duration.String()
	}
	if p.Pacer != nil {
		plan.Executor, plan.Pacer = "arrival-rate", p.Pacer.String()
	} else {
		plan.Executor, plan.Concurrency = "concurrency", p.Concurrency
	}
	return plan
}

// load runs the executor, cutting an interval every second into the stream.
func (r *run) load(ctx, loadCtx context.Context, driver scenarios.Driver, fenv *faults.Env) {
	p := r.plan
	name := p.Scenario.Name
	start := time.Now()
	rec := r.rec
	rec.Cut(start) // anything observed while preparing belongs to no interval

	var errCount int
	var errMu sync.Mutex
	work := func(ctx context.Context, n int64, due time.Time) error {
		err := driver.Iterate(ctx, scenarios.Iteration{N: n, Due: due})
		if err != nil && ctx.Err() == nil {
			errMu.Lock()
			errCount++
			first := errCount <= 1000 // the report keeps the first few; the stream, a bounded sample
			errMu.Unlock()
			if first {
				r.stream.Write(bench.Record{Kind: bench.KindError, Scenario: name, Error: err.Error()}, nil)
			}
		}
		return err
	}

	prog := &bench.Progress{Out: r.con.Out, TTY: r.con.TTY, LogEvery: 10 * time.Second, Scenario: name}
	cut := func(now time.Time) {
		iv := rec.Cut(now)
		if p.Pacer != nil {
			iv.Rate = p.Pacer.Rate(now.Sub(start))
		}
		r.stream.Write(bench.Record{Time: now, Kind: bench.KindInterval, Scenario: name, Interval: &iv}, nil)
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
		faults.Run(faultCtx, fenv, start, p.Faults, faultStream{r})
	}()
	defer func() { stopFaults(); <-faultsDone }()

	limits := bench.Limits{Duration: p.Duration, Iterations: p.Iterations}
	var res bench.Result
	if p.Pacer != nil {
		res = bench.ArrivalRate{Pacer: p.Pacer, MaxInFlight: p.MaxInFlight, LateAfter: p.LateAfter, Limits: limits}.
			Run(loadCtx, ctx, p.Grace, rec, work)
	} else {
		res = bench.Concurrency{N: p.Concurrency, Limits: limits}.Run(loadCtx, ctx, p.Grace, rec, work)
	}
	stopFaults()
	<-faultsDone
	close(stopTicker)
	<-tickerDone
	cut(time.Now())
	prog.Done()
	r.stream.Write(bench.Record{Kind: bench.KindLoadEnd, Scenario: name}, res)
}

func (r *run) clusterUp(ctx context.Context) error {
	p := r.plan
	r.conn = p.Conn
	if r.conn.Namespace == "" {
		r.conn.Namespace = cluster.DefaultNamespace
	}
	if p.Embedded {
		addr, err := r.startServer(ctx)
		if err != nil {
			return err
		}
		r.conn.Address = addr
	}
	if p.Container {
		addr, err := r.startContainers(ctx)
		if err != nil {
			return err
		}
		r.conn.Address = addr
	}
	if needs(p.Faults, faults.NeedProxy) {
		px, err := faults.StartNetProxy(r.conn.Address)
		if err != nil {
			return err
		}
		r.proxy = px
		fmt.Fprintf(r.con.Out, "network faults scheduled: clients and workers connect through a proxy on %s\n", px.Addr())
		r.conn.Address = px.Addr()
	}
	cl, err := r.conn.Dial(ctx)
	if err != nil {
		return err
	}
	r.client = cl
	return nil
}

func (r *run) startServer(ctx context.Context) (string, error) {
	p := r.plan
	port := p.ServerPort
	if port == 0 {
		var err error
		if port, err = cluster.FreePortRange(); err != nil {
			return "", fmt.Errorf("pick server port: %w", err)
		}
	}
	metrics := p.MetricsPort
	if metrics == 0 {
		var err error
		if metrics, err = cluster.FreePort(); err != nil {
			return "", fmt.Errorf("pick metrics port: %w", err)
		}
	}
	db := p.DB
	if db == "" {
		db = filepath.Join(r.dir, "temporal.db")
	}
	args := []string{"server", "--db", db, "--port", strconv.Itoa(port), "--metrics-port", strconv.Itoa(metrics),
		"--log-file", filepath.Join(r.dir, "server.log")}
	if p.ServerLogLevel != "" {
		args = append(args, "--log-level", p.ServerLogLevel)
	}
	args = append(args, persistenceArgs(p)...)
	for k, v := range p.Dynamic {
		args = append(args, "--dynamic-config", k+"="+v)
	}
	if needs(p.Faults, faults.NeedEmbedded) {
		var err error
		if r.controlPort, err = cluster.FreePort(); err != nil {
			return "", fmt.Errorf("pick control port: %w", err)
		}
		args = append(args, "--control-port", strconv.Itoa(r.controlPort))
	}
	r.serverArgs = args
	bin, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	r.server = &cluster.Child{Name: "embedded server", Bin: bin, Args: args,
		LogPath: filepath.Join(r.dir, "server.out"), ReadyPrefix: cluster.ReadyLine}
	addr, err := r.server.Start(ctx, 90*time.Second)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(r.con.Out, "embedded Temporal %s on %s (metrics :%d/metrics, db %s)\n", cluster.ServerVersion, addr, metrics, db)
	return addr, nil
}

func (r *run) workersUp(ctx context.Context) error {
	p := r.plan
	if p.WorkerContainers && p.Workers > 0 {
		return r.startWorkerContainers(ctx)
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, p.Workers)
	for i := range p.Workers {
		args := append([]string{"worker", "--task-queue", r.taskQueue}, r.conn.Args()...)
		args = append(args, p.Tuning.Args()...)
		c := &cluster.Child{Name: fmt.Sprintf("worker %d", i), Bin: bin, Args: args,
			LogPath: filepath.Join(r.dir, fmt.Sprintf("worker-%d.log", i)), ReadyPrefix: workers.ReadyLine}
		r.workers = append(r.workers, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Start(ctx, 60*time.Second); err != nil {
				errs[i] = fmt.Errorf("start worker %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if p.Workers > 0 {
		fmt.Fprintf(r.con.Out, "%d worker process(es) polling task queue %s\n", p.Workers, r.taskQueue)
	}
	return nil
}

func (r *run) stopProcesses() {
	if r.client != nil {
		r.client.Close()
	}
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Stop(15 * time.Second) }()
	}
	wg.Wait()
	if r.server != nil {
		_ = r.server.Stop(30 * time.Second)
	}
	if r.proxy != nil {
		r.proxy.Close()
	}
	r.stopContainers()
}

func (r *run) writeRunStart() {
	p := r.plan
	cl := "external"
	if p.Embedded {
		cl = "embedded"
	}
	if p.Container {
		cl = "container"
	}
	info := reports.RunInfo{
		SquallVersion: r.build.Version, Commit: r.build.Commit, ServerVersion: cluster.ServerVersion,
		Cluster: cl, Address: r.conn.Address, Namespace: r.conn.Namespace, TaskQueue: r.taskQueue,
		Flags: p.Args, Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Workers: p.Workers, WorkerTuning: p.Tuning, DynamicConfig: p.Dynamic, StartTime: r.started,
	}
	r.stream.Write(bench.Record{Kind: bench.KindRunStart}, info)
	r.wroteStart = true
}

// cpuSeconds is the CPU time (user+system) used by this process — the
// driver — and by its waited-for children (embedded server and workers), so
// the report can say how much of the machine the load generator took.
func cpuSeconds() (self, children float64) {
	sec := func(u syscall.Rusage) float64 {
		return float64(u.Utime.Sec+u.Stime.Sec) + float64(u.Utime.Usec+u.Stime.Usec)/1e6
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = sec(ru)
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		children = sec(ru)
	}
	return self, children
}
