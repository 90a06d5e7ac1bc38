package metrics

import (
	"math"
	"sort"
	"strings"
)

// The signal vocabulary: the names of server and process signals in a
// Sample, in a capacity probe and in the reports, one spelling each.
// Latencies are in milliseconds, over the interval's observations only
// (quantiles of bucket deltas); rates end in _per_s; CPU is in cores
// (CPU seconds per second).
const (
	SigPersistenceP50 = "persistence_p50_ms"
	SigPersistenceP99 = "persistence_p99_ms"
	SigFrontendP50    = "frontend_p50_ms"
	SigFrontendP99    = "frontend_p99_ms"
	SigHistoryP50     = "history_p50_ms"
	SigHistoryP99     = "history_p99_ms"
	SigMatchingP99    = "matching_p99_ms"
	SigWorkflowS2SP99 = "workflow_task_schedule_to_start_p99_ms"
	SigActivityS2SP99 = "activity_schedule_to_start_p99_ms"
	SigBacklog        = "task_queue_backlog" // approximate_backlog_count, summed; a gauge, at the interval's end
	SigLockP99        = "shard_lock_p99_ms"  // lock_latency
	SigSemaphoreP99   = "semaphore_p99_ms"   // semaphore_latency
	// SigExhausted: the server's RESOURCE_EXHAUSTED answers per second,
	// every cause, service and persistence counts together (Refusals has
	// them by cause).
	SigExhausted = "resource_exhausted_per_s"
	// SigClientExhausted: RESOURCE_EXHAUSTED answers the driver got per
	// second, each attempt counted.
	SigClientExhausted = "client_resource_exhausted_per_s"

	// The machine squall runs on (the driver's): its cores and the CPU of
	// every process squall watches on it (driver, workers, a local server).
	SigMachineCores = "machine_cores"
	SigMachineCPU   = "machine_cpu_cores"
	SigDriverCPU    = "driver_cpu_cores"
	SigWorkersCPU   = "workers_cpu_cores" // squall's worker processes together
	SigWorkers      = "workers"           // worker processes serving the load

	// The whole Temporal server: every server process together.
	SigServerCPU   = ScopeServer + sigCPUSuffix
	SigServerRSS   = ScopeServer + sigRSSSuffix
	SigServerCores = ScopeServer + sigCoresSuffix
)

// ScopeServer is the scope of the whole server; ServerScope names a
// service or one process of it.
const ScopeServer = "server"

const (
	sigCPUSuffix   = "_cpu_cores" // <scope>_cpu_cores: CPU used
	sigRSSSuffix   = "_rss_mb"    // <scope>_rss_mb: resident memory
	sigCoresSuffix = "_cores"     // <scope>_cores: cores it may use (its GOMAXPROCS, or --server-cores)
	instanceSep    = "@"
)

// CPU, RSS and Cores name a scope's process signals: a squall process
// (driver, worker_0), the machine, or a server scope (ServerScope).
func CPU(scope string) string   { return scope + sigCPUSuffix }
func RSS(scope string) string   { return scope + sigRSSSuffix }
func Cores(scope string) string { return scope + sigCoresSuffix }

// ScopeOf splits a CPU or RSS signal's name into its scope and which of
// the two it is ("cpu" or "rss"); ok is false for any other signal.
func ScopeOf(sig string) (scope, what string, ok bool) {
	if sc, found := strings.CutSuffix(sig, sigRSSSuffix); found {
		return sc, "rss", true
	}
	if sc, found := strings.CutSuffix(sig, sigCPUSuffix); found {
		return sc, "cpu", true
	}
	return "", "", false
}

// ServerScope names a part of the server: "server" for all of it,
// "server_history" for one service's processes together,
// "server_history@history-1" for one process of it, "server@host:9090"
// for one process running every service.
func ServerScope(service, instance string) string {
	s := ScopeServer
	if service != "" {
		s += "_" + service
	}
	if instance != "" {
		s += instanceSep + instance
	}
	return s
}

// ParseServerScope reads a ServerScope back.
func ParseServerScope(scope string) (service, instance string, ok bool) {
	rest, ok := strings.CutPrefix(scope, ScopeServer)
	if !ok {
		return "", "", false
	}
	rest, instance, _ = strings.Cut(rest, instanceSep)
	if rest == "" {
		return "", instance, true
	}
	service, ok = strings.CutPrefix(rest, "_")
	return service, instance, ok && service != ""
}

// ScopeName is a server scope for people: "server", "history",
// "history (history-1)".
func ScopeName(scope string) string {
	svc, inst, ok := ParseServerScope(scope)
	if !ok {
		return scope
	}
	if svc == "" {
		svc = ScopeServer
	}
	if inst != "" {
		return svc + " (" + inst + ")"
	}
	return svc
}

// ServerCPUScopes lists the server scopes of sig that have both a CPU and
// a cores figure, most specific first (processes, then services, then
// the whole server), each list sorted.
func ServerCPUScopes(sig map[string]float64) []string {
	var inst, svc, whole []string
	for k := range sig {
		scope, ok := strings.CutSuffix(k, sigCPUSuffix)
		if !ok {
			continue
		}
		if _, has := sig[Cores(scope)]; !has {
			continue
		}
		s, i, ok := ParseServerScope(scope)
		switch {
		case !ok:
		case i != "":
			inst = append(inst, scope)
		case s != "":
			svc = append(svc, scope)
		default:
			whole = append(whole, scope)
		}
	}
	sort.Strings(inst)
	sort.Strings(svc)
	return append(append(inst, svc...), whole...)
}

// The p95s and the sync-match ratio that Temporal's own benchmark alerts
// and worker-health guidance are written in (capacity SLO objectives).
const (
	SigStartWorkflowP95 = "start_workflow_p95_ms" // frontend StartWorkflowExecution
	SigWorkflowS2SP95   = "workflow_task_schedule_to_start_p95_ms"
	SigActivityS2SP95   = "activity_schedule_to_start_p95_ms"
	SigSyncMatch        = "sync_match_ratio" // poll_success_sync / poll_success, 0–1
)

// Matching's poll counters, for the sync-match ratio.
const (
	mPollSuccess     = "poll_success"
	mPollSuccessSync = "poll_success_sync"
)

// legacyNames are names earlier squall versions recorded, by today's.
var legacyNames = map[string]string{
	"worker_cpu_cores":                  SigWorkersCPU,     // capacity probes: the workers together
	"workflow_schedule_to_start_p99_ms": SigWorkflowS2SP99, // capacity probes
	"lock_p99_ms":                       SigLockP99,        // capacity probes: lock and semaphore, the higher
}

// legacyExhausted: samples counted refusals per interval, not per second.
const legacyExhausted = "resource_exhausted"

// UpgradeSignals renames, in place, the signals of a stream recorded by
// an earlier squall to today's names; secs is the span the signals cover
// (turns a per-interval count into a rate; 0: none).
func UpgradeSignals(sig map[string]float64, secs float64) {
	for old, name := range legacyNames {
		if v, ok := sig[old]; ok {
			if _, clash := sig[name]; !clash {
				sig[name] = v
			}
			delete(sig, old)
		}
	}
	if v, ok := sig[legacyExhausted]; ok {
		if _, clash := sig[SigExhausted]; !clash && secs > 0 {
			sig[SigExhausted] = round(v / secs)
		}
		delete(sig, legacyExhausted)
	}
}

// Server metric names, as the Temporal server v1.32 defines them
// (common/metrics/metric_defs.go). Timers are histograms; the embedded
// server's exporter writes them in seconds (bounds 0.001 … 1000), other
// set-ups in milliseconds (bounds from 1), which histFamily tells apart.
const (
	mPersistenceLatency = "persistence_latency"
	mServiceLatency     = "service_latency"
	mScheduleToStart    = "task_schedule_to_start_latency"
	mBacklog            = "approximate_backlog_count"
	mLockLatency        = "lock_latency"
	mSemaphoreLatency   = "semaphore_latency"
	mServiceExhausted   = "service_errors_resource_exhausted"
	mPersistExhausted   = "persistence_errors_resource_exhausted"
	mGoMaxProcs         = "gomaxprocs" // each service's runtime.GOMAXPROCS(0), labelled service_name
	mServiceRequests    = "service_requests"
	mProcessCPU         = "process_cpu_seconds_total"     // not exported by Temporal itself; by some set-ups
	mProcessRSS         = "process_resident_memory_bytes" // likewise
	lService            = "service_name"
	lCause              = "resource_exhausted_cause"
	lScope              = "resource_exhausted_scope"
	lOperation          = "operation"
)

const (
	worstOps            = 3                             // persistence operations named per interval
	minOpCount          = 1                             // observations an operation needs in an interval to be named
	msPerSecond         = 1000.0                        // seconds → ms for *_seconds histograms
	secondsHeuristicMin = 0.1                           // smallest bound below this: a histogram in seconds (ms ones start at 1)
	longPollPrefix      = "Poll"                        // long polls wait by design; they are no latency signal
	getHistoryOperation = "GetWorkflowExecutionHistory" // long-polled by clients waiting for a result
)

// ExpectedSignals are the server signals a Temporal endpoint should yield
// under load; the report warns about those it never saw.
var ExpectedSignals = []string{SigPersistenceP99, SigFrontendP99, SigHistoryP99, SigWorkflowS2SP99}

// OpLatency is one persistence operation's latency in an interval.
type OpLatency struct {
	Operation string  `json:"operation"`
	P99MS     float64 `json:"p99_ms"`
	Count     float64 `json:"count"`
}

// Reading is one interval's server signals from whichever source:
// latencies and counts for the whole cluster, the refusals by cause, and
// each server process's own figures (summed into scopes by Aggregate).
type Reading struct {
	Signals   map[string]float64
	Worst     []OpLatency
	Refusals  []Refusal
	Instances []Instance
}

// Instance is one server process's own figures over an interval.
type Instance struct {
	Service  string // its Temporal service; "" for a process running all of them
	Instance string // e.g. history-1 or host:port
	Local    bool   // runs on this machine (its CPU is the machine's)
	CPU      float64
	RSSMB    float64
	Cores    float64
	HasCPU   bool
	HasRSS   bool
	HasCores bool
}

// Scrape is two scrapes of one target and the seconds between them.
type Scrape struct {
	Target    Target
	Prev, Cur Families
	Secs      float64
}

// histFamily finds a histogram family by its base name: exporters differ
// in the suffixes they add (none, _milliseconds, _seconds). The scale
// turns its values into milliseconds.
func histFamily(fams Families, base string) ([]Series, float64) {
	for _, name := range []string{base, base + "_milliseconds", base + "_seconds"} {
		ss := fams.Histograms(name)
		if ss == nil {
			continue
		}
		scale := 1.0
		if strings.HasSuffix(name, "_seconds") || (name == base && minBound(ss) < secondsHeuristicMin) {
			scale = msPerSecond
		}
		return ss, scale
	}
	return nil, 0
}

func minBound(ss []Series) float64 {
	m := math.Inf(1)
	for _, s := range ss {
		if len(s.H.Bounds) > 0 {
			m = math.Min(m, s.H.Bounds[0])
		}
	}
	return m
}

// inMS returns series with their bounds scaled to milliseconds, so that
// endpoints exporting seconds and milliseconds merge.
func inMS(ss []Series, scale float64) []Series {
	if scale == 1 {
		return ss
	}
	out := make([]Series, len(ss))
	for i, s := range ss {
		b := make([]float64, len(s.H.Bounds))
		for j, v := range s.H.Bounds {
			b[j] = v * scale
		}
		s.H.Bounds = b
		s.H.Sum *= scale
		out[i] = s
	}
	return out
}

// ServerSignals computes one interval's signals from two scrapes of each
// Temporal server endpoint: latency quantiles from bucket deltas merged
// over every endpoint, the backlog gauge as of the later scrape, refusals
// by cause as rates, and each endpoint's process figures (Instances).
// Signals without observations in the interval are absent, not zero.
func ServerSignals(scrapes []Scrape) Reading {
	r := Reading{Signals: map[string]float64{}}
	sig := r.Signals
	quant := func(name string, h Buckets, q float64) {
		if v, ok := h.Quantile(q); ok {
			sig[name] = round(v)
		}
	}
	delta := func(base string) []Series {
		var out []Series
		for _, s := range scrapes {
			p, _ := histFamily(s.Prev, base)
			c, scale := histFamily(s.Cur, base)
			out = append(out, inMS(DeltaHistograms(p, c), scale)...)
		}
		return out
	}

	if d := delta(mPersistenceLatency); d != nil {
		all := Merge(d)
		quant(SigPersistenceP50, all, 0.5)
		quant(SigPersistenceP99, all, 0.99)
		for op, h := range GroupBy(d, lOperation) {
			if v, ok := h.Quantile(0.99); ok && h.Count >= minOpCount {
				r.Worst = append(r.Worst, OpLatency{Operation: op, P99MS: round(v), Count: h.Count})
			}
		}
		sort.Slice(r.Worst, func(i, j int) bool {
			if r.Worst[i].P99MS != r.Worst[j].P99MS {
				return r.Worst[i].P99MS > r.Worst[j].P99MS
			}
			return r.Worst[i].Operation < r.Worst[j].Operation
		})
		if len(r.Worst) > worstOps {
			r.Worst = r.Worst[:worstOps]
		}
	}
	if d := delta(mServiceLatency); d != nil {
		served := Filter(d, func(l map[string]string) bool { return !longPoll(l[lOperation]) })
		by := func(service string) Buckets {
			return Merge(Filter(served, func(l map[string]string) bool { return l[lService] == service }))
		}
		fe, hi, ma := by("frontend"), by("history"), by("matching")
		quant(SigFrontendP50, fe, 0.5)
		quant(SigFrontendP99, fe, 0.99)
		quant(SigHistoryP50, hi, 0.5)
		quant(SigHistoryP99, hi, 0.99)
		quant(SigMatchingP99, ma, 0.99)
		quant(SigStartWorkflowP95, Merge(Filter(served, func(l map[string]string) bool {
			return l[lService] == "frontend" && l[lOperation] == "StartWorkflowExecution"
		})), 0.95)
	}
	if d := delta(mScheduleToStart); d != nil {
		// The history service records it when a task is handed to a worker,
		// labelled with the task queue's type.
		typ := func(t string) Buckets {
			return Merge(Filter(d, func(l map[string]string) bool { return l["task_type"] == t }))
		}
		quant(SigWorkflowS2SP99, typ("Workflow"), 0.99)
		quant(SigActivityS2SP99, typ("Activity"), 0.99)
		quant(SigWorkflowS2SP95, typ("Workflow"), 0.95)
		quant(SigActivityS2SP95, typ("Activity"), 0.95)
	}
	if d := delta(mLockLatency); d != nil {
		quant(SigLockP99, Merge(d), 0.99)
	}
	if d := delta(mSemaphoreLatency); d != nil {
		quant(SigSemaphoreP99, Merge(d), 0.99)
	}
	// Sync match: the share of task polls answered by a task handed over
	// directly rather than from the backlog (matching's counters).
	sum := func(name string) (float64, bool) {
		t, seen := 0.0, false
		for _, s := range scrapes {
			if c := s.Cur.Values(name); c != nil {
				seen = true
				for _, v := range DeltaValues(s.Prev.Values(name), c) {
					t += v.V
				}
			}
		}
		return t, seen
	}
	if all, ok := sum(mPollSuccess); ok && all > 0 {
		if syncd, ok := sum(mPollSuccessSync); ok {
			sig[SigSyncMatch] = round(min(syncd/all, 1))
		}
	}
	backlog, seenBacklog := 0.0, false
	tally := refusalTally{}
	exhausted, seenExhausted := 0.0, false
	for _, s := range scrapes {
		if vs := s.Cur.Values(mBacklog); vs != nil {
			seenBacklog = true
			for _, v := range vs {
				backlog += v.V
			}
		}
		for _, fam := range []struct{ name, layer string }{{mServiceExhausted, LayerService}, {mPersistExhausted, LayerPersistence}} {
			c := s.Cur.Values(fam.name)
			if c == nil || s.Secs <= 0 {
				continue
			}
			seenExhausted = true
			for _, v := range DeltaValues(s.Prev.Values(fam.name), c) {
				svc := v.Labels[lService]
				if svc == "" {
					svc = s.Target.Service
				}
				tally.add(fam.layer, svc, v.Labels[lCause], v.Labels[lScope], v.Labels[lOperation], v.V/s.Secs)
				exhausted += v.V / s.Secs
			}
		}
		r.Instances = append(r.Instances, processFigures(s))
	}
	if seenBacklog {
		sig[SigBacklog] = backlog
	}
	if seenExhausted {
		sig[SigExhausted] = round(exhausted)
	}
	r.Refusals = tally.rates()
	return r
}

// processFigures reads one endpoint's own process figures: its cores
// from the gomaxprocs gauge every Temporal service exports (the highest:
// services sharing a process report the same), CPU and memory from the
// standard process metrics when the endpoint has them (Temporal's own
// exporter does not).
func processFigures(s Scrape) Instance {
	in := Instance{Service: s.Target.Service, Instance: s.Target.Instance}
	if in.Service == "" {
		in.Service = onlyService(s.Cur)
	}
	for _, v := range s.Cur.Values(mGoMaxProcs) {
		in.Cores, in.HasCores = math.Max(in.Cores, v.V), true
	}
	if c, p := s.Cur.Values(mProcessCPU), s.Prev.Values(mProcessCPU); len(c) == 1 && len(p) == 1 && s.Secs > 0 && c[0].V >= p[0].V {
		in.CPU, in.HasCPU = round((c[0].V-p[0].V)/s.Secs), true
	}
	if c := s.Cur.Values(mProcessRSS); len(c) == 1 {
		in.RSSMB, in.HasRSS = round(c[0].V/(1<<20)), true
	}
	return in
}

// onlyService is the Temporal service an endpoint runs when its metrics
// name exactly one ("" for none or several: a process running them all).
func onlyService(f Families) string {
	seen := map[string]bool{}
	for _, name := range []string{mGoMaxProcs, mServiceRequests} {
		for _, v := range f.Values(name) {
			if s := v.Labels[lService]; s != "" {
				seen[s] = true
			}
		}
	}
	if len(seen) != 1 {
		return ""
	}
	for s := range seen {
		return s
	}
	return ""
}

// Aggregate writes the server processes' figures into sig as scopes: each
// process of a service that has several (server_history@history-1_…),
// each service (server_history_…), and the whole server (server_…). A
// scope's figure is a sum, written only when every process in it has
// one: a CPU total missing a process would be judged against all of its
// cores.
func Aggregate(instances []Instance, sig map[string]float64) {
	if len(instances) == 0 {
		return
	}
	per := map[string][]Instance{}
	for _, in := range instances {
		per[in.Service] = append(per[in.Service], in)
	}
	write := func(scope string, ins []Instance) {
		var cpu, rss, cores float64
		hasCPU, hasRSS, hasCores := true, true, true
		for _, in := range ins {
			cpu, rss, cores = cpu+in.CPU, rss+in.RSSMB, cores+in.Cores
			hasCPU, hasRSS, hasCores = hasCPU && in.HasCPU, hasRSS && in.HasRSS, hasCores && in.HasCores
		}
		if hasCPU {
			sig[CPU(scope)] = round(cpu)
		}
		if hasRSS {
			sig[RSS(scope)] = round(rss)
		}
		if hasCores {
			sig[Cores(scope)] = cores
		}
	}
	for svc, ins := range per {
		if len(ins) > 1 {
			for _, in := range ins {
				write(ServerScope(svc, in.Instance), []Instance{in})
			}
		}
		if svc != "" {
			write(ServerScope(svc, ""), ins)
		}
	}
	write(ScopeServer, instances)
}

func longPoll(op string) bool {
	return strings.HasPrefix(op, longPollPrefix) || op == getHistoryOperation
}

// round keeps three decimals: enough for milliseconds and cores, and
// report.json stays readable.
func round(v float64) float64 { return math.Round(v*1000) / 1000 }
