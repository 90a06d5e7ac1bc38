package degradation

import (
	"testing"
	"time"
)

func TestBreakerTable(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := BreakerConfig{FailureThreshold: 3, OpenTimeout: 10 * time.Second, HalfOpenSuccesses: 2}
	type op struct {
		at    time.Duration
		call  string // "ok", "fail" or "" (no call: the breaker refused)
		state string // state after Allow
	}
	for _, tc := range []struct {
		name   string
		ops    []op
		final  string
		trans  []string // From>To
		failed int
	}{
		{
			name:  "successes keep it closed; failures below the threshold reset",
			ops:   []op{{0, "fail", Closed}, {1, "fail", Closed}, {2, "ok", Closed}, {3, "fail", Closed}, {4, "fail", Closed}, {5, "ok", Closed}},
			final: Closed,
		},
		{
			name:  "threshold consecutive failures open it; open refuses until the timeout",
			ops:   []op{{0, "fail", Closed}, {1, "fail", Closed}, {2, "fail", Closed}, {3, "", Open}, {11, "", Open}, {12, "fail", HalfOpen}, {13, "", Open}},
			final: Open, trans: []string{"closed>open", "open>half-open", "half-open>open"},
		},
		{
			name: "half-open needs the configured successes in a row to close",
			ops: []op{{0, "fail", Closed}, {1, "fail", Closed}, {2, "fail", Closed},
				{12, "ok", HalfOpen}, {13, "ok", HalfOpen}, {14, "fail", Closed}, {15, "fail", Closed}, {16, "ok", Closed}},
			final: Closed, trans: []string{"closed>open", "open>half-open", "half-open>closed"},
		},
		{
			name: "a failed probe reopens, timed from that failure",
			ops: []op{{0, "fail", Closed}, {1, "fail", Closed}, {2, "fail", Closed},
				{12, "ok", HalfOpen}, {13, "fail", HalfOpen}, {22, "", Open}, {23, "ok", HalfOpen}, {24, "ok", HalfOpen}},
			final: Closed, trans: []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBreaker(cfg)
			for i, o := range tc.ops {
				now := t0.Add(o.at * time.Second)
				allowed := b.Allow(now, i)
				if allowed != (o.call != "") || b.State != o.state {
					t.Fatalf("op %d at %ds: allowed %v state %s; want allowed %v state %s", i, o.at, allowed, b.State, o.call != "", o.state)
				}
				switch o.call {
				case "ok":
					b.OnSuccess(now, i)
				case "fail":
					b.OnFailure(now, i)
				}
			}
			if b.State != tc.final || len(b.Transitions) != len(tc.trans) {
				t.Fatalf("final %s, transitions %+v; want %s, %v", b.State, b.Transitions, tc.final, tc.trans)
			}
			for i, tr := range b.Transitions {
				if got := tr.From + ">" + tr.To; got != tc.trans[i] {
					t.Errorf("transition %d: %s, want %s", i, got, tc.trans[i])
				}
			}
		})
	}
	if (BreakerConfig{FailureThreshold: 0, OpenTimeout: time.Second, HalfOpenSuccesses: 1}).Check() == nil {
		t.Error("threshold 0 accepted")
	}
}
