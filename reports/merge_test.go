package reports

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/verify"
)

// One synthetic run of 3 drivers at 10/s each (one schedule of 30/s for
// 10 s): every iteration's fate is decided up front, so the stream of each
// driver and the stream of one driver that saw all of them can be written.
const (
	synthDrivers = 3
	synthRate    = 30
	synthSecs    = 10
)

var synthOrigin = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type synthIter struct {
	n        int64
	due      time.Time
	latency  time.Duration
	late     time.Duration // 0: on time
	failed   bool
	lost     bool
	inFlight bool // still running at the end of its second
}

func synthIters() []synthIter {
	var out []synthIter
	for n := int64(0); n < synthRate*synthSecs; n++ {
		it := synthIter{n: n, due: synthOrigin.Add(time.Duration(n) * time.Second / synthRate),
			latency: time.Duration(20+(n*37)%400) * time.Millisecond}
		if n%17 == 0 {
			it.late = time.Duration(11+n%50) * time.Millisecond
		}
		it.failed = n == 101 || n == 202
		it.lost = n == 110
		it.inFlight = n%7 == 0
		out = append(out, it)
	}
	return out
}

// writeSynth writes the run directory of the driver seeing the iterations
// owned by share (the zero Share: all of them, the reference), cutting its
// intervals skew after each whole second as a real driver would.
func writeSynth(t *testing.T, dir string, share bench.Share, info RunInfo, plan ScenarioPlan, skew time.Duration, faults bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := bench.CreateStream(filepath.Join(dir, FileStream))
	if err != nil {
		t.Fatal(err)
	}
	j, err := bench.CreateJournal(filepath.Join(dir, FileJournal))
	if err != nil {
		t.Fatal(err)
	}
	s.Write(bench.Record{Time: info.StartTime, Kind: bench.KindRunStart}, info)
	s.Write(bench.Record{Time: info.StartTime, Kind: bench.KindScenarioStart, Scenario: "noop"}, plan)
	var mine []synthIter
	for _, it := range synthIters() {
		if share.Owns(it.n) {
			mine = append(mine, it)
		}
	}
	res := verify.NewResult("noop")
	var started, acked int64
	for sec := 0; sec < synthSecs; sec++ {
		rec := bench.NewRecorder(synthOrigin)
		var inFlight int64
		for _, it := range mine {
			if int(it.due.Sub(synthOrigin)/time.Second) != sec {
				continue
			}
			started++
			rec.Started(it.late, it.late > 0)
			j.For("noop").Started(bench.JournalEntry{WorkflowID: fmt.Sprintf("noop-%d", it.n), Acked: !it.failed, At: it.due.UnixMilli()})
			if it.failed {
				rec.Done(bench.Failed, 0, 0)
				s.Write(bench.Record{Time: it.due.Add(it.latency), Kind: bench.KindError, Scenario: "noop", WorkflowID: fmt.Sprintf("noop-%d", it.n), Error: "boom"}, nil)
			} else {
				rec.Done(bench.Completed, it.latency+it.late, it.latency)
				acked++
			}
			if it.inFlight {
				inFlight++
			}
			res.Journaled++
			switch {
			case it.failed:
				res.Expected["completed"]++
				res.ByStatus["missing"]++
				res.StartFailed++
			case it.lost:
				res.Expected["completed"]++
				res.ByStatus["missing"]++
				res.Lost++
				res.LostAt = append(res.LostAt, it.due.UnixMilli())
				res.Examples = append(res.Examples, fmt.Sprintf("noop-%d (lost)", it.n))
			default:
				res.Expected["completed"]++
				res.ByStatus["completed"]++
			}
		}
		iv := rec.Cut(synthOrigin)
		iv.Start = synthOrigin.Add(time.Duration(sec)*time.Second + skew)
		if sec == 0 {
			iv.Start = synthOrigin
		}
		iv.End = synthOrigin.Add(time.Duration(sec+1)*time.Second + skew)
		iv.InFlight = inFlight
		iv.Rate = float64(synthRate) / float64(max(share.Of, 1))
		s.Write(bench.Record{Time: iv.End, Kind: bench.KindInterval, Scenario: "noop", Interval: &iv}, nil)
		if faults && sec == 4 {
			w := FaultWindow{Kind: "worker-pause", Spec: "worker-pause at=3s for=2s", Params: map[string]string{},
				Scenario: "noop", InjectedAt: synthOrigin.Add(3 * time.Second), HealedAt: synthOrigin.Add(5 * time.Second)}
			s.Write(bench.Record{Time: w.InjectedAt, Kind: bench.KindFaultInject, Scenario: "noop"}, w)
			s.Write(bench.Record{Time: w.HealedAt, Kind: bench.KindFaultHeal, Scenario: "noop"}, w)
		}
	}
	end := synthOrigin.Add(synthSecs*time.Second + skew)
	s.Write(bench.Record{Time: end, Kind: bench.KindLoadEnd, Scenario: "noop"},
		bench.Result{Start: synthOrigin, End: end.Add(time.Second), LoadEnd: end, Scheduled: int64(len(mine))})
	res.HistoryMaxLength, res.HistoryMaxBytes, res.Duration = 11, 1500, (2*time.Second + skew).String()
	invs := append(res.Invariants(), verify.StartsJournaled(int64(len(mine)), acked, started, acked),
		scenarios.Invariant{Name: "noop-own-check", OK: true, Detail: "fine"})
	s.Write(bench.Record{Time: end.Add(2 * time.Second), Kind: bench.KindVerify, Scenario: "noop"}, VerifyRecord{Result: res, Invariants: invs})
	cpu := 1.5
	if !share.Split() {
		cpu = 1.5 * synthDrivers
	}
	s.Write(bench.Record{Time: end.Add(3*time.Second + skew), Kind: bench.KindRunEnd}, RunEnd{DriverCPUSeconds: cpu, ChildrenCPUSeconds: cpu * 2})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func synthInfo(driver int) RunInfo {
	return RunInfo{SquallVersion: "test", Cluster: "external", Address: "temporal:7233", Namespace: "default",
		TaskQueue: "squall-R1", Flags: []string{"run", "--scenario", "noop"}, Cores: 2, Workers: 0,
		StartTime: synthOrigin.Add(-time.Duration(driver) * time.Second), RunID: "R1", Driver: driver, Drivers: synthDrivers,
		StartAt: synthOrigin, Schema: SchemaVersion}
}

var synthPlan = ScenarioPlan{Name: "noop", Options: map[string]string{}, Executor: "arrival-rate", Pacer: "constant 30/s",
	MaxInFlight: 10000, Duration: "10s", LateAfter: "10ms", Thresholds: []string{"p99<1s"}}

// writeDrivers writes the run directories of the given drivers.
func writeDrivers(t *testing.T, root string, drivers ...int) []string {
	var dirs []string
	for _, d := range drivers {
		dir := filepath.Join(root, fmt.Sprintf("driver-%d", d))
		writeSynth(t, dir, bench.Share{Index: d, Of: synthDrivers}, synthInfo(d), synthPlan, time.Duration(d)*7*time.Millisecond, d == 1)
		dirs = append(dirs, dir)
	}
	return dirs
}

func TestMergeEqualsOneDriverThatSawEverything(t *testing.T) {
	root := t.TempDir()
	dirs := writeDrivers(t, root, 1, 2, 3)
	out := filepath.Join(root, "merged")
	rep, err := Merge(dirs, out, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The reference: one driver saw every iteration, cut on whole seconds.
	// Its identity is the merged run's: driver 0 of 3, made from dirs, the
	// earliest driver start.
	ref := filepath.Join(root, "reference")
	info := synthInfo(0)
	info.StartTime = synthOrigin.Add(-3 * time.Second)
	info.Merged = dirs
	writeSynth(t, ref, bench.Share{}, info, synthPlan, 0, true)
	// The reference driver finished when the last driver did.
	patchRunEnd(t, ref, synthOrigin.Add(synthSecs*time.Second+3*time.Second+2*21*time.Millisecond))
	patchLoadEnd(t, ref, 21*time.Millisecond)
	want, err := Rebuild(ref)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(out, FileJSON))
	b, _ := os.ReadFile(filepath.Join(ref, FileJSON))
	if !bytes.Equal(a, b) {
		t.Errorf("merged report.json differs from the single driver's:\n%s", firstDiff(string(a), string(b)))
	}
	sc := rep.Scenarios[0]
	if sc.Started != synthRate*synthSecs || sc.Lost != 1 || sc.Failed != 2 || len(rep.Faults) != 1 || want.Verdict != rep.Verdict {
		t.Errorf("merged: started %d lost %d failed %d faults %d verdict %s", sc.Started, sc.Lost, sc.Failed, len(rep.Faults), rep.Verdict)
	}
	if rep.Faults[0].Lost != 1 {
		t.Errorf("the lost workflow (due at 3.67 s) is inside the fault window 3–5 s: lost %d in it, want 1", rep.Faults[0].Lost)
	}
	// The journals are concatenated: every driver's entries, once.
	var n int
	if err := bench.ReadJournal(filepath.Join(out, FileJournal), func(bench.JournalEntry) error { n++; return nil }); err != nil || n != synthRate*synthSecs {
		t.Errorf("merged journal: %d entries (%v), want %d", n, err, synthRate*synthSecs)
	}
}

// patchRunEnd / patchLoadEnd move the reference's end records to the
// latest driver's (the merge takes the latest).
func patchRunEnd(t *testing.T, dir string, at time.Time) {
	rewrite(t, dir, func(r *bench.Record) {
		if r.Kind == bench.KindRunEnd {
			r.Time = at
		}
	})
}

func patchLoadEnd(t *testing.T, dir string, skew time.Duration) {
	rewrite(t, dir, func(r *bench.Record) {
		if r.Kind == bench.KindLoadEnd {
			end := synthOrigin.Add(synthSecs*time.Second + skew)
			r.Time = end
			r.Data = mustJSON(t, bench.Result{Start: synthOrigin, End: end.Add(time.Second), LoadEnd: end, Scheduled: synthRate * synthSecs})
		}
		if r.Kind == bench.KindVerify {
			var v VerifyRecord
			mustUnmarshal(t, r.Data, &v)
			v.Result.Duration = (2*time.Second + skew).String()
			r.Time = synthOrigin.Add(synthSecs*time.Second + skew + 2*time.Second)
			r.Data = mustJSON(t, v)
		}
	})
}

func rewrite(t *testing.T, dir string, fn func(*bench.Record)) {
	t.Helper()
	path := filepath.Join(dir, FileStream)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []bench.Record
	err = bench.ReadStream(f, func(r bench.Record) error { fn(&r); recs = append(recs, r); return nil })
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := bench.CreateStream(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		s.Write(r, nil)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n merged: %s\n single: %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths %d vs %d lines", len(al), len(bl))
}

func TestMergeNeverWritesIntoItsInputs(t *testing.T) {
	root := t.TempDir()
	dirs := writeDrivers(t, root, 1, 2, 3)
	before := treeHash(t, root)
	if _, err := Merge(dirs, dirs[1], MergeOptions{}); !isRefused(err) {
		t.Errorf("--out = an input: got %v, want a refusal", err)
	}
	if _, err := Merge(dirs, filepath.Join(dirs[0], "merged"), MergeOptions{}); !isRefused(err) {
		t.Errorf("--out inside an input: got %v, want a refusal", err)
	}
	if h := treeHash(t, root); h != before {
		t.Fatal("a refused merge changed its inputs")
	}
	out := filepath.Join(t.TempDir(), "merged")
	if _, err := Merge(dirs, out, MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	if h := treeHash(t, root); h != before {
		t.Error("the merge changed its inputs")
	}
	if _, err := Merge(dirs, out, MergeOptions{}); !isRefused(err) {
		t.Errorf("merging into a directory holding a run: got %v, want a refusal", err)
	}
}

func TestMergeRefusesDriversOfDifferentRuns(t *testing.T) {
	cases := map[string]func(d int, info *RunInfo, plan *ScenarioPlan){
		"run id":  func(d int, i *RunInfo, _ *ScenarioPlan) { i.RunID = fmt.Sprintf("R%d", d) },
		"schema":  func(d int, i *RunInfo, _ *ScenarioPlan) { i.Schema = d },
		"options": func(d int, _ *RunInfo, p *ScenarioPlan) { p.Options = map[string]string{"x": fmt.Sprint(d)} },
		"scenario": func(d int, _ *RunInfo, p *ScenarioPlan) {
			if d == 2 {
				p.Pacer = "constant 60/s"
			}
		},
		"driver count": func(d int, i *RunInfo, _ *ScenarioPlan) { i.Drivers = 2 + d%2 },
		"duplicate":    func(d int, i *RunInfo, _ *ScenarioPlan) { i.Driver = 1 },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			var dirs []string
			for d := 1; d <= 2; d++ {
				info, plan := synthInfo(d), synthPlan
				change(d, &info, &plan)
				dir := filepath.Join(root, fmt.Sprintf("driver-%d", d))
				writeSynth(t, dir, bench.Share{Index: d, Of: synthDrivers}, info, plan, 0, d == 1)
				dirs = append(dirs, dir)
			}
			_, err := Merge(dirs, filepath.Join(root, "merged"), MergeOptions{})
			if !isRefused(err) {
				t.Fatalf("got %v, want a refusal", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("refusal is not one line: %q", err)
			}
			if _, serr := os.Stat(filepath.Join(root, "merged")); serr == nil {
				t.Errorf("a refused merge created its output directory")
			}
		})
	}
}

func TestMergeMissingDriverFailsUnlessAllowed(t *testing.T) {
	root := t.TempDir()
	dirs := writeDrivers(t, root, 1, 3)
	rep, err := Merge(dirs, filepath.Join(root, "strict"), MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != VerdictFail || !strings.Contains(rep.Run.Error, "driver(s) 2 of 3 missing") || fmt.Sprint(rep.Run.MissingDrivers) != "[2]" {
		t.Errorf("missing driver 2: verdict %s, error %q, missing %v", rep.Verdict, rep.Run.Error, rep.Run.MissingDrivers)
	}
	rep, err = Merge(dirs, filepath.Join(root, "lenient"), MergeOptions{AllowMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rep.Run.Error, "missing") || fmt.Sprint(rep.Run.MissingDrivers) != "[2]" {
		t.Errorf("--allow-missing: error %q, missing %v", rep.Run.Error, rep.Run.MissingDrivers)
	}
	if got := rep.Scenarios[0].Started; got != 200 {
		t.Errorf("drivers 1 and 3 started %d, want 200", got)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func isRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

func treeHash(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintln(h, path)
		if !d.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
