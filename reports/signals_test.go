package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/metrics"
)

// Server samples in the stream end up in report.json's server_signals
// with a median and peak per signal, and in report.md's table; an
// unreachable endpoint is a warning there, not a failed verdict.
func TestBuildAccumulatesServerSamples(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	var buf bytes.Buffer
	write := func(r bench.Record, data any) {
		if data != nil {
			b, err := json.Marshal(data)
			if err != nil {
				t.Fatal(err)
			}
			r.Data = b
		}
		line, _ := json.Marshal(r)
		buf.Write(append(line, '\n'))
	}
	write(bench.Record{Time: t0, Kind: bench.KindRunStart}, RunInfo{})
	write(bench.Record{Time: t0, Kind: bench.KindScenarioStart, Scenario: "noop"}, ScenarioPlan{Name: "noop"})
	p99s := []float64{4, 6, 210}
	for i, p := range p99s {
		write(bench.Record{Time: t0, Kind: bench.KindServerSample, Scenario: "noop"}, metrics.Sample{
			OffsetS: float64(i + 1), Source: "http://127.0.0.1:1/metrics",
			Signals:          map[string]float64{metrics.SigPersistenceP99: p, "server_cpu_cores": 1.5},
			WorstPersistence: []metrics.OpLatency{{Operation: "UpdateWorkflowExecution", P99MS: p, Count: 10}},
		})
	}
	write(bench.Record{Time: t0, Kind: bench.KindServerSample, Scenario: "noop"}, metrics.Sample{OffsetS: 4,
		Source: "http://127.0.0.1:1/metrics", Signals: map[string]float64{}, Warnings: []string{"server metrics down"}})
	write(bench.Record{Time: t0, Kind: bench.KindVerify, Scenario: "noop"}, VerifyRecord{Result: nil})
	write(bench.Record{Time: t0, Kind: bench.KindRunEnd}, RunEnd{})

	rep, err := Build(&buf)
	if err != nil {
		t.Fatal(err)
	}
	sig := rep.ServerSignals
	if sig == nil || len(sig.Intervals) != 4 {
		t.Fatalf("server_signals %+v", sig)
	}
	st := sig.Summary[metrics.SigPersistenceP99]
	if st.Median != 6 || st.Peak != 210 || st.PeakAtS != 3 || st.N != 3 {
		t.Errorf("persistence p99 summary %+v, want median 6, peak 210 at 3 s over 3 intervals", st)
	}
	if len(sig.WorstPersistence) != 1 || sig.WorstPersistence[0].P99MS != 210 || sig.WorstPersistence[0].Count != 30 {
		t.Errorf("worst persistence %+v", sig.WorstPersistence)
	}
	joined := strings.Join(sig.Warnings, "\n")
	if !strings.Contains(joined, "server metrics down") || !strings.Contains(joined, metrics.SigFrontendP99) {
		t.Errorf("warnings %q: want the endpoint's and the never-measured frontend signal", joined)
	}
	md := Markdown(rep)
	if !strings.Contains(md, "| persistence_p99_ms | 6 | 210 | 3 | 3 |") || !strings.Contains(md, "server metrics down") {
		t.Errorf("report.md lacks the signals table or the warning:\n%s", md)
	}
	page, err := HTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="server-signals"`, `<td>persistence_p99_ms</td><td class="n">6</td><td class="n">210</td><td class="n">3</td><td class="n">3</td>`,
		"Per-interval signals (4 rows)", "server metrics down", "UpdateWorkflowExecution 210 ms"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	b, _ := json.Marshal(rep)
	if !bytes.Contains(b, []byte(`"server_signals":{`)) {
		t.Error("report.json has no server_signals key")
	}

	// No samples: no key at all.
	buf.Reset()
	write(bench.Record{Time: t0, Kind: bench.KindRunStart}, RunInfo{})
	write(bench.Record{Time: t0, Kind: bench.KindRunEnd}, RunEnd{})
	rep, err = Build(&buf)
	if err != nil || rep.ServerSignals != nil {
		t.Fatalf("no samples gave %+v, %v", rep.ServerSignals, err)
	}
}
