package reports

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/verify"
)

// syntheticRun writes a small but complete result stream into a new run
// directory, the way squall run writes one: 10 one-second intervals of
// about 20 completions each, latencies of 40–60 ms (a scenario histogram
// "activity" at a quarter of that), a fault window, verification. It
// returns the directory.
func syntheticRun(t *testing.T, thresholds ...string) string {
	t.Helper()
	dir := t.TempDir()
	st, err := bench.CreateStream(filepath.Join(dir, FileStream))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	st.Write(bench.Record{Time: t0, Kind: bench.KindRunStart}, RunInfo{
		SquallVersion: "test", Commit: "abc", ServerVersion: "1.32.2", Cluster: "embedded",
		Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "squall", Flags: []string{"--scenario", "noop"},
		Cores: 2, GoVersion: "go1.27.3", OS: "linux/amd64", Workers: 1, WorkerTuning: map[string]int{"pollers": 0}, StartTime: t0,
	})
	st.Write(bench.Record{Time: t0, Kind: bench.KindScenarioStart, Scenario: "noop"}, ScenarioPlan{
		Name: "noop", Options: map[string]string{}, Executor: "arrival-rate", Pacer: "constant 20/s",
		MaxInFlight: 100, Duration: "10s", LateAfter: "100ms", Thresholds: thresholds,
	})
	enc := func(h *bench.Histogram) string {
		s, err := h.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var total int64
	for i := range 10 {
		corr, unc, act := bench.NewHistogram(), bench.NewHistogram(), bench.NewHistogram()
		n := 18 + rng.IntN(5)
		for range n {
			d := time.Duration(40+rng.IntN(20)) * time.Millisecond
			corr.Record(d)
			unc.Record(d - time.Millisecond)
			act.Record(d / 4)
		}
		total += int64(n)
		start := t0.Add(time.Duration(i) * time.Second)
		st.Write(bench.Record{Time: start.Add(time.Second), Kind: bench.KindInterval, Scenario: "noop", Interval: &bench.Interval{
			Start: start, End: start.Add(time.Second), InFlight: 1, Rate: 20,
			Counts: bench.Counts{Started: int64(n), Completed: int64(n)},
			Hists:  map[string]string{bench.HistCorrected: enc(corr), bench.HistUncorrected: enc(unc), "activity": enc(act)},
		}}, nil)
	}
	st.Write(bench.Record{Time: t0.Add(5 * time.Second), Kind: bench.KindFaultHeal, Scenario: "noop"}, FaultWindow{
		Kind: "net-latency", Spec: "net-latency at=3s for=2s latency=10ms", Params: map[string]string{"latency": "10ms"},
		InjectedAt: t0.Add(3 * time.Second), HealedAt: t0.Add(5 * time.Second),
	})
	st.Write(bench.Record{Time: t0.Add(10 * time.Second), Kind: bench.KindLoadEnd, Scenario: "noop"}, bench.Result{
		Start: t0, End: t0.Add(10 * time.Second), LoadEnd: t0.Add(10 * time.Second), Scheduled: total,
	})
	v := &verify.Result{Scenario: "noop", Expected: map[string]int64{"completed": total}, Journaled: total, ByStatus: map[string]int64{"completed": total},
		HistoryMaxLength: 11, HistoryMaxBytes: 1500, Duration: "1s"}
	st.Write(bench.Record{Time: t0.Add(11 * time.Second), Kind: bench.KindVerify, Scenario: "noop"}, VerifyRecord{
		Result: v, Invariants: append(v.Invariants(), scenarios.Invariant{Name: "own", OK: true, Detail: "fine"}),
	})
	st.Write(bench.Record{Time: t0.Add(12 * time.Second), Kind: bench.KindRunEnd}, RunEnd{DriverCPUSeconds: 1.5, ChildrenCPUSeconds: 7})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func buildSynthetic(t *testing.T, thresholds ...string) *Report {
	t.Helper()
	dir := syntheticRun(t, thresholds...)
	f, err := os.Open(filepath.Join(dir, FileStream))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := Build(f)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
