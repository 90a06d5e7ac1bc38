package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/verify"
)

// MergeOptions tune Merge.
type MergeOptions struct {
	// AllowMissing accepts a merge that lacks some of the run's drivers:
	// they are listed in the report, but do not fail the verdict.
	AllowMissing bool
}

// RefusedError is a merge that cannot be made from its inputs (different
// runs, a duplicated driver, ...): bad input, not a failed run.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

func refuse(format string, a ...any) error { return &RefusedError{Reason: fmt.Sprintf(format, a...)} }

// driverRun is one driver's run directory, read.
type driverRun struct {
	dir     string
	info    RunInfo
	recs    []bench.Record
	plans   []bench.Record // scenario-start records, in order
	faults  []bench.Record
	end     *RunEnd
	endTime time.Time
}

// Merge combines the run directories of the drivers of one run (squall run
// --driver i/n) into out, as if one driver had seen every event: a merged
// result stream (intervals re-cut on whole seconds from the shared start,
// histograms merged bucket by bucket, counters and verifications summed,
// fault windows from driver 1), the concatenated journal, and the reports
// rebuilt from them, so thresholds and the verdict judge the whole run. It
// never writes into its inputs.
func Merge(dirs []string, out string, o MergeOptions) (*Report, error) {
	if len(dirs) == 0 {
		return nil, refuse("no run directories to merge: give each driver's run directory")
	}
	if err := checkOut(dirs, out); err != nil {
		return nil, err
	}
	runs := make([]*driverRun, 0, len(dirs))
	for _, d := range dirs {
		r, err := readDriverRun(d)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	sort.SliceStable(runs, func(a, b int) bool { return runs[a].info.Driver < runs[b].info.Driver })
	missing, err := checkRuns(runs)
	if err != nil {
		return nil, err
	}
	if err := CreateRunDir(out, false, ""); err != nil {
		return nil, &RefusedError{Reason: err.Error()}
	}
	if err := writeMerged(runs, missing, o, filepath.Join(out, FileStream)); err != nil {
		return nil, err
	}
	if err := concatJournals(runs, filepath.Join(out, FileJournal)); err != nil {
		return nil, err
	}
	return Rebuild(out)
}

// checkOut refuses an output directory that is, or lies inside, one of
// the inputs, or holds a run already.
func checkOut(dirs []string, out string) error {
	if err := CheckOutsideInputs("a merge", out, dirs); err != nil {
		return &RefusedError{Reason: err.Error()}
	}
	if err := CheckFreshRunDir(out, false, ""); err != nil {
		return &RefusedError{Reason: err.Error()}
	}
	return nil
}

func readDriverRun(dir string) (*driverRun, error) {
	f, err := OpenStream(dir)
	if err != nil {
		return nil, &RefusedError{Reason: err.Error()}
	}
	defer f.Close()
	r := &driverRun{dir: dir}
	started := false
	err = bench.ReadStream(f, func(rec bench.Record) error {
		switch rec.Kind {
		case bench.KindRunStart:
			started = true
			return json.Unmarshal(rec.Data, &r.info)
		case bench.KindScenarioStart:
			r.plans = append(r.plans, rec)
		case bench.KindFaultInject, bench.KindFaultHeal:
			r.faults = append(r.faults, rec)
		case bench.KindRunEnd:
			r.end = &RunEnd{}
			r.endTime = rec.Time
			return json.Unmarshal(rec.Data, r.end)
		default:
			r.recs = append(r.recs, rec)
		}
		return nil
	})
	if err != nil {
		return nil, refuse("%s: %v", filepath.Join(dir, FileStream), err)
	}
	if !started {
		return nil, refuse("%s has no run-start record: not a squall run directory", dir)
	}
	if r.info.Drivers == 0 {
		return nil, refuse("%s is not a driver of a split run (run without --driver i/n): nothing to merge it with", dir)
	}
	return r, nil
}

// checkRuns refuses drivers of different runs and returns the indexes of
// the drivers not given.
func checkRuns(runs []*driverRun) ([]int, error) {
	first := runs[0]
	seen := map[int]string{}
	for _, r := range runs {
		i := r.info
		switch {
		case i.RunID != first.info.RunID:
			return nil, refuse("%s is run %q, %s is run %q: merge the drivers of one run only", r.dir, i.RunID, first.dir, first.info.RunID)
		case i.Schema != first.info.Schema:
			return nil, refuse("%s was written with schema %d, %s with %d: merge with drivers of one squall version", r.dir, i.Schema, first.dir, first.info.Schema)
		case i.Drivers != first.info.Drivers:
			return nil, refuse("%s is a driver of %d, %s of %d: every driver must be given the same --driver i/n count", r.dir, i.Drivers, first.dir, first.info.Drivers)
		}
		if d, dup := seen[i.Driver]; dup {
			return nil, refuse("driver %d/%d twice: %s and %s (each driver needs its own index)", i.Driver, i.Drivers, d, r.dir)
		}
		seen[i.Driver] = r.dir
		if len(r.plans) != len(first.plans) {
			return nil, refuse("%s ran %d scenarios, %s %d: the drivers of one run must run the same scenarios", r.dir, len(r.plans), first.dir, len(first.plans))
		}
		for k, p := range r.plans {
			q := first.plans[k]
			if p.Scenario != q.Scenario || !bytes.Equal(p.Data, q.Data) {
				return nil, refuse("%s and %s differ in scenario %s (its options, load or thresholds): the drivers of one run must be given the same flags", r.dir, first.dir, q.Scenario)
			}
		}
	}
	var missing []int
	for i := 1; i <= first.info.Drivers; i++ {
		if _, ok := seen[i]; !ok {
			missing = append(missing, i)
		}
	}
	return missing, nil
}

// writeMerged writes the merged result stream.
func writeMerged(runs []*driverRun, missing []int, o MergeOptions, path string) error {
	s, err := bench.CreateStream(path)
	if err != nil {
		return err
	}
	first := runs[0]
	info := first.info
	info.Driver = 0
	info.Merged, info.MissingDrivers = nil, missing
	for _, r := range runs {
		info.Merged = append(info.Merged, r.dir)
		if r.info.StartTime.Before(info.StartTime) {
			info.StartTime = r.info.StartTime
		}
	}
	s.Write(bench.Record{Time: info.StartTime, Kind: bench.KindRunStart}, info)
	var faults []bench.Record
	if first.info.Driver == 1 {
		faults = first.faults // only driver 1 runs the fault schedule
	}
	for _, plan := range first.plans {
		name := plan.Scenario
		s.Write(plan, nil)
		var loose []bench.Record // errors and details, by time
		var ivs []perDriver
		var loadEnds, verifies []bench.Record
		for di, r := range runs {
			for _, rec := range r.recs {
				if rec.Scenario != name {
					continue
				}
				switch rec.Kind {
				case bench.KindInterval:
					if rec.Interval != nil {
						ivs = append(ivs, perDriver{driver: di, iv: rec.Interval})
					}
				case bench.KindLoadEnd:
					loadEnds = append(loadEnds, rec)
				case bench.KindVerify:
					verifies = append(verifies, rec)
				default:
					loose = append(loose, rec)
				}
			}
		}
		sort.SliceStable(loose, func(a, b int) bool { return loose[a].Time.Before(loose[b].Time) })
		for _, rec := range loose {
			s.Write(rec, nil)
		}
		merged, err := mergeIntervals(ivs)
		if err != nil {
			s.Close()
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		for i := range merged {
			s.Write(bench.Record{Time: merged[i].End, Kind: bench.KindInterval, Scenario: name, Interval: &merged[i]}, nil)
		}
		for _, rec := range faults {
			if rec.Scenario == name {
				s.Write(rec, nil)
			}
		}
		if len(loadEnds) > 0 {
			le, t, err := mergeLoadEnds(loadEnds)
			if err != nil {
				s.Close()
				return fmt.Errorf("scenario %s: load-end: %w", name, err)
			}
			s.Write(bench.Record{Time: t, Kind: bench.KindLoadEnd, Scenario: name}, le)
		}
		if len(verifies) > 0 {
			v, t, err := mergeVerifies(verifies)
			if err != nil {
				s.Close()
				return fmt.Errorf("scenario %s: verify: %w", name, err)
			}
			s.Write(bench.Record{Time: t, Kind: bench.KindVerify, Scenario: name}, v)
		}
	}
	end := RunEnd{}
	var endTime time.Time
	var problems []string
	for _, r := range runs {
		if r.end == nil {
			problems = append(problems, fmt.Sprintf("driver %d: the run did not finish (no run-end record)", r.info.Driver))
			continue
		}
		end.Interrupted = end.Interrupted || r.end.Interrupted
		end.DriverCPUSeconds += r.end.DriverCPUSeconds
		end.ChildrenCPUSeconds += r.end.ChildrenCPUSeconds
		if r.end.Error != "" {
			problems = append(problems, fmt.Sprintf("driver %d: %s", r.info.Driver, r.end.Error))
		}
		if r.endTime.After(endTime) {
			endTime = r.endTime
		}
	}
	if len(missing) > 0 && !o.AllowMissing {
		problems = append(problems, fmt.Sprintf("driver(s) %s of %d missing: the merge covers part of the run (add --allow-missing to accept it)", joinInts(missing), info.Drivers))
	}
	end.Error = strings.Join(problems, "; ")
	s.Write(bench.Record{Time: endTime, Kind: bench.KindRunEnd}, end)
	return s.Close()
}

type perDriver struct {
	driver int
	iv     *bench.Interval
}

// mergeIntervals re-cuts the drivers' intervals on whole seconds from the
// scenario's start (the earliest interval start): drivers cut their 1 s
// intervals at slightly different instants, so each interval goes to the
// second its end is nearest to, and the intervals of one second are merged
// (counts summed, histograms merged bucket by bucket; in flight and the
// intended rate summed over the drivers, each driver's latest).
func mergeIntervals(ivs []perDriver) ([]bench.Interval, error) {
	if len(ivs) == 0 {
		return nil, nil
	}
	origin := ivs[0].iv.Start
	for _, p := range ivs {
		if p.iv.Start.Before(origin) {
			origin = p.iv.Start
		}
	}
	type bucket struct {
		counts   bench.Counts
		hists    map[string]*bench.Histogram
		inFlight map[int]int64
		rate     map[int]float64
		lastEnd  map[int]time.Time
	}
	buckets := map[int64]*bucket{}
	for _, p := range ivs {
		k := max(1, int64(math.Round(p.iv.End.Sub(origin).Seconds())))
		b := buckets[k]
		if b == nil {
			b = &bucket{hists: map[string]*bench.Histogram{}, inFlight: map[int]int64{}, rate: map[int]float64{}, lastEnd: map[int]time.Time{}}
			buckets[k] = b
		}
		b.counts.Add(p.iv.Counts)
		if last, ok := b.lastEnd[p.driver]; !ok || !p.iv.End.Before(last) {
			b.lastEnd[p.driver], b.inFlight[p.driver], b.rate[p.driver] = p.iv.End, p.iv.InFlight, p.iv.Rate
		}
		for name, enc := range p.iv.Hists {
			h, err := bench.DecodeHistogram(enc)
			if err != nil {
				return nil, fmt.Errorf("interval histogram %s: %w", name, err)
			}
			if t := b.hists[name]; t != nil {
				t.Merge(h)
			} else {
				b.hists[name] = h
			}
		}
	}
	keys := make([]int64, 0, len(buckets))
	for k := range buckets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]bench.Interval, 0, len(keys))
	prev := origin
	for _, k := range keys {
		b := buckets[k]
		end := origin.Add(time.Duration(k) * time.Second)
		iv := bench.Interval{Start: prev, End: end, Counts: b.counts, Hists: map[string]string{}}
		drivers := make([]int, 0, len(b.inFlight))
		for d := range b.inFlight {
			drivers = append(drivers, d)
		}
		slices.Sort(drivers) // a fixed order: float sums must not depend on map order
		for _, d := range drivers {
			iv.InFlight += b.inFlight[d]
			iv.Rate += b.rate[d]
		}
		for name, h := range b.hists {
			enc, err := h.Encode()
			if err != nil {
				return nil, fmt.Errorf("encode histogram %s: %w", name, err)
			}
			iv.Hists[name] = enc
		}
		out = append(out, iv)
		prev = end
	}
	return out, nil
}

// mergeLoadEnds: the load ran from the earliest start to the latest end;
// scheduled starts are summed (the drivers' iterations are disjoint).
func mergeLoadEnds(recs []bench.Record) (bench.Result, time.Time, error) {
	var out bench.Result
	var t time.Time
	for i, rec := range recs {
		var le bench.Result
		if err := json.Unmarshal(rec.Data, &le); err != nil {
			return out, t, err
		}
		if i == 0 || le.Start.Before(out.Start) {
			out.Start = le.Start
		}
		if le.End.After(out.End) {
			out.End = le.End
		}
		if le.LoadEnd.After(out.LoadEnd) {
			out.LoadEnd = le.LoadEnd
		}
		out.Scheduled += le.Scheduled
		out.Interrupted = out.Interrupted || le.Interrupted
		if rec.Time.After(t) {
			t = rec.Time
		}
	}
	return out, t, nil
}

// mergeVerifies combines the drivers' verifications: each checked its own
// journal, and the drivers' iterations are disjoint, so counts are summed
// without double counting. The generic invariants are judged again on the
// sums; a scenario's own hold when they held for every driver.
func mergeVerifies(recs []bench.Record) (VerifyRecord, time.Time, error) {
	var t time.Time
	var sum *verify.Result
	var longest time.Duration
	type inv struct {
		ok      bool
		warn    bool
		details []string
	}
	invs := map[string]*inv{}
	var order []string
	var journaled [4]int64
	journaledOK := true
	for _, rec := range recs {
		var v VerifyRecord
		if err := json.Unmarshal(rec.Data, &v); err != nil {
			return VerifyRecord{}, t, err
		}
		if rec.Time.After(t) {
			t = rec.Time
		}
		if r := v.Result; r != nil {
			if sum == nil {
				sum = verify.NewResult(r.Scenario)
			}
			addResult(sum, r)
			if d, err := time.ParseDuration(r.Duration); err == nil && d > longest {
				longest = d
			}
		}
		for _, i := range v.Invariants {
			if i.Name == "no-lost-workflows" || i.Name == "expected-end-state" {
				continue // judged again on the sums
			}
			if i.Name == "every-start-journaled" {
				var n [4]int64
				_, err := fmt.Sscanf(i.Detail, "%d iterations, %d starts journaled (%d acknowledged), %d starts acknowledged by the server", &n[0], &n[1], &n[2], &n[3])
				if err != nil {
					journaledOK = false
				}
				for k := range n {
					journaled[k] += n[k]
				}
			}
			a := invs[i.Name]
			if a == nil {
				a = &inv{ok: true}
				invs[i.Name] = a
				order = append(order, i.Name)
			}
			a.ok = a.ok && i.OK
			a.warn = a.warn || i.Warn
			if !slices.Contains(a.details, i.Detail) {
				a.details = append(a.details, i.Detail)
			}
		}
	}
	var out VerifyRecord
	if sum != nil {
		sum.Duration = longest.String()
		slices.Sort(sum.LostAt)
		out.Result = sum
		out.Invariants = sum.Invariants()
	}
	for _, name := range order {
		a := invs[name]
		if name == "every-start-journaled" && journaledOK {
			out.Invariants = append(out.Invariants, verify.StartsJournaled(journaled[0], journaled[2], journaled[1], journaled[3]))
			continue
		}
		out.Invariants = append(out.Invariants, scenarios.Invariant{Name: name, OK: a.ok, Warn: a.warn && !a.ok, Detail: strings.Join(a.details, " | ")})
	}
	return out, t, nil
}

const (
	mergeMaxExamples = 5
	mergeMaxLostAt   = 10000
)

func addResult(sum, r *verify.Result) {
	for k, v := range r.Expected {
		sum.Expected[k] += v
	}
	for k, v := range r.ByStatus {
		sum.ByStatus[k] += v
	}
	sum.Journaled += r.Journaled
	sum.Lost += r.Lost
	sum.Unexpected += r.Unexpected
	sum.StartFailed += r.StartFailed
	sum.StartedDespiteError += r.StartedDespiteError
	sum.Unverifiable += r.Unverifiable
	sum.VerifiedDuringLoad += r.VerifiedDuringLoad
	sum.Batches = max(sum.Batches, r.Batches)
	for _, e := range r.Examples {
		if len(sum.Examples) < mergeMaxExamples {
			sum.Examples = append(sum.Examples, e)
		}
	}
	for _, at := range r.LostAt {
		if len(sum.LostAt) < mergeMaxLostAt {
			sum.LostAt = append(sum.LostAt, at)
		}
	}
	sum.HistoryMaxLength = max(sum.HistoryMaxLength, r.HistoryMaxLength)
	sum.HistoryMaxBytes = max(sum.HistoryMaxBytes, r.HistoryMaxBytes)
}

// concatJournals writes the drivers' journals one after the other.
func concatJournals(runs []*driverRun, path string) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create journal: %w", err)
	}
	for _, r := range runs {
		in, err := os.Open(filepath.Join(r.dir, FileJournal))
		if errors.Is(err, os.ErrNotExist) {
			continue // a driver that journaled nothing (it broke before the load)
		}
		if err != nil {
			out.Close()
			return fmt.Errorf("journal of %s: %w", r.dir, err)
		}
		_, err = io.Copy(out, in)
		in.Close()
		if err != nil {
			out.Close()
			return fmt.Errorf("copy journal of %s: %w", r.dir, err)
		}
	}
	return out.Close()
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
