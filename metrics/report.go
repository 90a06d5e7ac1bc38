package metrics

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ServerReport is report.json's "server_signals": every interval's sample
// and, per signal, its median and peak over the run.
type ServerReport struct {
	Sources   []string        `json:"sources"`
	Intervals []Sample        `json:"intervals"`
	Summary   map[string]Stat `json:"summary"`
	// WorstPersistence: per operation named among an interval's slowest,
	// its highest p99 over the run, slowest first.
	WorstPersistence []OpLatency `json:"worst_persistence,omitempty"`
	// Warnings: endpoints that could not be read, signals never seen.
	// They never fail a run.
	Warnings []string `json:"warnings,omitempty"`
}

// Stat summarises one signal over the intervals that measured it.
type Stat struct {
	Median  float64 `json:"median"`
	Peak    float64 `json:"peak"`
	PeakAtS float64 `json:"peak_at_s"` // offset of the interval with the peak
	N       int     `json:"n"`         // intervals that measured it
}

// maxWarnings bounds the report's list: an endpoint down for an hour
// says so once per distinct message, and the first few of those.
const maxWarnings = 20

// Accumulator builds a ServerReport from server-sample records.
type Accumulator struct {
	samples  []Sample
	warnings []string
	seenWarn map[string]bool
	sources  map[string]bool
	scraped  bool // some sample came from a server endpoint
}

// Add takes one server-sample record's data.
func (a *Accumulator) Add(data json.RawMessage) error {
	var s Sample
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("server-sample: %w", err)
	}
	if a.seenWarn == nil {
		a.seenWarn, a.sources = map[string]bool{}, map[string]bool{}
	}
	for _, w := range s.Warnings {
		a.warn(w)
	}
	if s.Source != "" {
		a.sources[s.Source] = true
		a.scraped = true
	}
	a.samples = append(a.samples, s)
	return nil
}

func (a *Accumulator) warn(w string) {
	if !a.seenWarn[w] && len(a.warnings) < maxWarnings {
		a.seenWarn[w] = true
		a.warnings = append(a.warnings, w)
	}
}

// Report computes the summary; nil when no samples were recorded.
func (a *Accumulator) Report() *ServerReport {
	if len(a.samples) == 0 {
		return nil
	}
	r := &ServerReport{Intervals: a.samples, Summary: map[string]Stat{}, Sources: []string{}}
	for s := range a.sources {
		r.Sources = append(r.Sources, s)
	}
	sort.Strings(r.Sources)
	vals := map[string][]float64{}
	for _, s := range a.samples {
		for k, v := range s.Signals {
			vals[k] = append(vals[k], v)
			st := r.Summary[k]
			if st.N == 0 || v > st.Peak {
				st.Peak, st.PeakAtS = v, s.OffsetS
			}
			st.N++
			r.Summary[k] = st
		}
	}
	for k, vs := range vals {
		st := r.Summary[k]
		st.Median = median(vs)
		r.Summary[k] = st
	}
	worst := map[string]OpLatency{}
	for _, s := range a.samples {
		for _, op := range s.WorstPersistence {
			w := worst[op.Operation]
			w.Operation = op.Operation
			w.Count += op.Count
			w.P99MS = max(w.P99MS, op.P99MS)
			worst[op.Operation] = w
		}
	}
	for _, w := range worst {
		r.WorstPersistence = append(r.WorstPersistence, w)
	}
	sort.Slice(r.WorstPersistence, func(i, j int) bool {
		if r.WorstPersistence[i].P99MS != r.WorstPersistence[j].P99MS {
			return r.WorstPersistence[i].P99MS > r.WorstPersistence[j].P99MS
		}
		return r.WorstPersistence[i].Operation < r.WorstPersistence[j].Operation
	})
	if len(r.WorstPersistence) > 2*worstOps {
		r.WorstPersistence = r.WorstPersistence[:2*worstOps]
	}
	if a.scraped {
		for _, name := range ExpectedSignals {
			if r.Summary[name].N == 0 {
				a.warn(fmt.Sprintf("server signal %s never measured: the endpoint (%s) has no such metric, or nothing happened", name, strings.Join(r.Sources, ", ")))
			}
		}
	}
	r.Warnings = a.warnings
	return r
}

func median(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return round((s[n/2-1] + s[n/2]) / 2)
}

// Markdown renders the summary as a short table for report.md: one row
// per signal, in a fixed order (server first, then processes), then the
// per-interval rows beside squall's own latency: squallP99 gives the
// highest of squall's 1 s corrected p99s within a sample's span (nil: no
// such column).
func (r *ServerReport) Markdown(squallP99 func(fromS, toS float64) (float64, bool)) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Server and process signals\n\n")
	if len(r.Sources) > 0 {
		fmt.Fprintf(&b, "Per interval, from %s and /proc; latencies are quantiles of the interval's own observations (bucket deltas).\n\n", strings.Join(r.Sources, ", "))
	} else {
		fmt.Fprintf(&b, "Per interval, from /proc (no server metrics endpoint).\n\n")
	}
	names := make([]string, 0, len(r.Summary))
	for k := range r.Summary {
		names = append(names, k)
	}
	order := map[string]int{}
	for i, k := range []string{SigPersistenceP50, SigPersistenceP99, SigFrontendP50, SigFrontendP99, SigHistoryP50, SigHistoryP99,
		SigMatchingP99, SigWorkflowS2SP99, SigActivityS2SP99, SigBacklog, SigLockP99, SigSemaphoreP99, SigResourceExhaust} {
		order[k] = i + 1
	}
	sort.Slice(names, func(i, j int) bool {
		oi, oj := order[names[i]], order[names[j]]
		if oi == 0 {
			oi = len(order) + 1
		}
		if oj == 0 {
			oj = len(order) + 1
		}
		if oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	if len(names) > 0 {
		fmt.Fprintf(&b, "| signal | median | peak | peak at s | intervals |\n|---|---:|---:|---:|---:|\n")
		for _, k := range names {
			st := r.Summary[k]
			fmt.Fprintf(&b, "| %s | %g | %g | %.0f | %d |\n", k, st.Median, st.Peak, st.PeakAtS, st.N)
		}
		b.WriteString("\n")
	}
	if len(r.WorstPersistence) > 0 {
		b.WriteString("Slowest persistence operations (highest interval p99): ")
		for i, op := range r.WorstPersistence {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %g ms", op.Operation, op.P99MS)
		}
		b.WriteString("\n\n")
	}
	if len(r.Intervals) > 0 {
		// The key signals, those measured at least once.
		var cols []string
		for _, c := range []string{SigPersistenceP99, SigFrontendP99, SigHistoryP99, SigWorkflowS2SP99, SigActivityS2SP99, SigBacklog,
			SigResourceExhaust, "server" + sigCPUSuffix, "server" + sigRSSSuffix, "driver" + sigCPUSuffix} {
			if r.Summary[c].N > 0 {
				cols = append(cols, c)
			}
		}
		fmt.Fprintf(&b, "<details><summary>Per-interval signals (%d rows)</summary>\n\n| t (s) |", len(r.Intervals))
		if squallP99 != nil {
			b.WriteString(" squall p99 ms (worst 1 s) |")
		}
		for _, c := range cols {
			fmt.Fprintf(&b, " %s |", c)
		}
		n := len(cols)
		if squallP99 != nil {
			n++
		}
		b.WriteString("\n|---:|" + strings.Repeat("---:|", n) + "\n")
		prev := 0.0
		for _, s := range r.Intervals {
			fmt.Fprintf(&b, "| %.0f |", s.OffsetS)
			if squallP99 != nil {
				if v, ok := squallP99(prev, s.OffsetS); ok {
					fmt.Fprintf(&b, " %.1f |", v)
				} else {
					b.WriteString(" - |")
				}
			}
			prev = s.OffsetS
			for _, c := range cols {
				if v, ok := s.Signals[c]; ok {
					fmt.Fprintf(&b, " %g |", v)
				} else {
					b.WriteString(" - |")
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n</details>\n\n")
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "> ⚠ %s\n", w)
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}
