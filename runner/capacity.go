package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/metrics"
	"github.com/squallbench/squall/reports"
)

// CapacityPlan is a validated `squall capacity`: the run's flags (the
// scenario, its options, the cluster, faults) and how to search.
type CapacityPlan struct {
	Base     Flags
	Criteria capacity.Criteria
	Search   capacity.Search
	Probe    time.Duration // each probe's length
	Settle   time.Duration // its first part, not judged
	Warmup   time.Duration // one unjudged probe at the start rate first
	Workers  []int         // a search per worker count, a fresh cluster each
}

// CapacityLateAfter is how far behind schedule a probe's start counts as
// late, unless --late-after says otherwise: a driver that falls 100 ms
// behind is struggling; a few ms of scheduler jitter is not a finding.
const CapacityLateAfter = 100 * time.Millisecond

// ValidateCapacity checks the plan as `squall run` checks its flags, once
// for a probe at the start rate, before anything starts.
func ValidateCapacity(c CapacityPlan) (*CapacityPlan, error) {
	if c.Settle >= c.Probe {
		return nil, cluster.Usagef("--settle %s must be shorter than --probe %s: the part after it is what is judged", c.Settle, c.Probe)
	}
	if c.Base.Driver != "" {
		return nil, cluster.Usagef("--driver %s: a capacity search is one driver deciding each next rate; split the load of squall run instead", c.Base.Driver)
	}
	if len(c.Workers) == 0 {
		c.Workers = []int{c.Base.Workers}
	}
	if _, err := Validate(c.probeFlags(c.Search.Start, c.Probe, "check", c.Workers[0])); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c CapacityPlan) probeFlags(rate float64, d time.Duration, entry string, workers int) Flags {
	f := c.Base
	f.Set = map[string]bool{"rate": true, "duration": true, "workers": true}
	for k, v := range c.Base.Set {
		if k != "iterations" && k != "concurrency" {
			f.Set[k] = v
		}
	}
	f.Rate, f.Duration, f.Iterations, f.Concurrency, f.Workers = bench.FormatRate(rate), d, 0, 0, workers
	f.Entry = entry
	if !f.Set["late-after"] {
		f.LateAfter = CapacityLateAfter
	}
	return f
}

// Capacity runs the search for every worker count into one run
// directory, each probe its own section, and records the outcome.
func Capacity(ctx, loadCtx context.Context, c *CapacityPlan, b Build, con Console) (*reports.Report, string, capacity.Report, error) {
	out := capacity.Report{SLO: c.Criteria.SLO.String(), Probe: c.Probe.String(), Settle: c.Settle.String()}
	// The first plan only names the run directory and its settings.
	first, err := Validate(c.probeFlags(c.Search.Start, c.Probe, "warmup", c.Workers[0]))
	if err != nil {
		return nil, "", out, err
	}
	sess, err := Open(first, first.Scenario.Name+"-capacity", b, con)
	if err != nil {
		return nil, "", out, err
	}
	sess.r.multi = true
	var runErr error
	for _, w := range c.Workers {
		if loadCtx.Err() != nil {
			break
		}
		pr := &prober{c: c, sess: sess, ctx: ctx, loadCtx: loadCtx, workers: w, fresh: true}
		if c.Warmup > 0 {
			if err := pr.warmup(); err != nil {
				runErr = err
				break
			}
		}
		res, err := c.Search.Run(loadCtx, pr)
		o := capacity.OutcomeOf(w, res, err)
		out.Searches = append(out.Searches, o)
		if err != nil && loadCtx.Err() == nil {
			runErr = err
			break
		}
		fmt.Fprintf(con.Out, "\ncapacity with %d worker(s): %s\n", w, summarize(o))
	}
	sess.Write(bench.Record{Kind: bench.KindCapacity}, out)
	rep, dir, err := sess.Close(loadCtx, runErr)
	return rep, dir, out, err
}

func summarize(o capacity.Outcome) string {
	if !o.Found {
		return fmt.Sprintf("even %s broke the SLO", bench.ShowRate(o.FirstFail))
	}
	s := fmt.Sprintf("%s sustained", bench.ShowRate(o.Rate))
	if o.FirstFail > 0 {
		s += fmt.Sprintf(" (knee between %s and %s)", bench.ShowRate(o.LastPass), bench.ShowRate(o.FirstFail))
	}
	if len(o.Findings) > 0 {
		s += "; first to saturate: " + o.Findings[0].Evidence
	}
	return s
}

// prober runs probes as entries of the session, on one cluster per
// worker count.
type prober struct {
	c            *CapacityPlan
	sess         *Session
	ctx, loadCtx context.Context
	workers      int
	fresh        bool
	n            int
}

func (p *prober) Probe(_ context.Context, rate float64) (capacity.Probe, error) {
	p.n++
	return p.run(rate, p.c.Probe, fmt.Sprintf("w%d-probe-%02d", p.workers, p.n))
}

// warmup runs the unjudged first probe: caches, connections and the
// server's own warm-up are not the capacity.
func (p *prober) warmup() error {
	entry := fmt.Sprintf("w%d-warmup", p.workers)
	fmt.Fprintf(p.sess.r.con.Out, "\n--- %s: %s for %s (not judged)\n", entry, bench.ShowRate(p.c.Search.Start), p.c.Warmup)
	return p.entry(p.c.Search.Start, p.c.Warmup, entry)
}

func (p *prober) entry(rate float64, d time.Duration, entry string) error {
	plan, err := Validate(p.c.probeFlags(rate, d, entry, p.workers))
	if err != nil {
		return err
	}
	label := fmt.Sprintf("w%d", p.workers)
	if p.freshProbes() {
		label = entry
	}
	err = p.sess.Entry(p.ctx, p.loadCtx, plan, p.fresh || p.freshProbes(), label, []*Plan{plan})
	p.fresh = false
	return err
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
	fmt.Fprintf(p.sess.r.con.Out, "\n--- %s: %s for %s\n", entry, bench.ShowRate(rate), d)
	before, _ := cpuSeconds()
	began := time.Now()
	if err := p.entry(rate, d, entry); err != nil {
		return capacity.Probe{}, err
	}
	after, _ := cpuSeconds()
	ivs, err := p.steady(entry)
	if err != nil {
		return capacity.Probe{}, err
	}
	pr := capacity.Judge(p.c.Criteria, rate, ivs)
	pr.Entry = entry
	pr.Signals = map[string]float64{
		capacity.SigMachineCores: float64(runtime.NumCPU()),
		capacity.SigWorkers:      float64(p.workers),
		capacity.SigDriverCPU:    (after - before) / time.Since(began).Seconds(),
	}
	p.signals(entry, ivs, pr.Signals)
	verdict := "pass"
	if !pr.Pass {
		verdict = "FAIL: " + pr.Why
	}
	fmt.Fprintf(p.sess.r.con.Out, "%s: %s offered, %.1f/s done, p50 %.0f ms, p99 %.0f ms: %s\n",
		entry, bench.ShowRate(rate), pr.Throughput, pr.P50MS, pr.P99MS, verdict)
	return pr, nil
}

// steady reads the entry's intervals back from the result stream and
// keeps those after the settle time.
func (p *prober) steady(entry string) ([]capacity.Interval, error) {
	var all []capacity.Interval
	err := p.sess.Records(entry, func(rec bench.Record) error {
		if rec.Kind != bench.KindInterval || rec.Interval == nil {
			return nil
		}
		iv := capacity.Interval{Start: rec.Interval.Start, End: rec.Interval.End, Counts: rec.Interval.Counts, InFlight: rec.Interval.InFlight}
		if enc, ok := rec.Interval.Hists[bench.HistCorrected]; ok {
			h, err := bench.DecodeHistogram(enc)
			if err != nil {
				return err
			}
			iv.Corrected = h
		}
		all = append(all, iv)
		return nil
	})
	if err != nil || len(all) == 0 {
		return nil, err
	}
	from := all[0].Start.Add(p.c.Settle)
	end := all[0].Start.Add(p.c.Probe)
	var out []capacity.Interval
	for _, iv := range all {
		// The steady part: after settling, before the load ended (the
		// drain after it is not the offered rate).
		if !iv.Start.Before(from) && !iv.End.After(end.Add(500*time.Millisecond)) {
			out = append(out, iv)
		}
	}
	return out, nil
}

// signals adds the server's and the processes' saturation signals over
// the steady part, from the samples the run recorded (median per signal;
// resource-exhausted errors as a rate).
func (p *prober) signals(entry string, steady []capacity.Interval, into map[string]float64) {
	if len(steady) == 0 {
		return
	}
	from, to := steady[0].Start, steady[len(steady)-1].End
	series := map[string][]float64{}
	exhausted, seen := 0.0, false
	_ = p.sess.Records(entry, func(rec bench.Record) error {
		if rec.Kind != bench.KindServerSample {
			return nil
		}
		var smp metrics.Sample
		if json.Unmarshal(rec.Data, &smp) != nil || smp.Start.Before(from) || smp.End.After(to.Add(time.Second)) {
			return nil
		}
		seen = true
		workers := 0.0
		for name, v := range smp.Signals {
			switch {
			case name == metrics.SigResourceExhaust:
				exhausted += v
			case strings.HasPrefix(name, "worker_") && strings.HasSuffix(name, "_cpu_cores"):
				workers += v
			default:
				series[name] = append(series[name], v)
			}
		}
		series["workers_cpu"] = append(series["workers_cpu"], workers)
		return nil
	})
	if !seen {
		return
	}
	for sig, from := range map[string]string{
		capacity.SigServerCPU:      "server_cpu_cores",
		capacity.SigDriverCPU:      "driver_cpu_cores",
		capacity.SigWorkerCPU:      "workers_cpu",
		capacity.SigPersistenceP99: metrics.SigPersistenceP99,
		capacity.SigWorkflowS2SP99: metrics.SigWorkflowS2SP99,
		capacity.SigActivityS2SP99: metrics.SigActivityS2SP99,
		capacity.SigLockP99:        metrics.SigLockP99,
	} {
		if v, ok := median(series[from]); ok {
			into[sig] = v
		}
	}
	if v, ok := median(series[metrics.SigSemaphoreP99]); ok && v > into[capacity.SigLockP99] {
		into[capacity.SigLockP99] = v
	}
	into[capacity.SigResourceExhaust] = exhausted / to.Sub(from).Seconds()
}

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2], true
}
