package metrics

import (
	"math"
	"sort"
	"strings"
)

// Names of the server signals in a Sample (latencies in milliseconds,
// over the interval's observations only: quantiles of bucket deltas).
const (
	SigPersistenceP50   = "persistence_p50_ms"
	SigPersistenceP99   = "persistence_p99_ms"
	SigFrontendP50      = "frontend_p50_ms"
	SigFrontendP99      = "frontend_p99_ms"
	SigHistoryP50       = "history_p50_ms"
	SigHistoryP99       = "history_p99_ms"
	SigMatchingP99      = "matching_p99_ms"
	SigWorkflowS2SP99   = "workflow_task_schedule_to_start_p99_ms"
	SigActivityS2SP99   = "activity_schedule_to_start_p99_ms"
	SigBacklog          = "task_queue_backlog"          // approximate_backlog_count, summed; a gauge, at the interval's end
	SigLockP99          = "shard_lock_p99_ms"           // lock_latency
	SigSemaphoreP99     = "semaphore_p99_ms"            // semaphore_latency
	SigResourceExhaust  = "resource_exhausted"          // errors in the interval, service and persistence
	SigServerCPUFromSrv = "server_cpu_cores"            // also from /proc: CPU seconds per second
	SigServerRSSFromSrv = "server_rss_mb"               // also from /proc
	sigCPUSuffix        = "_cpu_cores"                  // per process: <name>_cpu_cores
	sigRSSSuffix        = "_rss_mb"                     // per process: <name>_rss_mb
	worstOps            = 3                             // persistence operations named per interval
	minOpCount          = 1                             // observations an operation needs in an interval to be named
	msPerSecond         = 1000.0                        // seconds → ms for *_seconds histograms
	secondsHeuristicMin = 0.1                           // smallest bound below this: a histogram in seconds (ms ones start at 1)
	longPollPrefix      = "Poll"                        // long polls wait by design; they are no latency signal
	getHistoryOperation = "GetWorkflowExecutionHistory" // long-polled by clients waiting for a result
)

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
	mProcessCPU         = "process_cpu_seconds_total"
	mProcessRSS         = "process_resident_memory_bytes"
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

// ServerSignals computes one interval's signals from two scrapes of a
// Temporal server endpoint: latency quantiles from bucket deltas, the
// backlog gauge as of cur, error counts as deltas. dt is the time between
// the scrapes, for CPU from process_cpu_seconds_total. Signals without
// observations in the interval are absent, not zero.
func ServerSignals(prev, cur Families, dt float64) (map[string]float64, []OpLatency) {
	sig := map[string]float64{}
	quant := func(name string, h Buckets, q, scale float64) {
		if v, ok := h.Quantile(q); ok {
			sig[name] = round(v * scale)
		}
	}
	delta := func(base string) ([]Series, float64) {
		p, _ := histFamily(prev, base)
		c, scale := histFamily(cur, base)
		return DeltaHistograms(p, c), scale
	}

	var worst []OpLatency
	if d, scale := delta(mPersistenceLatency); d != nil {
		all := Merge(d)
		quant(SigPersistenceP50, all, 0.5, scale)
		quant(SigPersistenceP99, all, 0.99, scale)
		for op, h := range GroupBy(d, "operation") {
			if v, ok := h.Quantile(0.99); ok && h.Count >= minOpCount {
				worst = append(worst, OpLatency{Operation: op, P99MS: round(v * scale), Count: h.Count})
			}
		}
		sort.Slice(worst, func(i, j int) bool {
			if worst[i].P99MS != worst[j].P99MS {
				return worst[i].P99MS > worst[j].P99MS
			}
			return worst[i].Operation < worst[j].Operation
		})
		if len(worst) > worstOps {
			worst = worst[:worstOps]
		}
	}
	if d, scale := delta(mServiceLatency); d != nil {
		served := Filter(d, func(l map[string]string) bool { return !longPoll(l["operation"]) })
		by := func(service string) Buckets {
			return Merge(Filter(served, func(l map[string]string) bool { return l["service_name"] == service }))
		}
		fe, hi, ma := by("frontend"), by("history"), by("matching")
		quant(SigFrontendP50, fe, 0.5, scale)
		quant(SigFrontendP99, fe, 0.99, scale)
		quant(SigHistoryP50, hi, 0.5, scale)
		quant(SigHistoryP99, hi, 0.99, scale)
		quant(SigMatchingP99, ma, 0.99, scale)
	}
	if d, scale := delta(mScheduleToStart); d != nil {
		// The history service records it when a task is handed to a worker,
		// labelled with the task queue's type.
		typ := func(t string) Buckets {
			return Merge(Filter(d, func(l map[string]string) bool { return l["task_type"] == t }))
		}
		quant(SigWorkflowS2SP99, typ("Workflow"), 0.99, scale)
		quant(SigActivityS2SP99, typ("Activity"), 0.99, scale)
	}
	if d, scale := delta(mLockLatency); d != nil {
		quant(SigLockP99, Merge(d), 0.99, scale)
	}
	if d, scale := delta(mSemaphoreLatency); d != nil {
		quant(SigSemaphoreP99, Merge(d), 0.99, scale)
	}
	if vs := cur.Values(mBacklog); vs != nil {
		sum := 0.0
		for _, v := range vs {
			sum += v.V
		}
		sig[SigBacklog] = sum
	}
	exhausted, seen := 0.0, false
	for _, name := range []string{mServiceExhausted, mPersistExhausted} {
		if c := cur.Values(name); c != nil {
			seen = true
			for _, v := range DeltaValues(prev.Values(name), c) {
				exhausted += v.V
			}
		}
	}
	if seen {
		sig[SigResourceExhaust] = exhausted
	}
	// An external cluster's own process figures (one process per endpoint).
	if c, p := cur.Values(mProcessCPU), prev.Values(mProcessCPU); len(c) == 1 && len(p) == 1 && dt > 0 && c[0].V >= p[0].V {
		sig[SigServerCPUFromSrv] = round((c[0].V - p[0].V) / dt)
	}
	if c := cur.Values(mProcessRSS); len(c) == 1 {
		sig[SigServerRSSFromSrv] = round(c[0].V / (1 << 20))
	}
	return sig, worst
}

func longPoll(op string) bool {
	return strings.HasPrefix(op, longPollPrefix) || op == getHistoryOperation
}

// round keeps three decimals: enough for milliseconds and cores, and
// report.json stays readable.
func round(v float64) float64 { return math.Round(v*1000) / 1000 }
