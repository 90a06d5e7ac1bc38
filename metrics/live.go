// Package metrics exports squall's own live metrics to Prometheus, adapts
// the Temporal SDK's metrics to Prometheus for worker processes, and
// samples the cluster's and the processes' saturation signals once per
// interval into the result stream.
package metrics

import (
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/squallbench/squall/bench"
)

// Live is the driver's live view of a run in Prometheus terms: what the
// recorder counts (through Hook, per scenario), plus the faults active
// right now. The report stays the record of truth; this is for dashboards
// and alerts while the run goes on, so every series carries run_id and
// the scenario it belongs to (a suite runs several, one after another).
type Live struct {
	reg *prometheus.Registry

	started, completed, failed, abandoned, late, dropped *prometheus.CounterVec
	inFlight                                             *prometheus.GaugeVec
	corrected, uncorrected, observed                     *prometheus.HistogramVec
	faultsActive                                         *prometheus.GaugeVec

	mu     sync.Mutex
	raised map[string][2]string // fault window key → scenario, kind, while active
}

// liveHook is Live's series of one scenario, as a recorder hook.
type liveHook struct {
	started, completed, failed, abandoned, late, dropped prometheus.Counter
	inFlight                                             prometheus.Gauge
	corrected, uncorrected                               prometheus.Observer
	observed                                             prometheus.ObserverVec
}

var _ bench.Hook = (*liveHook)(nil)

// LatencyBuckets are the classic buckets of every latency histogram: from
// 1 ms to 10 min, each about 20 % wider than the last, so a p99 read from
// them (histogram_quantile) is within about 10 % anywhere in that range.
// Scrapers that speak native histograms get finer ones (factor 1.1).
func LatencyBuckets() []float64 {
	const lo, hi, factor = 0.001, 600.0, 1.2
	n := int(math.Ceil(math.Log(hi/lo)/math.Log(factor))) + 1
	return prometheus.ExponentialBuckets(lo, factor, n)
}

func latencyOpts(name, help string, labels prometheus.Labels) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Namespace: "squall", Name: name, Help: help, ConstLabels: labels,
		Buckets:                         LatencyBuckets(),
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  200,
		NativeHistogramMinResetDuration: time.Hour,
	}
}

// NewLive registers squall's run metrics for one run, plus the Go runtime
// and process collectors of the driver. A scenario's series appear when
// Hook is first called for it.
func NewLive(runID string) *Live {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"run_id": runID}
	scenario := []string{"scenario"}
	counter := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "squall", Name: name, Help: help, ConstLabels: labels}, scenario)
		reg.MustRegister(c)
		return c
	}
	l := &Live{reg: reg, raised: map[string][2]string{}}
	l.started = counter("iterations_started_total", "Iterations started (workflow starts issued).")
	l.completed = counter("iterations_completed_total", "Iterations that completed.")
	l.failed = counter("iterations_failed_total", "Iterations that failed.")
	l.abandoned = counter("iterations_abandoned_total", "Iterations still running when the grace period ran out.")
	l.late = counter("starts_late_total", "Starts issued later than --late-after behind their intended time.")
	l.dropped = counter("starts_dropped_total", "Starts that were due but refused (in-flight limit).")
	l.inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "squall", Name: "in_flight",
		Help: "Iterations started and not yet done.", ConstLabels: labels}, scenario)
	l.corrected = prometheus.NewHistogramVec(latencyOpts("latency_corrected_seconds",
		"Completion minus intended start (coordinated omission corrected), completed iterations.", labels), scenario)
	l.uncorrected = prometheus.NewHistogramVec(latencyOpts("latency_uncorrected_seconds",
		"Completion minus actual start, completed iterations.", labels), scenario)
	l.observed = prometheus.NewHistogramVec(latencyOpts("observed_seconds",
		"Scenario-specific durations, by histogram name.", labels), []string{"scenario", "histogram"})
	l.faultsActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "squall", Name: "faults_active",
		Help: "Faults injected and not yet healed, by kind.", ConstLabels: labels}, []string{"scenario", "kind"})
	reg.MustRegister(l.inFlight, l.corrected, l.uncorrected, l.observed, l.faultsActive,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return l
}

// Registry is where Live's metrics live, for serving them.
func (l *Live) Registry() *prometheus.Registry { return l.reg }

// Hook is the recorder hook of scenario's series; nil (no hook at all)
// when l is nil, so a run without --metrics-listen pays nothing on its hot
// path. Every series of the scenario exists from here on, at zero: a rate
// of failures reads 0, not "no data".
func (l *Live) Hook(scenario string) bench.Hook {
	if l == nil {
		return nil
	}
	return &liveHook{
		started: l.started.WithLabelValues(scenario), completed: l.completed.WithLabelValues(scenario),
		failed: l.failed.WithLabelValues(scenario), abandoned: l.abandoned.WithLabelValues(scenario),
		late: l.late.WithLabelValues(scenario), dropped: l.dropped.WithLabelValues(scenario),
		inFlight:  l.inFlight.WithLabelValues(scenario),
		corrected: l.corrected.WithLabelValues(scenario), uncorrected: l.uncorrected.WithLabelValues(scenario),
		observed: l.observed.MustCurryWith(prometheus.Labels{"scenario": scenario}),
	}
}

// Started implements bench.Hook.
func (h *liveHook) Started(_ time.Duration, late bool) {
	h.started.Inc()
	h.inFlight.Inc()
	if late {
		h.late.Inc()
	}
}

// Dropped implements bench.Hook.
func (h *liveHook) Dropped() { h.dropped.Inc() }

// Done implements bench.Hook.
func (h *liveHook) Done(o bench.Outcome, corrected, uncorrected time.Duration) {
	h.inFlight.Dec()
	switch o {
	case bench.Completed:
		h.completed.Inc()
		h.corrected.Observe(corrected.Seconds())
		h.uncorrected.Observe(uncorrected.Seconds())
	case bench.Failed:
		h.failed.Inc()
	case bench.Abandoned:
		h.abandoned.Inc()
	}
}

// Observe implements bench.Hook.
func (h *liveHook) Observe(name string, d time.Duration) {
	h.observed.WithLabelValues(name).Observe(d.Seconds())
}

// FaultInjected raises scenario's active-faults gauge of kind for the
// window identified by key (any string unique per window).
func (l *Live) FaultInjected(scenario, kind, key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.raised[key] = [2]string{scenario, kind}
	l.mu.Unlock()
	l.faultsActive.WithLabelValues(scenario, kind).Inc()
}

// FaultHealed lowers the gauge again for key, if FaultInjected raised it:
// a fault that failed to inject, or was skipped, never counted as active.
func (l *Live) FaultHealed(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	sk, ok := l.raised[key]
	delete(l.raised, key)
	l.mu.Unlock()
	if ok {
		l.faultsActive.WithLabelValues(sk[0], sk[1]).Dec()
	}
}
