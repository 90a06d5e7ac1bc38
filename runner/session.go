package runner

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/health"
	"github.com/squallbench/squall/reports"
)

// Session is one run directory that entries run into, one after another:
// a suite's entries, or a capacity search's probes. It owns the result
// stream, the journal and the live metrics endpoint; each entry runs on the
// current cluster or starts a fresh one (clusterHandle).
type Session struct {
	build     Build
	con       Console
	dir       string
	runID     string
	taskQueue string
	stream    *bench.Stream
	journal   *bench.Journal
	started   time.Time
	mx        runMetrics // live endpoint (metrics.go)
	first     *Plan      // the plan that named the directory and its settings

	// multi: the run has more than one entry (errors name theirs).
	multi      bool
	wroteStart bool
	// wentOn: a resumed session took the schedule up again (its resume
	// record is written). Until then the run stays resumable: a resume that
	// fails before it (the cluster would not start) closes nothing.
	wentOn  bool
	cluster *clusterHandle // the current cluster; nil before the first entry
	// cpuAtOpen is this process's and its children's CPU when the session
	// opened: a run's figures are deltas, not the process's totals (with
	// --runs N, one process holds N sessions).
	cpuAtOpen [2]float64
	// logScan reads the server logs incrementally: each entry's log check
	// covers what was logged since the previous one's (health.go).
	logScan health.LogScanner
}

// Open creates the run directory for first's --out (default
// reports/out/<run id>-label) with its result stream and journal. multi:
// more than one entry will run into it.
func Open(first *Plan, label string, multi bool, b Build, con Console) (*Session, error) {
	runID := cmp.Or(first.RunID, newRunID()) // drivers of one run share it
	dir := first.Out
	if dir == "" {
		if first.Share.Split() { // drivers of one run on one machine must not share a directory
			label += fmt.Sprintf("-driver%d", first.Share.Index)
		}
		dir = filepath.Join("reports", "out", runID+"-"+label)
	}
	if err := reports.CreateRunDir(dir, first.Overwrite, "--overwrite"); err != nil {
		return nil, err
	}
	stream, err := bench.CreateStream(filepath.Join(dir, reports.FileStream))
	if err != nil {
		return nil, cluster.Usagef("run directory %s: %v: choose another --out", dir, err)
	}
	journal, err := bench.CreateJournal(filepath.Join(dir, reports.FileJournal))
	if err != nil {
		stream.Close()
		return nil, cluster.Usagef("run directory %s: %v: choose another --out", dir, err)
	}
	return startSession(&Session{first: first, build: b, con: con, dir: dir, runID: runID, stream: stream, journal: journal,
		taskQueue: "squall-" + runID, started: time.Now(), multi: multi})
}

// startSession takes the CPU baseline and brings up the live metrics endpoint;
// on failure the books are closed again.
func startSession(s *Session) (*Session, error) {
	s.cpuAtOpen[0], s.cpuAtOpen[1] = cpuSeconds()
	if err := s.startLive(); err != nil {
		s.stream.Close()
		s.journal.Close()
		return nil, err
	}
	return s, nil
}

// Reopen continues the run a killed driver left in first.Resume's
// directory: its result stream and journal are appended to, under the
// same run id and task queue, so the workflows already started keep
// their IDs and the report covers both drivers' parts.
func Reopen(first *Plan, b Build, con Console) (*Session, error) {
	r := first.Resume
	stream, err := bench.AppendStream(filepath.Join(r.Dir, reports.FileStream))
	if err != nil {
		return nil, cluster.Usagef("--resume %s: %v", r.Dir, err)
	}
	journal, err := bench.AppendJournal(filepath.Join(r.Dir, reports.FileJournal))
	if err != nil {
		stream.Close()
		return nil, cluster.Usagef("--resume %s: %v", r.Dir, err)
	}
	return startSession(&Session{first: first, build: b, con: con, dir: r.Dir, runID: r.Info.RunID, stream: stream, journal: journal,
		taskQueue: cmp.Or(r.Info.TaskQueue, "squall-"+r.Info.RunID), started: time.Now(), wroteStart: true})
}

// Dir is the run directory.
func (s *Session) Dir() string { return s.dir }

// EntryOptions say how an entry runs within its session.
type EntryOptions struct {
	// Fresh starts a new cluster first (stopping the current one).
	Fresh bool
	// ClusterLabel, when set, names a fresh cluster's files.
	ClusterLabel string
	// Served are the entries a fresh cluster will serve (what their faults
	// need); default: this one.
	Served []*Plan
	// Keep returns the entry's intervals and samples in its Figures.
	Keep bool
	// SkipHealth leaves out the server-health checks (a capacity probe
	// overloads the server on purpose).
	SkipHealth bool
}

// Entry runs p, and returns what it measured.
func (s *Session) Entry(ctx, loadCtx context.Context, p *Plan, o EntryOptions) (Figures, error) {
	if o.Fresh || s.cluster == nil {
		s.cluster.stop()
		served := o.Served
		if len(served) == 0 {
			served = []*Plan{p}
		}
		s.cluster = &clusterHandle{plan: p, served: served, dir: s.dir, runID: s.runID, taskQueue: s.taskQueue, out: s.con.Out,
			label: strings.NewReplacer("/", "_", " ", "_").Replace(o.ClusterLabel)}
		if err := s.cluster.up(ctx); err != nil {
			return Figures{}, s.entryErr(p, err)
		}
	}
	if !s.wroteStart {
		s.writeRunStart()
	}
	e := &entry{s: s, c: s.cluster, plan: p, keep: o.Keep, health: !o.SkipHealth}
	err := e.execute(ctx, loadCtx)
	return e.figs, s.entryErr(p, err)
}

// entryErr names the entry an error happened in, when there are several.
func (s *Session) entryErr(p *Plan, err error) error {
	if !s.multi || err == nil {
		return err
	}
	if cluster.IsUsageErr(err) {
		return cluster.Usagef("suite entry %s: %v", p.Entry, err)
	}
	return fmt.Errorf("suite entry %s: %w", p.Entry, err)
}

// Write appends a record of the session's own (e.g. a capacity result).
func (s *Session) Write(rec bench.Record, data any) { s.stream.Write(rec, data) }

// Close stops the cluster, closes the books and writes the report, whatever
// happened (runErr is recorded in it).
func (s *Session) Close(loadCtx context.Context, runErr error) (*reports.Report, string, error) {
	end := reports.RunEnd{Interrupted: loadCtx.Err() != nil, Topology: s.cluster.topologyReport()}
	s.cluster.stop()
	self, children := cpuSeconds()
	end.DriverCPUSeconds, end.ChildrenCPUSeconds = self-s.cpuAtOpen[0], children-s.cpuAtOpen[1]
	if runErr != nil {
		end.Error = runErr.Error()
	}
	if !s.wroteStart {
		s.writeRunStart()
	}
	if r := s.first.Resume; r != nil && !s.wentOn && runErr != nil {
		// No run-end record: the killed driver's part is intact, and the
		// run can be taken up again once what stopped this resume is fixed.
		runErr = fmt.Errorf("%w (the run is still resumable: squall run --resume %s)", runErr, r.Dir)
	} else {
		s.stream.Write(bench.Record{Kind: bench.KindRunEnd}, end)
	}
	_ = s.journal.Close()
	if err := s.stream.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("write result stream: %w", err)
	}
	rep, err := reports.Rebuild(s.dir)
	if err != nil && runErr == nil {
		runErr = err
	}
	s.stopLive() // the metrics endpoint stays up until the report is written
	return rep, s.dir, runErr
}

func (s *Session) writeRunStart() {
	p := s.first
	cl := "external"
	if p.Embedded {
		cl = "embedded"
	}
	if p.Container {
		cl = "container"
	}
	if p.services() {
		cl += " topology"
	}
	info := reports.RunInfo{
		SquallVersion: s.build.Version, Commit: s.build.Commit, ServerVersion: cluster.ServerVersion,
		Cluster: cl, Namespace: cmp.Or(p.Conn.Namespace, cluster.DefaultNamespace), AddressFrom: p.Conn.Origin, TaskQueue: s.taskQueue,
		Flags: p.Args, Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Workers: p.Workers, WorkerTuning: p.Tuning, DynamicConfig: p.Dynamic, StartTime: s.started,
		RunID: s.runID, Driver: p.Share.Index, Drivers: p.Share.Of, StartAt: p.StartAt, Schema: reports.SchemaVersion,
	}
	if c := s.cluster; c != nil {
		info.Address, info.Namespace, info.ServerVersion = c.target, c.conn.Namespace, cmp.Or(c.serverVersion, cluster.ServerVersion)
		info.Topology = c.topologyReport()
	}
	s.stream.Write(bench.Record{Kind: bench.KindRunStart}, info)
	s.wroteStart = true
}
