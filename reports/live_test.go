package reports

import (
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
)

// liveInterval1s is one second of a run: n completions at latency lat.
func liveInterval1s(t *testing.T, at time.Time, n int, lat time.Duration, inFlight int64) bench.Interval {
	t.Helper()
	iv := bench.Interval{Start: at, End: at.Add(time.Second), InFlight: inFlight, Counts: bench.Counts{Started: int64(n), Completed: int64(n)}}
	if n > 0 {
		h := bench.NewHistogram()
		for range n {
			h.Record(lat)
		}
		enc, err := h.Encode()
		if err != nil {
			t.Fatal(err)
		}
		iv.Hists = map[string]string{bench.HistCorrected: enc}
	}
	return iv
}

// A threshold broken at every check for the abort time stops the load; a
// breach that heals in between starts the clock again; a stall with work
// in flight counts as broken.
func TestLiveThresholdsAbortAfterSustainedBreach(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	feed := func(l *LiveThresholds, lats []time.Duration, n int, inFlight int64) (int, *LiveBreach) {
		for i, lat := range lats {
			b, err := l.Observe(liveInterval1s(t, t0.Add(time.Duration(i)*time.Second), n, lat, inFlight))
			if err != nil {
				t.Fatal(err)
			}
			if b != nil {
				return i, b
			}
		}
		return -1, nil
	}
	slow := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = 3 * time.Second
		}
		return out
	}

	l, err := NewLiveThresholds("noop", []string{"p99<2s"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The window is half the abort time here, 5 s: the first check is
	// after 5 intervals, and the breach must then last 10 s.
	i, b := feed(l, slow(40), 20, 0)
	if b == nil || i != 14 {
		t.Fatalf("breach %+v at interval %d: want one at interval 14 (first check at 4, 10 s later)", b, i)
	}
	if b.Expr != "p99<2s" || b.At.Sub(b.Since) != 10*time.Second {
		t.Errorf("breach %+v", b)
	}

	// Fast all along: never.
	l, _ = NewLiveThresholds("noop", []string{"p99<2s"}, 10*time.Second)
	fast := make([]time.Duration, 60)
	for i := range fast {
		fast[i] = 50 * time.Millisecond
	}
	if i, b := feed(l, fast, 20, 0); b != nil {
		t.Errorf("fast run stopped at %d: %+v", i, b)
	}

	// Slow for 8 s, fast for 12, slow for 8: each breach heals before it
	// lasts 10 s, so the load is never stopped.
	l, _ = NewLiveThresholds("noop", []string{"p99<2s"}, 10*time.Second)
	mixed := append(append(slow(8), fast[:12]...), slow(8)...)
	if i, b := feed(l, mixed, 20, 0); b != nil {
		t.Errorf("a breach that healed stopped the load at %d: %+v", i, b)
	}

	// No completions while work is in flight: a stall is broken too.
	l, _ = NewLiveThresholds("noop", []string{"p99<2s"}, 5*time.Second)
	if _, b := feed(l, make([]time.Duration, 20), 0, 40); b == nil || b.Measured != "no completion with 40 in flight" {
		t.Errorf("stall: %+v, want a breach", b)
	}
	// Idle (nothing in flight, nothing completing) is not.
	l, _ = NewLiveThresholds("noop", []string{"p99<2s"}, 5*time.Second)
	if _, b := feed(l, make([]time.Duration, 20), 0, 0); b != nil {
		t.Errorf("idle: %+v, want none", b)
	}

	// Throughput over the window: 20/s completing breaks throughput>=30/s.
	l, _ = NewLiveThresholds("noop", []string{"throughput>=30/s"}, 5*time.Second)
	if _, b := feed(l, fast, 20, 0); b == nil {
		t.Error("20/s completing did not break throughput>=30/s")
	}
}
