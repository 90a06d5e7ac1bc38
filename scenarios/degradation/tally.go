package degradation

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/squallbench/squall/scenarios/check"
	"github.com/squallbench/squall/scenarios/fakes"
)

// keyStat is what a service saw of one request key.
type keyStat struct {
	requests int
	ok       int
	first    int64 // arrival of the first request, Unix ns
}

// maxSeconds bounds the timeline (an hour of one-second rows).
const maxSeconds = 3600

// tally checks each workflow's answers against what the services saw as
// the workflow completes and keeps only the counts: the request index
// holds the keys of workflows still in flight, so memory follows the
// in-flight workflows, not the length of the run.
type tally struct {
	in     Input
	prefix string // keys of this run's workflows start with it

	mu sync.Mutex
	// Requests per key, fed by the services as they arrive, dropped once
	// the key's workflow is judged.
	prim, sec map[string]*keyStat
	// Judged keys whose call timed out without reaching the service: if
	// the request turns up after all, it is no mismatch.
	unreachedP, unreachedS map[string]bool
	// Workflows that never returned a result: requests for them arriving
	// later are theirs, not late ones.
	abandoned map[string]bool

	loadStart, outageFrom, outageTo time.Time

	sum      Summary
	short    int // workflows with fewer answers than requests
	noSource int // answers without a known source

	mismatch check.Problems // answer-source-matches-services
	unreachP int            // primary calls that timed out before reaching it
	unreachS int            // static answers whose secondary calls all timed out unreached

	blocked     check.Problems // breaker-blocks-primary: the primary called while open
	tried       int            // primary calls the workflows made
	ownRequests int            // primary requests for the judged workflows, by its own count

	diverged check.Problems // breaker-follows-rules

	// breaker-opens-in-outage and breaker-closes-after-recovery
	nEligible, nOpened     int
	opened                 check.Problems // eligible workflows that did not open
	closesEligible, closed int
	closeMiss              check.Problems

	tl []Second
}

func newTally(in Input, prefix string) *tally {
	return &tally{in: in, prefix: prefix, prim: map[string]*keyStat{}, sec: map[string]*keyStat{},
		unreachedP: map[string]bool{}, unreachedS: map[string]bool{}, abandoned: map[string]bool{},
		sum: Summary{BySource: map[string]int{}, Transitions: map[string]int{}}}
}

func (t *tally) begin(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.loadStart = now
}

func (t *tally) outageBegan(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.outageFrom = now
}

func (t *tally) outageEnded(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.outageTo = now
}

func add(m map[string]*keyStat, e fakes.Entry) {
	k := m[e.Key]
	if k == nil {
		k = &keyStat{first: e.At}
		m[e.Key] = k
	}
	k.requests++
	if e.Status == http.StatusOK {
		k.ok++
	}
}

// primaryRequest is the primary's OnRequest.
func (t *tally) primaryRequest(e fakes.Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.second(time.Unix(0, e.At)); s != nil {
		s.PrimaryReqs++
		if e.Status != http.StatusOK {
			s.PrimaryFail++
		}
	}
	if strings.HasPrefix(e.Key, t.prefix) {
		add(t.prim, e)
	}
}

// secondaryRequest is the secondary's OnRequest.
func (t *tally) secondaryRequest(e fakes.Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if strings.HasPrefix(e.Key, t.prefix) {
		add(t.sec, e)
	}
}

// second is the timeline row of at (nil outside the first hour). Under mu.
func (t *tally) second(at time.Time) *Second {
	if t.loadStart.IsZero() {
		return nil
	}
	s := int(at.Sub(t.loadStart) / time.Second)
	if s < 0 || s >= maxSeconds {
		return nil
	}
	for len(t.tl) <= s {
		t.tl = append(t.tl, Second{T: len(t.tl)})
	}
	return &t.tl[s]
}

// take removes and returns the stats of workflow id's requests. Under mu.
func (t *tally) take(m map[string]*keyStat, id string) map[int]*keyStat {
	out := map[int]*keyStat{}
	for seq := 0; seq < t.in.Requests; seq++ {
		k := Key(id, seq)
		if s := m[k]; s != nil {
			out[seq] = s
			delete(m, k)
		}
	}
	return out
}

// abandon forgets a workflow that returned no result (the runner has
// recorded its error).
func (t *tally) abandon(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.take(t.prim, id)
	t.take(t.sec, id)
	t.abandoned[id] = true
}

// judge checks workflow id's result against what the services saw of it
// and folds it into the counts.
func (t *tally) judge(id string, r Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pidx, sidx := t.take(t.prim, id), t.take(t.sec, id)
	t.sum.Workflows++
	if len(r.Answers) != t.in.Requests {
		t.short++
	}
	for _, p := range pidx {
		t.ownRequests += p.requests
	}
	for _, a := range r.Answers {
		t.answer(id, a, pidx[a.Seq], sidx[a.Seq])
	}
	for _, tr := range r.Transitions {
		t.sum.Transitions[tr.To]++
		if s := t.second(tr.At); s != nil {
			switch tr.To {
			case Open:
				s.Opened++
			case HalfOpen:
				s.HalfOpened++
			case Closed:
				s.Closed++
			}
		}
	}
	if why := Replay(t.in.Breaker, r); why != "" {
		t.diverged.Add("%s: %s", id, why)
	}
	t.judgeOutage(id, r, pidx)
}

// answer checks one answer against the services' requests for its key
// (nil: none arrived). Under mu.
func (t *tally) answer(id string, a Answer, p, s *keyStat) {
	k := Key(id, a.Seq)
	if p == nil {
		p = &keyStat{}
	}
	if s == nil {
		s = &keyStat{}
	}
	t.sum.Answers++
	t.sum.BySource[a.Source]++
	if row := t.second(a.At); row != nil {
		switch a.Source {
		case SourcePrimary:
			row.Primary++
		case SourceSecondary:
			row.Secondary++
		default:
			row.Static++
		}
	}
	switch a.Source {
	case SourcePrimary, SourceSecondary, SourceStatic:
	default:
		t.noSource++
	}
	// A call the workflow saw time out that never reached the service (its
	// worker was killed, its task lost in a partition) is no mismatch: the
	// workflow rightly counted it as a failure.
	unreachedPrimary := a.PrimaryTried && a.PrimaryTimedOut && p.requests == 0
	if unreachedPrimary {
		t.unreachP++
		t.unreachedP[k] = true
	}
	staticUnreached := a.Source == SourceStatic && a.SecondaryTimedOut && s.requests == 0
	if staticUnreached {
		t.unreachS++
		t.unreachedS[k] = true
	}
	switch {
	case a.Source == SourcePrimary && p.ok == 0:
		t.mismatch.Add("%s answered by the primary, which never answered it 200", k)
	case a.PrimaryTried && !a.PrimaryOK && p.ok > 0 && !a.PrimaryTimedOut:
		t.mismatch.Add("%s: the primary answered 200 but the workflow saw %q", k, a.PrimaryErr)
	case a.PrimaryTried && p.requests == 0 && !unreachedPrimary:
		t.mismatch.Add("%s: the workflow tried the primary, which has no request for it", k)
	case a.Source == SourceSecondary && s.ok == 0:
		t.mismatch.Add("%s answered by the secondary, which never answered it 200", k)
	case a.Source == SourceStatic && !staticUnreached && (s.requests == 0 || (s.ok > 0 && !a.SecondaryTimedOut)):
		t.mismatch.Add("%s answered statically; the secondary got %d requests for it, answered %d with 200", k, s.requests, s.ok)
	case a.Source != SourceStatic && a.Source != SourcePrimary && s.requests == 0:
		t.mismatch.Add("%s: source %s without a secondary request", k, a.Source)
	}
	if a.PrimaryTried {
		t.tried++
		return
	}
	t.sum.BlockedByBreaker++
	if p.requests > 0 {
		t.blocked.Add("%s: answered while the breaker was open, yet the primary got %d requests for it", k, p.requests)
	}
}

// judgeOutage: a workflow that made failure-threshold primary calls
// inside the outage (by the primary's own arrival times; all of them
// failed) must have opened its breaker; one that made enough requests
// after the recovery must have closed it again. Under mu.
func (t *tally) judgeOutage(id string, r Result, pidx map[int]*keyStat) {
	from, to := t.outageFrom, t.outageTo
	if from.IsZero() {
		return // the outage has not begun: the workflow saw none of it
	}
	f := from.UnixNano()
	inside := func(at int64) bool { return at >= f && (to.IsZero() || at < to.UnixNano()) }
	n := 0
	for _, a := range r.Answers {
		if p := pidx[a.Seq]; a.PrimaryTried && p != nil && inside(p.first) {
			n++
		}
	}
	if n >= t.in.Breaker.FailureThreshold {
		t.nEligible++
		did := false
		for _, tr := range r.Transitions {
			// A transition after the end, from a call that began inside, counts.
			if tr.To == Open && !tr.At.Before(from) && (to.IsZero() || tr.At.Before(to.Add(t.in.PrimaryTimeout+time.Second))) {
				did = true
			}
		}
		if did {
			t.nOpened++
		} else {
			t.opened.Add("%s made %d primary calls in the outage and never opened its breaker", id, n)
		}
	}
	if to.IsZero() || len(r.Transitions) == 0 {
		return
	}
	// After the recovery the primary is healthy, so a failed call there
	// is a lost or timed-out attempt: the breaker rightly counts it and
	// may reopen. The recovery is judged from the last such failure.
	last := to
	for _, a := range r.Answers {
		if a.PrimaryTried && !a.PrimaryOK && a.PrimaryDone.After(last) {
			last = a.PrimaryDone
		}
	}
	settle := last.Add(t.in.Breaker.OpenTimeout + recoverySettle)
	late := 0
	for _, a := range r.Answers {
		if !a.At.Before(settle) {
			late++
		}
	}
	if late < t.in.Breaker.HalfOpenSuccesses {
		return
	}
	t.closesEligible++
	lt := r.Transitions[len(r.Transitions)-1]
	if r.Final == Closed && lt.To == Closed && !lt.At.Before(last) {
		t.closed++
	} else {
		t.closeMiss.Add("%s ended %s (last transition %s->%s at request %d)", id, r.Final, lt.From, lt.To, lt.Seq)
	}
}
