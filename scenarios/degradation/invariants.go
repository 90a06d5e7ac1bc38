package degradation

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"time"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/fakes"
)

// keyStat is what a service's own log says about one request key.
type keyStat struct {
	requests int
	ok       int
	first    int64 // arrival of the first request, Unix ns
}

func index(log []fakes.Entry) map[string]*keyStat {
	m := map[string]*keyStat{}
	for _, e := range log {
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
	return m
}

// Summary is the run's outcome (report details "summary").
type Summary struct {
	Workflows        int            `json:"workflows"`
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

func inv(name string, ok bool, format string, a ...any) scenarios.Invariant {
	return scenarios.Invariant{Name: name, OK: ok, Detail: fmt.Sprintf(format, a...)}
}

// Invariants checks the workflows' answers against the services' own logs.
func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	d.mu.Lock()
	started := append([]string(nil), d.started...)
	results := make(map[string]Result, len(d.results))
	for k, v := range d.results {
		results[k] = v
	}
	unacked, errs, firstErr := d.unacked, d.errs, d.firstErr
	loadStart, from, to := d.loadStart, d.outageFrom, d.outageTo
	d.mu.Unlock()
	sort.Strings(started)

	plog, slog := d.primary.Log(), d.secondary.Log()
	if d.env.Dir != "" {
		_ = d.primary.WriteLog(filepath.Join(d.env.Dir, "primary.jsonl"))
		_ = d.secondary.WriteLog(filepath.Join(d.env.Dir, "secondary.jsonl"))
	}
	pidx, sidx := index(plog), index(slog)

	var out []scenarios.Invariant
	sum := Summary{Workflows: len(started), BySource: map[string]int{}, Transitions: map[string]int{}}
	pc, sc := d.primary.Counts(), d.secondary.Counts()
	sum.PrimaryRequests, sum.PrimaryFailed, sum.SecondaryReqs, sum.SecondaryFailed = pc.Requests, pc.Failed, sc.Requests, sc.Failed

	// 1. Every request answered, with a known source.
	short, bad := 0, 0
	for _, id := range started {
		r, ok := results[id]
		if !ok {
			continue
		}
		if len(r.Answers) != d.in.Requests {
			short++
		}
		for _, a := range r.Answers {
			sum.Answers++
			sum.BySource[a.Source]++
			switch a.Source {
			case SourcePrimary, SourceSecondary, SourceStatic:
			default:
				bad++
			}
		}
		for _, t := range r.Transitions {
			sum.Transitions[t.To]++
		}
	}
	if sum.Answers > 0 {
		sum.DegradedFraction = 1 - float64(sum.BySource[SourcePrimary])/float64(sum.Answers)
	}
	detail := fmt.Sprintf("%d workflows, %d completed, %d answers (%d expected), %d short, %d without a source; %d workflow errors, %d starts unacknowledged",
		len(started), len(results), sum.Answers, len(started)*d.in.Requests, short, bad, errs, unacked)
	if firstErr != "" {
		detail += "; first error: " + firstErr
	}
	out = append(out, inv("every-request-answered",
		len(started) > 0 && len(results) == len(started) && short == 0 && bad == 0 && errs == 0 && unacked == 0, "%s", detail))

	// 2. The recorded source is what the services' logs say. One case is
	// no mismatch: a call the workflow saw time out that never reached the
	// service (the worker running it was killed, or its task was lost in a
	// partition). It is counted per service and reported.
	mismatch, unreachedP, unreachedS := 0, 0, 0
	unreachedPrimary := map[string]bool{}
	var example string
	note := func(format string, a ...any) {
		mismatch++
		if example == "" {
			example = fmt.Sprintf(format, a...)
		}
	}
	for _, id := range started {
		r, ok := results[id]
		if !ok {
			continue
		}
		for _, a := range r.Answers {
			k := Key(id, a.Seq)
			p, s := pidx[k], sidx[k]
			if p == nil {
				p = &keyStat{}
			}
			if s == nil {
				s = &keyStat{}
			}
			if a.PrimaryTried && a.PrimaryTimedOut && p.requests == 0 {
				unreachedP++
				unreachedPrimary[k] = true
			}
			staticUnreached := a.Source == SourceStatic && a.SecondaryTimedOut && s.requests == 0
			if staticUnreached {
				unreachedS++
			}
			switch {
			case a.Source == SourcePrimary && p.ok == 0:
				note("%s answered by the primary, which never answered it 200", k)
			case a.PrimaryTried && !a.PrimaryOK && p.ok > 0 && !a.PrimaryTimedOut:
				note("%s: the primary answered 200 but the workflow saw %q", k, a.PrimaryErr)
			case a.PrimaryTried && p.requests == 0 && !unreachedPrimary[k]:
				note("%s: the workflow tried the primary, which has no request for it", k)
			case a.Source == SourceSecondary && s.ok == 0:
				note("%s answered by the secondary, which never answered it 200", k)
			case a.Source == SourceStatic && !staticUnreached && (s.requests == 0 || (s.ok > 0 && !a.SecondaryTimedOut)):
				note("%s answered statically; the secondary got %d requests for it, answered %d with 200", k, s.requests, s.ok)
			case a.Source != SourceStatic && a.Source != SourcePrimary && s.requests == 0:
				note("%s: source %s without a secondary request", k, a.Source)
			}
		}
	}
	out = append(out, inv("answer-source-matches-services", mismatch == 0 && sum.Answers > 0,
		"%d answers checked against the services' own logs, %d mismatches%s; timed-out calls that never reached the service: %d primary, %d secondary (all attempts)",
		sum.Answers, mismatch, exampleOf(example), unreachedP, unreachedS))

	// 3. The breaker stops calling the primary, by the primary's own count.
	tried, blockedCalled := 0, 0
	var blockedEx string
	for _, id := range started {
		for _, a := range results[id].Answers {
			if a.PrimaryTried {
				tried++
				continue
			}
			sum.BlockedByBreaker++
			if p := pidx[Key(id, a.Seq)]; p != nil && p.requests > 0 {
				blockedCalled++
				if blockedEx == "" {
					blockedEx = Key(id, a.Seq)
				}
			}
		}
	}
	ownRequests := 0
	for k, p := range pidx {
		if owned(k, started) {
			ownRequests += p.requests
		}
	}
	out = append(out, inv("breaker-blocks-primary", blockedCalled == 0 && ownRequests == tried-unreachedP,
		"%d requests answered without the primary while the breaker was open: the primary's own log has %d requests for them%s; "+
			"the primary received %d requests from these workflows, the workflows tried it %d times (%d of them timed out before reaching it)",
		sum.BlockedByBreaker, blockedCalled, exampleOf(blockedEx), ownRequests, tried, unreachedP))

	// 4. The live breaker followed its rules: the pure breaker replayed on
	// each workflow's recorded times and outcomes makes the same decisions.
	diverged := 0
	var divEx string
	for _, id := range started {
		r, ok := results[id]
		if !ok {
			continue
		}
		if why := Replay(d.in.Breaker, r); why != "" {
			diverged++
			if divEx == "" {
				divEx = id + ": " + why
			}
		}
	}
	out = append(out, inv("breaker-follows-rules", diverged == 0,
		"%d workflows' decisions replayed through the breaker rules (threshold %d, open %s, %d probes to close): %d diverged%s",
		len(results), d.in.Breaker.FailureThreshold, d.in.Breaker.OpenTimeout, d.in.Breaker.HalfOpenSuccesses, diverged, exampleOf(divEx)))

	// 5. With the primary down: the breaker opens; after: it closes.
	if d.outageDur > 0 && d.target != TargetSecondary {
		out = append(out, d.outageInvariants(started, results, pidx, from, to)...)
		if !from.IsZero() {
			sum.OutageFromS = from.Sub(loadStart).Seconds()
		}
		if !to.IsZero() {
			sum.OutageToS = to.Sub(loadStart).Seconds()
		}
		sum.Target = d.target
	}
	d.env.Emit("summary", sum)
	d.env.Emit("timeline", timeline(loadStart, started, results, plog))
	return out
}

func exampleOf(s string) string {
	if s == "" {
		return ""
	}
	return "; e.g. " + s
}

// owned: key belongs to one of the run's workflows (the services may be
// shared by nothing else, but be exact anyway).
func owned(key string, started []string) bool {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			id := key[:i]
			j := sort.SearchStrings(started, id)
			return j < len(started) && started[j] == id
		}
	}
	return false
}

func (d *driver) outageInvariants(started []string, results map[string]Result, pidx map[string]*keyStat, from, to time.Time) []scenarios.Invariant {
	if from.IsZero() || to.IsZero() {
		return []scenarios.Invariant{inv("breaker-opens-in-outage", false,
			"the outage (start +%s, %s) did not happen within the run: run longer or start it earlier", d.outageStart, d.outageDur)}
	}
	f, t := from.UnixNano(), to.UnixNano()
	th := d.in.Breaker.FailureThreshold
	eligible, opened := 0, 0
	var missEx string
	for _, id := range started {
		r, ok := results[id]
		if !ok {
			continue
		}
		// Primary requests this workflow made inside the outage (by the
		// primary's own arrival times): all failed; threshold of them in
		// a row must have opened the breaker.
		n := 0
		for _, a := range r.Answers {
			if p := pidx[Key(id, a.Seq)]; a.PrimaryTried && p != nil && p.first >= f && p.first < t {
				n++
			}
		}
		if n < th {
			continue
		}
		eligible++
		did := false
		for _, tr := range r.Transitions {
			if tr.To == Open && tr.At.UnixNano() >= f && tr.At.Before(to.Add(d.in.PrimaryTimeout+time.Second)) {
				did = true
			}
		}
		if did {
			opened++
		} else if missEx == "" {
			missEx = id
		}
	}
	out := []scenarios.Invariant{inv("breaker-opens-in-outage", eligible > 0 && opened == eligible,
		"%d workflows made >= %d primary calls during the %.1f s outage (by the primary's own arrival times); %d of them opened their breaker%s",
		eligible, th, to.Sub(from).Seconds(), opened, exampleOf(missEx))}

	// Recovery: judged only where nothing else can keep the primary
	// failing (no base failure rate, no faults switching it).
	base := d.base[d.primary]
	if base.errorRate > 0 || base.latency >= d.in.PrimaryTimeout || len(d.primary.ModeChanges()) != 2 {
		return append(out, inv("breaker-closes-after-recovery", true,
			"not judged: the primary fails outside the outage too (error rate %g, latency %s vs timeout %s, %d mode changes)",
			base.errorRate, base.latency, d.in.PrimaryTimeout, len(d.primary.ModeChanges())))
	}
	settle := to.Add(d.in.Breaker.OpenTimeout + 2*time.Second)
	k := d.in.Breaker.HalfOpenSuccesses
	eligible, closed := 0, 0
	missEx = ""
	for _, id := range started {
		r, ok := results[id]
		if !ok || len(r.Transitions) == 0 {
			continue
		}
		late := 0
		for _, a := range r.Answers {
			if !a.At.Before(settle) {
				late++
			}
		}
		if late < k {
			continue
		}
		eligible++
		if r.Final == Closed && r.Transitions[len(r.Transitions)-1].To == Closed && !r.Transitions[len(r.Transitions)-1].At.Before(to) {
			closed++
		} else if missEx == "" {
			missEx = fmt.Sprintf("%s ended %s", id, r.Final)
		}
	}
	return append(out, inv("breaker-closes-after-recovery", eligible > 0 && closed == eligible,
		"%d workflows opened their breaker and made >= %d requests from open-timeout + 2 s after the recovery on; %d of them closed it again after the recovery%s",
		eligible, k, closed, exampleOf(missEx)))
}

func timeline(start time.Time, started []string, results map[string]Result, plog []fakes.Entry) []Second {
	var tl []Second
	at := func(t time.Time) *Second {
		s := int(t.Sub(start) / time.Second)
		if s < 0 || s >= 3600 {
			return nil
		}
		for len(tl) <= s {
			tl = append(tl, Second{T: len(tl)})
		}
		return &tl[s]
	}
	for _, id := range started {
		r := results[id]
		for _, a := range r.Answers {
			if s := at(a.At); s != nil {
				switch a.Source {
				case SourcePrimary:
					s.Primary++
				case SourceSecondary:
					s.Secondary++
				default:
					s.Static++
				}
			}
		}
		for _, t := range r.Transitions {
			if s := at(t.At); s != nil {
				switch t.To {
				case Open:
					s.Opened++
				case HalfOpen:
					s.HalfOpened++
				case Closed:
					s.Closed++
				}
			}
		}
	}
	for _, e := range plog {
		if s := at(time.Unix(0, e.At)); s != nil {
			s.PrimaryReqs++
			if e.Status != http.StatusOK {
				s.PrimaryFail++
			}
		}
	}
	return tl
}
