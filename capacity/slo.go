package capacity

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/squallbench/squall/metrics"
)

// SLO is what every probe must keep: one or more objectives, each a
// bound on squall's own latency or on a server signal.
type SLO []Objective

// Objective is one bound. Squall's latency: a corrected quantile Q of
// the workflows' latency below Bound ms ("p99<500ms"). A server signal:
// the median over the probe of an interval quantile or ratio the server
// reports ("server.wft_schedule_to_start.p95<150ms",
// "server.sync_match>=95%").
type Objective struct {
	Name    string  // "p99", or "server.NAME.STAT"
	Q       float64 // squall latency: the quantile, 0–1
	Signal  string  // server objectives: the metrics signal the value comes from
	Bound   float64 // ms for latencies, 0–1 for ratios
	AtLeast bool    // the value must stay at or above Bound (else below it)
	OrEqual bool    // the bound itself is allowed (<=, >=)
	Ratio   bool    // Bound is a share, shown as a percentage
}

// Server: the value comes from the server's metrics, not from squall's
// own measurements.
func (o Objective) Server() bool { return o.Signal != "" }

func (o Objective) String() string {
	op := "<"
	if o.AtLeast {
		op = ">"
	}
	if o.OrEqual {
		op += "="
	}
	return o.Name + op + o.show(o.Bound)
}

// show renders a value in the objective's unit.
func (o Objective) show(v float64) string {
	if o.Ratio {
		return strconv.FormatFloat(v*100, 'f', -1, 64) + "%"
	}
	return time.Duration(math.Round(v * float64(time.Millisecond))).String()
}

// broken: the measured value v breaks the objective.
func (o Objective) broken(v float64) bool {
	switch {
	case o.AtLeast && o.OrEqual:
		return v < o.Bound
	case o.AtLeast:
		return v <= o.Bound
	case o.OrEqual:
		return v > o.Bound
	default:
		return v >= o.Bound
	}
}

func (s SLO) String() string {
	parts := make([]string, len(s))
	for i, o := range s {
		parts[i] = o.String()
	}
	return strings.Join(parts, ", ")
}

// Latency is the SLO's first objective on squall's own latency (false:
// the SLO bounds server signals only).
func (s SLO) Latency() (Objective, bool) {
	for _, o := range s {
		if !o.Server() {
			return o, true
		}
	}
	return Objective{}, false
}

// Server: some objective needs the server's metrics.
func (s SLO) Server() bool {
	return slices.ContainsFunc(s, Objective.Server)
}

// quantile is the latency quantile a probe reports as its SLO latency:
// the first latency objective's, p99 without one.
func (s SLO) quantile() float64 {
	if o, ok := s.Latency(); ok {
		return o.Q
	}
	return 0.99
}

// Presets are SLOs as Temporal's own practice writes them: its benchmark
// stack alerts when p95 StartWorkflow latency or p95 workflow- or
// activity-task schedule-to-start exceeds 150 ms; its worker-health
// guidance wants schedule-to-start p99 under 200 ms and sync match at 95 %
// or more.
var Presets = map[string]string{
	"temporal-benchmark": "server.start_workflow.p95<150ms, server.wft_schedule_to_start.p95<150ms, " +
		"server.activity_schedule_to_start.p95<150ms",
	"temporal-worker-health": "server.wft_schedule_to_start.p99<200ms, server.activity_schedule_to_start.p99<200ms, " +
		"server.sync_match>=95%",
}

// serverSignals are the names a server objective may use, and the
// sampled signal each reads.
var serverSignals = map[string]struct {
	signal string
	ratio  bool
}{
	"start_workflow.p95":             {metrics.SigStartWorkflowP95, false},
	"wft_schedule_to_start.p95":      {metrics.SigWorkflowS2SP95, false},
	"wft_schedule_to_start.p99":      {metrics.SigWorkflowS2SP99, false},
	"activity_schedule_to_start.p95": {metrics.SigActivityS2SP95, false},
	"activity_schedule_to_start.p99": {metrics.SigActivityS2SP99, false},
	"persistence.p50":                {metrics.SigPersistenceP50, false},
	"persistence.p99":                {metrics.SigPersistenceP99, false},
	"frontend.p50":                   {metrics.SigFrontendP50, false},
	"frontend.p99":                   {metrics.SigFrontendP99, false},
	"history.p50":                    {metrics.SigHistoryP50, false},
	"history.p99":                    {metrics.SigHistoryP99, false},
	"matching.p99":                   {metrics.SigMatchingP99, false},
	"shard_lock.p99":                 {metrics.SigLockP99, false},
	"semaphore.p99":                  {metrics.SigSemaphoreP99, false},
	"sync_match":                     {metrics.SigSyncMatch, true},
}

// ServerNames lists the names a server objective may use, sorted.
func ServerNames() []string {
	var out []string
	for n := range serverSignals {
		out = append(out, "server."+n)
	}
	slices.Sort(out)
	return out
}

// ParseSLO reads one or more objectives, separated by commas: squall's
// latency ("p99<1s", "p50<200ms", "p99.9<2s"), a server signal
// ("server.wft_schedule_to_start.p95<150ms", "server.sync_match>=95%"),
// or a preset's name ("temporal-benchmark", "temporal-worker-health").
func ParseSLO(s string) (SLO, error) {
	var out SLO
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		if p, ok := Presets[term]; ok {
			ps, err := ParseSLO(p)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
			continue
		}
		o, err := parseObjective(term)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func parseObjective(s string) (Objective, error) {
	i := strings.IndexAny(s, "<>")
	if i <= 0 {
		return Objective{}, fmt.Errorf("bad --slo %q: want a latency quantile below a bound (p99<1s), a server signal's bound "+
			"(server.wft_schedule_to_start.p95<150ms) or a preset (%s)", s, presetNames())
	}
	name, rest := strings.TrimSpace(s[:i]), s[i:]
	o := Objective{Name: name, AtLeast: rest[0] == '>'}
	rest = rest[1:]
	if strings.HasPrefix(rest, "=") {
		o.OrEqual, rest = true, rest[1:]
	}
	rest = strings.TrimSpace(rest)
	if sig, ok := strings.CutPrefix(name, "server."); ok {
		def, ok := serverSignals[sig]
		if !ok {
			return Objective{}, fmt.Errorf("bad --slo %q: no server signal %q; known: %s", s, name, strings.Join(ServerNames(), ", "))
		}
		o.Signal, o.Ratio = def.signal, def.ratio
		if o.Ratio {
			v, err := parseShare(rest)
			if err != nil {
				return Objective{}, fmt.Errorf("bad --slo %q: %q is not a share (95%% or 0.95)", s, rest)
			}
			o.Bound = v
			return o, nil
		}
		if o.AtLeast {
			return Objective{}, fmt.Errorf("bad --slo %q: a latency must stay below its bound (<)", s)
		}
		d, err := time.ParseDuration(rest)
		if err != nil || d <= 0 {
			return Objective{}, fmt.Errorf("bad --slo %q: %q is not a positive duration", s, rest)
		}
		o.Bound = float64(d) / float64(time.Millisecond)
		return o, nil
	}
	digits, ok := strings.CutPrefix(name, "p")
	if !ok {
		return Objective{}, fmt.Errorf("bad --slo %q: %q is neither a quantile (p50, p99, p99.9) nor a server signal (server.…) "+
			"nor a preset (%s)", s, name, presetNames())
	}
	pct, err := strconv.ParseFloat(digits, 64)
	if err == nil && !strings.Contains(digits, ".") && pct > 100 {
		pct /= math.Pow(10, float64(len(digits)-2)) // p999 is 99.9, as elsewhere in squall
	}
	if err != nil || pct <= 0 || pct >= 100 {
		return Objective{}, fmt.Errorf("bad --slo %q: %q is not a quantile (p50, p99, p99.9)", s, name)
	}
	if o.AtLeast {
		return Objective{}, fmt.Errorf("bad --slo %q: a latency must stay below its bound (<)", s)
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d <= 0 {
		return Objective{}, fmt.Errorf("bad --slo %q: %q is not a positive duration", s, rest)
	}
	o.Name = "p" + trimQ(pct)
	o.Q, o.Bound = pct/100, float64(d)/float64(time.Millisecond)
	return o, nil
}

func parseShare(s string) (float64, error) {
	if v, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 100 {
			return 0, fmt.Errorf("bad share %q", s)
		}
		return f / 100, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("bad share %q", s)
	}
	return f, nil
}

func presetNames() string {
	var out []string
	for n := range Presets {
		out = append(out, n)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// trimQ names a percentile as squall writes it: 99 → "99", 99.9 → "999".
func trimQ(pct float64) string {
	s := strconv.FormatFloat(math.Round(pct*1e6)/1e6, 'f', -1, 64)
	return strings.ReplaceAll(s, ".", "")
}
