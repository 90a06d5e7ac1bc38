package capacity

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/squallbench/squall/bench"
)

// recorded reads a result stream's intervals (a real run's), with their
// histograms.
func recorded(t *testing.T, path string) []Interval {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Interval
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var rec bench.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Kind != bench.KindInterval || rec.Interval == nil {
			continue
		}
		iv := Interval{Start: rec.Interval.Start, End: rec.Interval.End, Counts: rec.Interval.Counts, InFlight: rec.Interval.InFlight}
		for name, into := range map[string]**bench.Histogram{bench.HistCorrected: &iv.Corrected, bench.HistUncorrected: &iv.Uncorrected} {
			if enc, ok := rec.Interval.Hists[name]; ok {
				h, err := bench.DecodeHistogram(enc)
				if err != nil {
					t.Fatal(err)
				}
				*into = h
			}
		}
		out = append(out, iv)
	}
	return out
}

// The intervals of a real run (noop at 10/s on the embedded server,
// late counted from 10 ms, the worker paused from 5 s to 8 s): before the
// pause the cluster served every start within the SLO, but a tenth of the
// starts went out over 10 ms late. Judged at 1 %, the probe failed on the
// driver's lateness alone: it is left out of the fit. With an SLO the
// cluster itself broke, it stays in.
func TestDriverFellBehindLeavesTheProbeOut(t *testing.T) {
	ivs := recorded(t, "testdata/noop-worker-pause.results.jsonl")
	p := Judge(Criteria{SLO: SLO{{Name: "p99", Q: 0.99, Bound: 1000}}}, 10, ivs[1:5], nil)
	if p.Pass || !strings.HasPrefix(p.Excluded, "the driver fell behind: 9.8% of starts late, while from the actual starts the cluster kept the SLO (410 ms)") {
		t.Errorf("late starts only: pass=%v why=%q excluded=%q", p.Pass, p.Why, p.Excluded)
	}
	p = Judge(Criteria{SLO: SLO{{Name: "p99", Q: 0.99, Bound: 300}}}, 10, ivs[1:5], nil)
	if p.Pass || p.Excluded != "" {
		t.Errorf("p99 410 ms from the actual starts breaks p99<300ms by itself: pass=%v excluded=%q", p.Pass, p.Excluded)
	}
	// Over the pause the backlog grew: the cluster failed, whatever the
	// driver did.
	if p := Judge(Criteria{SLO: SLO{{Name: "p99", Q: 0.99, Bound: 1000}}}, 10, ivs[4:8], nil); p.Pass || p.Excluded != "" || !strings.Contains(p.Why, "backlog") {
		t.Errorf("over the pause: pass=%v why=%q excluded=%q", p.Pass, p.Why, p.Excluded)
	}
}

// Little's law holds on the real run's steady stretches, including the
// slow ones after the pause (in flight 17.2 against 12.0/s × 1.9 s), so
// the check leaves real probes in; a probe whose in-flight count does not
// match what completed (a driver that lost track of its iterations) is
// left out, with the numbers.
func TestLittlesLawOnRecordedProbes(t *testing.T) {
	ivs := recorded(t, "testdata/noop-worker-pause.results.jsonl")
	slo := SLO{{Name: "p99", Q: 0.99, Bound: 5000}}
	for _, w := range [][2]int{{8, 14}, {9, 15}} {
		if p := Judge(Criteria{SLO: slo}, 10, ivs[w[0]:w[1]], nil); strings.HasPrefix(p.Excluded, "Little") {
			t.Errorf("intervals %v: %s", w, p.Excluded)
		}
	}
	steady := append([]Interval(nil), ivs[1:5]...)
	for i := range steady {
		steady[i].Counts.Late = 0 // as judged from 100 ms, where none of them was late
	}
	p := Judge(Criteria{SLO: slo}, 10, steady, nil)
	if !p.Pass || p.Excluded != "" {
		t.Fatalf("steady before the pause: pass=%v why=%q excluded=%q", p.Pass, p.Why, p.Excluded)
	}
	for i := range steady {
		steady[i].InFlight += 4
	}
	p = Judge(Criteria{SLO: slo}, 10, steady, nil)
	if !strings.HasPrefix(p.Excluded, "Little's law does not hold: 5.5 in flight on average, but throughput × mean latency is 10.3/s × 100 ms = 1.0") {
		t.Errorf("in flight 4 above what completed: excluded=%q", p.Excluded)
	}
}
