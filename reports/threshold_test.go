package reports

import (
	"strings"
	"testing"
)

func TestParseThreshold(t *testing.T) {
	for _, tc := range []struct {
		expr   string
		metric string
		op     string
		value  float64
	}{
		{"p99<500ms", "p99", "<", 500},
		{"p50<=80ms", "p50", "<=", 80},
		{"max<5s", "max", "<", 5000},
		{" p90 < 1.5s ", "p90", "<", 1500},
		{"p999<2s", "p999", "<", 2000},
		{"corrected.p99<300ms", "p99", "<", 300},
		{"uncorrected.p99<250ms", "uncorrected.p99", "<", 250},
		{"lateness.max<100ms", "lateness.max", "<", 100},
		{"activity.p99<100ms", "activity.p99", "<", 100},
		{"throughput>=20/s", "throughput", ">=", 20},
		{"throughput>19.5", "throughput", ">", 19.5},
		{"late_starts==0", "late_starts", "==", 0},
		{"dropped_starts==0", "dropped_starts", "==", 0},
		{"failed==0", "failed", "==", 0},
		{"lost==0", "lost", "==", 0},
		{"completed!=0", "completed", "!=", 0},
		{"history.max_bytes<1MiB", "history.max_bytes", "<", 1 << 20},
		{"history.max_bytes<512KiB", "history.max_bytes", "<", 512 << 10},
		{"history.max_bytes<2MB", "history.max_bytes", "<", 2e6},
		{"history.max_bytes<100B", "history.max_bytes", "<", 100},
		{"history.max_length<4096", "history.max_length", "<", 4096},
	} {
		th, err := ParseThreshold(tc.expr)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if th.Metric != tc.metric || th.Op != tc.op || th.Value != tc.value {
			t.Errorf("%q = %s %s %v, want %s %s %v", tc.expr, th.Metric, th.Op, th.Value, tc.metric, tc.op, tc.value)
		}
	}
}

func TestParseThresholdErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"p99", "want METRIC OP VALUE"},
		{"p99 ~ 5ms", "want METRIC OP VALUE"},
		{"p99<", "want METRIC OP VALUE"},
		{"p98<5ms", `unknown metric "p98"; valid metrics: p50, p90, p99`},
		{"latency<5ms", "valid metrics:"},
		{"history.p99<5ms", `unknown metric "history.p99"`},
		{"a.b.p99<5ms", "unknown metric"},
		{"p99<500", "not a duration: give a unit"},
		{"throughput>=fast", "not a rate"},
		{"failed==0.5", "not a count"},
		{"failed==-1", "not a count"},
		{"history.max_bytes<1TiB", "not a size"},
	} {
		_, err := ParseThreshold(tc.expr)
		if err == nil {
			t.Errorf("%q parsed; want an error", tc.expr)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.expr) {
			t.Errorf("%q: error %q does not name the expression and say %q", tc.expr, err, tc.want)
		}
	}
	// All bad expressions at once, the good ones parsed.
	ths, err := ParseThresholds([]string{"p99<1s", "p98<1s", "failed==x"})
	if err == nil || !strings.Contains(err.Error(), "p98<1s") || !strings.Contains(err.Error(), "failed==x") || strings.Contains(err.Error(), "\n") || len(ths) != 1 {
		t.Fatalf("ParseThresholds = %d, %v", len(ths), err)
	}
}

func TestEvaluateThreshold(t *testing.T) {
	s := &Scenario{
		ScenarioPlan:   ScenarioPlan{Name: "entity"},
		Completed:      100,
		Failed:         2,
		ThroughputPerS: 19.8,
		LatencyMS: Latency{
			Corrected:   Quantiles{Count: 100, P50: 50, P90: 80, P99: 120, P999: 200, Max: 250},
			Uncorrected: Quantiles{Count: 100, P50: 45, P90: 70, P99: 90, P999: 95, Max: 99},
		},
		HistogramsMS: map[string]Quantiles{"activity": {Count: 10, P99: 30}, "empty": {}},
		History:      History{MaxBytes: 2 << 20},
	}
	for _, tc := range []struct {
		expr     string
		ok       bool
		measured string
		detail   string
	}{
		{"p99<500ms", true, "120.0ms", ""},
		{"p99<100ms", false, "120.0ms", ""},
		{"p99<=120ms", true, "120.0ms", ""},
		{"max<250ms", false, "250.0ms", ""},
		{"p999>=200ms", true, "200.0ms", ""},
		{"uncorrected.p99<100ms", true, "90.0ms", ""},
		{"activity.p99<100ms", true, "30.0ms", ""},
		{"activity.p99<10ms", false, "30.0ms", ""},
		{"sigma.p99<1s", false, "-", `no histogram "sigma" (its histograms: activity, empty`},
		{"empty.p99<1s", false, "-", "no samples"},
		{"lateness.p99<1s", false, "-", "no samples"},
		{"throughput>=20/s", false, "19.80/s", ""},
		{"throughput>=19/s", true, "19.80/s", ""},
		{"failed==0", false, "2", ""},
		{"lost==0", true, "0", ""},
		{"history.max_bytes<1MiB", false, "2.00MiB", ""},
		{"history.max_bytes<=2MiB", true, "2.00MiB", ""},
	} {
		th, err := ParseThreshold(tc.expr)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		r := th.Evaluate(s)
		if r.OK != tc.ok || r.Measured != tc.measured || !strings.Contains(r.Detail, tc.detail) || r.Expr != tc.expr {
			t.Errorf("%q = %+v; want ok %v, measured %s, detail containing %q", tc.expr, r, tc.ok, tc.measured, tc.detail)
		}
	}
}

// Thresholds travel in the scenario-start record and fail the verdict of
// a rebuilt report; every row appears in report.md.
func TestThresholdsInBuild(t *testing.T) {
	rep := buildSynthetic(t)
	if rep.Verdict != "pass" || len(rep.Scenarios[0].Thresholds) != 0 {
		t.Fatalf("without thresholds: verdict %s, %d rows", rep.Verdict, len(rep.Scenarios[0].Thresholds))
	}
	rep = buildSynthetic(t, "p99<1s", "failed==0", "activity.p99<1s")
	if rep.Verdict != "pass" || len(rep.Scenarios[0].Thresholds) != 3 {
		t.Fatalf("passing thresholds: verdict %s, rows %+v", rep.Verdict, rep.Scenarios[0].Thresholds)
	}
	rep = buildSynthetic(t, "p99<1s", "p50<10ms", "nosuch.p99<1s", "bogus")
	rows := rep.Scenarios[0].Thresholds
	if rep.Verdict != "fail" || len(rows) != 4 || !rows[0].OK || rows[1].OK || rows[2].OK || rows[3].OK || !strings.Contains(rows[3].Detail, "want METRIC OP VALUE") {
		t.Fatalf("failing thresholds: verdict %s, rows %+v", rep.Verdict, rows)
	}
	md := Markdown(rep)
	for _, want := range []string{"| `p50<10ms` |", "❌", "| `nosuch.p99<1s` | - | ❌ |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}
