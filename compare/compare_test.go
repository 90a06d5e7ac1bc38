package compare

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/verify"
)

// run is a synthetic report: the whole-run values scaled by f from a base
// of p50 50 ms / p99 100 ms / 20 per second, with per-interval values as
// an AR(1) series (60 one-second intervals) around the same figures.
func run(f float64, seed uint64) *reports.Report {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := reports.Scenario{
		ScenarioPlan: reports.ScenarioPlan{Name: "noop", Options: map[string]string{"payload": "0"}, Executor: "arrival-rate",
			Pacer: "constant 20/s", MaxInFlight: 100, Duration: "60s", LateAfter: "100ms"},
		Started: 1200, Completed: 1200, ThroughputPerS: 20, LoadSeconds: 60,
		LatencyMS:    reports.Latency{Corrected: reports.Quantiles{Count: 1200, P50: 50 * f, P90: 80 * f, P99: 100 * f, P999: 150 * f, Max: 200 * f}},
		History:      reports.History{MaxLength: 11, MaxBytes: 1500},
		Verification: &verify.Result{Scenario: "noop"},
		Invariants:   []scenarios.Invariant{{Name: "no-lost-workflows", OK: true}},
	}
	p50, p99 := ar1(rng, 60, 0.5, 50*f, 5*f), ar1(rng, 60, 0.5, 100*f, 10*f)
	for i := range 60 {
		s.Intervals = append(s.Intervals, reports.IntervalRow{OffsetS: float64(i + 1), Started: 20, Completed: 20, P50MS: p50[i], P99MS: p99[i], MaxMS: p99[i] * 1.5})
	}
	return &reports.Report{SchemaVersion: reports.SchemaVersion, Verdict: "pass",
		Run:       reports.RunInfo{SquallVersion: "v1", ServerVersion: "1.32.2", DriverCPUSeconds: 6, ChildrenCPUSeconds: 40},
		Scenarios: []reports.Scenario{s}, Faults: []reports.FaultWindow{}}
}

// side is n runs whose p99 etc. are scaled by f times a run-to-run
// spread; deterministic per seed.
func side(t *testing.T, n int, f float64, seed uint64, edit func(i int, r *reports.Report)) *Side {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	s := &Side{Path: fmt.Sprintf("side-%d", seed)}
	for i := range n {
		r := run(f*math.Exp(0.05*rng.NormFloat64()), seed*100+uint64(i))
		if edit != nil {
			edit(i, r)
		}
		s.Runs = append(s.Runs, Run{Path: fmt.Sprintf("%s/run-%d/report.json", s.Path, i+1), Report: r})
	}
	return s
}

func row(t *testing.T, res *Result, metric string) Row {
	t.Helper()
	for _, r := range res.Rows {
		if r.Metric == metric {
			return r
		}
	}
	t.Fatalf("no row for %s", metric)
	return Row{}
}

func TestCompareRepeatedRuns(t *testing.T) {
	o := Options{MaxRegression: 0.10}
	same, err := Compare(side(t, 8, 1, 1, nil), side(t, 8, 1, 2, nil), o)
	if err != nil {
		t.Fatal(err)
	}
	if same.Regressions != 0 || same.Method != MethodRankTest {
		t.Fatalf("same distribution: %d regressions\n%s", same.Regressions, Table(same))
	}
	slow, err := Compare(side(t, 8, 1, 1, nil), side(t, 8, 1.3, 2, nil), o)
	if err != nil {
		t.Fatal(err)
	}
	if r := row(t, slow, "p99"); r.Verdict != Regression || r.P == nil || *r.P > 0.05 || *r.ChangePct < 20 {
		t.Fatalf("30%% slower p99: %+v\n%s", r, Table(slow))
	}
	// Faster is an improvement, never a regression.
	fast, _ := Compare(side(t, 8, 1, 1, nil), side(t, 8, 0.7, 2, nil), o)
	if r := row(t, fast, "p50"); r.Verdict != Improvement || fast.Regressions != 0 {
		t.Fatalf("30%% faster: %+v", r)
	}
	// Significantly worse but within tolerance; a per-metric override catches it.
	p99 := func(from float64) func(int, *reports.Report) {
		return func(i int, r *reports.Report) { r.Scenarios[0].LatencyMS.Corrected.P99 = from + float64(i) }
	}
	little := side(t, 8, 1, 2, p99(106)) // 106..113 ms against 100..107
	res, _ := Compare(side(t, 8, 1, 1, p99(100)), little, o)
	if r := row(t, res, "p99"); r.Verdict != NoChange || !strings.Contains(r.Note, "within the 10% tolerance") {
		t.Fatalf("6%% slower with 10%% tolerance: %+v\n%s", r, Table(res))
	}
	res, _ = Compare(side(t, 8, 1, 1, p99(100)), little, Options{MaxRegression: 0.10, PerMetric: map[string]float64{"p99": 0.02}})
	if r := row(t, res, "p99"); r.Verdict != Regression || r.Tolerance != 2 {
		t.Fatalf("6%% slower with p99=2%%: %+v", r)
	}
	if r := row(t, res, "p50"); r.Verdict == Regression {
		t.Fatalf("the p99 override leaked to p50: %+v", r)
	}
	// Throughput: down is worse.
	res, _ = Compare(side(t, 8, 1, 1, nil), side(t, 8, 1, 2, func(i int, r *reports.Report) {
		r.Scenarios[0].ThroughputPerS = 14 + float64(i)*0.1
	}), o)
	if r := row(t, res, "throughput"); r.Verdict != Regression || r.Worse != "down" {
		t.Fatalf("throughput 30%% down: %+v", r)
	}
}

func TestCompareMustNotGrow(t *testing.T) {
	lost := side(t, 8, 1, 2, func(i int, r *reports.Report) {
		if i == 3 {
			r.Scenarios[0].Lost = 1
			r.Scenarios[0].Invariants[0].OK = false
		}
	})
	res, err := Compare(side(t, 8, 1, 1, nil), lost, Options{MaxRegression: 0.10})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"lost", "invariant_violations"} {
		if r := row(t, res, m); r.Verdict != Regression || r.Method != MethodAnyIncrease || r.Current != 1 {
			t.Errorf("%s: one lost workflow in one run: %+v", m, r)
		}
	}
	if r := row(t, res, "failed"); r.Verdict != NoChange {
		t.Errorf("failed unchanged: %+v", r)
	}
}

func TestCompareTooFewRuns(t *testing.T) {
	res, err := Compare(side(t, 3, 1, 1, nil), side(t, 3, 2, 2, nil), Options{MaxRegression: 0.10})
	if err != nil {
		t.Fatal(err)
	}
	if r := row(t, res, "p99"); r.Verdict != TooFew || !strings.Contains(r.Note, "smallest possible p-value is 0.100") {
		t.Fatalf("3 vs 3 runs twice as slow: %+v", r)
	}
	if res.Regressions != 0 || !strings.Contains(res.Caveat, "fewer than 4") {
		t.Fatalf("3 vs 3: %d regressions, caveat %q", res.Regressions, res.Caveat)
	}
}

func TestCompareSingleRuns(t *testing.T) {
	o := Options{MaxRegression: 0.10}
	single := func(f float64, seed uint64) *Side {
		return &Side{Path: fmt.Sprint("single-", seed), Runs: []Run{{Path: fmt.Sprint("single-", seed), Report: run(f, seed)}}}
	}
	res, err := Compare(single(1, 1), single(1, 2), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Method != MethodBootstrap || !strings.Contains(res.Caveat, "weaker than repeated runs") || !strings.Contains(Table(res), "weaker than repeated runs") {
		t.Fatalf("single runs: method %s, caveat %q", res.Method, res.Caveat)
	}
	if res.Regressions != 0 {
		t.Fatalf("identical single runs: %d regressions\n%s", res.Regressions, Table(res))
	}
	if r := row(t, res, "p90"); r.Verdict != TooFew {
		t.Fatalf("p90 has no per-interval values: %+v", r)
	}
	res, _ = Compare(single(1, 1), single(1.3, 2), o)
	r := row(t, res, "p99")
	if r.Verdict != Regression || r.Method != MethodBootstrap || r.CILowPct == nil || *r.CILowPct <= 0 {
		t.Fatalf("30%% slower single run: %+v\n%s", r, Table(res))
	}
	// A current run far faster than base (one of base's intervals a huge
	// outlier): the interval of the change never reads below −100 %.
	spiky := single(1, 3)
	spiky.Runs[0].Report.Scenarios[0].Intervals[30].P99MS = 1e6
	res, _ = Compare(spiky, single(0.05, 4), o)
	if r := row(t, res, "p99"); r.CILowPct == nil || *r.CILowPct < -100 || *r.CIHighPct < -100 {
		t.Fatalf("a latency cut beyond 100 %%: %+v\n%s", r, Table(res))
	}
	// Reproducible.
	again, _ := Compare(single(1, 1), single(1.3, 2), o)
	if *row(t, again, "p99").P != *r.P {
		t.Fatal("the same two runs gave different p-values")
	}
}

func TestCompareIncomparable(t *testing.T) {
	base := side(t, 4, 1, 1, nil)
	cur := side(t, 4, 1, 2, func(i int, r *reports.Report) {
		r.Scenarios[0].Options["payload"] = "1024"
		r.Scenarios[0].Pacer = "constant 30/s"
		r.Run.ServerVersion = "1.33.0"
		r.Faults = []reports.FaultWindow{{Spec: "net-latency at=0s for=60s latency=5ms"}}
	})
	_, err := Compare(base, cur, Options{})
	var inc *IncomparableError
	if !errors.As(err, &inc) {
		t.Fatalf("different options: err %v", err)
	}
	for _, want := range []string{"option payload", "pacer", "server version", "--allow-different"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not list %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "fault") {
		t.Errorf("a fault schedule is not a reason to refuse: %v", err)
	}
	res, err := Compare(base, cur, Options{AllowDifferent: true})
	if err != nil || len(res.Differences) == 0 || len(res.Notes) == 0 {
		t.Fatalf("--allow-different: %v, %+v", err, res)
	}
	// Repeats within a side must be repeats too.
	mixed := side(t, 4, 1, 3, func(i int, r *reports.Report) {
		if i == 2 {
			r.Scenarios[0].Duration = "30s"
		}
	})
	if _, err := Compare(base, mixed, Options{}); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Fatalf("a side with a 30 s run among 60 s ones: %v", err)
	}
}

func TestParseTolerance(t *testing.T) {
	for _, tc := range []struct {
		in     string
		metric string
		f      float64
		bad    bool
	}{
		{"10%", "", 0.10, false},
		{"p99=20%", "p99", 0.20, false},
		{"throughput=5%", "throughput", 0.05, false},
		{"10", "", 0, true},
		{"p98=10%", "", 0, true},
		{"p99=-1%", "", 0, true},
	} {
		m, f, err := ParseTolerance(tc.in)
		if (err != nil) != tc.bad || m != tc.metric || math.Abs(f-tc.f) > 1e-12 {
			t.Errorf("%q = %q %v %v", tc.in, m, f, err)
		}
	}
}

func writeReport(t *testing.T, path string, r *reports.Report) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	// A directory of repeated runs, in natural order (run-2 before run-10).
	for _, n := range []int{10, 2, 1} {
		writeReport(t, filepath.Join(dir, "rep", fmt.Sprintf("run-%d", n), reports.FileJSON), run(1, uint64(n)))
	}
	if err := os.MkdirAll(filepath.Join(dir, "rep", "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Load(filepath.Join(dir, "rep"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != 3 || !strings.Contains(s.Runs[1].Path, "run-2") || !strings.Contains(s.Runs[2].Path, "run-10") {
		t.Fatalf("runs: %+v", s.Runs)
	}
	// A run directory and a report.json file are one run each.
	for _, p := range []string{filepath.Join(dir, "rep", "run-1"), filepath.Join(dir, "rep", "run-1", reports.FileJSON)} {
		if s, err := Load(p); err != nil || len(s.Runs) != 1 {
			t.Fatalf("%s: %v", p, err)
		}
	}
	good, _ := json.Marshal(run(1, 1))
	for _, tc := range []struct {
		name, content, want string
	}{
		{"truncated", string(good[:len(good)/2]), "truncated"},
		{"corrupt", "{\n  \"schema_version\": 2,\n  \"verdict\": pass\n}", "corrupt JSON at line 3"},
		{"empty", "", "empty file"},
		{"future", strings.Replace(string(good), `"schema_version":2`, `"schema_version":99`, 1), "schema_version 99 is not one this squall knows"},
		{"noversion", `{"verdict":"pass"}`, "no schema_version"},
		{"badtype", strings.Replace(string(good), `"started":1200`, `"started":"many"`, 1), "field scenarios.0.started at line 1"},
		{"noscenarios", `{"schema_version":2,"scenarios":[]}`, "no scenarios"},
	} {
		p := filepath.Join(dir, tc.name+".json")
		if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v; want one naming %s and saying %q", tc.name, err, p, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "rep", "logs")); err == nil || !strings.Contains(err.Error(), "no report.json") {
		t.Errorf("an empty directory: %v", err)
	}
}

func TestRender(t *testing.T) {
	res, err := Compare(side(t, 8, 1, 1, nil), side(t, 8, 1.3, 2, nil), Options{MaxRegression: 0.10})
	if err != nil {
		t.Fatal(err)
	}
	md, _ := Render(res, "md")
	if !strings.HasPrefix(md, "# squall compare: ❌ gate: FAIL (") || !strings.Contains(strings.SplitN(md, "\n\n", 3)[1], "- **regressed: noop p99 100.") {
		t.Errorf("markdown does not open with what regressed:\n%s", md)
	}
	if tbl := Table(res); !strings.HasPrefix(tbl, "regressed: noop ") {
		t.Errorf("table does not open with what regressed:\n%s", tbl)
	}
	same, _ := Compare(side(t, 8, 1, 1, nil), side(t, 8, 1, 3, nil), Options{MaxRegression: 0.10})
	if a := answer(same); len(a) != 1 || !strings.HasPrefix(a[0], "no regression: ") {
		t.Errorf("answer of equal sides %q", a)
	}
	for _, want := range []string{"| noop | p99 |", "❌ regression (> 10%)", "gate: FAIL"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	js, _ := Render(res, "json")
	var back Result
	if err := json.Unmarshal([]byte(js), &back); err != nil || back.Regressions != res.Regressions || len(back.Rows) != len(res.Rows) {
		t.Fatalf("json does not round-trip: %v", err)
	}
	if _, err := Render(res, "html"); err == nil {
		t.Fatal("an unknown format rendered")
	}
}
