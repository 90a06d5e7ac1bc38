package runner

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/reports"
)

// Session is one run directory that entries run into, one after another:
// a suite's entries, or a capacity search's probes. It owns the result
// stream and the journal; each entry reuses the current cluster or starts
// a fresh one.
type Session struct{ r *run }

// Open creates the run directory for first's --out (default
// reports/out/<run id>-label) with its result stream and journal.
func Open(first *Plan, label string, b Build, con Console) (*Session, error) {
	runID := cmp.Or(first.RunID, newRunID()) // drivers of one run share it
	dir := first.Out
	if dir == "" {
		if first.Share.Split() { // drivers of one run on one machine must not share a directory
			label += fmt.Sprintf("-driver%d", first.Share.Index)
		}
		dir = filepath.Join("reports", "out", runID+"-"+label)
	}
	if err := checkFreshDir(dir, first.Overwrite); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, cluster.Usagef("cannot create run directory %s (%v): choose another --out", dir, err)
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
	return &Session{r: &run{plan: first, build: b, con: con, dir: dir, runID: runID, stream: stream, journal: journal,
		taskQueue: "squall-" + runID, started: time.Now()}}, nil
}

// Dir is the run directory.
func (s *Session) Dir() string { return s.r.dir }

// Entry runs p. fresh starts a new cluster first (stopping the current
// one); clusterLabel, when set, names that cluster's files; served are
// the entries the cluster will serve (what its faults need).
func (s *Session) Entry(ctx, loadCtx context.Context, p *Plan, fresh bool, clusterLabel string, served []*Plan) error {
	r := s.r
	r.plan = p
	if !r.wroteStart {
		if err := r.startLive(); err != nil {
			return err
		}
	}
	if fresh || r.client == nil {
		r.stopProcesses()
		r.clusterLabel = strings.NewReplacer("/", "_", " ", "_").Replace(clusterLabel)
		r.clusterPlans = served
		if err := r.clusterUp(ctx); err != nil {
			return r.entryErr(err)
		}
		if err := r.workersUp(ctx); err != nil {
			return r.entryErr(err)
		}
	}
	if !r.wroteStart {
		r.writeRunStart()
	}
	return r.entryErr(r.execute(ctx, loadCtx))
}

// Records calls fn for the records written so far of one entry.
func (s *Session) Records(entry string, fn func(bench.Record) error) error {
	if err := s.r.stream.Flush(); err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(s.r.dir, reports.FileStream))
	if err != nil {
		return err
	}
	defer f.Close()
	return bench.ReadStream(f, func(rec bench.Record) error {
		if rec.Scenario != entry {
			return nil
		}
		return fn(rec)
	})
}

// Write appends a record of the session's own (e.g. a capacity result).
func (s *Session) Write(rec bench.Record, data any) { s.r.stream.Write(rec, data) }

// Close stops the cluster, closes the books and writes the report, whatever
// happened (runErr is recorded in it).
func (s *Session) Close(loadCtx context.Context, runErr error) (*reports.Report, string, error) {
	r := s.r
	r.stopProcesses()
	end := reports.RunEnd{Interrupted: loadCtx.Err() != nil}
	end.DriverCPUSeconds, end.ChildrenCPUSeconds = cpuSeconds()
	if runErr != nil {
		end.Error = runErr.Error()
	}
	if !r.wroteStart {
		r.writeRunStart()
	}
	r.stream.Write(bench.Record{Kind: bench.KindRunEnd}, end)
	_ = r.journal.Close()
	if err := r.stream.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("write result stream: %w", err)
	}
	rep, err := reports.Rebuild(r.dir)
	if err != nil && runErr == nil {
		runErr = err
	}
	r.stopLive() // the metrics endpoint stays up until the report is written
	return rep, r.dir, runErr
}
