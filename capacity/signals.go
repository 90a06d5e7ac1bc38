package capacity

import (
	"fmt"
	"sort"
)

// Signal names a probe's Signals may hold (missing ones are not judged).
const (
	SigMachineCores    = "machine_cores"
	SigServerCPU       = "server_cpu_cores"
	SigWorkerCPU       = "worker_cpu_cores"
	SigDriverCPU       = "driver_cpu_cores"
	SigPersistenceP99  = "persistence_p99_ms"
	SigWorkflowS2SP99  = "workflow_schedule_to_start_p99_ms"
	SigActivityS2SP99  = "activity_schedule_to_start_p99_ms"
	SigLockP99         = "lock_p99_ms"
	SigResourceExhaust = "resource_exhausted_per_s"
	SigWorkers         = "workers" // worker processes serving the probe
)

// Finding is one resource that ran out, the rate where it was first seen,
// and the numbers that show it.
type Finding struct {
	Resource string  `json:"resource"`
	AtRate   float64 `json:"at_rate_per_s"`
	Evidence string  `json:"evidence"`
}

// rule recognises one kind of saturation in a probe against the
// baseline (the lowest rate probed). The rules, in the order they are
// reported when two trigger at the same rate:
//
//   - driver: more than 1 % of starts late or dropped: squall could not keep
//     its own schedule, so the driver is the limit (add drivers);
//   - server CPU: the server used 85 % or more of the machine's cores;
//   - machine CPU: server, workers and driver together used 90 % or more;
//   - persistence: p99 persistence latency 5× the baseline's and at least 50 ms;
//   - workers: workflow- or activity-task schedule-to-start p99 5× the
//     baseline's and at least 100 ms (tasks wait for a worker);
//   - shard contention: lock/semaphore p99 5× the baseline's and at least 20 ms;
//   - matching (server): the workers' rise while the workers are idle
//     (under half a core each): the tasks wait in the server, not for a worker;
//   - rate limits: the server answered resource-exhausted.
type rule struct {
	resource string
	check    func(base, p Probe) (string, bool)
}

var rules = []rule{
	{"driver", func(_, p Probe) (string, bool) {
		return fmt.Sprintf("driver late starts rose first: %.1f%% late or dropped at %.1f/s: squall itself is the limit, add drivers", p.LateFrac*100, p.Rate),
			p.LateFrac > 0.01
	}},
	{"server CPU", func(_, p Probe) (string, bool) {
		cpu, ok1 := p.Signals[SigServerCPU]
		cores, ok2 := p.Signals[SigMachineCores]
		return fmt.Sprintf("server CPU %.2f of %.0f cores", cpu, cores), ok1 && ok2 && cpu >= 0.85*cores
	}},
	{"machine CPU", func(_, p Probe) (string, bool) {
		cores, ok := p.Signals[SigMachineCores]
		s, w, d := p.Signals[SigServerCPU], p.Signals[SigWorkerCPU], p.Signals[SigDriverCPU]
		return fmt.Sprintf("machine CPU %.2f of %.0f cores (server %.2f, workers %.2f, driver %.2f)", s+w+d, cores, s, w, d),
			ok && s+w+d >= 0.9*cores
	}},
	{"persistence", grew(SigPersistenceP99, "persistence p99", 50)},
	{"workers", func(base, p Probe) (string, bool) {
		ev, ok := tasksWait(base, p)
		if ok && idleWorkers(p) {
			return "", false // tasks wait in the server, not for a worker (the matching rule)
		}
		return ev + ": workers", ok
	}},
	{"shard contention", grew(SigLockP99, "shard lock/semaphore p99", 20)},
	{"matching (server)", func(base, p Probe) (string, bool) {
		ev, ok := tasksWait(base, p)
		return fmt.Sprintf("%s while the workers used %.2f cores (%.0f worker processes): tasks wait in the server's matching, not for a worker",
			ev, p.Signals[SigWorkerCPU], p.Signals[SigWorkers]), ok && idleWorkers(p)
	}},
	{"rate limits", func(_, p Probe) (string, bool) {
		v := p.Signals[SigResourceExhaust]
		return fmt.Sprintf("server answered resource-exhausted %.1f/s", v), v > 0
	}},
}

// tasksWait: workflow- or activity-task schedule-to-start p99 grew 5× and
// to at least 100 ms: tasks wait before anyone takes them.
func tasksWait(base, p Probe) (string, bool) {
	if ev, ok := grew(SigWorkflowS2SP99, "workflow schedule-to-start p99", 100)(base, p); ok {
		return ev, true
	}
	return grew(SigActivityS2SP99, "activity schedule-to-start p99", 100)(base, p)
}

// idleWorkers: the probe knows its workers' CPU and they used less than
// half a core each, so a task waiting was not waiting for them.
func idleWorkers(p Probe) bool {
	cpu, ok1 := p.Signals[SigWorkerCPU]
	n, ok2 := p.Signals[SigWorkers]
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
	for i, r := range rules {
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
