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
// recorder counts (as a bench.Hook), plus the faults active right now. The
// report stays the record of truth; this is for dashboards and alerts
// while the run goes on, so every series carries scenario and run_id.
type Live struct {
	reg *prometheus.Registry

	started, completed, failed, abandoned, late, dropped prometheus.Counter
	inFlight                                             prometheus.Gauge
	corrected, uncorrected                               prometheus.Observer
	observed                                             *prometheus.HistogramVec
	faultsActive                                         *prometheus.GaugeVec

	mu     sync.Mutex
	raised map[string]string // fault window key → kind, while active
}

var _ bench.Hook = (*Live)(nil)

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

// NewLive registers squall's run metrics for one scenario of one run,
// plus the Go runtime and process collectors of the driver.
func NewLive(scenario, runID string) *Live {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"scenario": scenario, "run_id": runID}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "squall", Name: name, Help: help, ConstLabels: labels})
		reg.MustRegister(c)
		return c
	}
	l := &Live{reg: reg, raised: map[string]string{}}
	l.started = counter("iterations_started_total", "Iterations started (workflow starts issued).")
	l.completed = counter("iterations_completed_total", "Iterations that completed.")
	l.failed = counter("iterations_failed_total", "Iterations that failed.")
	l.abandoned = counter("iterations_abandoned_total", "Iterations still running when the grace period ran out.")
	l.late = counter("starts_late_total", "Starts issued later than --late-after behind their intended time.")
	l.dropped = counter("starts_dropped_total", "Starts that were due but refused (in-flight limit).")
	l.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "squall", Name: "in_flight",
		Help: "Iterations started and not yet done.", ConstLabels: labels})
	corrected := prometheus.NewHistogram(latencyOpts("latency_corrected_seconds",
		"Completion minus intended start (coordinated omission corrected), completed iterations.", labels))
	uncorrected := prometheus.NewHistogram(latencyOpts("latency_uncorrected_seconds",
		"Completion minus actual start, completed iterations.", labels))
	l.corrected, l.uncorrected = corrected, uncorrected
	l.observed = prometheus.NewHistogramVec(latencyOpts("observed_seconds",
		"Scenario-specific durations, by histogram name.", labels), []string{"histogram"})
	l.faultsActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "squall", Name: "faults_active",
		Help: "Faults injected and not yet healed, by kind.", ConstLabels: labels}, []string{"kind"})
	reg.MustRegister(l.inFlight, corrected, uncorrected, l.observed, l.faultsActive,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return l
}

// Registry is where Live's metrics live, for serving them.
func (l *Live) Registry() *prometheus.Registry { return l.reg }

// Hook is l as a recorder hook; nil (no hook at all) when l is nil, so a
// run without --metrics-listen pays nothing on its hot path.
func (l *Live) Hook() bench.Hook {
	if l == nil {
		return nil
	}
	return l
}

// Started implements bench.Hook.
func (l *Live) Started(_ time.Duration, late bool) {
	l.started.Inc()
	l.inFlight.Inc()
	if late {
		l.late.Inc()
	}
}

// Dropped implements bench.Hook.
func (l *Live) Dropped() { l.dropped.Inc() }

// Done implements bench.Hook.
func (l *Live) Done(o bench.Outcome, corrected, uncorrected time.Duration) {
	l.inFlight.Dec()
	switch o {
	case bench.Completed:
		l.completed.Inc()
		l.corrected.Observe(corrected.Seconds())
		l.uncorrected.Observe(uncorrected.Seconds())
	case bench.Failed:
		l.failed.Inc()
	case bench.Abandoned:
		l.abandoned.Inc()
	}
}

// Observe implements bench.Hook.
func (l *Live) Observe(name string, d time.Duration) {
	l.observed.WithLabelValues(name).Observe(d.Seconds())
}

// FaultInjected raises the active-faults gauge of kind for the window
// identified by key (any string unique per window).
func (l *Live) FaultInjected(kind, key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.raised[key] = kind
	l.mu.Unlock()
	l.faultsActive.WithLabelValues(kind).Inc()
}

// FaultHealed lowers the gauge again for key, if FaultInjected raised it:
// a fault that failed to inject, or was skipped, never counted as active.
func (l *Live) FaultHealed(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	kind, ok := l.raised[key]
	delete(l.raised, key)
	l.mu.Unlock()
	if ok {
		l.faultsActive.WithLabelValues(kind).Dec()
	}
}
