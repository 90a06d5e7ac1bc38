package metrics

import "testing"

// The signals Temporal's own SLOs are written in, from the captured
// scrapes: p95 StartWorkflow latency and workflow-task schedule-to-start
// (each at or below its p99), and sync match from matching's poll
// counters (between the scrapes: 62 of 126 polls matched synchronously).
func TestTemporalSLOSignalsOnCapturedScrapes(t *testing.T) {
	a, b := captured(t, "server-scrape-1.txt.gz"), captured(t, "server-scrape-2.txt.gz")
	sig := ServerSignals([]Scrape{{Prev: a, Cur: b, Secs: 5}}).Signals
	for _, c := range []struct{ p95, p99 string }{{SigStartWorkflowP95, SigFrontendP99}, {SigWorkflowS2SP95, SigWorkflowS2SP99}} {
		v, ok := sig[c.p95]
		if !ok || v <= 0 || v > sig[c.p99] {
			t.Errorf("%s = %v (present %v): want a latency in ms at or below %s = %v", c.p95, v, ok, c.p99, sig[c.p99])
		}
	}
	if v, ok := sig[SigActivityS2SP95]; ok {
		t.Errorf("activity schedule-to-start p95 %v: noop's activities are eager, the capture has no such series", v)
	}
	if v, ok := sig[SigSyncMatch]; !ok || v != 0.492 {
		t.Errorf("sync match %v (present %v): want 62/126 = 0.492", v, ok)
	}
	// Without a previous scrape every counter is its own delta: the ratio
	// since the server started.
	if v := func() float64 {
		return ServerSignals([]Scrape{{Prev: Families{}, Cur: b, Secs: 5}}).Signals[SigSyncMatch]
	}(); v != 0.627 {
		t.Errorf("sync match since the start %v: want 133/212 = 0.627", v)
	}
}
