package metrics

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/squallbench/squall/internal/stats"
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
	// Refusals: the RESOURCE_EXHAUSTED answers over the run, by cause and
	// where they were counted, configured limits first.
	Refusals []RefusalStat `json:"refusals,omitempty"`
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

// RefusalStat is one kind of refusal over a run.
type RefusalStat struct {
	Layer    string  `json:"layer"`
	Service  string  `json:"service,omitempty"`
	Cause    string  `json:"cause"`
	Scope    string  `json:"scope,omitempty"`
	Key      string  `json:"key,omitempty"`
	Kind     string  `json:"kind"`       // KindLimit, KindSaturation, …
	Total    float64 `json:"total"`      // refusals over the run
	PeakPerS float64 `json:"peak_per_s"` // the highest interval's rate
	PeakAtS  float64 `json:"peak_at_s"`
	FirstAtS float64 `json:"first_at_s"` // end of the first interval with any
}

// Refusal is the stat's kind of refusal at rate perS.
func (r RefusalStat) Refusal(perS float64) Refusal {
	return Refusal{Layer: r.Layer, Service: r.Service, Cause: r.Cause, Scope: r.Scope, Key: r.Key, PerS: perS}
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
	UpgradeSignals(s.Signals, s.End.Sub(s.Start).Seconds())
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
		m, _ := stats.Median(vs)
		st.Median = round(m) // to the 3 decimals samples carry
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
	r.Refusals = refusalStats(a.samples)
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

// refusalStats sums each kind of refusal over the samples.
func refusalStats(samples []Sample) []RefusalStat {
	var out []RefusalStat
	for _, smp := range samples {
		secs := smp.End.Sub(smp.Start).Seconds()
		for _, rf := range smp.Refusals {
			i := slices.IndexFunc(out, func(st RefusalStat) bool { return st.Refusal(0).Same(rf) })
			if i < 0 {
				out = append(out, RefusalStat{Layer: rf.Layer, Service: rf.Service, Cause: rf.Cause, Scope: rf.Scope, Key: rf.Key,
					Kind: CauseOf(rf.Cause).Kind, FirstAtS: smp.OffsetS})
				i = len(out) - 1
			}
			st := &out[i]
			st.Total = round(st.Total + rf.PerS*secs)
			if rf.PerS > st.PeakPerS {
				st.PeakPerS, st.PeakAtS = rf.PerS, smp.OffsetS
			}
		}
	}
	kindOrder := map[string]int{KindLimit: 0, KindSaturation: 1, KindBusyWorkflow: 2, KindCircuitBreaker: 3, KindUnknown: 4}
	layerOrder := map[string]int{LayerPersistence: 0, LayerService: 1, LayerClient: 2}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if kindOrder[a.Kind] != kindOrder[b.Kind] {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		if layerOrder[a.Layer] != layerOrder[b.Layer] {
			return layerOrder[a.Layer] < layerOrder[b.Layer]
		}
		return a.Total > b.Total
	})
	return out
}

// SignalView is the server signals as report.md and report.html show
// them: the same rows, rendered twice.
type SignalView struct {
	Sources string // where the samples came from, one sentence
	// Summary: one row per signal (signal, median, peak, peak at s,
	// intervals), server first, then processes.
	Summary [][]string
	CPU     string // CPU against each part's own cores, one sentence ("" when unknown)
	// Refusals: cause, what it is, counted by, scope, key, total, peak/s,
	// peak at s; Limits: one sentence per configured limit that bit.
	Refusals [][]string
	Limits   []string
	// Persistence: the slowest persistence operations, one sentence.
	Persistence string
	// IntervalHeader and Intervals: the key signals per interval, beside
	// squall's own worst 1 s p99 when known ("-": not measured).
	IntervalHeader []string
	Intervals      [][]string
	Warnings       []string
}

// View lays the report out for the renderers: squallP99 gives the highest
// of squall's 1 s corrected p99s within a sample's span (nil: no such
// column).
func (r *ServerReport) View(squallP99 func(fromS, toS float64) (float64, bool)) *SignalView {
	if r == nil {
		return nil
	}
	v := &SignalView{Warnings: r.Warnings}
	if len(r.Sources) > 0 {
		v.Sources = fmt.Sprintf("Per interval, from %s and /proc; latencies are quantiles of the interval's own observations (bucket deltas).", strings.Join(r.Sources, ", "))
	} else {
		v.Sources = "Per interval, from /proc (no server metrics endpoint)."
	}
	names := make([]string, 0, len(r.Summary))
	for k := range r.Summary {
		names = append(names, k)
	}
	order := map[string]int{}
	for i, k := range []string{SigPersistenceP50, SigPersistenceP99, SigFrontendP50, SigFrontendP99, SigHistoryP50, SigHistoryP99,
		SigMatchingP99, SigWorkflowS2SP99, SigActivityS2SP99, SigBacklog, SigLockP99, SigSemaphoreP99, SigExhausted, SigClientExhausted} {
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
	for _, k := range names {
		st := r.Summary[k]
		v.Summary = append(v.Summary, []string{k, fmt.Sprintf("%g", st.Median), fmt.Sprintf("%g", st.Peak), fmt.Sprintf("%.0f", st.PeakAtS), fmt.Sprint(st.N)})
	}
	v.CPU = r.cpuLine()
	v.Refusals, v.Limits = r.refusalRows()
	if len(r.WorstPersistence) > 0 {
		var ops []string
		for _, op := range r.WorstPersistence {
			ops = append(ops, fmt.Sprintf("%s %g ms", op.Operation, op.P99MS))
		}
		v.Persistence = "Slowest persistence operations (highest interval p99): " + strings.Join(ops, ", ")
	}
	if len(r.Intervals) > 0 {
		// The key signals, those measured at least once.
		var cols []string
		for _, c := range []string{SigPersistenceP99, SigFrontendP99, SigHistoryP99, SigWorkflowS2SP99, SigActivityS2SP99, SigBacklog,
			SigExhausted, SigClientExhausted, SigServerCPU, SigServerRSS, SigDriverCPU} {
			if r.Summary[c].N > 0 {
				cols = append(cols, c)
			}
		}
		v.IntervalHeader = []string{"t (s)"}
		if squallP99 != nil {
			v.IntervalHeader = append(v.IntervalHeader, "squall p99 ms (worst 1 s)")
		}
		v.IntervalHeader = append(v.IntervalHeader, cols...)
		prev := 0.0
		for _, s := range r.Intervals {
			row := []string{fmt.Sprintf("%.0f", s.OffsetS)}
			if squallP99 != nil {
				if p, ok := squallP99(prev, s.OffsetS); ok {
					row = append(row, fmt.Sprintf("%.1f", p))
				} else {
					row = append(row, "-")
				}
			}
			prev = s.OffsetS
			for _, c := range cols {
				if x, ok := s.Signals[c]; ok {
					row = append(row, fmt.Sprintf("%g", x))
				} else {
					row = append(row, "-")
				}
			}
			v.Intervals = append(v.Intervals, row)
		}
	}
	return v
}

// Markdown renders the summary for report.md: one row per signal, then
// the per-interval rows beside squall's own latency (see View).
func (r *ServerReport) Markdown(squallP99 func(fromS, toS float64) (float64, bool)) string {
	v := r.View(squallP99)
	if v == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Server and process signals\n\n%s\n\n", v.Sources)
	table := func(header string, align string, rows [][]string) {
		b.WriteString(header + "\n" + align + "\n")
		for _, row := range rows {
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
		b.WriteString("\n")
	}
	if len(v.Summary) > 0 {
		table("| signal | median | peak | peak at s | intervals |", "|---|---:|---:|---:|---:|", v.Summary)
	}
	if v.CPU != "" {
		b.WriteString(v.CPU + "\n\n")
	}
	if len(v.Refusals) > 0 {
		b.WriteString("Refusals (RESOURCE_EXHAUSTED) by cause:\n\n")
		table("| cause | what it is | counted by | scope | key | total | peak/s | peak at s |", "|---|---|---|---|---|---:|---:|---:|", v.Refusals)
		for _, l := range v.Limits {
			fmt.Fprintf(&b, "- %s\n", l)
		}
		if len(v.Limits) > 0 {
			b.WriteString("\n")
		}
	}
	if v.Persistence != "" {
		b.WriteString(v.Persistence + "\n\n")
	}
	if len(v.Intervals) > 0 {
		fmt.Fprintf(&b, "<details><summary>Per-interval signals (%d rows)</summary>\n\n", len(v.Intervals))
		table("| "+strings.Join(v.IntervalHeader, " | ")+" |", "|"+strings.Repeat("---:|", len(v.IntervalHeader)), v.Intervals)
		b.WriteString("</details>\n\n")
	}
	for _, w := range v.Warnings {
		fmt.Fprintf(&b, "> ⚠ %s\n", w)
	}
	if len(v.Warnings) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

// cpuLine says, per server part and for the driver's machine, how much
// CPU it used of its own cores: "history CPU 3.8 of 4 cores".
func (r *ServerReport) cpuLine() string {
	peaks := map[string]float64{}
	for k, st := range r.Summary {
		peaks[k] = st.Peak
	}
	var lines []string
	for _, scope := range ServerCPUScopes(peaks) {
		cpu, cores := r.Summary[CPU(scope)], r.Summary[Cores(scope)]
		lines = append(lines, fmt.Sprintf("%s CPU %g of %g cores (median %g)", ScopeName(scope), cpu.Peak, cores.Peak, cpu.Median))
	}
	if cpu, cores := r.Summary[SigMachineCPU], r.Summary[SigMachineCores]; cpu.N > 0 && cores.N > 0 {
		lines = append(lines, fmt.Sprintf("driver's machine CPU %g of %g cores (median %g; the processes squall watches on it)", cpu.Peak, cores.Peak, cpu.Median))
	}
	if len(lines) == 0 {
		return ""
	}
	return "CPU against each part's own cores, at its peak: " + strings.Join(lines, "; ") + "."
}

// refusalRows lists the refusals by cause, and each configured limit that
// bit, named with the key that sets it, apart from saturation.
func (r *ServerReport) refusalRows() (rows [][]string, limits []string) {
	for _, st := range r.Refusals {
		rf := st.Refusal(st.PeakPerS)
		rows = append(rows, []string{st.Cause, st.Kind, rf.Who(), dash(st.Scope), dash(st.Key), fmt.Sprintf("%.0f", st.Total), fmt.Sprintf("%g", st.PeakPerS), fmt.Sprintf("%.0f", st.PeakAtS)})
	}
	peaks := make([]Refusal, len(r.Refusals))
	for i, st := range r.Refusals {
		peaks[i] = st.Refusal(st.PeakPerS)
	}
	for _, l := range Limits(peaks) {
		first := slices.IndexFunc(r.Refusals, func(st RefusalStat) bool { return st.Refusal(0).Same(l) })
		limits = append(limits, fmt.Sprintf("configured limit %s bit from %.0f s, up to %g/s: raise it, this is not saturation", l.Limit(), r.Refusals[first].FirstAtS, l.PerS))
	}
	return rows, limits
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
