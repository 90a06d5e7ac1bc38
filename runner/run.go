package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

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

// Run executes a suite (a single run is a suite of one plan). loadCtx
// ending stops new starts (Ctrl-C); ctx ending aborts verification too (a
// second Ctrl-C). Whatever was gathered is written to the run directory,
// which is returned even when err is not nil. Each entry gets a fresh
// cluster (server, database, workers) unless the suite shares one: state
// one scenario leaves behind must not slow the next. An interrupted or
// broken entry ends the suite; the report says which entries ran.
func Run(ctx, loadCtx context.Context, s *Suite, b Build, con Console) (*reports.Report, string, error) {
	if s.Plans[0].AutoDrivers > 0 {
		if len(s.Plans) > 1 {
			return nil, "", cluster.Usagef("--driver auto/n runs one scenario, not a suite: run each entry's drivers on their own, or use --driver i/n")
		}
		p := *s.Plans[0] // joining fixes the index, run id and directory of this run only
		if err := joinDrivers(ctx, &p, con); err != nil {
			return nil, "", err
		}
		s = &Suite{Plans: []*Plan{&p}, SharedServer: s.SharedServer}
	}
	label := s.Plans[0].Scenario.Name
	if len(s.Plans) > 1 {
		label = "suite"
	}
	sess, err := Open(s.Plans[0], label, b, con)
	if err != nil {
		return nil, "", err
	}
	sess.r.multi = len(s.Plans) > 1
	var runErr error
	for i, p := range s.Plans {
		if loadCtx.Err() != nil {
			break
		}
		fresh := i == 0 || !s.SharedServer
		cluster := ""
		if sess.r.multi && !s.SharedServer {
			cluster = p.Entry
		}
		shared := []*Plan{p}
		if s.SharedServer {
			shared = s.Plans
		}
		if runErr = sess.Entry(ctx, loadCtx, p, fresh, cluster, shared); runErr != nil {
			break
		}
	}
	return sess.Close(loadCtx, runErr)
}

type run struct {
	plan *Plan // the entry running now
	// multi: the run has more than one entry (errors name theirs).
	multi bool
	// clusterLabel, when set, names the current cluster's files
	// (server-LABEL.log), for runs with a cluster per entry.
	clusterLabel string
	clusterPlans []*Plan // the entries the current cluster serves
	build        Build
	con          Console
	dir          string
	runID        string
	taskQueue    string
	stream       *bench.Stream
	journal      *bench.Journal

	conn         cluster.Conn
	server       *cluster.Child
	workers      []*cluster.Child
	client       client.Client
	proxy        *faults.NetProxy
	serverArgs   []string // without fault flags
	controlPort  int
	staticFaults bool // the server runs with static persistence faults
	rec          *bench.Recorder
	starts       cluster.StartCounter // workflows the server started for the driver
	started      time.Time
	wroteStart   bool
	mx           runMetrics // metrics: live endpoint, server sampling (metrics.go)

	containers *cluster.ContainerCluster // --cluster container
}

func newRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// entryErr names the suite entry an error happened in.
func (r *run) entryErr(err error) error {
	if !r.multi || err == nil {
		return err
	}
	if cluster.IsUsageErr(err) {
		return cluster.Usagef("suite entry %s: %v", r.plan.Entry, err)
	}
	return fmt.Errorf("suite entry %s: %w", r.plan.Entry, err)
}

// fileName is a per-entry file of the run directory (server.log →
// server-ENTRY.log when a suite gives each entry its own cluster).
func (r *run) fileName(name string) string {
	if r.clusterLabel == "" {
		return filepath.Join(r.dir, name)
	}
	ext := filepath.Ext(name)
	return filepath.Join(r.dir, strings.TrimSuffix(name, ext)+"-"+r.clusterLabel+ext)
}

// clusterNeeds reports whether any entry served by the current cluster
// schedules a fault that needs n.
func (r *run) clusterNeeds(n faults.Need) bool {
	for _, p := range r.clusterPlans {
		if needs(p.Faults, n) {
			return true
		}
	}
	return false
}

func (r *run) execute(ctx, loadCtx context.Context) error {
	p := r.plan
	name := p.Entry
	// The scenario's records start here: details it emits while preparing
	// belong to it.
	r.stream.Write(bench.Record{Kind: bench.KindScenarioStart, Scenario: name}, r.scenarioPlan())
	r.rec = bench.NewRecorder(time.Now())
	r.rec.SetHook(r.mx.live.Hook()) // metrics
	env := scenarios.NewEnv(scenarios.HarnessConfig{Client: r.client, Journal: r.journal.For(name)})
	env.TaskQueue, env.RunID, env.Dir, env.Load = r.taskQueue, r.runID, r.dir, p.Load
	env.Address, env.Namespace = r.conn.Address, r.conn.Namespace
	env.Observe = func(h string, d time.Duration) { r.rec.Observe(h, d) }
	env.Emit = func(key string, v any) {
		r.stream.Write(bench.Record{Kind: bench.KindDetail, Scenario: name}, map[string]any{key: v})
	}
	serverStartsBefore := r.starts.Count()
	driver, err := p.Scenario.New(ctx, env, p.Options)
	if err != nil {
		if abort := (*scenarios.AbortError)(nil); errors.As(err, &abort) {
			return cluster.Usagef("scenario %s: %v", name, abort.Err)
		}
		return fmt.Errorf("prepare scenario %s: %w", name, err)
	}
	defer driver.Close()
	fenv, err := r.faultEnv(driver)
	if err != nil {
		return err
	}

	abort := r.load(ctx, loadCtx, driver, fenv)
	if f, ok := driver.(scenarios.Finisher); ok {
		if err := f.Finish(ctx); err != nil {
			r.stream.Write(bench.Record{Kind: bench.KindError, Scenario: name, Error: "finish: " + err.Error()}, nil)
		}
	}
	env.Settle()

	// Verification: the journal on disk against Temporal itself.
	if err := r.journal.Flush(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	wait := p.VerifyWait
	if abort != nil {
		wait = 0 // the load was stopped as misconfigured: nothing to wait for
	}
	hc := env.Counts()
	fmt.Fprintf(r.con.Out, "verifying %d workflows against Temporal (waiting up to %s for running ones)...\n", hc.Journaled+hc.Children, wait)
	results, verr := verify.Journal(ctx, r.client, filepath.Join(r.dir, reports.FileJournal), verify.Options{Wait: wait, Scenario: name})
	res := results[name]
	if res == nil { // nothing was journaled
		res = verify.NewResult(name)
	}
	totals, _ := r.rec.Totals(bench.HistCorrected, 0.5)
	invs := append(res.Invariants(),
		verify.StartsJournaled(totals.Started+totals.Dropped, hc.Acked, hc.Journaled, r.starts.Count()-serverStartsBefore))
	invs = append(invs, driver.Invariants(ctx)...)
	// What the scenario observed while checking (e.g. histories) is kept too.
	if iv := r.rec.Cut(time.Now()); len(iv.Hists) > 0 {
		r.stream.Write(bench.Record{Time: iv.End, Kind: bench.KindInterval, Scenario: name, Interval: &iv}, nil)
	}
	r.stream.Write(bench.Record{Kind: bench.KindVerify, Scenario: name}, reports.VerifyRecord{Result: res, Invariants: invs})
	if abort != nil {
		return cluster.Usagef("scenario %s: %v", name, abort.Err)
	}
	if verr != nil {
		return fmt.Errorf("verification: %w", verr)
	}
	return nil
}

func (r *run) scenarioPlan() reports.ScenarioPlan {
	p := r.plan
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
func (r *run) load(ctx, loadCtx context.Context, driver scenarios.Driver, fenv *faults.Env) *scenarios.AbortError {
	p := r.plan
	name := p.Entry
	start := waitForStart(loadCtx, p.StartAt, r.con)
	rec := r.rec
	rec.Cut(start) // anything observed while preparing belongs to no interval

	loadCtx, stopLoad := context.WithCancel(loadCtx)
	defer stopLoad()
	var (
		errCount int
		errMu    sync.Mutex
		aborted  *scenarios.AbortError
	)
	smp := r.startSampler(ctx, start) // metrics
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
				r.stream.Write(errorRecord(name, err), nil)
			}
		}
		return err
	}

	prog := &bench.Progress{Out: r.con.Out, TTY: r.con.TTY, LogEvery: 10 * time.Second, Scenario: name}
	cut := func(now time.Time) {
		iv := rec.Cut(now)
		iv.Rate = p.Executor.IntendedRate(now.Sub(start))
		r.stream.Write(bench.Record{Time: now, Kind: bench.KindInterval, Scenario: name, Interval: &iv}, nil)
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
		faults.Run(faultCtx, fenv, start, p.Faults, r.mx.faults(faultStream{r})) // metrics: active-faults gauge
	}()
	defer func() { stopFaults(); <-faultsDone }()

	res := p.Executor.Run(loadCtx, ctx, p.Grace, rec, work)
	stopFaults()
	<-faultsDone
	close(stopTicker)
	<-tickerDone
	cut(time.Now())
	smp.Stop(ctx) // metrics
	prog.Done()
	r.stream.Write(bench.Record{Kind: bench.KindLoadEnd, Scenario: name}, res)
	errMu.Lock()
	defer errMu.Unlock()
	return aborted
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
	if r.clusterNeeds(faults.NeedProxy) {
		px, err := faults.StartNetProxy(r.conn.Address)
		if err != nil {
			return err
		}
		r.proxy = px
		fmt.Fprintf(r.con.Out, "network faults scheduled: clients and workers connect through a proxy on %s\n", px.Addr())
		r.conn.Address = px.Addr()
	}
	dial := r.conn
	dial.Starts = &r.starts
	cl, err := dial.Dial(ctx)
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
		db = r.fileName("temporal.db")
	}
	args := []string{"server", "--db", db, "--port", strconv.Itoa(port), "--metrics-port", strconv.Itoa(metrics),
		"--log-file", r.fileName("server.log")}
	if p.ServerLogLevel != "" {
		args = append(args, "--log-level", p.ServerLogLevel)
	}
	args = append(args, persistenceArgs(p)...)
	for k, v := range p.Dynamic {
		args = append(args, "--dynamic-config", k+"="+v)
	}
	if r.clusterNeeds(faults.NeedEmbedded) {
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
		LogPath: r.fileName("server.out"), ReadyPrefix: cluster.ReadyLine}
	addr, err := r.server.Start(ctx, 90*time.Second)
	if err != nil {
		return "", err
	}
	r.mx.serverMetrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics) // metrics: sampled each interval
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
		args = append(args, r.workerMetricsArgs(i)...) // metrics
		c := &cluster.Child{Name: fmt.Sprintf("worker %d", i), Bin: bin, Args: args,
			LogPath: r.fileName(fmt.Sprintf("worker-%d.log", i)), ReadyPrefix: workers.ReadyLine}
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

// stopProcesses stops the current cluster (client, workers, server,
// proxy), so the next suite entry can start afresh.
func (r *run) stopProcesses() {
	if r.client != nil {
		r.client.Close()
		r.client = nil
	}
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Stop(15 * time.Second) }()
	}
	wg.Wait()
	r.workers = nil
	if r.server != nil {
		_ = r.server.Stop(30 * time.Second)
		r.server = nil
	}
	if r.proxy != nil {
		r.proxy.Close()
		r.proxy = nil
	}
	r.staticFaults = false
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
		RunID: r.runID, Driver: p.Share.Index, Drivers: p.Share.Of, StartAt: p.StartAt, Schema: reports.SchemaVersion,
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

// errorRecord is a failed iteration as the result stream keeps it: the
// workflow it concerns beside the message, so reports name it once and
// group failures of one kind by message.
func errorRecord(scenario string, err error) bench.Record {
	rec := bench.Record{Kind: bench.KindError, Scenario: scenario, Error: err.Error()}
	var we *scenarios.WorkflowError
	if errors.As(err, &we) {
		rec.WorkflowID = we.ID
		rec.Error = strings.Replace(rec.Error, we.ID+": ", "", 1)
	}
	return rec
}

// checkFreshDir refuses a run directory that already holds a run: a run
// never replaces what another one gathered, unless told to.
func checkFreshDir(dir string, overwrite bool) error {
	if overwrite {
		return nil
	}
	for _, name := range []string{reports.FileStream, reports.FileJournal, reports.FileJSON} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return cluster.Usagef("run directory %s already holds a run (%s): choose a fresh --out, or add --overwrite to replace it", dir, name)
		}
	}
	return nil
}
