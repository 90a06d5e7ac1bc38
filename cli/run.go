package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/exitcode"
	"github.com/squallbench/squall/health"
	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/runner"
	_ "github.com/squallbench/squall/scenarios/all"
	"github.com/squallbench/squall/workers"
)

func newRunCmd() *cobra.Command {
	var (
		f          runner.Flags
		cf         cluster.ConnFlags
		suitePath  string
		cpuProfile string
		runs       int
		resumeDir  string
	)
	cmd := &cobra.Command{
		Use:   "run --scenario NAME [flags]",
		Short: "Run a scenario under load, verify nothing was lost, write reports",
		Long: `Starts the embedded Temporal server (or connects to --address), starts
--workers worker processes, drives the scenario open-loop (--rate, --ramp,
--steps) or closed-loop (--concurrency), verifies every started workflow
against Temporal and writes results.jsonl, journal.jsonl, report.json and
report.md into the run directory.

Ctrl-C stops new starts, waits up to --grace for in-flight work, verifies and
still writes every result gathered; a second Ctrl-C aborts verification.

--suite FILE runs several scenarios into one run directory and report;
--runs N repeats the run into DIR/run-1..N.

Exit codes: 0 pass, 1 verdict fail, 2 bad input, 3 the run broke after it
started, 4 interrupted (the report covers part of the planned load).`,
		Example: `  squall run --scenario noop --rate 40/s --duration 60s
  squall run --scenario noop --rate 100/s --ramp 30s --duration 90s
  squall run --scenario noop --steps 20/s:30s,40/s:30s,60/s:30s --duration 90s
  squall run --scenario noop --concurrency 10 --iterations 5000
  squall run --scenario noop --rate 20/s --duration 60s --fault 'server-kill at=20s for=5s' --fault 'worker-pause at=40s for=5s'
  TEMPORAL_ADDRESS=temporal.example:7233 TEMPORAL_NAMESPACE=bench TEMPORAL_API_KEY=... squall run --scenario noop
  squall run --scenario noop --profile prod-east   # a temporal.toml profile, as the Temporal CLI reads it
  squall run --suite suites/ci.yaml --runs 5 --out ci-runs
  squall run --scenario noop --rate 20/s --duration 1h --fault-every 10m --fault-kinds worker-kill,server-pause,net-latency   # a soak
  squall run --resume reports/out/20261205T101500Z-3f9a1c-noop   # after the driver was killed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if resumeDir != "" {
				return resumeRun(cmd, resumeDir)
			}
			if err := completeFlags(cmd, &f, cf); err != nil {
				return err
			}
			suite, err := loadPlans(f, suitePath)
			if err != nil {
				return err
			}
			suite.Plans[0].Resume = resumedFrom(cmd)
			if runs < 1 {
				return cluster.Usagef("bad --runs %d: must be 1 or more", runs)
			}
			if runs > 1 && suite.Plans[0].AutoDrivers > 0 {
				return cluster.Usagef("--driver auto/n with --runs %d: auto drivers meet once per run; start them again (same --run-id) for each repetition", runs)
			}
			if cpuProfile != "" {
				stopProfile, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stopProfile()
			}
			ctx, loadCtx, stop := interruptContexts(cmd.Context())
			defer stop()
			return runRepeated(ctx, loadCtx, cmd.OutOrStdout(), suite, runs)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&suitePath, "suite", "", "run a suite file instead: several scenarios, loads, faults and thresholds in one run (see suites/)")
	fl.StringVar(&cpuProfile, "cpu-profile", "", "write the driver's CPU profile (pprof) of the whole run to this file (what squall itself costs per workflow)")
	fl.StringVar(&resumeDir, "resume", "", "continue the run a killed driver left in this run directory: same flags, run id and workflow IDs; the schedule goes on where it stopped (the gap marked in the report) and every journaled workflow is verified")
	fl.IntVar(&runs, "runs", 1, "repeat the run (or suite) this many times, a fresh server each, into DIR/run-1..N (samples for squall compare)")
	fl.StringArrayVar(&f.Thresholds, "threshold", nil, "a check on the results that fails the verdict when broken, e.g. 'p99<500ms', 'failed==0' (repeatable)")
	fl.DurationVar(&f.AbortOnFail, "abort-on-fail", 0, "also check the thresholds each second while the load runs (over the trailing 30 s, or half this time if shorter) and stop the load, failing the run with its report, once one has been broken this long straight, e.g. 5m (0: judge only at the end)")
	fl.StringVar(&f.Rate, "rate", "", "open-loop start rate, e.g. 50/s, 3000/m (default: the scenario's, else "+runner.DefaultRate+")")
	fl.DurationVar(&f.Ramp, "ramp", 0, "ramp the rate linearly from 0 to --rate over this long, then hold it")
	fl.StringVar(&f.Steps, "steps", "", "step the rate: rate:duration,... e.g. 20/s:30s,40/s:30s (the last step holds)")
	fl.IntVar(&f.Concurrency, "concurrency", 0, "closed loop instead: N iterations at a time, each starting when one ends")
	fl.DurationVar(&f.Duration, "duration", 0, "how long to start new iterations (with or instead of --iterations; default: the scenario's, else "+runner.DefaultDuration.String()+")")
	fl.Int64Var(&f.Iterations, "iterations", 0, "how many iterations to schedule (with or instead of --duration)")
	fl.IntVar(&f.Workers, "workers", 1, "worker processes to start (0: bring your own on the run's task queue)")
	addRunFlags(fl, &f, &cf)
	addShapeFlags(fl, &f)
	return cmd
}

// completeFlags finishes what the flags of run and capacity say: which
// were given, the command line as reports keep it (secrets redacted), the
// connection with the environment and profile filled in, and the DSN from
// $SQUALL_DSN when --dsn is absent.
func completeFlags(cmd *cobra.Command, f *runner.Flags, cf cluster.ConnFlags) error {
	f.Set = map[string]bool{}
	cmd.Flags().Visit(func(fl *pflag.Flag) { f.Set[fl.Name] = true })
	f.Args = redactArgs(cmd.Flags(), os.Args[1:])
	conn, _, err := resolveConn(cmd, cf, f.Set["cluster"])
	if err != nil {
		return err
	}
	f.Conn = conn
	if f.DSN == "" {
		f.DSN = os.Getenv(cluster.DSNEnv)
	}
	return nil
}

// addRunFlags adds the flags run and capacity share: the scenario, how
// iterations are paced and drained, the cluster, faults, worker tuning
// and the run directory.
// addShapeFlags are the shards and host counts of the cluster a run
// starts (squall capacity takes lists of them instead).
func addShapeFlags(fl *pflag.FlagSet, f *runner.Flags) {
	fl.IntVar(&f.Shards, "shards", 0, "history shards of the server squall starts (default 1; fixed once its database exists)")
	fl.IntVar(&f.Shape.History, "history-hosts", 0, "--topology services: history processes (default 1; shards default to 4 per host)")
	fl.IntVar(&f.Shape.Matching, "matching-hosts", 0, "--topology services: matching processes (default 1)")
}

func addRunFlags(fl *pflag.FlagSet, f *runner.Flags, cf *cluster.ConnFlags) {
	fl.StringVarP(&f.Scenario, "scenario", "s", "", "scenario to run (see 'squall list scenarios')")
	fl.StringArrayVarP(&f.Options, "option", "o", nil, "scenario option key=value (repeatable; 'squall list scenarios -v' shows them)")
	fl.IntVar(&f.MaxInFlight, "max-in-flight", 10000, "open loop: starts due while this many iterations run are dropped (and counted)")
	fl.DurationVar(&f.LateAfter, "late-after", 10*time.Millisecond, "open loop: a start issued this far behind schedule counts as late")
	fl.DurationVar(&f.Grace, "grace", 0, "after the load (or Ctrl-C), wait this long for in-flight iterations (default: the scenario's, else "+runner.DefaultGrace.String()+")")
	fl.DurationVar(&f.VerifyWait, "verify-wait", 0, "how long verification waits for workflows still running (default: the scenario's, else "+runner.DefaultVerifyWait.String()+")")
	fl.DurationVar(&f.VerifyEvery, "verify-every", 0, "verify closed workflows in batches this often during the load, the rest after it (default: every "+runner.DefaultVerifyEvery.String()+" for loads of "+runner.SoakLoad.String()+" or more or open-loop loads of "+strconv.Itoa(runner.LargeLoad)+" workflows or more, else after the load only; 0: after the load only)")
	fl.IntVar(&f.VerifyConcurrency, "verify-concurrency", 16, "parallel describe calls of verification (a million workflows verify faster with more, a small cluster prefers fewer)")
	addConnFlags(fl, cf, "your cluster's frontend host:port (default: squall starts the embedded server)")
	fl.IntVar(&f.ServerPort, "server-port", 0, "embedded server frontend port (0: a free one)")
	fl.IntVar(&f.MetricsPort, "server-metrics-port", 0, "embedded server Prometheus port (0: a free one)")
	fl.StringVar(&f.DB, "db", "", "embedded server SQLite file (default: temporal.db in the run directory)")
	fl.StringVar(&f.Persistence, "persistence", "", "server persistence: sqlite (default, --db) or postgres (--dsn)")
	fl.StringVar(&f.DSN, "dsn", "", "postgres://USER:PASSWORD@HOST:PORT/DB for --persistence postgres (DB and DB_visibility are created if absent; env "+cluster.DSNEnv+" keeps the password off the process list)")
	markSecret(fl, "dsn", "dsn")
	fl.StringVar(&f.Cluster, "cluster", "", "where the server runs: embedded (default, a child process) or container (Docker, via testcontainers)")
	fl.StringVar(&f.Image, "image", "", "--cluster container: server image (default: the squall image, built locally and cached by content; temporalio/temporal:TAG runs its dev server)")
	fl.BoolVar(&f.WorkerContainers, "worker-containers", false, "--cluster container: run the workers as containers on the run's network too")
	fl.StringVar(&f.Topology, "topology", "", "the cluster squall starts: single (default: one process runs every service) or services (a process per service instance, on --persistence postgres; with --cluster container, a container each)")
	fl.StringArrayVar(&f.ServerBinaries, "server-binary", nil, "--topology services: run nodes on an official temporal-server binary of another version, PATH for every service or SERVICE=PATH for one (repeatable; scripts/server-binary.sh VERSION builds one); squall sets up the database and writes each node's config")
	fl.IntVar(&f.Shape.Frontend, "frontend-hosts", 0, "--topology services: frontend processes (default 1; clients dial frontend-1)")
	fl.StringArrayVar(&f.Dynamic, "dynamic-config", nil, "embedded server dynamic config key=value (repeatable)")
	fl.StringVar(&f.ServerLogLevel, "server-log-level", "warn", "embedded server log level")
	fl.StringArrayVar(&f.Faults, "fault", nil, "inject a fault during the load: 'KIND at=30s for=10s key=value...' (repeatable; 'squall list faults')")
	fl.StringVar(&f.FaultFile, "fault-file", "", "a fault schedule: one fault per line in the --fault syntax, # comments")
	fl.DurationVar(&f.FaultEvery, "fault-every", 0, "soak: begin a fault every DURATION through the load (at DURATION, 2×DURATION, …), of the --fault-kinds")
	fl.StringSliceVar(&f.FaultKinds, "fault-kinds", nil, "--fault-every: the kinds, comma-separated, each 'KIND key=value...' without at=, e.g. 'worker-kill,server-pause for=20s'")
	fl.DurationVar(&f.FaultFor, "fault-for", 0, "--fault-every: how long each fault lasts unless its kind says for= (default "+runner.DefaultFaultFor.String()+", at most half of --fault-every)")
	fl.StringVar(&f.FaultOrder, "fault-order", runner.FaultOrderCycle, "--fault-every: "+runner.FaultOrderCycle+" (the kinds in turn) or "+runner.FaultOrderRandom+" (each drawn with --fault-seed: the same seed, the same schedule)")
	fl.Uint64Var(&f.FaultSeed, "fault-seed", 1, "--fault-order random: the seed")
	workers.AddFlags(fl, &f.Tuning)
	health.AddFlags(fl, &f.Health)
	fl.StringVar(&f.Metrics.Listen, "metrics-listen", "", "serve squall's own Prometheus metrics on host:port during the run, until the report is written")
	fl.StringArrayVar(&f.Metrics.ServerMetrics, "server-metrics", nil, "sample the cluster's Prometheus endpoints each interval: SERVICE=URL,… one per server process (frontend=URL,history-1=URL,history-2=URL), or a bare URL for a process running every service (repeatable; default: the embedded server's own)")
	fl.StringVar(&f.Metrics.Prometheus, "prometheus", "", "instead, ask this Prometheus (base URL) that scrapes the cluster, with PromQL, each sample")
	fl.StringVar(&f.Metrics.PrometheusSelector, "prometheus-selector", "", "label matchers every --prometheus query carries, so only the cluster's series count, e.g. '{namespace=\"temporal\"}'")
	fl.StringVar(&f.Metrics.ServerCores, "server-cores", "", "cores of each server process, N or SERVICE=N,… (default: each process's own GOMAXPROCS, from its gomaxprocs metric)")
	fl.DurationVar(&f.Metrics.SampleEvery, "server-sample-interval", runner.DefaultSampleEvery, "sample the server's metrics and /proc this often (1s: every interval; each embedded-server scrape is ~1.4 MB of text)")
	fl.IntVar(&f.Metrics.WorkerBasePort, "worker-metrics-base-port", 0, "worker i serves the SDK's metrics on port PORT+i of --metrics-listen's host (127.0.0.1 without it; 0: off)")
	fl.StringVar(&f.Driver, "driver", "", "this process is driver i of n (i/n; job/n: i from $JOB_COMPLETION_INDEX+1; auto/n: the drivers number themselves through the cluster) sharing one schedule; needs --run-id (and --start-at to line up i/n drivers); {driver} in --out becomes i")
	fl.DurationVar(&f.DriverTimeout, "driver-timeout", runner.DefaultDriverTimeout, "--driver auto/n: how long the drivers wait, from the first one's arrival, for all n to join")
	fl.StringVar(&f.RunID, "run-id", "", "the run id (task queue squall-ID, workflow IDs) instead of a generated one; the same for every driver")
	fl.StringVar(&f.StartAt, "start-at", "", "RFC 3339 wall-clock time at which the schedule starts (every driver waits for it)")
	fl.StringVar(&f.Out, "out", "", "run directory (default reports/out/<timestamp>-<scenario>); one that holds a run is refused")
	fl.BoolVar(&f.Overwrite, "overwrite", false, "let --out replace the run already in it")
}

// startCPUProfile profiles this process (the driver) into path until the
// returned func is called.
func startCPUProfile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, cluster.Usagef("--cpu-profile %s: %v: choose another path", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, cluster.Usagef("--cpu-profile %s: %v: choose another path", path, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// interruptContexts: the first SIGINT/SIGTERM ends loadCtx (stop starting,
// drain, verify, report); a second one ends ctx as well (abort verification).
func interruptContexts(parent context.Context) (ctx, loadCtx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	loadCtx, cancelLoad := context.WithCancel(ctx)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for range sig {
			n++
			if n == 1 {
				fmt.Fprintln(os.Stderr, "\nsquall: interrupted: no new starts; draining in-flight work, then verifying (Ctrl-C again to abort verification)")
				cancelLoad()
			} else {
				cancel()
			}
		}
	}()
	return ctx, loadCtx, func() { signal.Stop(sig); cancelLoad(); cancel() }
}

// loadPlans validates the command line: one scenario, or a suite file.
func loadPlans(f runner.Flags, suitePath string) (*runner.Suite, error) {
	if suitePath == "" {
		plan, err := runner.Validate(f)
		if err != nil {
			return nil, err
		}
		return &runner.Suite{Plans: []*runner.Plan{plan}}, nil
	}
	if f.Scenario != "" || len(f.Options) > 0 {
		return nil, cluster.Usagef("--suite names its scenarios and options itself: drop --scenario and --option")
	}
	return runner.LoadSuite(suitePath, f)
}

// runRepeated runs the suite runs times; with more than one run each goes
// to its own run-N directory under --out, and the worst outcome is the
// command's (an interruption stops the repetitions).
func runRepeated(ctx, loadCtx context.Context, out io.Writer, suite *runner.Suite, runs int) error {
	base := suite.Plans[0].Out
	if runs > 1 && base == "" {
		base = filepath.Join("reports", "out", time.Now().UTC().Format("20060102T150405Z")+"-runs")
	}
	var worst error
	for i := 1; i <= runs; i++ {
		if runs > 1 {
			for _, p := range suite.Plans {
				p.Out = filepath.Join(base, fmt.Sprintf("run-%d", i))
			}
			fmt.Fprintf(out, "\n=== run %d of %d\n", i, runs)
		}
		rep, dir, err := runner.Run(ctx, loadCtx, suite, runner.Build{Version: version, Commit: commit},
			runner.Console{Out: out, TTY: term.IsTerminal(int(os.Stdout.Fd()))})
		if rep != nil {
			fmt.Fprint(out, "\n", reports.Summary(rep, dir))
		}
		if err == nil {
			err = verdictError(rep)
		}
		if worst == nil || exitcode.Of(err) > exitcode.Of(worst) {
			worst = err
		}
		if loadCtx.Err() != nil || exitcode.IsUsage(err) {
			break
		}
	}
	if runs > 1 {
		fmt.Fprintf(out, "\nruns: %s (compare with: squall compare BASE %s)\n", base, base)
	}
	return worst
}
