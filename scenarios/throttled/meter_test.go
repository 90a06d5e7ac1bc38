package throttled

import (
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/squallbench/squall/scenarios/fakes"
)

// The meter's running figures equal the whole-log check, however the
// arrivals are reported out of order within the slack.
func TestMeterMatchesWholeLog(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	window := 2 * time.Second
	for trial := range 50 {
		var at []int64
		now := int64(1_000_000_000_000)
		for range 200 + rng.Intn(800) {
			now += int64(rng.ExpFloat64() * float64(20*time.Millisecond*time.Duration(1+trial%5)))
			at = append(at, now)
			if rng.Intn(10) == 0 {
				at = append(at, now) // same nanosecond, as the API may log
			}
		}
		// Reported out of order by up to 300 ms.
		reported := slices.Clone(at)
		for i := range reported {
			j := i + rng.Intn(5)
			if j < len(reported) && reported[j]-reported[i] < int64(300*time.Millisecond) {
				reported[i], reported[j] = reported[j], reported[i]
			}
		}
		m := newMeter(window)
		for _, a := range reported {
			m.add(a)
		}
		got := m.snapshot()
		want := fakes.MaxInWindow(at, window)
		if got.peak.Max != want.Max || got.n != int64(len(at)) || got.late != 0 || got.first != at[0] || got.last != at[len(at)-1] {
			t.Fatalf("trial %d: peak %d (n %d, late %d), whole log %d (n %d)", trial, got.peak.Max, got.n, got.late, want.Max, len(at))
		}
		var perWindow []int
		for _, a := range at {
			b := int((a - at[0]) / int64(window))
			for len(perWindow) <= b {
				perWindow = append(perWindow, 0)
			}
			perWindow[b]++
		}
		if !slices.Equal(got.perWindow, perWindow[:min(len(perWindow), maxPerWindow)]) {
			t.Fatalf("trial %d: per window %v, want %v", trial, got.perWindow, perWindow)
		}
		// What it keeps is one window's worth plus the slack, not the log.
		if len(m.state.inWindow)+len(m.pending) > len(at) || len(m.pending) == len(at) {
			t.Fatalf("trial %d: keeps %d+%d of %d arrivals", trial, len(m.state.inWindow), len(m.pending), len(at))
		}
	}
}

// A completed caller's calls are judged at once and forgotten; a caller
// that failed is judged at the end; a start that failed demands nothing.
func TestCallsJudged(t *testing.T) {
	c := newCalls()
	c.expect([]string{"a/0", "a/1"})
	c.success("a/0")
	c.success("a/1")
	c.settle([]string{"a/0", "a/1"}, true, true)
	c.expect([]string{"b/0"})
	c.success("b/0")
	c.success("b/0") // accepted twice
	c.settle([]string{"b/0"}, true, true)
	c.expect([]string{"c/0"})
	c.settle([]string{"c/0"}, true, false) // failed: judged at the end
	c.expect([]string{"d/0"})
	c.settle([]string{"d/0"}, false, false) // start failed: nothing demanded
	c.success("a/0")                        // late duplicate of a judged call
	got := c.totals()
	want := callTotals{Checked: 4, Missing: 1, Duplicate: 2, MissingExample: "c/0"}
	if got != want {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
	if len(c.open) != 2 {
		t.Fatalf("%d keys open, want the failed caller's and the unstarted one's", len(c.open))
	}
}
