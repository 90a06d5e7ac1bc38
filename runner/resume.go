package runner

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/scenarios"
)

// resumeMargin is how far past the last record on disk a resumed schedule
// starts. The killed driver cut an interval and flushed its stream and
// journal every second, so it died within about two seconds of the last
// record that reached the disk, and no start due after last+margin was
// issued. Starts due before then are not issued again: the same workflow
// ID must never run twice (a driver starved of CPU for longer than the
// margin could break this; the resume record shows how many were skipped).
const resumeMargin = 3 * time.Second

// Resumable is what a run killed mid-load left in its directory, read by
// `squall run --resume DIR`.
type Resumable struct {
	Dir  string
	Info reports.RunInfo // the run-start record: flags, run id
	// Scenario is the plan its scenario-start recorded; nil when the
	// driver died before its load began (the run then starts from 0).
	Scenario *reports.ScenarioPlan
	// LoadEnded: the load was over (a load-end record); only verification
	// and the report remain.
	LoadEnded bool
	// Origin is the schedule's t=0 (moved by earlier resumes).
	Origin time.Time
	// Recorded is how many iterations the records account for.
	Recorded int64
	// Last is the time of the last record on disk.
	Last time.Time
}

// ReadResumable reads dir's result stream for a resume, refusing (usage
// errors) what cannot be resumed.
func ReadResumable(dir string) (*Resumable, error) {
	path := filepath.Join(dir, reports.FileStream)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, cluster.Usagef("--resume %s: no %s there: give the run directory of the run to continue", dir, reports.FileStream)
	}
	if err != nil {
		return nil, cluster.Usagef("--resume %s: %v", dir, err)
	}
	defer f.Close()
	r := &Resumable{Dir: dir}
	var started, ended, scenarioStarts int
	var sinceResume int64
	err = bench.ReadStream(f, func(rec bench.Record) error {
		if rec.Time.After(r.Last) {
			r.Last = rec.Time
		}
		switch rec.Kind {
		case bench.KindRunStart:
			started++
			return json.Unmarshal(rec.Data, &r.Info)
		case bench.KindScenarioStart:
			scenarioStarts++
			r.Scenario = &reports.ScenarioPlan{}
			return json.Unmarshal(rec.Data, r.Scenario)
		case bench.KindInterval:
			if iv := rec.Interval; iv != nil {
				if r.Origin.IsZero() {
					r.Origin = iv.Start // the load's first interval begins at t=0
				}
				sinceResume += iv.Started + iv.Dropped
			}
		case bench.KindResume:
			var res bench.Resume
			if err := json.Unmarshal(rec.Data, &res); err != nil {
				return err
			}
			r.Origin, r.Recorded, sinceResume = res.Origin, res.From, 0
		case bench.KindLoadEnd:
			r.LoadEnded = true
		case bench.KindRunEnd:
			ended++
		}
		return nil
	})
	r.Recorded += sinceResume
	if err == nil { // the journal is flushed on its own: its last start may be later
		err = bench.ReadJournal(filepath.Join(dir, reports.FileJournal), func(e bench.JournalEntry) error {
			if at := time.UnixMilli(e.At); at.After(r.Last) {
				r.Last = at
			}
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	switch {
	case err != nil:
		return nil, cluster.Usagef("--resume %s: %s: %v", dir, reports.FileStream, err)
	case started == 0:
		return nil, cluster.Usagef("--resume %s: its %s has no run-start record: nothing to continue; start the run again", dir, reports.FileStream)
	case ended > 0:
		return nil, cluster.Usagef("--resume %s: that run finished (it has its run-end record): nothing to resume; `squall report %s` rebuilds its report", dir, dir)
	case scenarioStarts > 1:
		return nil, cluster.Usagef("--resume %s: a suite cannot be resumed, only a single scenario's run", dir)
	case r.Info.Drivers > 1:
		return nil, cluster.Usagef("--resume %s: driver %d of %d: a run split across drivers cannot be resumed", dir, r.Info.Driver, r.Info.Drivers)
	case r.Info.RunID == "":
		return nil, cluster.Usagef("--resume %s: its run-start record has no run id (written by an older squall): it cannot be resumed", dir)
	}
	if r.Origin.IsZero() && r.Scenario != nil {
		r.Origin = r.Last // the load began but no interval reached the disk
	}
	return r, nil
}

// checkResume says whether p can continue the run r left.
func checkResume(p *Plan) error {
	r := p.Resume
	if !p.Scenario.Resumable {
		return cluster.Usagef("--resume %s: scenario %s keeps state in the driver that its checks need, so a new driver cannot judge the run whole: start it again (resumable: %s)",
			r.Dir, p.Scenario.Name, resumableNames())
	}
	if _, ok := p.Executor.(bench.ArrivalRate); !ok {
		return cluster.Usagef("--resume %s: a closed loop (--concurrency) has no schedule to continue: only open-loop runs (--rate) can be resumed", r.Dir)
	}
	if r.Scenario != nil && r.Scenario.Name != p.Scenario.Name {
		return cluster.Usagef("--resume %s: the run there is of scenario %s, not %s", r.Dir, r.Scenario.Name, p.Scenario.Name)
	}
	return nil
}

// resumePoint is where the schedule of ex continues at now: the first
// iteration due after the last record plus resumeMargin, with the origin
// moved so that it is due now.
func resumePoint(r *Resumable, ex bench.ArrivalRate, now time.Time) (bench.ArrivalRate, bench.Resume) {
	res := bench.Resume{Stopped: r.Last, Resumed: now, Recorded: r.Recorded, From: r.Recorded}
	if r.Scenario == nil { // the load never began: it begins now, from 0
		ex.Origin = now
		res.Origin = now
		return ex, res
	}
	after := r.Last.Add(resumeMargin).Sub(r.Origin)
	for ex.Pacer.Due(res.From) < after {
		if l := ex.Limits; (l.Iterations > 0 && res.From >= l.Iterations) || (l.Duration > 0 && ex.Pacer.Due(res.From) >= l.Duration) {
			break
		}
		res.From++
	}
	ex.From = res.From
	// From is due now, or later still on the old schedule if the new
	// driver came up within the margin (the schedule never runs ahead).
	ex.Origin = now.Add(-ex.Pacer.Due(res.From))
	if ex.Origin.Before(r.Origin) {
		ex.Origin = r.Origin
	}
	res.Origin = ex.Origin
	res.ShiftSeconds = ex.Origin.Sub(r.Origin).Seconds()
	return ex, res
}

func resumableNames() string {
	var out []string
	for _, s := range scenarios.All() {
		if s.Resumable {
			out = append(out, s.Name)
		}
	}
	return strings.Join(out, ", ")
}

// faultsFrom are the faults due at or after offset.
func faultsFrom(specs []faults.Spec, offset time.Duration) []faults.Spec {
	var out []faults.Spec
	for _, f := range specs {
		if f.At >= offset {
			out = append(out, f)
		}
	}
	return out
}
