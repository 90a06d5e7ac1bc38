package degradation

import (
	"context"
	"strings"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
)

// Summary is the run's outcome (report details "summary").
type Summary struct {
	Workflows        int            `json:"workflows"` // that returned their answers
	Answers          int            `json:"answers"`
	BySource         map[string]int `json:"by_source"`
	DegradedFraction float64        `json:"degraded_fraction"` // answers not from the primary
	Transitions      map[string]int `json:"transitions"`       // by target state
	PrimaryRequests  int64          `json:"primary_requests"`  // the service's own count
	PrimaryFailed    int64          `json:"primary_failed"`
	SecondaryReqs    int64          `json:"secondary_requests"`
	SecondaryFailed  int64          `json:"secondary_failed"`
	BlockedByBreaker int            `json:"answered_without_primary_while_open"`
	OutageFromS      float64        `json:"outage_from_s,omitempty"` // offsets from the first iteration
	OutageToS        float64        `json:"outage_to_s,omitempty"`
	Target           string         `json:"outage_target,omitempty"`
}

// Second is one second of the run (report details "timeline").
type Second struct {
	T           int `json:"t"`
	Primary     int `json:"primary"`
	Secondary   int `json:"secondary"`
	Static      int `json:"static"`
	Opened      int `json:"opened"`
	HalfOpened  int `json:"half_opened"`
	Closed      int `json:"closed"`
	PrimaryReqs int `json:"primary_requests"`
	PrimaryFail int `json:"primary_failed"`
}

// Invariants checks the workflows' answers against what the services saw.
func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	t := d.t
	t.mu.Lock()
	defer t.mu.Unlock()
	late := t.lateRequests()
	out := []scenarios.Invariant{
		everyRequestAnswered(t),
		answerSourceMatchesServices(t, late),
		breakerBlocksPrimary(t, late),
		breakerFollowsRules(t),
	}
	if d.outage.judged() {
		out = append(out, breakerOpensInOutage(d, t), breakerClosesAfterRecovery(d, t))
	}
	return out
}

// late is what arrived at the services for judged workflows after they
// were judged.
type late struct {
	primary, secondary check.Problems
	// Calls counted as unreached that reached the service after all.
	reachedP, reachedS, reachedPRequests int
}

// lateRequests sorts the requests still indexed: those of abandoned
// workflows are theirs; those of unreached calls reached after all; the
// rest arrived after their workflow had ended. Under mu.
func (t *tally) lateRequests() late {
	var l late
	owner := func(k string) string { return k[:max(0, strings.LastIndexByte(k, '/'))] }
	for k, p := range t.prim {
		switch {
		case t.abandoned[owner(k)]:
		case t.unreachedP[k]:
			l.reachedP++
			l.reachedPRequests += p.requests
		default:
			l.primary.Add("%s: %d primary requests arrived after its workflow ended", k, p.requests)
		}
	}
	for k, s := range t.sec {
		switch {
		case t.abandoned[owner(k)]:
		case t.unreachedS[k]:
			l.reachedS++
		default:
			l.secondary.Add("%s: %d secondary requests arrived after its workflow ended", k, s.requests)
		}
	}
	return l
}

func everyRequestAnswered(t *tally) scenarios.Invariant {
	return check.That("every-request-answered", t.sum.Workflows > 0 && t.short == 0 && t.noSource == 0,
		"%d workflows returned %d answers (%d expected), %d short, %d without a source",
		t.sum.Workflows, t.sum.Answers, t.sum.Workflows*t.in.Requests, t.short, t.noSource)
}

func answerSourceMatchesServices(t *tally, l late) scenarios.Invariant {
	bad := t.mismatch.Count() + l.secondary.Count()
	return check.That("answer-source-matches-services", bad == 0 && t.sum.Answers > 0,
		"%d answers checked against the services' own logs, %d mismatches%s%s; timed-out calls that never reached the service: %d primary, %d secondary (all attempts)",
		t.sum.Answers, bad, examplesOf(t.mismatch), examplesOf(l.secondary), t.unreachP-l.reachedP, t.unreachS-l.reachedS)
}

func breakerBlocksPrimary(t *tally, l late) scenarios.Invariant {
	unreached := t.unreachP - l.reachedP
	own := t.ownRequests + l.reachedPRequests
	ok := t.blocked.Count() == 0 && l.primary.Count() == 0 && own == t.tried-unreached
	return check.That("breaker-blocks-primary", ok,
		"%d requests answered without the primary while the breaker was open, %d of them requested from the primary all the same%s; "+
			"the primary received %d requests from these workflows, the workflows tried it %d times (%d of them timed out before reaching it); %d arrived after their workflow ended%s",
		t.sum.BlockedByBreaker, t.blocked.Count(), examplesOf(t.blocked), own, t.tried, unreached, l.primary.Count(), examplesOf(l.primary))
}

func breakerFollowsRules(t *tally) scenarios.Invariant {
	b := t.in.Breaker
	return check.That("breaker-follows-rules", t.diverged.Count() == 0,
		"%d workflows' decisions replayed through the breaker rules (threshold %d, open %s, %d probes to close): %d diverged%s",
		t.sum.Workflows, b.FailureThreshold, b.OpenTimeout, b.HalfOpenSuccesses, t.diverged.Count(), examplesOf(t.diverged))
}

func breakerOpensInOutage(d *driver, t *tally) scenarios.Invariant {
	const name = "breaker-opens-in-outage"
	if t.outageFrom.IsZero() || t.outageTo.IsZero() {
		return check.Fail(name, "the outage (start +%s, %s) did not happen within the run (interrupted?)", d.outage.start, d.outage.dur)
	}
	return check.That(name, t.nEligible > 0 && t.nOpened == t.nEligible,
		"%d workflows made >= %d primary calls during the %.1f s outage (by the primary's own arrival times); %d of them opened their breaker%s",
		t.nEligible, t.in.Breaker.FailureThreshold, t.outageTo.Sub(t.outageFrom).Seconds(), t.nOpened, examplesOf(t.opened))
}

// breakerClosesAfterRecovery is judged only where nothing else can keep
// the primary failing (no base failure rate, no faults switching it).
func breakerClosesAfterRecovery(d *driver, t *tally) scenarios.Invariant {
	const name = "breaker-closes-after-recovery"
	base := d.base[d.primary]
	if changes := len(d.primary.ModeChanges()); base.errorRate > 0 || base.latency >= t.in.PrimaryTimeout || changes != 2 {
		return check.Pass(name, "not judged: the primary fails outside the outage too (error rate %g, latency %s vs timeout %s, %d mode changes)",
			base.errorRate, base.latency, t.in.PrimaryTimeout, changes)
	}
	return check.That(name, t.closesEligible > 0 && t.closed == t.closesEligible,
		"%d workflows opened their breaker and made >= %d requests from open-timeout + %s after the recovery (or after their last failed call) on; %d of them closed it again%s",
		t.closesEligible, t.in.Breaker.HalfOpenSuccesses, recoverySettle, t.closed, examplesOf(t.closeMiss))
}

// examplesOf renders the examples of p ("" when it has none) after the
// numbers of a check.
func examplesOf(p check.Problems) string {
	if d := p.Invariant("", "").Detail; d != "" {
		return "; e.g. " + d
	}
	return ""
}
