package degradation

import (
	"fmt"
	"time"

	"github.com/squallbench/squall/scenarios"
)

// outage is the scenario's own outage, placed relative to the first
// iteration.
type outage struct {
	start, dur time.Duration
	target     string
}

// judged: the outage takes the primary down, so the invariants expect
// breakers to open in it and close after it.
func (o outage) judged() bool { return o.dur > 0 && o.target != TargetSecondary }

// Slack in the placement: each request costs some time beyond its
// interval (activity round trip, workflow tasks), so a workflow's requests
// drift later; the checks must not hinge on a few hundred milliseconds.
const (
	requestDrift   = 200 * time.Millisecond
	recoverySettle = 2 * time.Second // the closes-after-recovery check's settle time beyond open-timeout
	placeMargin    = time.Second
)

// window is when the run's workflows make requests, as far as the load
// says before it runs.
type window struct {
	lastStart time.Duration // the last workflow's start (after the first's)
	span      time.Duration // one workflow's requests, first to last (nominal)
}

func windowOf(in Input, l scenarios.Load) window {
	w := window{span: time.Duration(in.Requests-1) * in.Interval}
	switch {
	case l.Expected > 0:
		w.lastStart = l.Expected
	case l.Concurrency > 0 && l.Iterations > 0:
		// Closed loop by iterations: each slot starts its next workflow
		// when the last one ends.
		rounds := (l.Iterations + int64(l.Concurrency) - 1) / int64(l.Concurrency)
		w.lastStart = time.Duration(rounds-1) * (w.span + in.Interval)
	}
	return w
}

// placeOutage turns the outage options into an outage that the run's
// workflows will actually live through: some workflow must make
// failure-threshold primary calls inside it (so its breaker opens) and
// still make half-open-successes requests from open-timeout + 2 s after
// its end (so it closes again). "auto" places it so; an explicit start
// that cannot be judged is refused.
func placeOutage(startOpt string, dur time.Duration, target string, in Input, l scenarios.Load) (outage, error) {
	o := outage{dur: dur, target: target}
	auto := startOpt == Auto
	if !auto {
		s, err := time.ParseDuration(startOpt)
		if err != nil || s < 0 {
			return o, fmt.Errorf("outage-start %q: want %s or a duration of 0 or more (e.g. 10s)", startOpt, Auto)
		}
		o.start = s
	}
	if dur <= 0 {
		return o, nil
	}
	w := windowOf(in, l)
	th, k := time.Duration(in.Breaker.FailureThreshold-1), time.Duration(in.Breaker.HalfOpenSuccesses-1)
	// The threshold's calls inside the outage, with their drift.
	opening := th*in.Interval + th*requestDrift + placeMargin/2
	// From the outage's end to the last request that must see the breaker closed.
	recovery := in.Breaker.OpenTimeout + recoverySettle + k*in.Interval + placeMargin
	latest := w.lastStart + w.span - dur - recovery // the latest start that leaves a workflow the recovery
	if auto {
		o.start = max(0, latest/2).Truncate(100 * time.Millisecond)
	}
	if !o.judged() {
		if o.start >= w.lastStart+w.span {
			return o, fmt.Errorf("the outage starts at +%s, after the run's last request (about +%s): give an earlier outage-start or run longer", o.start, w.lastStart+w.span)
		}
		return o, nil
	}
	// A workflow starting at s qualifies when s lies in [lo, hi].
	lo := max(0, o.start+dur+recovery-w.span)
	hi := min(w.lastStart, o.start+dur-opening)
	if dur >= opening && w.span >= opening+recovery && lo <= hi {
		return o, nil
	}
	fix := "give more requests (or a longer interval) so each workflow outlives the outage and its recovery"
	if w.span >= opening+recovery {
		if maxDur := w.lastStart + w.span - recovery; maxDur >= opening {
			fix = fmt.Sprintf("shorten outage-duration to at most %s, or run longer", maxDur.Truncate(100*time.Millisecond))
		} else {
			fix = "run longer"
		}
		if !auto && o.start > max(0, latest) {
			fix = fmt.Sprintf("start the outage by +%s (or outage-start=%s), or %s", max(0, latest).Truncate(100*time.Millisecond), Auto, fix)
		}
	}
	return o, fmt.Errorf("the outage (+%s for %s) cannot be judged in this run: a workflow must make %d primary calls inside it and %d requests "+
		"from open-timeout + %s after it, but this load's workflows start from +0s to +%s and make requests for %s each: %s (or outage-duration=0s for none)",
		o.start, dur, in.Breaker.FailureThreshold, in.Breaker.HalfOpenSuccesses, recoverySettle, w.lastStart.Round(100*time.Millisecond), w.span, fix)
}
