package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/runner"
	_ "github.com/squallbench/squall/scenarios/all"
	"github.com/squallbench/squall/workers"
)

func newRunCmd() *cobra.Command {
	var f runner.Flags
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

Exit codes: 0 pass, 1 verdict fail, 2 usage or set-up error.`,
		Example: `  squall run --scenario noop --rate 40/s --duration 60s
  squall run --scenario noop --rate 100/s --ramp 30s --duration 90s
  squall run --scenario noop --steps 20/s:30s,40/s:30s,60/s:30s --duration 90s
  squall run --scenario noop --concurrency 10 --iterations 5000
  squall run --scenario noop --rate 20/s --duration 60s --fault 'server-kill at=20s for=5s' --fault 'worker-pause at=40s for=5s'
  squall run --scenario noop --address temporal.example:7233 --namespace bench --tls`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.Args = os.Args[1:]
			plan, err := runner.Validate(f)
			if err != nil {
				return err
			}
			if plan.Conn.APIKey != "" {
				// Children read it from the environment, never from argv.
				os.Setenv(APIKeyEnv, plan.Conn.APIKey)
			}
			ctx, loadCtx, stop := interruptContexts(cmd.Context())
			defer stop()
			out := cmd.OutOrStdout()
			rep, dir, err := runner.Run(ctx, loadCtx, plan, runner.Build{Version: version, Commit: commit},
				runner.Console{Out: out, TTY: term.IsTerminal(int(os.Stdout.Fd()))})
			if rep != nil {
				fmt.Fprint(out, "\n", reports.Summary(rep, dir))
			}
			if err != nil {
				return err
			}
			if rep.Verdict != "pass" {
				return errVerdictFailed
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.Scenario, "scenario", "s", "", "scenario to run (see 'squall list scenarios')")
	fl.StringArrayVarP(&f.Options, "option", "o", nil, "scenario option key=value (repeatable; 'squall list scenarios -v' shows them)")
	fl.StringVar(&f.Rate, "rate", "", "open-loop start rate, e.g. 50/s, 3000/m (default "+runner.DefaultRate+")")
	fl.DurationVar(&f.Ramp, "ramp", 0, "ramp the rate linearly from 0 to --rate over this long, then hold it")
	fl.StringVar(&f.Steps, "steps", "", "step the rate: rate:duration,... e.g. 20/s:30s,40/s:30s (the last step holds)")
	fl.IntVar(&f.Concurrency, "concurrency", 0, "closed loop instead: N iterations at a time, each starting when one ends")
	fl.IntVar(&f.MaxInFlight, "max-in-flight", 10000, "open loop: starts due while this many iterations run are dropped (and counted)")
	fl.DurationVar(&f.LateAfter, "late-after", 10*time.Millisecond, "open loop: a start issued this far behind schedule counts as late")
	fl.DurationVar(&f.Duration, "duration", 0, "how long to start new iterations (with or instead of --iterations)")
	fl.Int64Var(&f.Iterations, "iterations", 0, "how many iterations to schedule (with or instead of --duration)")
	fl.DurationVar(&f.Grace, "grace", 60*time.Second, "after the load (or Ctrl-C), wait this long for in-flight iterations")
	fl.DurationVar(&f.VerifyWait, "verify-wait", 60*time.Second, "how long verification waits for workflows still running")
	addConnFlags(fl, &f.Conn, "existing cluster's frontend host:port (default: start the embedded server)")
	fl.IntVar(&f.ServerPort, "server-port", 0, "embedded server frontend port (0: a free one)")
	fl.IntVar(&f.MetricsPort, "server-metrics-port", 0, "embedded server Prometheus port (0: a free one)")
	fl.StringVar(&f.DB, "db", "", "embedded server SQLite file (default: temporal.db in the run directory)")
	fl.StringArrayVar(&f.Dynamic, "dynamic-config", nil, "embedded server dynamic config key=value (repeatable)")
	fl.StringVar(&f.ServerLogLevel, "server-log-level", "warn", "embedded server log level")
	fl.StringVar(&f.Persistence, "persistence", "", "server persistence: sqlite (default, --db) or postgres (--dsn)")
	fl.StringVar(&f.DSN, "dsn", "", "postgres://USER:PASSWORD@HOST:PORT/DB for --persistence postgres (DB and DB_visibility are created if absent)")
	fl.IntVar(&f.Shards, "shards", 0, "history shards of the server squall starts (default 1; fixed once its database exists)")
	fl.StringVar(&f.Cluster, "cluster", "", "where the server runs: embedded (default, a child process) or container (Docker, via testcontainers)")
	fl.StringVar(&f.Image, "image", "", "--cluster container: server image (default: the squall image, built locally and cached by content; temporalio/temporal:TAG runs its dev server)")
	fl.BoolVar(&f.WorkerContainers, "worker-containers", false, "--cluster container: run the workers as containers on the run's network too")
	fl.StringArrayVar(&f.Faults, "fault", nil, "inject a fault during the load: 'KIND at=30s for=10s key=value...' (repeatable; 'squall list faults')")
	fl.StringVar(&f.FaultFile, "fault-file", "", "a fault schedule: one fault per line in the --fault syntax, # comments")
	fl.IntVar(&f.Workers, "workers", 1, "worker processes to start (0: bring your own on the run's task queue)")
	workers.AddFlags(fl, &f.Tuning)
	fl.StringVar(&f.Out, "out", "", "run directory (default reports/out/<timestamp>-<scenario>)")
	return cmd
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
