package degradation

import (
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/scenarios"
)

func defaultInput() Input {
	return Input{Requests: 20, Interval: time.Second, PrimaryTimeout: 2 * time.Second,
		Breaker: BreakerConfig{FailureThreshold: 5, OpenTimeout: 5 * time.Second, HalfOpenSuccesses: 2}}
}

// qualifies says whether a workflow starting at s sees the threshold's
// calls inside the outage and the recovery's requests after it, nominally.
func qualifies(o outage, in Input, s time.Duration) bool {
	var inside, after int
	settle := o.start + o.dur + in.Breaker.OpenTimeout + recoverySettle
	for i := range in.Requests {
		at := s + time.Duration(i)*(in.Interval+requestDrift)
		if at >= o.start && at < o.start+o.dur && inside < in.Breaker.FailureThreshold {
			inside++
		}
		if at >= settle {
			after++
		}
	}
	return inside >= in.Breaker.FailureThreshold && after >= in.Breaker.HalfOpenSuccesses
}

// Auto placement puts the outage where some of the run's workflows see
// the breaker open and close, for the plain invocations and others.
func TestPlaceOutageAuto(t *testing.T) {
	in := defaultInput()
	for _, l := range []scenarios.Load{
		{Rate: 1, Duration: 30 * time.Second, Expected: 30 * time.Second}, // the scenario's defaults
		{Rate: 1, Iterations: 20, Expected: 19 * time.Second},             // --iterations 20
		{Rate: 5, Duration: 2 * time.Minute, Expected: 2 * time.Minute},
		{Concurrency: 4, Iterations: 40}, // closed loop: ten rounds
	} {
		o, err := placeOutage(Auto, 15*time.Second, TargetPrimary, in, l)
		if err != nil {
			t.Errorf("%+v: %v", l, err)
			continue
		}
		found := false
		w := windowOf(in, l)
		for s := time.Duration(0); s <= w.lastStart; s += 100 * time.Millisecond {
			found = found || qualifies(o, in, s)
		}
		if !found {
			t.Errorf("%+v: outage at +%s: no workflow qualifies", l, o.start)
		}
	}
}

// A load too short for the outage is refused, naming the fix; an outage
// of the secondary or none at all needs no placement.
func TestPlaceOutageRefuses(t *testing.T) {
	in := defaultInput()
	short := scenarios.Load{Rate: 20, Iterations: 20, Expected: 950 * time.Millisecond}
	_, err := placeOutage(Auto, 15*time.Second, TargetPrimary, in, short)
	if err == nil || !strings.Contains(err.Error(), "shorten outage-duration to at most") {
		t.Fatalf("got %v", err)
	}
	if _, err := placeOutage("40s", 15*time.Second, TargetPrimary, in, scenarios.Load{Rate: 1, Expected: 30 * time.Second}); err == nil ||
		!strings.Contains(err.Error(), "start the outage by") {
		t.Errorf("an outage after the workflows: %v", err)
	}
	few := in
	few.Requests = 5
	if _, err := placeOutage(Auto, 15*time.Second, TargetPrimary, few, scenarios.Load{Rate: 1, Expected: time.Hour}); err == nil ||
		!strings.Contains(err.Error(), "more requests") {
		t.Errorf("workflows too short for open and close: %v", err)
	}
	if _, err := placeOutage(Auto, 0, TargetPrimary, in, short); err != nil {
		t.Errorf("no outage: %v", err)
	}
	if _, err := placeOutage(Auto, 15*time.Second, TargetSecondary, in, short); err != nil {
		t.Errorf("secondary outage: %v", err)
	}
	if _, err := placeOutage("soon", 15*time.Second, TargetPrimary, in, short); err == nil {
		t.Error("a bad outage-start accepted")
	}
	// The suggestion works.
	if _, err := placeOutage(Auto, 10900*time.Millisecond, TargetPrimary, in, short); err != nil {
		t.Errorf("the suggested duration is refused: %v", err)
	}
}
