package capacity

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/squallbench/squall/metrics"
)

// Finding is one resource that ran out, the rate where it was first seen,
// and the numbers that show it.
type Finding struct {
	Resource string  `json:"resource"`
	AtRate   float64 `json:"at_rate_per_s"`
	Evidence string  `json:"evidence"`
}

// Resource names of the findings that are not saturation of the cluster.
const (
	ResourceLimit = "configured limit"
)

// rule recognises one kind of saturation in a probe against the
// baseline (the lowest rate probed). The rules, in the order they are
// reported when two trigger at the same rate:
//
//   - configured limit (one rule per limit seen): the server refused with a
//     cause someone configured (RPS_LIMIT, PERSISTENCE_LIMIT, …), named
//     with its dynamic config key: raise it, it is not saturation. First,
//     because it explains what comes with it (retries backing off, late
//     starts, tasks waiting);
//   - driver: more than 1 % of starts late or dropped: squall could not keep
//     its own schedule, so the driver is the limit (add drivers);
//   - server CPU: a part of the server (a process, a service, or the whole
//     server when it is one process) used 85 % or more of its own cores;
//   - driver CPU: the driver alone used 85 % of its machine's cores;
//   - machine CPU: the processes on the driver's machine (driver, workers,
//     a server squall started there) used 90 % of its cores;
//   - persistence: p99 persistence latency 5× the baseline's and at least 50 ms;
//   - workers: workflow- or activity-task schedule-to-start p99 5× the
//     baseline's and at least 100 ms (tasks wait for a worker);
//   - shard contention: lock/semaphore p99 5× the baseline's and at least 20 ms;
//   - matching (server): the workers' rise while the workers are idle
//     (under half a core each): the tasks wait in the server, not for a worker;
//   - server overloaded: refusals the server gives when it runs out
//     (SYSTEM_OVERLOADED, a full database);
//   - busy workflow, circuit breaker: refusals about one workflow or an
//     outbound destination;
//   - rate limits: resource-exhausted answers of no known cause (streams
//     recorded before causes were).
type rule struct {
	resource string
	check    func(base, p Probe) (string, bool)
}

var (
	driverRule = rule{"driver", func(_, p Probe) (string, bool) {
		return fmt.Sprintf("driver late starts rose first: %.1f%% late or dropped at %.1f/s: squall itself is the limit, add drivers", p.LateFrac*100, p.Rate),
			p.LateFrac > 0.01
	}}
	// later: after the configured limits.
	later = []rule{
		{"server CPU", serverCPU},
		{"driver CPU", func(_, p Probe) (string, bool) {
			cpu, ok1 := p.Signals[metrics.SigDriverCPU]
			cores, ok2 := p.Signals[metrics.SigMachineCores]
			return fmt.Sprintf("driver CPU %.2f of %.0f cores on its machine: squall itself is the limit, add drivers", cpu, cores),
				ok1 && ok2 && cpu >= 0.85*cores
		}},
		{"machine CPU", machineCPU},
		{"persistence", grew(metrics.SigPersistenceP99, "persistence p99", 50)},
		{"workers", func(base, p Probe) (string, bool) {
			ev, ok := tasksWait(base, p)
			if ok && idleWorkers(p) {
				return "", false // tasks wait in the server, not for a worker (the matching rule)
			}
			return ev + ": workers", ok
		}},
		{"shard contention", func(base, p Probe) (string, bool) {
			if ev, ok := grew(metrics.SigLockP99, "shard lock p99", 20)(base, p); ok {
				return ev, true
			}
			return grew(metrics.SigSemaphoreP99, "shard semaphore p99", 20)(base, p)
		}},
		{"matching (server)", func(base, p Probe) (string, bool) {
			ev, ok := tasksWait(base, p)
			return fmt.Sprintf("%s while the workers used %.2f cores (%.0f worker processes): tasks wait in the server's matching, not for a worker",
				ev, p.Signals[metrics.SigWorkersCPU], p.Signals[metrics.SigWorkers]), ok && idleWorkers(p)
		}},
		{"server overloaded", refusedAs(metrics.KindSaturation, "the server refused, out of room: saturation")},
		{"busy workflow", refusedAs(metrics.KindBusyWorkflow, "single workflows took more than they can: spread the load over more workflows")},
		{"circuit breaker", refusedAs(metrics.KindCircuitBreaker, "an outbound destination kept failing")},
		{"rate limits", func(_, p Probe) (string, bool) {
			v := p.Signals[metrics.SigExhausted]
			return fmt.Sprintf("server answered resource-exhausted %.1f/s", v), v > 0 && len(p.Refusals) == 0
		}},
	}
)

// serverCPU: the hottest parts of the server against their own cores.
// The whole server's sum is judged only when it is all there is (one
// process, or a stream from before per-part figures): several services'
// sum is no resource of its own.
func serverCPU(_, p Probe) (string, bool) {
	scopes := metrics.ServerCPUScopes(p.Signals)
	if len(scopes) > 1 {
		scopes = slices.DeleteFunc(scopes, func(s string) bool { return s == metrics.ScopeServer })
	}
	type hot struct {
		scope     string
		cpu, frac float64
	}
	var hots []hot
	for _, s := range scopes {
		cpu, cores := p.Signals[metrics.CPU(s)], p.Signals[metrics.Cores(s)]
		if cores > 0 && cpu >= 0.85*cores {
			hots = append(hots, hot{s, cpu, cpu / cores})
		}
	}
	if len(scopes) == 0 {
		// Streams from before servers reported their cores: the machine's.
		cpu, ok1 := p.Signals[metrics.SigServerCPU]
		cores, ok2 := p.Signals[metrics.SigMachineCores]
		return fmt.Sprintf("server CPU %.2f of %.0f cores", cpu, cores), ok1 && ok2 && cpu >= 0.85*cores
	}
	if len(hots) == 0 {
		return "", false
	}
	sort.SliceStable(hots, func(i, j int) bool { return hots[i].frac > hots[j].frac })
	var parts []string
	for _, h := range hots {
		parts = append(parts, fmt.Sprintf("%s CPU %.2f of %g cores", metrics.ScopeName(h.scope), h.cpu, p.Signals[metrics.Cores(h.scope)]))
	}
	return strings.Join(parts, "; "), true
}

// machineCPU: the driver's machine, with what squall runs on it.
func machineCPU(_, p Probe) (string, bool) {
	cores, ok := p.Signals[metrics.SigMachineCores]
	w, d := p.Signals[metrics.SigWorkersCPU], p.Signals[metrics.SigDriverCPU]
	if all, measured := p.Signals[metrics.SigMachineCPU]; measured {
		ev := fmt.Sprintf("driver's machine CPU %.2f of %.0f cores (driver %.2f, workers %.2f", all, cores, d, w)
		if rest := all - w - d; rest > 0.005 {
			ev += fmt.Sprintf(", local server %.2f", rest)
		}
		return ev + ")", ok && all >= 0.9*cores
	}
	if _, ok := p.Signals[metrics.SigServerCores]; ok {
		return "", false // the server's CPU is its own, not necessarily this machine's
	}
	s := p.Signals[metrics.SigServerCPU] // streams from before: the server was local
	return fmt.Sprintf("machine CPU %.2f of %.0f cores (server %.2f, workers %.2f, driver %.2f)", s+w+d, cores, s, w, d),
		ok && s+w+d >= 0.9*cores
}

// refusedAs: the server refused with a cause of kind.
func refusedAs(kind, what string) func(_, p Probe) (string, bool) {
	return func(_, p Probe) (string, bool) {
		var parts []string
		for _, r := range p.Refusals {
			if r.Layer != metrics.LayerClient && r.PerS > 0 && metrics.CauseOf(r.Cause).Kind == kind {
				parts = append(parts, fmt.Sprintf("%s %.1f/s by %s", r.Cause, r.PerS, r.Who()))
			}
		}
		if len(parts) == 0 {
			return "", false
		}
		return fmt.Sprintf("%s: %s", strings.Join(parts, ", "), what), true
	}
}

// limitRule: one configured limit (cause and key) bit in the probe.
func limitRule(l metrics.Refusal) rule {
	return rule{ResourceLimit, func(_, p Probe) (string, bool) {
		for _, got := range metrics.Limits(p.Refusals) {
			if got.Cause == l.Cause && got.Key == l.Key {
				return fmt.Sprintf("configured limit %s at %.1f/s refused by %s: raise it, this is not saturation",
					got.Limit(), got.PerS, got.Who()), true
			}
		}
		return "", false
	}}
}

// tasksWait: workflow- or activity-task schedule-to-start p99 grew 5× and
// to at least 100 ms: tasks wait before anyone takes them.
func tasksWait(base, p Probe) (string, bool) {
	if ev, ok := grew(metrics.SigWorkflowS2SP99, "workflow schedule-to-start p99", 100)(base, p); ok {
		return ev, true
	}
	return grew(metrics.SigActivityS2SP99, "activity schedule-to-start p99", 100)(base, p)
}

// idleWorkers: the probe knows its workers' CPU and they used less than
// half a core each, so a task waiting was not waiting for them.
func idleWorkers(p Probe) bool {
	cpu, ok1 := p.Signals[metrics.SigWorkersCPU]
	n, ok2 := p.Signals[metrics.SigWorkers]
	return ok1 && ok2 && n > 0 && cpu < 0.5*n
}

// grew: the signal is at least 5× the baseline's and at least floor.
func grew(sig, what string, floor float64) func(base, p Probe) (string, bool) {
	return func(base, p Probe) (string, bool) {
		v, ok := p.Signals[sig]
		b, okb := base.Signals[sig]
		if !ok || !okb {
			return "", false
		}
		return fmt.Sprintf("%s %.0f → %.0f ms", what, b, v), v >= floor && v >= 5*b
	}
}

// rulesFor are the rules in reporting order, with a rule for each
// configured limit that bit in any probe.
func rulesFor(probes []Probe) []rule {
	var out []rule
	var seen []metrics.Refusal
	for _, p := range probes {
		for _, l := range metrics.Limits(p.Refusals) {
			if !slices.ContainsFunc(seen, func(s metrics.Refusal) bool { return s.Cause == l.Cause && s.Key == l.Key }) {
				seen = append(seen, l)
				out = append(out, limitRule(l))
			}
		}
	}
	return append(append(out, driverRule), later...)
}

// Attribute names what saturated, from the probes (in any order): for
// each rule the lowest rate where it held, those at or below the first
// failing rate first. When no rule held where probes failed, the finding
// says so and shows the latency's rise instead of guessing.
func Attribute(probes []Probe) []Finding {
	if len(probes) == 0 {
		return nil
	}
	byRate := append([]Probe(nil), probes...)
	sort.SliceStable(byRate, func(i, j int) bool { return byRate[i].Rate < byRate[j].Rate })
	base := byRate[0]
	firstFail := 0.0
	for _, p := range byRate {
		if !p.Pass {
			firstFail = p.Rate
			break
		}
	}
	type hit struct {
		Finding
		order int
	}
	var hits []hit
	for i, r := range rulesFor(byRate) {
		for _, p := range byRate {
			if ev, ok := r.check(base, p); ok {
				hits = append(hits, hit{Finding{Resource: r.resource, AtRate: p.Rate, Evidence: ev}, i})
				break
			}
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].AtRate != hits[j].AtRate {
			return hits[i].AtRate < hits[j].AtRate
		}
		return hits[i].order < hits[j].order
	})
	var out []Finding
	for _, h := range hits {
		out = append(out, h.Finding)
	}
	if firstFail > 0 && (len(out) == 0 || out[0].AtRate > firstFail) {
		var fail Probe
		for _, p := range byRate {
			if p.Rate == firstFail {
				fail = p
				break
			}
		}
		out = append([]Finding{{Resource: "unattributed", AtRate: firstFail,
			Evidence: fmt.Sprintf("no saturation signal crossed its rule; p99 %.0f → %.0f ms, throughput %.1f of %.1f/s (%s)",
				base.P99MS, fail.P99MS, fail.Throughput, fail.Rate, fail.Why)}}, out...)
	}
	return out
}

// UpgradeProbe renames the signals of a probe recorded by an earlier
// squall to today's names (the span is the probe's, unknown here: a
// per-probe rate needs none).
func UpgradeProbe(p *Probe) {
	if p.Signals != nil {
		metrics.UpgradeSignals(p.Signals, 0)
	}
}
