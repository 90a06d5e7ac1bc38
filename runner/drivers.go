package runner

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
)

// DriverFlags split one run across several squall processes: each takes
// its share of one schedule (bench.Share), all under one run id (hence one
// task queue and non-colliding workflow IDs) and one start time.
type DriverFlags struct {
	Driver  string // "i/n", "job/n" or "auto/n"; empty: the only driver
	RunID   string // given instead of generated (auto/n: the name the drivers meet under)
	StartAt string // RFC 3339 wall-clock time of the schedule's t=0
	// DriverTimeout bounds how long auto/n drivers wait for each other.
	DriverTimeout time.Duration
}

// validateDrivers checks the driver flags and applies the share and the
// shared origin to the plan's executor. An auto/n driver learns its index
// only when it joins the others (joinDrivers); until then its share is
// "one of n".
func validateDrivers(p *Plan, bad func(string, ...any)) {
	f := p.Flags
	if n, auto, err := autoDrivers(f.Driver); auto {
		if err != nil {
			bad("%v", err)
		}
		p.AutoDrivers, p.Share = n, bench.Share{Of: n}
		if f.RunID == "" {
			bad("--driver %s needs --run-id: the name under which the drivers meet, the same for every one", f.Driver)
		}
		if p.Embedded || p.Container {
			bad("--driver %s needs --address: the cluster every driver shares (each would otherwise start its own)", f.Driver)
		}
		if n > 1 && f.Out != "" && !strings.Contains(f.Out, "{driver}") {
			bad("--driver %s: --out %s must contain {driver} so that each driver writes its own directory, e.g. --out %s", f.Driver, f.Out, f.Out+"/driver-{driver}")
		}
		ownQueue := p.Scenario != nil && p.Scenario.OwnWorkers != nil && p.Options != nil && p.Scenario.OwnWorkers(p.Options)
		if f.Workers == 0 && !ownQueue {
			bad("--driver %s with --workers 0: the run's task queue (squall-%s-<time the drivers met>) is known only once they meet; let each driver start its workers (--workers 1 or more), or use --driver i/n with a fixed --run-id", f.Driver, f.RunID)
		}
		if f.DriverTimeout <= 0 {
			bad("bad --driver-timeout %s: must be positive", f.DriverTimeout)
		}
	} else if f.Driver != "" {
		s, err := bench.ParseShare(jobIndex(f.Driver, os.Getenv))
		if err != nil {
			bad("%v", err)
		}
		p.Share = s
		if f.RunID == "" {
			bad("--driver %s needs --run-id: every driver of the run must be given the same one", f.Driver)
		}
		p.Out = strings.ReplaceAll(f.Out, "{driver}", strconv.Itoa(s.Index))
	}
	if f.StartAt != "" {
		t, err := time.Parse(time.RFC3339Nano, f.StartAt)
		if err != nil {
			bad("bad --start-at %q: want an RFC 3339 time, e.g. %s", f.StartAt, time.Now().UTC().Add(time.Minute).Format(time.RFC3339))
		} else if late := time.Since(t); late > p.Load.Expected {
			bad("--start-at %s is %s in the past, longer than the run's load (%s): pick a time ahead, shared by every driver", f.StartAt, late.Round(time.Second), p.Load.Expected)
		}
		p.StartAt = t
	}
	if p.Share.Split() && p.Share.Index > 1 && (len(f.Faults) > 0 || f.FaultFile != "" || f.FaultEvery > 0) {
		bad("--driver %s: only driver 1 runs the fault schedule (the merge takes its windows from driver 1): drop --fault, --fault-file and --fault-every here", f.Driver)
	}
	if e, ok := p.Executor.(bench.Concurrency); ok && p.Share.Split() && e.N < p.Share.Of {
		bad("--concurrency %d is less than the %d drivers: give each driver at least one loop", e.N, p.Share.Of)
	}
	applyShare(p)
}

// applyShare gives the executor the driver's share and the shared origin.
func applyShare(p *Plan) {
	switch e := p.Executor.(type) {
	case bench.ArrivalRate:
		e.Share, e.Origin = p.Share, p.StartAt
		p.Executor = e
	case bench.Concurrency:
		e.Share = p.Share
		p.Executor = e
	}
}

// waitForStart sleeps until the shared start time (if any) and returns the
// load's t=0: the start time itself, so a driver that arrives late still
// measures against it.
func waitForStart(ctx context.Context, at time.Time, con Console) time.Time {
	if at.IsZero() {
		return time.Now()
	}
	if d := time.Until(at); d > 0 {
		fmt.Fprintf(con.Out, "waiting %s for the shared start at %s\n", d.Round(time.Millisecond), at.Format(time.RFC3339Nano))
		_ = bench.RealClock{}.SleepUntil(ctx, at)
	}
	return at
}

// JobIndexEnv is where a Kubernetes Indexed Job tells each pod its index
// (0-based).
const JobIndexEnv = "JOB_COMPLETION_INDEX"

// jobIndex resolves "job/n" to "i/n" with i = JOB_COMPLETION_INDEX+1: the
// squall image has no shell to do that arithmetic in the pod's command.
func jobIndex(driver string, getenv func(string) string) string {
	rest, ok := strings.CutPrefix(driver, "job/")
	if !ok {
		return driver
	}
	i, err := strconv.Atoi(getenv(JobIndexEnv))
	if err != nil {
		return fmt.Sprintf("$%s=%q/%s", JobIndexEnv, getenv(JobIndexEnv), rest) // rejected by ParseShare, naming the variable
	}
	return fmt.Sprintf("%d/%s", i+1, rest)
}
