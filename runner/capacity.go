package runner

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/stats"
	"github.com/squallbench/squall/metrics"
	"github.com/squallbench/squall/reports"
)

// CapacityPlan is a validated `squall capacity`: the run's flags (the
// scenario, its options, the cluster, faults) and how to search.
type CapacityPlan struct {
	Base     Flags // the flags as given (a --rate among them is ignored)
	Criteria capacity.Criteria
	Search   capacity.Search
	Probe    time.Duration // each probe's length
	Settle   time.Duration // its first part, not judged
	Warmup   time.Duration // one unjudged probe at the start rate first
	// Cases are the searches: one per worker count and cluster shape, a
	// fresh cluster each (empty: the base flags' one case).
	Cases   []capacity.Case
	AtRates []float64 // rates the inverse question is asked for (latency expected there)

	plans map[capacity.Case]*Plan // per case: the validated plan probes are made from
}

// CapacityLateAfter is how far behind schedule a probe's start counts as
// late, unless --late-after says otherwise: a driver that falls 100 ms
// behind is struggling; a few ms of scheduler jitter is not a finding.
const CapacityLateAfter = 100 * time.Millisecond

// ValidateCapacity checks the plan as `squall run` checks its flags, for
// a probe at the start rate with each worker count, before anything starts.
func ValidateCapacity(c CapacityPlan) (*CapacityPlan, error) {
	if c.Settle >= c.Probe {
		return nil, cluster.Usagef("--settle %s must be shorter than --probe %s: the part after it is what is judged", c.Settle, c.Probe)
	}
	if c.Base.Driver != "" {
		return nil, cluster.Usagef("--driver %s: a capacity search is one driver deciding each next rate; split the load of squall run instead", c.Base.Driver)
	}
	if len(c.Cases) == 0 {
		c.Cases = []capacity.Case{{Workers: c.Base.Workers}}
	}
	if c.Criteria.SLO.Server() && c.Base.Conn.Address != "" && len(c.Base.Metrics.ServerMetrics) == 0 && c.Base.Metrics.Prometheus == "" {
		return nil, cluster.Usagef("--slo %s bounds server signals: with --address, give the server's metrics (--server-metrics URL or --prometheus URL)",
			c.Criteria.SLO)
	}
	c.plans = map[capacity.Case]*Plan{}
	for _, cs := range c.Cases {
		p, err := Validate(c.baseFlags(cs))
		if err != nil {
			return nil, err
		}
		c.plans[cs] = p
	}
	return &c, nil
}

// baseFlags are the flags of a probe at the start rate on case cs: its
// worker count and, where given, its cluster shape.
func (c CapacityPlan) baseFlags(cs capacity.Case) Flags {
	f := c.Base
	f.Set = map[string]bool{"rate": true, "duration": true, "workers": true}
	if cs.History > 0 {
		f.Shape.History = cs.History
	}
	if cs.Matching > 0 {
		f.Shape.Matching = cs.Matching
	}
	if cs.Shards > 0 {
		f.Shards = cs.Shards
	}
	if f.Topology == TopologyServices {
		// Shapes are compared on one shard count, so that only the hosts
		// vary: enough shards for the most history hosts searched (a
		// database keeps the count it was created with). Searches over
		// shard counts each get a database of their own.
		if f.Shards == 0 {
			most := 0
			for _, o := range c.Cases {
				most = max(most, o.History, f.Shape.History)
			}
			f.Shards = cluster.DefaultShards(most)
		}
		if shardCounts(c.Cases) > 1 && f.DSN != "" {
			if dsn, err := cluster.DSNWithDatabaseSuffix(f.DSN, fmt.Sprintf("s%d", f.Shards)); err == nil {
				f.DSN = dsn
			}
		}
	}
	for k, v := range c.Base.Set {
		if k != "iterations" && k != "concurrency" {
			f.Set[k] = v
		}
	}
	f.Rate, f.Duration, f.Iterations, f.Concurrency, f.Workers = bench.FormatRate(c.Search.Start), c.Probe, 0, 0, cs.Workers
	if !f.Set["late-after"] {
		f.LateAfter = CapacityLateAfter
	}
	return f
}

// shardCounts is how many different shard counts the cases ask for.
func shardCounts(cases []capacity.Case) int {
	seen := map[int]bool{}
	for _, c := range cases {
		seen[c.Shards] = true
	}
	return len(seen)
}

// probePlan is the plan of one probe: the validated plan of its case at
// another constant rate and length.
func (c *CapacityPlan) probePlan(cs capacity.Case, rate float64, d time.Duration, entry string) (*Plan, error) {
	p := *c.plans[cs]
	p.Entry, p.Duration = entry, d
	p.Executor = bench.ArrivalRate{Pacer: bench.Constant{PerSec: rate}, MaxInFlight: p.MaxInFlight, LateAfter: p.LateAfter,
		Limits: bench.Limits{Duration: d}}
	p.Load.Rate, p.Load.Duration, p.Load.Expected = rate, d, d
	if !c.Base.Set["verify-every"] {
		// A probe is a measurement: its describe calls wait until its load
		// is over, however many workflows a fast cluster's probe starts.
		p.VerifyEvery = 0
	}
	if p.Scenario.Validate != nil {
		if err := p.Scenario.Validate(p.Options, p.Load); err != nil {
			return nil, cluster.Usagef("scenario %s at %s: %v", p.Scenario.Name, bench.ShowRate(rate), err)
		}
	}
	return &p, nil
}

// Capacity runs the search for every case into one run
// directory, each probe its own section, and records the outcome.
func Capacity(ctx, loadCtx context.Context, c *CapacityPlan, b Build, con Console) (*reports.Report, string, capacity.Report, error) {
	out := capacity.Report{SLO: c.Criteria.SLO.String(), Probe: c.Probe.String(), Settle: c.Settle.String()}
	if c.Search.Budget > 0 {
		out.Budget = c.Search.Budget.String()
	}
	// The first plan only names the run directory and its settings.
	first := c.plans[c.Cases[0]]
	announceTarget(con, first)
	sess, err := Open(first, first.Scenario.Name+"-capacity", true, b, con)
	if err != nil {
		return nil, "", out, err
	}
	var runErr error
	for i, cs := range c.Cases {
		if loadCtx.Err() != nil {
			break
		}
		pr := &prober{c: c, sess: sess, ctx: ctx, loadCtx: loadCtx, cs: cs, fresh: true}
		began := time.Now()
		if c.Warmup > 0 {
			if err := pr.warmup(); err != nil {
				runErr = err
				break
			}
		}
		// One search per case, each its own seed and its share of the
		// budget.
		search := c.Search
		search.Seed += uint64(i)
		if search.Budget > 0 {
			search.Budget = search.Budget/time.Duration(len(c.Cases)) - time.Since(began) // the warm-up counts
		}
		res, err := search.Run(loadCtx, pr)
		o := capacity.OutcomeOf(cs, c.Criteria.SLO, res, err, c.AtRates)
		out.Searches = append(out.Searches, o)
		if err != nil && loadCtx.Err() == nil {
			runErr = err
			break
		}
		fmt.Fprintf(con.Out, "\ncapacity with %s: %s\n", cs.Label(), summarize(o))
	}
	sess.Write(bench.Record{Kind: bench.KindCapacity}, out)
	rep, dir, err := sess.Close(loadCtx, runErr)
	return rep, dir, out, err
}

func summarize(o capacity.Outcome) string {
	s := o.Headline()
	if d := o.Drifted(); d != "" {
		s = d + ":\n  " + s
	}
	if len(o.Findings) > 0 {
		s += "; first to saturate: " + o.Findings[0].Evidence
	}
	return s
}

// prober runs probes as entries of the session, on one cluster per
// case.
type prober struct {
	c            *CapacityPlan
	sess         *Session
	ctx, loadCtx context.Context
	cs           capacity.Case
	fresh        bool
}

func (p *prober) Probe(_ context.Context, t capacity.Task) (capacity.Probe, error) {
	entry := fmt.Sprintf("%s-probe-%02d", p.cs.Key(), t.N)
	switch {
	case t.Phase == capacity.PhaseCanary:
		entry = fmt.Sprintf("%s-canary-%02d", p.cs.Key(), t.N)
	case p.c.Search.Repeat > 1:
		entry = fmt.Sprintf("%s-s%d-probe-%02d", p.cs.Key(), t.Search, t.N)
	}
	return p.run(t.Rate, p.c.Probe, entry)
}

// warmup runs the unjudged first probe: caches, connections and the
// server's own warm-up are not the capacity.
func (p *prober) warmup() error {
	entry := p.cs.Key() + "-warmup"
	fmt.Fprintf(p.sess.con.Out, "\n--- %s: %s for %s (not judged)\n", entry, bench.ShowRate(p.c.Search.Start), p.c.Warmup)
	_, err := p.entry(p.c.Search.Start, p.c.Warmup, entry)
	return err
}

func (p *prober) entry(rate float64, d time.Duration, entry string) (Figures, error) {
	plan, err := p.c.probePlan(p.cs, rate, d, entry)
	if err != nil {
		return Figures{}, err
	}
	label := p.cs.Key()
	if p.freshProbes() {
		label = entry
	}
	figs, err := p.sess.Entry(p.ctx, p.loadCtx, plan, EntryOptions{Fresh: p.fresh || p.freshProbes(), ClusterLabel: label, Keep: true, SkipHealth: true})
	p.fresh = false
	return figs, err
}

// freshProbes: a cluster squall starts itself is started afresh for
// each probe. Probes on one server are not independent: an overloaded
// probe leaves the server's internal queues behind it, and every probe
// grows the database, so the same rate that passed early fails late
// (measured on SQLite: 33.6/s passed as the sixth probe and failed as the
// ninth). An existing cluster (--address) cannot be restarted: its probes
// share it, in order.
func (p *prober) freshProbes() bool {
	return p.c.Base.Conn.Address == "" || p.c.Base.Cluster == ClusterContainer
}

func (p *prober) run(rate float64, d time.Duration, entry string) (capacity.Probe, error) {
	fmt.Fprintf(p.sess.con.Out, "\n--- %s: %s for %s\n", entry, bench.ShowRate(rate), d)
	began := time.Now()
	figs, err := p.entry(rate, d, entry)
	if err != nil {
		return capacity.Probe{}, err
	}
	ivs, err := p.steady(figs)
	if err != nil {
		return capacity.Probe{}, err
	}
	pr := capacity.Judge(p.c.Criteria, rate, ivs, p.serverSamples(figs.Samples, ivs))
	pr.Entry, pr.Start = entry, began
	pr.Signals = map[string]float64{
		metrics.SigMachineCores: float64(runtime.NumCPU()),
		metrics.SigWorkers:      float64(p.cs.Workers),
		metrics.SigDriverCPU:    figs.DriverCPUSeconds / time.Since(began).Seconds(),
	}
	signals(figs.Samples, ivs, &pr)
	verdict := "pass"
	if !pr.Pass {
		verdict = "FAIL: " + pr.Why
	}
	if pr.Excluded != "" {
		verdict += " (left out of the fit: " + pr.Excluded + ")"
	}
	fmt.Fprintf(p.sess.con.Out, "%s: %s offered, %.1f/s done, p50 %.0f ms, p99 %.0f ms: %s\n",
		entry, bench.ShowRate(rate), pr.Throughput, pr.P50MS, pr.P99MS, verdict)
	return pr, nil
}

// steady keeps the probe's intervals after the settle time and before
// the load ended (the drain after it is not the offered rate).
func (p *prober) steady(figs Figures) ([]capacity.Interval, error) {
	if len(figs.Intervals) == 0 {
		return nil, nil
	}
	from := figs.Intervals[0].Start.Add(p.c.Settle)
	end := figs.Intervals[0].Start.Add(p.c.Probe)
	var out []capacity.Interval
	for _, iv := range figs.Intervals {
		if iv.Start.Before(from) || iv.End.After(end.Add(500*time.Millisecond)) {
			continue
		}
		ci := capacity.Interval{Start: iv.Start, End: iv.End, Counts: iv.Counts, InFlight: iv.InFlight}
		for name, into := range map[string]**bench.Histogram{bench.HistCorrected: &ci.Corrected, bench.HistUncorrected: &ci.Uncorrected} {
			if enc, ok := iv.Hists[name]; ok {
				h, err := bench.DecodeHistogram(enc)
				if err != nil {
					return nil, err
				}
				*into = h
			}
		}
		out = append(out, ci)
	}
	return out, nil
}

// serverSamples are the server's samples over the steady part, each its
// signals, for the SLO's server objectives.
func (p *prober) serverSamples(samples []metrics.Sample, steady []capacity.Interval) []map[string]float64 {
	if len(steady) == 0 || !p.c.Criteria.SLO.Server() {
		return nil
	}
	from, to := steady[0].Start, steady[len(steady)-1].End
	var out []map[string]float64
	for _, smp := range samples {
		if !smp.Start.Before(from) && !smp.End.After(to.Add(time.Second)) {
			out = append(out, smp.Signals)
		}
	}
	return out
}

// signals adds the server's and the processes' saturation signals over
// the steady part, from the probe's samples: the median of each signal,
// rates (…_per_s) and refusals as their mean over the time the samples
// cover, squall's worker processes summed.
func signals(samples []metrics.Sample, steady []capacity.Interval, pr *capacity.Probe) {
	if len(steady) == 0 {
		return
	}
	from, to := steady[0].Start, steady[len(steady)-1].End
	series := map[string][]float64{}
	rates := map[string]float64{}
	var refusals []metrics.Refusal
	covered := 0.0
	for _, smp := range samples {
		if smp.Start.Before(from) || smp.End.After(to.Add(time.Second)) {
			continue
		}
		secs := smp.End.Sub(smp.Start).Seconds()
		covered += secs
		workers, seen := 0.0, false
		for name, v := range smp.Signals {
			switch {
			case strings.HasSuffix(name, "_per_s"):
				rates[name] += v * secs
			case strings.HasPrefix(name, "worker_") && strings.HasSuffix(name, "_cpu_cores"):
				workers, seen = workers+v, true
				series[name] = append(series[name], v)
			default:
				series[name] = append(series[name], v)
			}
		}
		if seen {
			series[metrics.SigWorkersCPU] = append(series[metrics.SigWorkersCPU], workers)
		}
		for _, r := range smp.Refusals {
			r.PerS *= secs // summed as counts, turned into a rate below
			if i := slices.IndexFunc(refusals, r.Same); i >= 0 {
				refusals[i].PerS += r.PerS
			} else {
				refusals = append(refusals, r)
			}
		}
	}
	if covered <= 0 {
		return
	}
	for name, vs := range series {
		if v, ok := stats.Median(vs); ok {
			pr.Signals[name] = v
		}
	}
	for name, sum := range rates {
		pr.Signals[name] = math.Round(sum/covered*1000) / 1000
	}
	for i := range refusals {
		refusals[i].PerS = math.Round(refusals[i].PerS/covered*1000) / 1000
	}
	metrics.SortRefusals(refusals)
	pr.Refusals = refusals
}
