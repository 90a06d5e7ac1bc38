package cli

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/runner"
)

// capacityFlags are squall capacity's own flags, beside those of squall run.
type capacityFlags struct {
	slo                         []string
	start, max, workers         string
	history, matching, shards   string
	atRates                     []string
	probe, settle, warmup       time.Duration
	budget                      time.Duration
	resolution                  float64
	rounds, canaryEvery, repeat int
	seed                        uint64
}

func newCapacityCmd() *cobra.Command {
	var (
		f    runner.Flags
		cf   cluster.ConnFlags
		opts capacityFlags
	)
	cmd := &cobra.Command{
		Use:   "capacity --scenario NAME --slo 'p99<1s' [flags]",
		Short: "Find the highest rate the cluster sustains within an SLO, with a band, and what saturates first",
		Long: `Warms up, then brackets the knee: open-loop probes up geometrically from
--start until one fails, then bisected to 20 %. Around the bracket, four
candidate rates are probed in a shuffled order (seeded by --seed, and
recorded), --rounds times; a round after which the knee sits at the
grid's edge or in a wide gap adds a rate there. A canary probe at half the
first failing rate re-runs every --canary-every probes: how far its
latency moves is the machine's own drift, reported, and the band is
widened to cover it. The answer is fitted over every probe (monotone:
more load never passes more often), with a 90 % bootstrap band:
"sustainable 44/s (90 % band 40–48/s; 21 probes; canary drift 6 %)".

A probe passes when, after --settle, every --slo objective holds,
throughput keeps up with the offered rate (95 %), at most 1 % of starts
are late, and the work in flight is not piling up. A probe where the
driver fell behind its schedule (and the cluster did not fail by itself),
or where Little's law does not hold, is left out of the fit, with the
reason. --slo takes squall's latency (p99<1s), server signals
(server.wft_schedule_to_start.p95<150ms, server.sync_match>=95%) and
Temporal's presets (temporal-benchmark, temporal-worker-health);
repeat it or separate objectives with commas.

--repeat N runs N whole searches, their probes taking turns, answered side
by side and pooled. --budget 20m bounds the time: rounds start only while
they fit, and stop early once the band is within --resolution; the report
says which ended the search. --at-rate 30/s asks the fitted curve the
inverse question: the latency expected at that rate, with its band.

The result names what ran out first, with the evidence (docs/metrics.md):
a configured limit the server refused by (RPS_LIMIT, PERSISTENCE_LIMIT, …
with the dynamic config key that sets it), the driver, server CPU (each
server process and service against its own cores), the driver's machine,
persistence, workers, shard contention. Every probe is its own section of
the run directory (docs/capacity.md).

Exit codes: 0 a rate was found, 1 even --start breaks the SLO (or a
workflow was lost), 2 bad input, 3 the run broke, 4 interrupted.`,
		Example: `  squall capacity --scenario noop --slo 'p99<500ms'
  squall capacity --scenario noop --slo 'p99<500ms' --slo temporal-benchmark --at-rate 30/s
  squall capacity --scenario noop --slo 'p99<1s' --repeat 3 --budget 40m
  squall capacity --scenario orders-batch --option orders=2000 --slo 'p99<2m' --start 1/m --max 60/m --probe 3m --settle 1m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := completeFlags(cmd, &f, cf); err != nil {
				return err
			}
			if !f.Set["seed"] {
				opts.seed = rand.Uint64() // recorded in the report: the order can be run again
			}
			if f.Set["budget"] && !f.Set["rounds"] {
				opts.rounds = 0 // as many as the budget allows
			}
			plan, err := capacityPlan(f, opts)
			if err != nil {
				return err
			}
			ctx, loadCtx, stop := interruptContexts(cmd.Context())
			defer stop()
			out := cmd.OutOrStdout()
			rep, dir, _, err := runner.Capacity(ctx, loadCtx, plan, runner.Build{Version: version, Commit: commit},
				runner.Console{Out: out, TTY: term.IsTerminal(int(os.Stdout.Fd()))})
			if rep != nil {
				fmt.Fprint(out, "\n", reports.Summary(rep, dir))
			}
			if err != nil {
				return err
			}
			return verdictError(rep)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.slo, "slo", []string{"p99<1s"}, "objective each probe must meet (repeatable, or comma-separated): squall's latency (p99<1s), "+
		"a server signal (server.wft_schedule_to_start.p95<150ms, server.sync_match>=95%), or a preset (temporal-benchmark, temporal-worker-health)")
	fl.StringVar(&opts.start, "start", "5/s", "first rate probed (after the warm-up)")
	fl.StringVar(&opts.max, "max", "2000/s", "highest rate probed")
	fl.DurationVar(&opts.probe, "probe", 30*time.Second, "length of each probe")
	fl.DurationVar(&opts.settle, "settle", 10*time.Second, "first part of each probe, not judged (the system settles at the new rate)")
	fl.DurationVar(&opts.warmup, "warmup", 10*time.Second, "an unjudged probe at --start first (0: none)")
	fl.IntVar(&opts.rounds, "rounds", 3, "rounds of interleaved probes over the candidate rates (with --budget: the most)")
	fl.IntVar(&opts.canaryEvery, "canary-every", 5, "re-run the canary after this many other probes (0: no canary)")
	fl.IntVar(&opts.repeat, "repeat", 1, "whole searches, their probes interleaved: answered side by side and pooled")
	fl.Uint64Var(&opts.seed, "seed", 0, "seed of the interleaved order and the bootstrap (default: random, recorded in the report)")
	fl.DurationVar(&opts.budget, "budget", 0, "bound the search's time: rounds start only while they fit (0: --rounds rounds, however long)")
	fl.Float64Var(&opts.resolution, "resolution", 0.05, "with --budget: stop once the band is within this share of the rate either way (0.05: ±5%)")
	fl.StringSliceVar(&opts.atRates, "at-rate", nil, "ask the fitted curve the latency expected at this rate, with its band (repeatable: 30/s,40/s)")
	fl.StringVar(&opts.workers, "workers", "1", "worker processes; a list (1,2,4) runs the search per count, a fresh cluster each: the scaling curve")
	fl.StringVar(&opts.history, "history-hosts", "", "--topology services: history processes; a list (1,2,3) runs the search per count, a fresh cluster each: the scaling curve by shape")
	fl.StringVar(&opts.matching, "matching-hosts", "", "--topology services: matching processes; a list runs the search per count")
	fl.StringVar(&opts.shards, "shards", "", "history shards of the cluster squall starts; a list runs the search per count (default: 1, or 4 per history host)")
	addRunFlags(fl, &f, &cf)
	// A probe's starts count as late from 100 ms behind (see
	// runner.CapacityLateAfter); the help says the default that applies.
	f.LateAfter = runner.CapacityLateAfter
	fl.Lookup("late-after").DefValue = runner.CapacityLateAfter.String()
	return cmd
}

func capacityPlan(f runner.Flags, opts capacityFlags) (*runner.CapacityPlan, error) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	s, err := capacity.ParseSLO(strings.Join(opts.slo, ","))
	if err != nil {
		bad("%v", err)
	}
	lo, err := bench.ParseRate(opts.start)
	if err != nil {
		bad("--start: %v", err)
	}
	hi, err := bench.ParseRate(opts.max)
	if err != nil {
		bad("--max: %v", err)
	} else if lo > 0 && hi < lo {
		bad("--max %s is below --start %s", opts.max, opts.start)
	}
	if opts.resolution <= 0 || opts.resolution >= 1 {
		bad("bad --resolution %g: want a share between 0 and 1, e.g. 0.05", opts.resolution)
	}
	if opts.rounds < 0 || (opts.rounds == 0 && opts.budget == 0) {
		bad("bad --rounds %d: want 1 or more rounds of interleaved probes, e.g. 3", opts.rounds)
	}
	if opts.canaryEvery < 0 {
		bad("bad --canary-every %d: want a number of probes between canaries, e.g. 5 (0: no canary)", opts.canaryEvery)
	}
	if opts.repeat < 1 {
		bad("bad --repeat %d: want 1 or more searches, e.g. 3", opts.repeat)
	}
	if opts.budget < 0 || (opts.budget > 0 && opts.budget < opts.probe) {
		bad("bad --budget %s: want a duration longer than one --probe (%s), e.g. 20m", opts.budget, opts.probe)
	}
	if opts.probe <= 0 || opts.warmup < 0 || opts.settle < 0 {
		bad("--probe must be positive, --settle and --warmup not negative")
	}
	var at []float64
	for _, r := range opts.atRates {
		v, err := bench.ParseRate(r)
		if err != nil {
			bad("--at-rate: %v", err)
			continue
		}
		at = append(at, v)
	}
	counts := func(flag, list, what string) []int {
		var out []int
		for _, part := range strings.Split(list, ",") {
			if list == "" {
				break
			}
			n, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil || n < 1 {
				bad("bad --%s %q: want %s of 1 or more, e.g. 1 or 1,2,4", flag, list, what)
				return nil
			}
			out = append(out, n)
		}
		return out
	}
	ws := counts("workers", opts.workers, "worker counts")
	hs := counts("history-hosts", opts.history, "history host counts")
	ms := counts("matching-hosts", opts.matching, "matching host counts")
	ss := counts("shards", opts.shards, "shard counts")
	if (len(hs) > 0 || len(ms) > 0) && f.Topology != runner.TopologyServices {
		bad("--history-hosts and --matching-hosts shape a cluster of separate service processes: add --topology services --persistence postgres --dsn ...")
	}
	if len(problems) > 0 {
		return nil, cluster.Usagef("%s", strings.Join(problems, "; "))
	}
	cases := capacity.Cases(ws, hs, ms, ss)
	f.Workers = cases[0].Workers
	canary := opts.canaryEvery
	if canary == 0 {
		canary = -1 // the search's own "none"
	}
	return runner.ValidateCapacity(runner.CapacityPlan{Base: f, Criteria: capacity.Criteria{SLO: s},
		Search: capacity.Search{Start: lo, Max: hi, Resolution: opts.resolution, Rounds: opts.rounds, CanaryEvery: canary, Repeat: opts.repeat,
			Seed: opts.seed, Budget: opts.budget},
		Probe: opts.probe, Settle: opts.settle, Warmup: opts.warmup, Cases: cases, AtRates: at})
}
