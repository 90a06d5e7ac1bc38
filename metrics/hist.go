package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is one parsed scrape: metric families by name.
type Families map[string]*dto.MetricFamily

// ParseText parses the Prometheus text exposition format.
func ParseText(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// Buckets is a classic histogram: cumulative counts at upper bounds
// (ascending, the +Inf bucket implied by Count).
type Buckets struct {
	Bounds []float64
	Cum    []float64
	Count  float64
	Sum    float64
}

// Series is one labelled histogram series of a family.
type Series struct {
	Labels map[string]string
	key    string
	H      Buckets
}

// Histograms returns the classic histogram series of family name in fams
// (nil when it is absent or not a histogram).
func (fams Families) Histograms(name string) []Series {
	f := fams[name]
	if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		return nil
	}
	out := make([]Series, 0, len(f.GetMetric()))
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		s := Series{Labels: labelMap(m), H: Buckets{Count: float64(h.GetSampleCount()), Sum: h.GetSampleSum()}}
		if h.SampleCountFloat != nil {
			s.H.Count = h.GetSampleCountFloat()
		}
		for _, b := range h.GetBucket() {
			if math.IsInf(b.GetUpperBound(), +1) {
				continue
			}
			c := float64(b.GetCumulativeCount())
			if b.CumulativeCountFloat != nil {
				c = b.GetCumulativeCountFloat()
			}
			s.H.Bounds = append(s.H.Bounds, b.GetUpperBound())
			s.H.Cum = append(s.H.Cum, c)
		}
		s.key = seriesKey(s.Labels)
		out = append(out, s)
	}
	return out
}

// Values returns the samples of a counter, gauge or untyped family with
// their labels.
func (fams Families) Values(name string) []Value {
	f := fams[name]
	if f == nil {
		return nil
	}
	var out []Value
	for _, m := range f.GetMetric() {
		var v float64
		switch {
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Untyped != nil:
			v = m.GetUntyped().GetValue()
		default:
			continue
		}
		l := labelMap(m)
		out = append(out, Value{Labels: l, key: seriesKey(l), V: v})
	}
	return out
}

// Value is one sample of a counter or gauge.
type Value struct {
	Labels map[string]string
	key    string
	V      float64
}

func labelMap(m *dto.Metric) map[string]string {
	l := make(map[string]string, len(m.GetLabel()))
	for _, lp := range m.GetLabel() {
		l[lp.GetName()] = lp.GetValue()
	}
	return l
}

// seriesKey is one string per label set, the same for any order of the
// labels: the key of a series, scraped or recorded from the SDK.
func seriesKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	return b.String()
}

// DeltaHistograms returns what each series of cur gained since prev: the
// observations made between the two scrapes. A series whose counts went
// down was reset (its process restarted) and counts from zero, so all of
// cur is new; a series absent from prev appeared since and is new too.
// Series without new observations are left out.
func DeltaHistograms(prev, cur []Series) []Series {
	old := make(map[string]Buckets, len(prev))
	for _, s := range prev {
		old[s.key] = s.H
	}
	var out []Series
	for _, s := range cur {
		d := s.H
		if p, ok := old[s.key]; ok && !reset(p, s.H) {
			d = Buckets{Bounds: s.H.Bounds, Cum: make([]float64, len(s.H.Cum)), Count: s.H.Count - p.Count, Sum: s.H.Sum - p.Sum}
			for i := range s.H.Cum {
				d.Cum[i] = s.H.Cum[i] - p.Cum[i]
			}
		}
		if d.Count <= 0 {
			continue
		}
		out = append(out, Series{Labels: s.Labels, key: s.key, H: d})
	}
	return out
}

// reset reports whether cur cannot have grown from prev: fewer
// observations, or bucket bounds that changed (a restarted server may be
// configured differently).
func reset(prev, cur Buckets) bool {
	if cur.Count < prev.Count || len(prev.Bounds) != len(cur.Bounds) {
		return true
	}
	for i := range cur.Bounds {
		if cur.Bounds[i] != prev.Bounds[i] || cur.Cum[i] < prev.Cum[i] {
			return true
		}
	}
	return false
}

// DeltaValues returns how much each counter series of cur grew since
// prev, with the same reset rule as DeltaHistograms.
func DeltaValues(prev, cur []Value) []Value {
	old := make(map[string]float64, len(prev))
	for _, v := range prev {
		old[v.key] = v.V
	}
	out := make([]Value, 0, len(cur))
	for _, v := range cur {
		d := v.V
		if p, ok := old[v.key]; ok && v.V >= p {
			d = v.V - p
		}
		out = append(out, Value{Labels: v.Labels, key: v.key, V: d})
	}
	return out
}

// Merge sums series (e.g. every operation of a service) into one
// histogram. Series with other bounds are mapped onto the union of all
// bounds, each at its own largest bound not above it: never more
// observations below a bound than were really there.
func Merge(series []Series) Buckets {
	var out Buckets
	if len(series) == 0 {
		return out
	}
	set := map[float64]bool{}
	same := true
	for _, s := range series {
		for _, b := range s.H.Bounds {
			set[b] = true
		}
		if len(s.H.Bounds) != len(series[0].H.Bounds) {
			same = false
		}
	}
	out.Bounds = make([]float64, 0, len(set))
	for b := range set {
		out.Bounds = append(out.Bounds, b)
	}
	sort.Float64s(out.Bounds)
	if same && len(out.Bounds) != len(series[0].H.Bounds) {
		same = false
	}
	out.Cum = make([]float64, len(out.Bounds))
	for _, s := range series {
		out.Count += s.H.Count
		out.Sum += s.H.Sum
		if same {
			for i := range s.H.Cum {
				out.Cum[i] += s.H.Cum[i]
			}
			continue
		}
		j, c := 0, 0.0
		for i, b := range out.Bounds {
			for j < len(s.H.Bounds) && s.H.Bounds[j] <= b {
				c = s.H.Cum[j]
				j++
			}
			out.Cum[i] += c
		}
	}
	return out
}

// Quantile estimates the q-quantile (0–1) the way PromQL's
// histogram_quantile does: find the bucket holding the rank and
// interpolate linearly within it. A rank in the +Inf bucket returns the
// highest finite bound (all that is known: "at least this"). ok is false
// for an empty histogram.
func (h Buckets) Quantile(q float64) (v float64, ok bool) {
	if h.Count <= 0 || len(h.Bounds) == 0 || q < 0 || q > 1 {
		return 0, false
	}
	rank := q * h.Count
	prevCum, lower := 0.0, 0.0
	for i, ub := range h.Bounds {
		if h.Cum[i] >= rank && h.Cum[i] > 0 {
			if i == 0 && ub <= 0 {
				return ub, true
			}
			inBucket := h.Cum[i] - prevCum
			if inBucket <= 0 {
				return ub, true
			}
			return lower + (ub-lower)*(rank-prevCum)/inBucket, true
		}
		prevCum, lower = h.Cum[i], ub
	}
	return h.Bounds[len(h.Bounds)-1], true
}

// Filter keeps the series for which keep is true.
func Filter(series []Series, keep func(labels map[string]string) bool) []Series {
	var out []Series
	for _, s := range series {
		if keep(s.Labels) {
			out = append(out, s)
		}
	}
	return out
}

// GroupBy merges series by the value of label.
func GroupBy(series []Series, label string) map[string]Buckets {
	by := map[string][]Series{}
	for _, s := range series {
		by[s.Labels[label]] = append(by[s.Labels[label]], s)
	}
	out := make(map[string]Buckets, len(by))
	for k, ss := range by {
		out[k] = Merge(ss)
	}
	return out
}
