package plots

import (
	"bytes"
	"errors"
	"math"
	"regexp"
	"testing"
)

func timeline(label string, scale float64, n int) Timeline {
	t := Timeline{Label: label, Faults: []Window{{Kind: "net-latency", FromS: 3, ToS: 6}}}
	for i := range n {
		v := scale * (10 + 5*math.Sin(float64(i)))
		t.Intervals = append(t.Intervals, Interval{EndS: float64(i + 1), Started: 10, Completed: 9, InFlight: int64(i % 4), Late: int64(i % 2),
			P50MS: v, P99MS: 3 * v, MaxMS: 4 * v, UncorrectedP99MS: 2 * v})
	}
	return t
}

// dataPaths counts the paths of more than two points: series, not axes,
// ticks, grid lines or legend thumbnails.
func dataPaths(svg []byte) int {
	n := 0
	for _, m := range regexp.MustCompile(`<path d="([^"]*)"`).FindAllSubmatch(svg, -1) {
		if bytes.Count(m[1], []byte("L")) > 1 && !bytes.Contains(m[1], []byte("Z")) {
			n++
		}
	}
	return n
}

var strokeDash = regexp.MustCompile(`stroke-dasharray:[0-9]`)

// An overlaid run (the comparison's baseline) gets its own legend
// entries and is drawn dashed; a single run has no labels in its legend
// and no dashed data series.
func TestOverTimeAndSpectrumOverlayABaseline(t *testing.T) {
	cur, base := timeline("current", 1, 30), timeline("base", 1.2, 30)
	spec := func(label string, f float64) Spectrum {
		s := Spectrum{Label: label}
		for _, p := range []float64{0, 10, 25, 50, 75, 87.5, 90, 95, 99, 99.5, 99.9} {
			s.Corrected = append(s.Corrected, Percentile{P: p, MS: f * (1 + p)})
			s.Uncorrected = append(s.Uncorrected, Percentile{P: p, MS: f * (1 + p/2)})
		}
		return s
	}
	for name, draw := range map[string]func(overlay bool) ([]byte, error){
		"latency": func(o bool) ([]byte, error) {
			if o {
				return LatencyOverTimeSVG(cur, base)
			}
			return LatencyOverTimeSVG(cur)
		},
		"throughput": func(o bool) ([]byte, error) {
			if o {
				return ThroughputSVG(cur, base)
			}
			return ThroughputSVG(cur)
		},
		"spectrum": func(o bool) ([]byte, error) {
			if o {
				return SpectrumSVG(spec("current", 1), spec("base", 1.3))
			}
			return SpectrumSVG(spec("current", 1))
		},
	} {
		one, err := draw(false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		two, err := draw(true)
		if err != nil {
			t.Fatalf("%s overlay: %v", name, err)
		}
		if bytes.Contains(one, []byte("(current)")) {
			t.Errorf("%s: a single run's legend names the run", name)
		}
		for _, want := range []string{"(current)</text>", "(base)</text>"} {
			if !bytes.Contains(two, []byte(want)) {
				t.Errorf("%s overlay: legend lacks %q", name, want)
			}
		}
		if n1, n2 := dataPaths(one), dataPaths(two); n2 != 2*n1 {
			t.Errorf("%s: overlay has %d data paths, single %d: want twice as many", name, n2, n1)
		}
		if len(strokeDash.FindAll(two, -1)) <= len(strokeDash.FindAll(one, -1)) {
			t.Errorf("%s: the baseline is not drawn dashed", name)
		}
	}
}

func TestPlotsWithoutDataSayNoData(t *testing.T) {
	for name, f := range map[string]func() ([]byte, error){
		"latency":    func() ([]byte, error) { return LatencyOverTimeSVG() },
		"empty run":  func() ([]byte, error) { return LatencyOverTimeSVG(Timeline{}) },
		"throughput": func() ([]byte, error) { return ThroughputSVG(Timeline{}) },
		"spectrum":   func() ([]byte, error) { return SpectrumSVG(Spectrum{}) },
		"history":    func() ([]byte, error) { return HistorySVG(nil) },
		"sweep":      func() ([]byte, error) { return CanSweepSVG(nil, 100, 0, 4096) },
		"rate limit": func() ([]byte, error) { return RateLimitSVG([]Lane{{Name: "x"}}, 5, "1s") },
		"entities":   func() ([]byte, error) { return RunsPerEntitySVG(nil) },
	} {
		if _, err := f(); !errors.Is(err, ErrNoData) {
			t.Errorf("%s: err %v, want ErrNoData", name, err)
		}
	}
}

// A gap in the data (an interval in which nothing completed) splits the
// line instead of bridging it.
func TestLatencyGapSplitsTheLine(t *testing.T) {
	tl := timeline("", 1, 12)
	for i := 4; i < 7; i++ {
		tl.Intervals[i].P50MS, tl.Intervals[i].P99MS, tl.Intervals[i].MaxMS, tl.Intervals[i].UncorrectedP99MS = 0, 0, 0, 0
	}
	svg, err := LatencyOverTimeSVG(tl)
	if err != nil {
		t.Fatal(err)
	}
	// p50's segments (its legend thumbnail is a 2-point path).
	blue := regexp.MustCompile(`(?i)<path d="([^"]*)"\s+style="fill:none;stroke:#1f77b4`)
	var segs [][][]byte
	for _, m := range blue.FindAllSubmatch(svg, -1) {
		if bytes.Count(m[1], []byte("L")) > 1 {
			segs = append(segs, m)
		}
	}
	if len(segs) != 2 {
		t.Fatalf("p50 drawn as %d paths, want 2 (before and after the gap)", len(segs))
	}
	if n := bytes.Count(segs[0][1], []byte("L")) + 1; n != 4 {
		t.Errorf("first segment has %d points, want 4", n)
	}
}
