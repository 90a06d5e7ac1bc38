package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/runner"
)

func newCapacityCmd() *cobra.Command {
	var (
		f                          runner.Flags
		slo, start, max, workerArg string
		probe, settle, warmup      time.Duration
		resolution                 float64
		votes                      int
	)
	cmd := &cobra.Command{
		Use:   "capacity --scenario NAME --slo 'p99<1s' [flags]",
		Short: "Find the highest rate the cluster sustains within an SLO, and what saturates first",
		Long: `Warms up, then probes open-loop rates: up geometrically from --start until
a probe fails, then bisects between the last passing and the first failing
rate to --resolution. Each rate is decided by a majority of --votes probes
(default 3: two passes, or two fails, settle it). A probe
passes when, after --settle, the SLO holds, throughput keeps up with the
offered rate (95 %), at most 1 % of starts are late, and the work in flight
is not piling up. Every probe is its own section of the run directory.

The result names what ran out first, with the evidence (rules in the
README): the driver, server CPU, persistence, workers, shard contention,
rate limits.

Exit codes: 0 a rate was found, 1 even --start breaks the SLO (or a
workflow was lost), 2 bad input, 3 the run broke, 4 interrupted.`,
		Example: `  squall capacity --scenario noop --slo 'p99<500ms'
  squall capacity --scenario noop --slo 'p99<1s' --workers 1,2 --probe 20s
  squall capacity --scenario orders-batch --option orders=2000 --slo 'p99<2m' --start 1/m --max 60/m --probe 3m --settle 1m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.Args = os.Args[1:]
			f.Set = map[string]bool{}
			cmd.Flags().Visit(func(fl *pflag.Flag) { f.Set[fl.Name] = true })
			plan, err := capacityPlan(f, slo, start, max, workerArg, probe, settle, warmup, resolution, votes)
			if err != nil {
				return err
			}
			if k := f.Conn.APIKey; k != "" {
				os.Setenv(APIKeyEnv, k)
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
	fl.StringVar(&slo, "slo", "p99<1s", "the latency objective each probe must meet: a corrected quantile below a bound")
	fl.StringVar(&start, "start", "5/s", "first rate probed (after the warm-up)")
	fl.StringVar(&max, "max", "2000/s", "highest rate probed")
	fl.DurationVar(&probe, "probe", 30*time.Second, "length of each probe")
	fl.DurationVar(&settle, "settle", 10*time.Second, "first part of each probe, not judged (the system settles at the new rate)")
	fl.DurationVar(&warmup, "warmup", 10*time.Second, "an unjudged probe at --start first (0: none)")
	fl.Float64Var(&resolution, "resolution", 0.05, "stop bisecting when the bracket is this narrow, relative (0.05: 5%)")
	fl.IntVar(&votes, "votes", 3, "probes that decide each rate, by majority (1: one probe decides, and the boundary is probed again)")
	fl.StringVar(&workerArg, "workers", "1", "worker processes; a list (1,2,4) runs the search per count, a fresh cluster each: the scaling curve")
	addRunFlags(fl, &f)
	return cmd
}

func capacityPlan(f runner.Flags, slo, start, max, workerArg string, probe, settle, warmup time.Duration, resolution float64, votes int) (*runner.CapacityPlan, error) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	s, err := capacity.ParseSLO(slo)
	if err != nil {
		bad("%v", err)
	}
	lo, err := bench.ParseRate(start)
	if err != nil {
		bad("--start: %v", err)
	}
	hi, err := bench.ParseRate(max)
	if err != nil {
		bad("--max: %v", err)
	} else if lo > 0 && hi < lo {
		bad("--max %s is below --start %s", max, start)
	}
	if resolution <= 0 || resolution >= 1 {
		bad("bad --resolution %g: want a fraction between 0 and 1, e.g. 0.05", resolution)
	}
	if votes < 1 {
		bad("bad --votes %d: want 1 or more probes per rate, e.g. 3", votes)
	}
	if probe <= 0 || warmup < 0 || settle < 0 {
		bad("--probe must be positive, --settle and --warmup not negative")
	}
	var ws []int
	for _, part := range strings.Split(workerArg, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			bad("bad --workers %q: want worker counts of 1 or more, e.g. 1 or 1,2,4", workerArg)
			break
		}
		ws = append(ws, n)
	}
	if len(problems) > 0 {
		return nil, cluster.Usagef("%s", strings.Join(problems, "; "))
	}
	if len(ws) > 0 {
		f.Workers = ws[0]
	}
	return runner.ValidateCapacity(runner.CapacityPlan{Base: f, Criteria: capacity.Criteria{SLO: s},
		Search: capacity.Search{Start: lo, Max: hi, Resolution: resolution, Votes: votes}, Probe: probe, Settle: settle, Warmup: warmup, Workers: ws})
}
