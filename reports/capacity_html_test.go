package reports

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/capacity"
)

// capacityReport is a search's outcome over probes shaped as the embedded
// server's are: the bracket stepping up, three interleaved rounds around
// a knee near 31/s that holds in some probes and not in others, a canary
// at 17/s whose latency moved 18 %, one probe the driver distorted.
func capacityReport(t *testing.T) *Report {
	t.Helper()
	t0 := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	n := 0
	probe := func(phase string, rate float64, pass bool, p50 float64) capacity.Probe {
		n++
		lat := 40 / (1.02 - min(rate/33, 1))
		p := capacity.Probe{Entry: "w1-probe", Phase: phase, Search: 1, Start: t0.Add(time.Duration(n) * 45 * time.Second), Rate: rate,
			Throughput: min(rate, 31), P50MS: p50, P99MS: lat, LatencyMS: lat, Pass: pass}
		if phase == capacity.PhaseCanary {
			p.Search = 0
		}
		if !pass {
			p.Why, p.LatencyMS, p.P99MS = "p99<500ms broken", 900+rate, 900+rate
		}
		return p
	}
	c := capacity.PhaseCanary
	var ps []capacity.Probe
	for _, r := range []float64{5, 10, 20} {
		ps = append(ps, probe(capacity.PhaseBracket, r, true, 20))
	}
	ps = append(ps, probe(capacity.PhaseBracket, 40, false, 200), probe(capacity.PhaseBracket, 40, false, 200),
		probe(capacity.PhaseBracket, 28.3, true, 30), probe(capacity.PhaseBracket, 33.6, false, 90), probe(c, 16.8, true, 22))
	for i, round := range [][]float64{{29.4, 35.4, 27, 32.3}, {32.3, 27, 35.4, 29.4}, {27, 29.4, 32.3, 35.4}} {
		for j, r := range round {
			ps = append(ps, probe(capacity.PhaseInterleaved, r, r < 31 || (r < 33 && i == 1), 30))
			if j == 1 && i == 1 {
				ps = append(ps, probe(c, 16.8, true, 26))
			}
		}
	}
	ps = append(ps, probe(c, 16.8, true, 23))
	ps[len(ps)-3].Excluded = "the driver fell behind: 3.2% of starts late, while the cluster kept up: the driver, not the cluster, decided this probe"
	a := capacity.Analyze(ps, 0.9, 5)
	e := a.Sustainable()
	e.Band.Lo, e.Band.Hi, e.Band.Widened = e.Rate*0.91, e.Rate*1.09, true
	res := capacity.Result{Estimate: e, LastPass: 28.3, FirstFail: 33.6, Probes: ps, Seed: 5, Rounds: 3, Stopped: "3 interleaved rounds",
		Used: a.Used, Dropped: a.Dropped, Analysis: a, Canary: capacity.Canary{Rate: 16.8, Probes: 3, Drift: 0.18},
		Saturation: []capacity.Finding{{Resource: "server CPU", AtRate: 33.6, Evidence: "server CPU 1.9 of 2 cores"}}}
	slo, _ := capacity.ParseSLO("p99<500ms")
	out := capacity.OutcomeOf(capacity.Case{Workers: 1}, slo, res, nil, []float64{25, 60})
	return &Report{SchemaVersion: SchemaVersion, Verdict: VerdictPass, Run: RunInfo{StartTime: t0, EndTime: t0.Add(20 * time.Minute)},
		Scenarios: []Scenario{}, Faults: []FaultWindow{},
		Capacity: &capacity.Report{SLO: slo.String(), Probe: "30s", Settle: "10s", Searches: []capacity.Outcome{out}}}
}

// A capacity run's page: the drift warning at the top, the answer with
// its band, the curves with every probe by rate and the fit's band, the
// canary over time, the probes in the order run and whether the fit used
// each.
func TestCapacityPage(t *testing.T) {
	rep := capacityReport(t)
	page, err := HTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	top := strings.Index(s, "<h2>Run</h2>")
	warn := strings.Index(s, "the machine drifted 18 % during this search; the band below is widened accordingly")
	if warn < 0 || warn > top {
		t.Errorf("the drift warning is not at the top of the page (at %d, the run table at %d)", warn, top)
	}
	o := rep.Capacity.Searches[0]
	for _, want := range []string{`id="plot-capacity-latency"`, `id="plot-capacity-throughput"`, `id="plot-capacity-canary"`, `id="plot-capacity-order"`,
		"server CPU 1.9 of 2 cores", o.Headline(), "canary drift 18 %", "dropped: the driver fell behind", "interleaved",
		"fit 1 worker(s) (90 % band shaded)", "sustainable 1 worker(s)", "p99 ", "no answer: 60/s is outside the rates probed"} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !strings.HasPrefix(o.Headline(), "sustainable 3") || !strings.Contains(o.Headline(), "(90 % band ") || !strings.Contains(o.Headline(), "; 21 probes, 1 dropped; canary drift 18 %)") {
		t.Errorf("headline %q", o.Headline())
	}
	md := Markdown(rep)
	if !strings.HasPrefix(strings.SplitN(md, "\n\n", 3)[1], "> ⚠️ **the machine drifted 18 % during this search") {
		t.Errorf("report.md does not open with the drift warning:\n%s", md[:400])
	}
	for _, want := range []string{"| 1 | 3", "| 21 | 1 | 18 % | 28.3/s passed, 33.6/s failed | 3 interleaved rounds |", "Canary at 16.8/s: 3 probes, p50 22–26 ms, drift 18 %.",
		"| 25/s | p99 ", "### Probes with 1 worker(s), in the order run (seed 5)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	js, err := JSON(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(t, compileSchema(t, true), js); err != nil {
		t.Errorf("report.json does not match report.schema.json: %v", err)
	}
	for _, key := range []string{`"max_sustainable_per_s": 31.`, `"band": {`, `"confidence": 0.9`, `"canary_drift": 0.18`, `"excluded": "the driver fell behind`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("report.json lacks %s", key)
		}
	}
	if dir := os.Getenv("SQUALL_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(dir+"/capacity.html", page, 0o644)
	}
}
