package reports

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/metrics"
	"github.com/squallbench/squall/scenarios"
)

// RunEnd is the payload of the run-end record.
type RunEnd struct {
	Interrupted        bool    `json:"interrupted"`
	Error              string  `json:"error,omitempty"`
	DriverCPUSeconds   float64 `json:"driver_cpu_s"`
	ChildrenCPUSeconds float64 `json:"children_cpu_s"`
	// Topology as the run left it (restarts included); it replaces the
	// one recorded at the start.
	Topology *Topology `json:"topology,omitempty"`
}

const maxErrors = 10

type span struct {
	start, end time.Time
	counts     bench.Counts
	maxMS      float64
	inFlight   int64 // at the end of the interval
}

type scenarioAcc struct {
	spans   []span // absolute interval times, for fault windows
	windows []FaultWindow
	s       *Scenario
	hists   map[string]*bench.Histogram
	errors  map[string]bool
	counts  bench.Counts
	trend   *trendAcc // nil: the load is too short for trends
}

// Build accumulates a result stream into a report. It is how `squall run`
// makes its report and how `squall report RUN_DIR` rebuilds one offline.
func Build(r io.Reader) (*Report, error) {
	rep := &Report{SchemaVersion: SchemaVersion}
	var order []*scenarioAcc
	byName := map[string]*scenarioAcc{}
	get := func(name string) (*scenarioAcc, error) {
		a := byName[name]
		if a == nil {
			return nil, fmt.Errorf("record for scenario %q before its scenario-start", name)
		}
		return a, nil
	}
	ended := false
	var signals metrics.Accumulator
	err := bench.ReadStream(r, func(rec bench.Record) error {
		switch rec.Kind {
		case bench.KindRunStart:
			return json.Unmarshal(rec.Data, &rep.Run)
		case bench.KindScenarioStart:
			a := &scenarioAcc{s: &Scenario{}, hists: map[string]*bench.Histogram{}, errors: map[string]bool{}}
			if err := json.Unmarshal(rec.Data, &a.s.ScenarioPlan); err != nil {
				return err
			}
			if d, err := time.ParseDuration(a.s.Duration); err == nil {
				a.trend = newTrendAcc(d)
			}
			byName[cmp.Or(rec.Scenario, a.s.Name)] = a
			order = append(order, a)
		case bench.KindInterval:
			a, err := get(rec.Scenario)
			if err != nil || rec.Interval == nil {
				return err
			}
			return a.addInterval(rec.Interval)
		case bench.KindError:
			a, err := get(rec.Scenario)
			if err != nil {
				return err
			}
			if len(a.errors) < maxErrors && !a.errors[rec.Error] {
				a.errors[rec.Error] = true
				msg := rec.Error
				if rec.WorkflowID != "" {
					msg = rec.WorkflowID + ": " + msg
				}
				a.s.Errors = append(a.s.Errors, msg)
			}
		case bench.KindLoadEnd:
			a, err := get(rec.Scenario)
			if err != nil {
				return err
			}
			var le bench.Result
			if err := json.Unmarshal(rec.Data, &le); err != nil {
				return err
			}
			// An open loop's load phase ends with its last scheduled
			// start; the iterations in flight then finishing are the
			// drain. A closed loop has no schedule: its workers are busy
			// until the last iteration ends, and all of that is its load.
			// Streams from before LoadEnd was recorded count both as load.
			loadEnd := le.LoadEnd
			if loadEnd.IsZero() || loadEnd.After(le.End) || a.s.Executor != "arrival-rate" {
				loadEnd = le.End
			}
			a.s.LoadSeconds = loadEnd.Sub(le.Start).Seconds()
			a.s.DrainSeconds = le.End.Sub(loadEnd).Seconds()
			a.s.ScheduledStarts = le.Scheduled
		case bench.KindDetail:
			a, err := get(rec.Scenario)
			if err != nil {
				return err
			}
			var kv map[string]json.RawMessage
			if err := json.Unmarshal(rec.Data, &kv); err != nil {
				return err
			}
			if a.s.Details == nil {
				a.s.Details = map[string]json.RawMessage{}
			}
			upgradeDetails(kv)
			for k, v := range kv {
				a.s.Details[k] = v
			}
		case bench.KindVerify:
			a, err := get(rec.Scenario)
			if err != nil {
				return err
			}
			var v VerifyRecord
			if err := json.Unmarshal(rec.Data, &v); err != nil {
				return err
			}
			if v.Result != nil && v.Result.Expected == nil {
				v.Result.Expected = map[string]int64{} // streams from before end states were expected
			}
			a.s.Verification = v.Result
			a.s.Invariants = v.Invariants
		case bench.KindFaultHeal:
			var w FaultWindow
			if err := json.Unmarshal(rec.Data, &w); err != nil {
				return err
			}
			w.Scenario = rec.Scenario
			rep.Faults = append(rep.Faults, w)
		case bench.KindCapacity:
			rep.Capacity = &capacity.Report{}
			if err := json.Unmarshal(rec.Data, rep.Capacity); err != nil {
				return err
			}
			// What saturated is derived from the recorded probes alone:
			// judged again, by this squall's rules.
			for i := range rep.Capacity.Searches {
				s := &rep.Capacity.Searches[i]
				for i, p := range s.Probes {
					capacity.UpgradeProbe(&s.Probes[i]) // streams from before one signal vocabulary
					if _, ok := p.Signals[metrics.SigWorkers]; !ok && p.Signals != nil {
						p.Signals[metrics.SigWorkers] = float64(s.Workers) // streams from before the signal existed
					}
				}
				s.Findings = capacity.Attribute(s.Probes)
			}
			return nil
		case bench.KindServerSample:
			return signals.Add(rec.Data)
		case bench.KindResume:
			var r bench.Resume
			if err := json.Unmarshal(rec.Data, &r); err != nil {
				return err
			}
			rep.Run.Resumes = append(rep.Run.Resumes, r)
		case bench.KindRunEnd:
			var e RunEnd
			if err := json.Unmarshal(rec.Data, &e); err != nil {
				return err
			}
			rep.Run.EndTime = rec.Time
			rep.Run.Interrupted = e.Interrupted
			rep.Run.Error = e.Error
			rep.Run.DriverCPUSeconds, rep.Run.ChildrenCPUSeconds = e.DriverCPUSeconds, e.ChildrenCPUSeconds
			if e.Topology != nil {
				rep.Run.Topology = e.Topology
			}
			ended = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("result stream: %w", err)
	}
	if !ended && rep.Run.Error == "" {
		rep.Run.Error = "the run did not finish (no run-end record): the report covers what was recorded"
	}
	rep.Verdict = "pass"
	if rep.Run.Error != "" {
		rep.Verdict = "fail"
	}
	for _, w := range rep.Faults {
		if a := byName[w.Scenario]; a != nil {
			a.windows = append(a.windows, w)
		}
	}
	for _, a := range order {
		a.finish()
		rep.Scenarios = append(rep.Scenarios, *a.s)
		for _, inv := range a.s.Invariants {
			if inv.Fails() {
				rep.Verdict = "fail"
			}
		}
		for _, t := range a.s.Thresholds {
			if !t.OK {
				rep.Verdict = "fail"
			}
		}
		if a.s.Verification == nil {
			rep.Verdict = "fail"
		}
	}
	rep.Run.DriverCPUPer1k, _ = perThousand(func(r RunInfo) float64 { return r.DriverCPUSeconds })(rep, nil)
	if len(order) == 0 {
		rep.Verdict = "fail"
	}
	if rep.Capacity != nil {
		// A capacity search overloads the cluster on purpose: its probes'
		// failures are findings, not a failed run. It passes when a rate
		// was found and no workflow was lost.
		rep.Verdict = capacityVerdict(rep)
	}
	if rep.Run.Interrupted && rep.Verdict == VerdictPass {
		rep.Verdict = VerdictInterrupted
	}
	for i := range rep.Faults {
		if a := byName[rep.Faults[i].Scenario]; a != nil {
			a.window(&rep.Faults[i])
		}
	}
	if rep.Faults == nil {
		rep.Faults = []FaultWindow{}
	}
	rep.ServerSignals = signals.Report()
	var samples []metrics.Sample
	if rep.ServerSignals != nil {
		samples = rep.ServerSignals.Intervals
	}
	for i, a := range order {
		if a.trend != nil {
			rep.Scenarios[i].Trends = a.trend.build(samples)
		}
	}
	return rep, nil
}

func (a *scenarioAcc) addInterval(iv *bench.Interval) error {
	a.counts.Add(iv.Counts)
	row := IntervalRow{
		OffsetS: iv.End.Sub(iv.Start).Seconds(), Started: iv.Started, Completed: iv.Completed,
		Failed: iv.Failed, Late: iv.Late, Dropped: iv.Dropped, InFlight: iv.InFlight,
	}
	if n := len(a.s.Intervals); n > 0 {
		row.OffsetS += a.s.Intervals[n-1].OffsetS
	}
	var corrected *bench.Histogram
	defer func() {
		if a.trend != nil {
			a.trend.add(iv, corrected)
		}
	}()
	names := make([]string, 0, len(iv.Hists))
	for name := range iv.Hists {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		h, err := bench.DecodeHistogram(iv.Hists[name])
		if err != nil {
			return fmt.Errorf("interval histogram %s: %w", name, err)
		}
		switch name {
		case bench.HistCorrected:
			corrected = h
			q := quantiles(h)
			row.P50MS, row.P99MS, row.MaxMS = q.P50, q.P99, q.Max
		case bench.HistUncorrected:
			row.UncorrectedP99MS = quantiles(h).P99
		}
		if t := a.hists[name]; t != nil {
			t.Merge(h)
		} else {
			a.hists[name] = h
		}
	}
	a.s.Intervals = append(a.s.Intervals, row)
	a.spans = append(a.spans, span{start: iv.Start, end: iv.End, counts: iv.Counts, maxMS: row.MaxMS, inFlight: row.InFlight})
	return nil
}

// window fills in what the load did while w was active.
func (a *scenarioAcc) window(w *FaultWindow) {
	if w.InjectedAt.IsZero() {
		return // skipped or never injected
	}
	end := w.HealedAt
	if end.IsZero() {
		end = w.InjectedAt
	}
	if len(a.spans) > 0 {
		w.FromS, w.ToS = w.InjectedAt.Sub(a.spans[0].start).Seconds(), end.Sub(a.spans[0].start).Seconds()
	}
	for i, sp := range a.spans {
		if sp.end.Before(w.InjectedAt) || sp.start.After(end) {
			continue
		}
		a.s.Intervals[i].Faults = append(a.s.Intervals[i].Faults, w.Kind)
		w.Started += sp.counts.Started
		w.Completed += sp.counts.Completed
		w.Failed += sp.counts.Failed
		w.Late += sp.counts.Late
		w.Dropped += sp.counts.Dropped
		w.MaxCorrectedMS = max(w.MaxCorrectedMS, sp.maxMS)
	}
	if h := a.hists[bench.HeldPrefix+w.Spec]; h != nil {
		q := quantiles(h)
		w.Held, w.HeldP99MS, w.HeldMaxMS = q.Count, q.P99, q.Max
	}
	if h := a.hists[bench.HeldFailedPrefix+w.Spec]; h != nil {
		w.HeldFailed = h.Count()
		w.Held += w.HeldFailed
	}
	w.RecoveredAfterS, w.InFlightBefore, w.Recovery = recovery(a.spans, w.InjectedAt, w.HealedAt)
	if v := a.s.Verification; v != nil {
		for _, at := range v.LostAt {
			t := time.UnixMilli(at)
			if !t.Before(w.InjectedAt) && !t.After(end) {
				w.Lost++
			}
		}
	}
}

// recoveryBaseline is how far before an injection the in-flight level is
// taken from.
const recoveryBaseline = 5 * time.Second

// recovery returns how long after healed the work in flight was back at
// its level before injected (the most in flight at the end of any interval
// in the recoveryBaseline before it), and that level. A fault that held up
// work leaves a backlog; this is when it was cleared, to the resolution of
// the 1 s intervals. nil, with why: not recovered within the run, or
// nothing to compare with.
func recovery(spans []span, injected, healed time.Time) (*float64, int64, string) {
	if injected.IsZero() || healed.IsZero() {
		return nil, 0, "not injected or not healed"
	}
	var before int64
	seen := false
	for _, sp := range spans {
		if !sp.end.After(injected) && sp.end.After(injected.Add(-recoveryBaseline)) {
			before, seen = max(before, sp.inFlight), true
		}
	}
	if !seen {
		return nil, 0, "no interval before the injection to compare with"
	}
	for _, sp := range spans {
		if sp.end.After(healed) && sp.inFlight <= before {
			s := sp.end.Sub(healed).Seconds()
			return &s, before, ""
		}
	}
	return nil, before, fmt.Sprintf("in flight stayed above %d until the end of the run", before)
}

func (a *scenarioAcc) finish() {
	s, c := a.s, a.counts
	s.Started, s.Completed, s.Failed, s.Abandoned = c.Started, c.Completed, c.Failed, c.Abandoned
	s.LateStarts, s.DroppedStarts = c.Late, c.Dropped
	if d := s.throughputSeconds(); d > 0 {
		s.ThroughputPerS = float64(c.Completed) / d
	}
	s.LatencyMS = Latency{Corrected: quantiles(a.hists[bench.HistCorrected]), Uncorrected: quantiles(a.hists[bench.HistUncorrected])}
	s.LatenessMS = quantiles(a.hists[bench.HistLateness])
	s.SpectrumMS = spectrumOf(a.hists[bench.HistCorrected], a.hists[bench.HistUncorrected])
	for name, h := range a.hists {
		switch {
		case name == bench.HistCorrected, name == bench.HistUncorrected, name == bench.HistLateness,
			strings.HasPrefix(name, bench.HeldPrefix), strings.HasPrefix(name, bench.HeldFailedPrefix):
			continue // the held work is its fault window's (window)
		}
		if s.HistogramsMS == nil {
			s.HistogramsMS = map[string]Quantiles{}
		}
		s.HistogramsMS[name] = quantiles(h)
	}
	if v := s.Verification; v != nil {
		s.Lost = v.Lost
		s.History = History{MaxLength: v.HistoryMaxLength, MaxBytes: v.HistoryMaxBytes}
	}
	// Every iteration must have succeeded: a failure the scenario did not
	// expect is a finding, whatever Temporal says about the workflow. A
	// client call failing while a fault was injected (or shortly after) is
	// what the fault is for: those are reported, per window, and do not fail
	// the verdict — verification still demands that nothing was lost.
	inFaults := a.failedDuringFaults()
	detail := fmt.Sprintf("%d started, %d completed, %d failed, %d abandoned", c.Started, c.Completed, c.Failed, c.Abandoned)
	if inFaults > 0 {
		detail += fmt.Sprintf("; %d of the failures ended during a fault window or within %s after it (expected under faults)", inFaults, faultSettle)
	}
	s.Invariants = append(s.Invariants, scenarios.Invariant{
		Name:   "no-failed-iterations",
		OK:     c.Failed-inFaults == 0 && c.Abandoned == 0,
		Detail: detail,
	})
	if s.Invariants == nil {
		s.Invariants = []scenarios.Invariant{}
	}
	s.Thresholds = evaluateThresholds(s)
}

// minLoadPhase is the shortest load phase throughput is divided by: a
// shorter one (a single start) would make any completion a huge rate.
const minLoadPhase = 1.0

// throughputSeconds is what throughput divides by: the load phase, or
// load and drain when the load phase is shorter than minLoadPhase.
func (s *Scenario) throughputSeconds() float64 {
	if s.LoadSeconds < minLoadPhase {
		return s.LoadSeconds + s.DrainSeconds
	}
	return s.LoadSeconds
}

// JSON renders rep as report.json holds it.
func JSON(rep *Report) ([]byte, error) {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteAll renders rep into dir as report.json, report.md and report.html.
func WriteAll(dir string, rep *Report) error {
	b, err := JSON(rep)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, FileJSON), b, 0o644); err != nil {
		return fmt.Errorf("write report.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileMarkdown), []byte(Markdown(rep)), 0o644); err != nil {
		return fmt.Errorf("write report.md: %w", err)
	}
	page, err := HTML(rep)
	if err != nil {
		return fmt.Errorf("render report.html: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileHTML), page, 0o644); err != nil {
		return fmt.Errorf("write report.html: %w", err)
	}
	return writeFigureFiles(dir, rep)
}

// Rebuild reads dir's result stream and writes its reports again.
func Rebuild(dir string) (*Report, error) {
	f, err := OpenStream(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep, err := Build(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, FileStream), err)
	}
	return rep, WriteAll(dir, rep)
}

// faultSettle is how long after a fault is healed its effects may still
// fail client calls (reconnect backoff, SDK retries running out).
const faultSettle = 30 * time.Second

// failedDuringFaults counts failed iterations recorded in intervals that
// overlap a fault window extended by faultSettle.
func (a *scenarioAcc) failedDuringFaults() int64 {
	var n int64
	for _, sp := range a.spans {
		for _, w := range a.windows {
			if w.InjectedAt.IsZero() {
				continue
			}
			end := w.HealedAt.Add(faultSettle)
			if !sp.end.Before(w.InjectedAt) && !sp.start.After(end) {
				n += sp.counts.Failed
				break
			}
		}
	}
	return n
}

func capacityVerdict(rep *Report) string {
	if rep.Run.Error != "" || len(rep.Capacity.Searches) == 0 {
		return VerdictFail
	}
	for _, s := range rep.Capacity.Searches {
		if !s.Found {
			return VerdictFail
		}
	}
	for _, s := range rep.Scenarios {
		if s.Verification == nil || s.Verification.Lost > 0 || s.Verification.Unverifiable > 0 {
			return VerdictFail
		}
	}
	return VerdictPass
}
