package reports

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// goldenStream is a real run's result stream: noop at 10/s for 15 s with
// the worker paused from 5 s to 8 s (bin/squall run --scenario noop
// --rate 10/s --duration 15s --fault 'worker-pause at=5s for=3s').
const goldenStream = "testdata/noop-worker-pause.results.jsonl"

func buildGolden(t *testing.T, path string) *Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := Build(f)
	if err != nil {
		t.Fatalf("build %s: %v", path, err)
	}
	return rep
}

var pathD = regexp.MustCompile(`<path d="([^"]*)"`)

// maxPathPoints is the most points any path of svg has, and the points
// of all paths longer than a segment: a data series drawn over n
// intervals has about n (split where an interval had no data); axes,
// ticks and the grid have 2 each.
func maxPathPoints(svg []byte) (most, data int) {
	for _, m := range pathD.FindAllSubmatch(svg, -1) {
		n := bytes.Count(m[1], []byte("L")) + bytes.Count(m[1], []byte("M"))
		most = max(most, n)
		if n > 2 {
			data += n
		}
	}
	return most, data
}

func TestGoldenStreamHasWhatThePlotsNeed(t *testing.T) {
	rep := buildGolden(t, goldenStream)
	s := &rep.Scenarios[0]
	uncorrected := 0
	for _, iv := range s.Intervals {
		if iv.UncorrectedP99MS > 0 {
			uncorrected++
		}
		if iv.UncorrectedP99MS > iv.MaxMS+0.001 && iv.MaxMS > 0 {
			t.Errorf("interval at %.0f s: uncorrected p99 %.1f ms above the corrected max %.1f ms", iv.OffsetS, iv.UncorrectedP99MS, iv.MaxMS)
		}
	}
	if uncorrected < len(s.Intervals)/2 {
		t.Errorf("only %d of %d intervals have an uncorrected p99", uncorrected, len(s.Intervals))
	}
	sp := s.SpectrumMS
	if sp == nil || len(sp.Corrected) < 20 || len(sp.Uncorrected) < 20 {
		t.Fatalf("spectrum: want ≥ 20 points per side, got %+v", sp)
	}
	for i := 1; i < len(sp.Corrected); i++ {
		if a, b := sp.Corrected[i-1], sp.Corrected[i]; b.P <= a.P || b.MS < a.MS {
			t.Fatalf("spectrum not monotonic at %d: %+v then %+v", i, a, b)
		}
	}
	if last := sp.Corrected[len(sp.Corrected)-1]; last.MS != s.LatencyMS.Corrected.Max {
		t.Errorf("spectrum ends at %.1f ms, the max is %.1f ms", last.MS, s.LatencyMS.Corrected.Max)
	}
	// The 3 s worker pause holds completions back: it shows in the tail.
	if c := s.LatencyMS.Corrected.Max; c < 2000 {
		t.Errorf("corrected max %.0f ms: the 3 s pause should show in the tail", c)
	}
	for i, u := range sp.Uncorrected {
		if i < len(sp.Corrected) && sp.Corrected[i].P == u.P && u.MS > sp.Corrected[i].MS {
			t.Errorf("at p%g uncorrected %.1f ms above corrected %.1f ms", u.P, u.MS, sp.Corrected[i].MS)
		}
	}
	if len(rep.Faults) != 1 {
		t.Fatalf("faults: %+v", rep.Faults)
	}
	if w := rep.Faults[0]; w.FromS < 4.5 || w.FromS > 6 || w.ToS-w.FromS < 2.5 || w.ToS-w.FromS > 4 {
		t.Errorf("fault window %.2f–%.2f s since the load began, want about 5–8", w.FromS, w.ToS)
	}
}

// goldens are real runs' result streams and the plots each must have.
var goldens = []struct {
	path    string
	figures []string
}{
	{goldenStream, []string{"noop-latency", "noop-throughput", "noop-starts", "noop-spectrum"}},
	// bin/squall run --scenario throttled-api --option limiter=worker,token-bucket,none
	// --option api-limit=6 --option api-window=2s --rate 5/s --duration 20s
	{"testdata/throttled-3-limiters.results.jsonl", []string{"throttled-api-latency", "throttled-api-throughput",
		"throttled-api-starts", "throttled-api-spectrum", "throttled-api-rate-limit"}},
	// bin/squall run --scenario entity --option entities=10 --option can=events:8 --rate 5/s --duration 15s
	{"testdata/entity-can-events8.results.jsonl", []string{"entity-latency", "entity-throughput", "entity-starts",
		"entity-spectrum", "entity-entity-runs"}},
	// bin/squall run --scenario can-sweep --option lengths=300,600,1200 --option probes=5
	// --option replays=2 --option budget=100ms --iterations 1 --rate 1/s --grace 3m
	// --dynamic-config limit.historyCount.suggestContinueAsNew=400
	// One iteration: no latency curve or spectrum (a single value), but
	// 13 intervals of it in flight.
	// bin/squall run --scenario orders-batch --option mode=children --option orders=2000 --iterations 2 --rate 1/s
	// Two iterations: too few for a latency curve or a spectrum.
	{"testdata/orders-children-2x2000.results.jsonl", []string{"orders-batch-throughput", "orders-batch-starts", "orders-batch-history"}},
	{"testdata/can-sweep-300-1200.results.jsonl", []string{"can-sweep-throughput", "can-sweep-starts", "can-sweep-can-sweep"}},
}

func TestEveryPlotOfTheGoldenRunsHasData(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.path, func(t *testing.T) {
			rep := buildGolden(t, g.path)
			s := &rep.Scenarios[0]
			figs := Figures(rep, s)
			want := map[string]bool{}
			for _, id := range g.figures {
				want[id] = true
			}
			for _, f := range figs {
				if f.Error != "" {
					t.Errorf("%s: %s", f.ID, f.Error)
					continue
				}
				if !want[f.ID] {
					t.Errorf("unexpected plot %s: the run has no data for it", f.ID)
				}
				delete(want, f.ID)
				// Every series over (nearly) every interval; latency has
				// gaps where nothing completed.
				minData, minLongest := 2*(len(s.Intervals)-4), 5
				withData := 0
				for _, iv := range s.Intervals {
					if iv.P50MS > 0 {
						withData++
					}
				}
				switch {
				case strings.HasSuffix(f.ID, "-latency"):
					// four series over the intervals in which something
					// completed (segments of one or two points not counted)
					minData, minLongest = max(2*withData-8, 0), min(5, withData)
				case strings.HasSuffix(f.ID, "-spectrum"):
					minData = len(s.SpectrumMS.Corrected) + len(s.SpectrumMS.Uncorrected) - 2
				case strings.HasSuffix(f.ID, "-rate-limit"):
					minData = 3 * 2 * 10 // three lanes, ≥ 10 windows each, two points per step
				case strings.HasSuffix(f.ID, "-history"):
					minData, minLongest = 0, 0 // bars
					if n := bytes.Count(f.SVG, []byte("Z\"")); n < 2*2*2 {
						t.Errorf("%s: %d bars, want mean and max of two types in two panels", f.ID, n)
					}
				case f.ID == "can-sweep-can-sweep":
					minData, minLongest = 4*3, 3 // four series over three lengths
					if !bytes.Contains(f.SVG, []byte("from event 405")) {
						t.Errorf("%s: the suggestion the sweep saw (event 405) is not marked", f.ID)
					}
				case strings.HasSuffix(f.ID, "-entity-runs"):
					minData, minLongest = 0, 0 // bars: one closed path each
					if n := bytes.Count(f.SVG, []byte("Z\"")); n < 2 {
						t.Errorf("%s: %d bars, want one per run count (1 and 2)", f.ID, n)
					}
				}
				if most, data := maxPathPoints(f.SVG); most < minLongest || data < minData {
					t.Errorf("%s: longest path has %d points, data paths %d, want ≥ %d and ≥ %d", f.ID, most, data, minLongest, minData)
				}
				if !bytes.HasPrefix(f.SVG, []byte("<svg")) {
					t.Errorf("%s: does not start with <svg: %.40q", f.ID, f.SVG)
				}
			}
			for id := range want {
				t.Errorf("plot %s missing", id)
			}
		})
	}
}

func TestFaultWindowIsShadedAndLabelled(t *testing.T) {
	rep := buildGolden(t, goldenStream)
	for _, f := range Figures(rep, &rep.Scenarios[0]) {
		if f.ID != "noop-latency" && f.ID != "noop-throughput" {
			continue
		}
		if !bytes.Contains(f.SVG, []byte(">worker-pause</text>")) {
			t.Errorf("%s: no worker-pause label", f.ID)
		}
		if !regexp.MustCompile(`fill:#D[0-9A-F]{5};fill-opacity:0\.[0-9]+`).Match(f.SVG) {
			t.Errorf("%s: no translucent fault band", f.ID)
		}
	}
}

func TestHTMLPageIsSelfContainedAndHasEveryPlot(t *testing.T) {
	rep := buildGolden(t, goldenStream)
	page, err := HTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, id := range []string{"noop-latency", "noop-throughput", "noop-starts", "noop-spectrum"} {
		i := strings.Index(html, `id="plot-`+id+`"`)
		if i < 0 {
			t.Errorf("page lacks plot %s", id)
			continue
		}
		if !strings.Contains(html[i:min(len(html), i+400)], "<svg") {
			t.Errorf("plot %s is not followed by its inline svg", id)
		}
	}
	for _, bad := range []string{"<script", "<link", "src=", "url(", "@import", `href="http`} {
		if strings.Contains(html, bad) {
			t.Errorf("page contains %q: it must not fetch anything", bad)
		}
	}
	for _, want := range []string{`<header class="pass">`, `id="summary"`, `id="faults"`, "worker-pause", "no-failed-iterations", "<td class=\"ok\">ok</td>"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(html, "could not be drawn") {
		t.Errorf("a plot failed: %s", html[strings.Index(html, "could not be drawn"):][:200])
	}
}
