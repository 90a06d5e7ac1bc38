package reports

import (
	"testing"
	"time"
)

func TestRecovery(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	// One interval per second, with the work in flight at its end: 1 before
	// the fault (injected at 3 s, healed at 6 s), a backlog, back to 1 at 9 s.
	inFlight := []int64{1, 1, 1, 16, 31, 46, 61, 40, 10, 1, 1}
	var spans []span
	for i, n := range inFlight {
		spans = append(spans, span{start: t0.Add(time.Duration(i) * time.Second), end: t0.Add(time.Duration(i+1) * time.Second), inFlight: n})
	}
	injected, healed := t0.Add(3*time.Second), t0.Add(6*time.Second)
	got, before, why := recovery(spans, injected, healed)
	if got == nil || *got != 4 || before != 1 || why != "" {
		t.Fatalf("recovery = %v, before %d, %q; want 4 s (the interval ending at 10 s), before 1", got, before, why)
	}
	// A backlog that never clears is said so, not hidden.
	got, _, why = recovery(spans[:9], injected, healed)
	if got != nil || why == "" {
		t.Fatalf("an unrecovered backlog gave %v, %q", got, why)
	}
	// A fault at the very start has nothing to compare with.
	if got, _, why = recovery(spans, t0, healed); got != nil || why == "" {
		t.Fatalf("a fault at the start gave %v, %q", got, why)
	}
}
