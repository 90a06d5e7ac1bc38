package metrics

import (
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// SDKHandler is a client.MetricsHandler that keeps the Temporal Go SDK's
// metrics (schedule-to-start, poll and task latencies, slots...) as
// Prometheus series: counters, gauges, and timers as histograms in seconds
// with LatencyBuckets, the SDK's tags as labels.
//
// Names follow the SDK's own Prometheus naming (what its tally set-up
// with the Prometheus naming scope exports, and what Temporal's SDK
// dashboards query): a counter gets "_total", a timer "_seconds", so
// temporal_request_latency is exported as
// temporal_request_latency_seconds_bucket/_sum/_count.
//
// The SDK creates the same metric with different tag sets (a poller's
// counter without task_queue, a worker's with it), which a Prometheus
// family cannot hold as such; at collection the labels of a family are the
// union of its series' tags, an absent tag exported as the empty value
// (which Prometheus reads as "no such label").
type SDKHandler struct {
	tags map[string]string
	set  *sdkSet
}

var (
	_ client.MetricsHandler = (*SDKHandler)(nil)
	_ prometheus.Collector  = (*SDKHandler)(nil)
)

type sdkKind int

const (
	sdkCounter sdkKind = iota
	sdkGauge
	sdkTimer
)

type sdkSet struct {
	mu       sync.Mutex
	families map[string]*sdkFamily
	buckets  []float64
}

type sdkFamily struct {
	kind   sdkKind
	series map[string]*sdkSeries // by encoded tags
}

type sdkSeries struct {
	tags    map[string]string
	counter atomic.Int64
	gauge   atomic.Uint64 // float64 bits

	mu     sync.Mutex // timers only
	counts []uint64   // per bucket, not cumulative
	sum    float64
	n      uint64
}

// NewSDKHandler returns a handler without tags; register it with a
// prometheus.Registerer to export what the SDK records.
func NewSDKHandler() *SDKHandler {
	return &SDKHandler{tags: map[string]string{}, set: &sdkSet{families: map[string]*sdkFamily{}, buckets: LatencyBuckets()}}
}

// WithTags implements client.MetricsHandler.
func (h *SDKHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &SDKHandler{tags: merged, set: h.set}
}

// Counter implements client.MetricsHandler.
func (h *SDKHandler) Counter(name string) client.MetricsCounter {
	s := h.set.series(name, sdkCounter, h.tags)
	return counterFunc(func(d int64) { s.counter.Add(d) })
}

// Gauge implements client.MetricsHandler.
func (h *SDKHandler) Gauge(name string) client.MetricsGauge {
	s := h.set.series(name, sdkGauge, h.tags)
	return gaugeFunc(func(v float64) { s.gauge.Store(math.Float64bits(v)) })
}

// Timer implements client.MetricsHandler.
func (h *SDKHandler) Timer(name string) client.MetricsTimer {
	s := h.set.series(name, sdkTimer, h.tags)
	buckets := h.set.buckets
	return timerFunc(func(d time.Duration) {
		v := d.Seconds()
		i := sort.SearchFloat64s(buckets, v) // first bound >= v: le semantics
		s.mu.Lock()
		s.counts[i]++
		s.sum += v
		s.n++
		s.mu.Unlock()
	})
}

type (
	counterFunc func(int64)
	gaugeFunc   func(float64)
	timerFunc   func(time.Duration)
)

func (f counterFunc) Inc(d int64)          { f(d) }
func (f gaugeFunc) Update(v float64)       { f(v) }
func (f timerFunc) Record(d time.Duration) { f(d) }

func (set *sdkSet) series(name string, kind sdkKind, tags map[string]string) *sdkSeries {
	key := seriesKey(tags)
	set.mu.Lock()
	defer set.mu.Unlock()
	f := set.families[name]
	if f == nil {
		f = &sdkFamily{kind: kind, series: map[string]*sdkSeries{}}
		set.families[name] = f
	}
	s := f.series[key]
	if s == nil {
		s = &sdkSeries{tags: tags}
		if kind == sdkTimer {
			s.counts = make([]uint64, len(set.buckets)+1) // last: above every bound
		}
		f.series[key] = s
	}
	return s
}

// Describe implements prometheus.Collector. It describes nothing: the SDK
// decides at run time which metrics exist, so the collector is unchecked.
func (h *SDKHandler) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (h *SDKHandler) Collect(ch chan<- prometheus.Metric) {
	set := h.set
	set.mu.Lock()
	type snap struct {
		name string
		f    *sdkFamily
		ss   []*sdkSeries
	}
	fams := make([]snap, 0, len(set.families))
	for name, f := range set.families {
		sn := snap{name: name, f: f}
		for _, s := range f.series {
			sn.ss = append(sn.ss, s)
		}
		fams = append(fams, sn)
	}
	set.mu.Unlock()

	for _, fam := range fams {
		union := map[string]bool{}
		for _, s := range fam.ss {
			for k := range s.tags {
				union[k] = true
			}
		}
		labels := make([]string, 0, len(union))
		for k := range union {
			labels = append(labels, sanitizeLabel(k))
		}
		sort.Strings(labels)
		raw := make([]string, 0, len(union))
		for k := range union {
			raw = append(raw, k)
		}
		sort.Slice(raw, func(i, j int) bool { return sanitizeLabel(raw[i]) < sanitizeLabel(raw[j]) })
		name := sanitizeName(fam.name)
		help := "Temporal Go SDK metric " + fam.name
		var vt prometheus.ValueType
		switch fam.f.kind {
		case sdkCounter:
			vt, name = prometheus.CounterValue, strings.TrimSuffix(name, "_total")+"_total"
		case sdkGauge:
			vt = prometheus.GaugeValue
		case sdkTimer:
			name = strings.TrimSuffix(name, "_seconds") + "_seconds"
			help += " (seconds)"
		}
		desc := prometheus.NewDesc(name, help, labels, nil)
		for _, s := range fam.ss {
			vals := make([]string, len(raw))
			for i, k := range raw {
				vals[i] = s.tags[k]
			}
			var m prometheus.Metric
			var err error
			switch fam.f.kind {
			case sdkCounter:
				m, err = prometheus.NewConstMetric(desc, vt, float64(s.counter.Load()), vals...)
			case sdkGauge:
				m, err = prometheus.NewConstMetric(desc, vt, math.Float64frombits(s.gauge.Load()), vals...)
			case sdkTimer:
				s.mu.Lock()
				cum := make(map[float64]uint64, len(set.buckets))
				var acc uint64
				for i, ub := range set.buckets {
					acc += s.counts[i]
					cum[ub] = acc
				}
				n, sum := s.n, s.sum
				s.mu.Unlock()
				m, err = prometheus.NewConstHistogram(desc, n, sum, cum, vals...)
			}
			if err == nil {
				ch <- m
			}
		}
	}
}

// sanitizeName maps an SDK metric name onto Prometheus' legacy character
// set, which every scraper accepts.
func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == ':':
			return r
		}
		return '_'
	}, s)
}

func sanitizeLabel(s string) string { return strings.ReplaceAll(sanitizeName(s), ":", "_") }
