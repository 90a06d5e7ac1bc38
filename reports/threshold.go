package reports

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Threshold is one pass/fail condition on a scenario's results, written
// k6-style as METRIC OP VALUE (`p99<500ms`, `throughput>=20/s`,
// `failed==0`). It is checked after the run, from the report's numbers, so
// a stored result stream can be re-judged against new thresholds offline.
type Threshold struct {
	Expr   string  // as given, trimmed
	Metric string  // canonical metric name, e.g. "p99", "uncorrected.p99", "activity.p99"
	Op     string  // <, <=, >, >=, ==, !=
	Value  float64 // in the metric's unit: ms, per second, bytes or a count
	kind   MetricKind
}

// ThresholdResult is a threshold's row in report.json and report.md.
type ThresholdResult struct {
	Expr     string  `json:"expr"`
	Metric   string  `json:"metric"`
	Measured string  `json:"measured"` // the value with its unit, "-" when there was none
	Value    float64 `json:"value"`    // the measured value in the metric's unit
	Unit     string  `json:"unit"`
	OK       bool    `json:"ok"`
	Detail   string  `json:"detail,omitempty"` // why a row failed without a comparison (no such histogram, no samples)
}

// ThresholdMetrics lists the metric names a threshold can use, for error
// messages and help texts.
func ThresholdMetrics() []string {
	var out, others, counts []string
	for _, m := range Catalogue {
		switch {
		case !m.Threshold:
		case m.Kind == KindLatency:
			out = append(out, m.Name)
		case m.Kind == KindCount:
			counts = append(counts, m.Name)
		default:
			others = append(others, m.Name)
		}
	}
	for _, family := range []string{"uncorrected", "lateness"} {
		for _, q := range quantileTable {
			out = append(out, family+"."+q.name)
		}
	}
	sort.Strings(counts)
	out = append(append(out, others...), counts...)
	return append(out, "HISTOGRAM.p50|p90|p99|p999|max (a scenario histogram by name)")
}

var thresholdRE = regexp.MustCompile(`^\s*([A-Za-z0-9_.\-]+)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$`)

// ParseThreshold parses one expression. The error names the expression and,
// for an unknown metric, lists the valid ones.
func ParseThreshold(s string) (Threshold, error) {
	m := thresholdRE.FindStringSubmatch(s)
	if m == nil {
		return Threshold{}, fmt.Errorf("threshold %q: want METRIC OP VALUE, e.g. p99<500ms or failed==0 (OP is one of < <= > >= == !=)", s)
	}
	t := Threshold{Expr: strings.TrimSpace(s), Metric: m[1], Op: m[2]}
	kind, ok := metricKindOf(t.Metric)
	if !ok {
		return Threshold{}, fmt.Errorf("threshold %q: unknown metric %q; valid metrics: %s", s, t.Metric, strings.Join(ThresholdMetrics(), ", "))
	}
	t.kind = kind
	if strings.HasPrefix(t.Metric, "corrected.") { // the default view; one name for it
		t.Metric = strings.TrimPrefix(t.Metric, "corrected.")
	}
	v, err := parseValue(kind, m[3])
	if err != nil {
		return Threshold{}, fmt.Errorf("threshold %q: %v", s, err)
	}
	t.Value = v
	return t, nil
}

// ParseThresholds parses every expression and reports all bad ones at once,
// on one line.
func ParseThresholds(exprs []string) ([]Threshold, error) {
	var (
		out  []Threshold
		errs []string
	)
	for _, e := range exprs {
		t, err := ParseThreshold(e)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, t)
	}
	if len(errs) > 0 {
		return out, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

func metricKindOf(name string) (MetricKind, bool) {
	if m, ok := MetricByName(name); ok && m.Threshold {
		return m.Kind, true
	}
	// HISTOGRAM.QUANTILE: corrected/uncorrected/lateness or a scenario's own
	// histogram, whose names are only known once the run has recorded them.
	i := strings.LastIndexByte(name, '.')
	if i > 0 && isQuantile(name[i+1:]) && !strings.Contains(name[:i], ".") && name[:i] != "history" {
		return KindLatency, true
	}
	return 0, false
}

func isQuantile(name string) bool {
	return slices.ContainsFunc(quantileTable, func(q quantile) bool { return q.name == name })
}

var byteUnits = []struct {
	suffix string
	mult   float64
}{ // longest first, so "KiB" is not read as "B"
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

func parseValue(kind MetricKind, v string) (float64, error) {
	switch kind {
	case KindLatency:
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("value %q is not a duration: give a unit, e.g. 500ms or 2s", v)
		}
		return float64(d) / float64(time.Millisecond), nil
	case KindThroughput:
		n, err := strconv.ParseFloat(strings.TrimSuffix(v, "/s"), 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("value %q is not a rate: give workflows per second, e.g. 20/s", v)
		}
		return n, nil
	case KindBytes:
		for _, u := range byteUnits {
			if num, ok := strings.CutSuffix(v, u.suffix); ok {
				n, err := strconv.ParseFloat(num, 64)
				if err != nil || n < 0 {
					break
				}
				return n * u.mult, nil
			}
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("value %q is not a size: give bytes with a unit, e.g. 1MiB, 512KiB or 2000000B", v)
		}
		return n, nil
	default:
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 || n != math.Trunc(n) {
			return 0, fmt.Errorf("value %q is not a count: give a whole number, e.g. 0", v)
		}
		return n, nil
	}
}

// Evaluate checks t against s. A latency histogram the scenario did not
// record, or one without samples, fails: a threshold that cannot be
// checked must not pass silently.
func (t Threshold) Evaluate(s *Scenario) ThresholdResult {
	r := ThresholdResult{Expr: t.Expr, Metric: t.Metric, Unit: t.kind.Unit(), Measured: "-"}
	if t.kind == KindLatency {
		q, detail := t.histogram(s)
		if detail != "" {
			r.Detail = detail
			return r
		}
		r.Value = quantileValue(q, t.Metric[strings.LastIndexByte(t.Metric, '.')+1:])
	} else {
		// A figure the run did not measure reads as its zero, as report.json
		// shows it.
		m, _ := MetricByName(t.Metric)
		r.Value, _ = m.Read(nil, s)
	}
	r.Measured = formatMeasured(t.kind, r.Value)
	r.OK = compare(r.Value, t.Op, t.Value)
	return r
}

func (t Threshold) histogram(s *Scenario) (Quantiles, string) {
	name, _, found := strings.Cut(t.Metric, ".")
	var q Quantiles
	switch {
	case !found:
		q = s.LatencyMS.Corrected
		name = "corrected"
	case name == "uncorrected":
		q = s.LatencyMS.Uncorrected
	case name == "lateness":
		q = s.LatenessMS
	default:
		var ok bool
		if q, ok = s.HistogramsMS[name]; !ok {
			have := make([]string, 0, len(s.HistogramsMS))
			for n := range s.HistogramsMS {
				have = append(have, n)
			}
			sort.Strings(have)
			list := "none"
			if len(have) > 0 {
				list = strings.Join(have, ", ")
			}
			return q, fmt.Sprintf("scenario %s recorded no histogram %q (its histograms: %s; or use corrected, uncorrected, lateness)", s.Name, name, list)
		}
	}
	if q.Count == 0 {
		return q, fmt.Sprintf("histogram %s has no samples: nothing to check", name)
	}
	return q, ""
}

func quantileValue(q Quantiles, name string) float64 {
	for _, x := range quantileTable {
		if x.name == name {
			return x.of(q)
		}
	}
	return q.Max
}

func compare(a float64, op string, b float64) bool {
	switch op {
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "==":
		return a == b
	}
	return a != b
}

func formatMeasured(k MetricKind, v float64) string {
	switch k {
	case KindLatency:
		return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
	case KindThroughput:
		return strconv.FormatFloat(v, 'f', 2, 64) + "/s"
	case KindBytes:
		switch {
		case v >= 1<<20:
			return strconv.FormatFloat(v/(1<<20), 'f', 2, 64) + "MiB"
		case v >= 1<<10:
			return strconv.FormatFloat(v/(1<<10), 'f', 1, 64) + "KiB"
		}
		return strconv.FormatFloat(v, 'f', 0, 64) + "B"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// evaluateThresholds checks the thresholds the scenario's plan carries. An
// expression that does not parse (a hand-edited stream; squall run checks
// them before any load) becomes a failed row saying why.
func evaluateThresholds(s *Scenario) []ThresholdResult {
	var out []ThresholdResult
	for _, e := range s.ScenarioPlan.Thresholds {
		t, err := ParseThreshold(e)
		if err != nil {
			out = append(out, ThresholdResult{Expr: e, Measured: "-", Detail: err.Error()})
			continue
		}
		out = append(out, t.Evaluate(s))
	}
	return out
}
