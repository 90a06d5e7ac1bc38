// Package runner turns a validated plan into one run: cluster up, workers
// up, load, verification, report. The CLI (cmd/squall) only parses flags.
package runner

import (
	"cmp"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/health"
	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/workers"
)

// Flags are the raw inputs of `squall run`, as the user typed them.
type Flags struct {
	Scenario string
	// Entry labels the scenario's section of the run (a suite may run one
	// scenario twice); default: the scenario's name.
	Entry       string
	Options     []string // key=value
	Rate        string
	Ramp        time.Duration
	Steps       string
	Concurrency int
	MaxInFlight int
	LateAfter   time.Duration
	Duration    time.Duration
	Iterations  int64
	Grace       time.Duration
	VerifyWait  time.Duration
	// VerifyConcurrency is the number of parallel describe calls of
	// verification (0: verify's default).
	VerifyConcurrency int
	// VerifyEvery verifies the journal in batches this often while the
	// load runs (closed workflows; the rest after it). Not set: every
	// DefaultVerifyEvery for loads of SoakLoad or more, else never.
	VerifyEvery time.Duration
	// Set names the flags the user gave (e.g. "concurrency", "grace"):
	// what is not set comes from the scenario's defaults, and a value
	// given explicitly is checked even when it is the zero value.
	Set map[string]bool

	Conn           cluster.Conn // Address empty: embedded server
	ServerPort     int
	MetricsPort    int
	DB             string
	Dynamic        []string
	ServerLogLevel string
	// Persistence of a server squall starts: sqlite (DB) or postgres (DSN),
	// with Shards history shards (0: 1).
	Persistence string
	DSN         string
	Shards      int
	// Cluster is "embedded" (default: a child process) or "container" (the
	// server in a Docker container; Image overrides the locally built
	// squall image, WorkerContainers runs the workers as containers too).
	Cluster          string
	Image            string
	WorkerContainers bool
	// Topology is "single" (default: one process runs every service) or
	// "services": a process per service instance, Shape of them.
	Topology string
	Shape    cluster.Shape
	// ServerBinaries run nodes of the topology on official temporal-server
	// binaries: [SERVICE=]PATH (cluster.ParseServerBinaries).
	ServerBinaries []string

	Workers int
	Tuning  workers.Tuning

	Faults []string // 'KIND at=30s for=10s key=value...'
	// Thresholds are checks on the results ('p99<500ms'); a broken one
	// fails the verdict.
	Thresholds []string
	// AbortOnFail stops the load once a threshold, checked each second
	// over the trailing 30 s (or half the abort time, if shorter) while
	// the load runs, has been broken that long straight (0: thresholds are
	// judged only at the end).
	AbortOnFail time.Duration
	// FaultFile holds a schedule: one fault per line in the --fault
	// syntax; blank lines and lines starting with # are skipped. Its faults
	// come before those of --fault.
	FaultFile string
	// Repeating faults for long runs (soaks): one every FaultEvery (at
	// FaultEvery, 2×FaultEvery, … while within Duration), of FaultKinds
	// ('KIND key=value...', no at=) in turn or, FaultOrder "random", drawn
	// with FaultSeed; for= defaults to FaultFor. They come after the
	// faults of FaultFile and Faults.
	FaultEvery time.Duration
	FaultKinds []string
	FaultFor   time.Duration
	FaultOrder string
	FaultSeed  uint64

	Metrics MetricsFlags // live metrics and server sampling (metrics.go)
	Health  health.Flags // server-health checks (health.go)
	DriverFlags

	Out string
	// Overwrite lets a run replace the run already in Out.
	Overwrite bool
	Args      []string // the command line, recorded in the report
}

// Plan is a validated run: nothing in it can be wrong any more. Its
// Flags hold the effective values (scenario defaults filled in).
type Plan struct {
	Flags
	Scenario *scenarios.Scenario
	Options  scenarios.Values
	Executor bench.Executor
	Load     scenarios.Load
	Dynamic  map[string]string
	Embedded bool
	// Binaries are ServerBinaries, looked at (path and version), by service.
	Binaries map[string]cluster.ServerBinary
	// Container: the server runs in a container (Embedded is then false).
	Container bool
	Faults    []faults.Spec
	Share     bench.Share // this driver's part of the schedule
	// AutoDrivers is n of --driver auto/n: the index is handed out when
	// the drivers meet (joinDrivers), before the run directory is made.
	AutoDrivers int
	StartAt     time.Time // the shared t=0 of the schedule; zero: when the load begins
	// Resume, when set, continues the run a killed driver left in its
	// directory (squall run --resume) instead of starting one.
	Resume *Resumable
}

// Harness defaults, for what neither the flags nor the scenario set.
const (
	DefaultRate       = "20/s"
	DefaultDuration   = 30 * time.Second
	DefaultGrace      = 60 * time.Second
	DefaultVerifyWait = 60 * time.Second
	// A load planned this long or longer is a soak: it is verified in
	// batches as it goes (every DefaultVerifyEvery) unless --verify-every
	// says otherwise. Shorter loads are verified after the load only, so
	// verification's describe calls do not share the server with what is
	// measured.
	SoakLoad           = 30 * time.Minute
	DefaultVerifyEvery = time.Minute
	// An open-loop load planned to start this many workflows or more is
	// verified as it goes too, however short: verification after the load
	// grows with the count (a million took a minute even against a server
	// that answers at once), while batches during the load leave only the
	// last interval's workflows for the end.
	LargeLoad = 100_000
)

// Validate checks every input before anything starts and reports every
// problem at once, as one usage error.
func Validate(f Flags) (*Plan, error) {
	p := &Plan{Flags: f, Embedded: f.Conn.Address == "" && f.Cluster != ClusterContainer, Container: f.Cluster == ClusterContainer}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	validateClusterFlags(f, bad)
	if cluster.Lean && (p.Embedded || p.Container) {
		bad("this squall has no Temporal server or container engine to start (built with -tags squall_lean): give --address HOST:PORT of your cluster (or TEMPORAL_ADDRESS, or a --profile), or use the full squall (make build)")
	}

	if f.Scenario == "" {
		bad("missing --scenario (one of: %s)", strings.Join(scenarios.Names(), ", "))
	} else if s, ok := scenarios.Get(f.Scenario); !ok {
		bad("unknown scenario %q: run 'squall list scenarios' (known: %s)", f.Scenario, strings.Join(scenarios.Names(), ", "))
	} else {
		p.Scenario = s
		raw, err := cluster.ParseKeyValues("--option", f.Options)
		if err == nil {
			p.Options, err = s.ParseOptions(raw)
		}
		if err != nil {
			bad("%v", err)
		}
	}

	if p.Scenario != nil {
		if f.Entry == "" {
			f.Entry = p.Scenario.Name
		}
		p.Flags = withDefaults(f, p.Scenario.Defaults)
		if own := p.Scenario.OwnWorkers; own != nil && p.Options != nil && own(p.Options) && !f.Set["workers"] {
			p.Workers = 0 // the user's workers serve this run
		}
		f = p.Flags
	}
	p.Executor, p.Load = executor(f, bad)
	p.Load.Grace, p.Load.VerifyWait = f.Grace, f.VerifyWait
	if p.Scenario != nil && p.Options != nil && p.Scenario.Validate != nil && p.Executor != nil {
		if err := p.Scenario.Validate(p.Options, p.Load); err != nil {
			bad("scenario %s: %v (see 'squall list scenarios -v')", p.Scenario.Name, err)
		}
	}
	if f.MaxInFlight < 1 {
		bad("bad --max-in-flight %d: must be 1 or more", f.MaxInFlight)
	}
	switch {
	case f.VerifyEvery < 0:
		bad("bad --verify-every %s: want a duration, e.g. 1m (0: verify after the load only)", f.VerifyEvery)
	case !f.Set["verify-every"] && (p.Load.Expected >= SoakLoad || plansLargeLoad(p.Executor, p.Load.Expected)):
		p.VerifyEvery = DefaultVerifyEvery
	}
	if f.VerifyConcurrency < 0 {
		bad("bad --verify-concurrency %d: must be 1 or more (0: the default)", f.VerifyConcurrency)
	}
	if f.LateAfter < 0 || f.Grace < 0 || f.VerifyWait < 0 {
		bad("--late-after, --grace and --verify-wait must not be negative")
	}
	if f.Workers < 0 {
		bad("bad --workers %d: must be 0 or more (0: bring your own workers on the task queue)", f.Workers)
	}
	if err := f.Tuning.Validate(); err != nil {
		bad("%v", err)
	}
	if f.ServerPort < 0 || f.ServerPort > 65535-cluster.InternalPorts || f.MetricsPort < 0 || f.MetricsPort > 65535 {
		bad("bad --server-port/--server-metrics-port: want a port number (0 picks a free one)")
	}
	dyn, err := cluster.ParseKeyValues("--dynamic-config", f.Dynamic)
	if err != nil {
		bad("%v", err)
	} else if err := cluster.CheckDynamicConfig(dyn); err != nil {
		bad("%v", err)
	}
	p.Dynamic = dyn
	if f.Conn.Address != "" && (len(f.Dynamic) > 0 || f.DB != "" || f.ServerPort != 0) {
		bad("--dynamic-config, --db and --server-port configure the embedded server; with --address, configure your cluster itself")
	}
	validateTopology(p, bad)
	p.Faults = validateFaults(f, p.Embedded || p.services(), bad)
	validateNodeTargets(p, bad)
	if _, err := reports.ParseThresholds(f.Thresholds); err != nil {
		bad("%v", err)
	}
	switch {
	case f.AbortOnFail < 0:
		bad("bad --abort-on-fail %s: want a duration, e.g. 5m", f.AbortOnFail)
	case f.AbortOnFail > 0 && len(f.Thresholds) == 0:
		bad("--abort-on-fail %s stops the load when a threshold stays broken: add one, e.g. --threshold 'p99<2s'", f.AbortOnFail)
	}
	validateMetrics(f.Metrics, f.Workers, bad)
	validateHealth(f, bad)
	validateContainerFaults(p, bad)
	if p.Executor != nil {
		validateDrivers(p, bad)
	}
	if len(problems) > 0 {
		return nil, cluster.Usagef("%s", strings.Join(problems, "; "))
	}
	return p, nil
}

// withDefaults fills in what the flags leave out from the scenario's
// defaults, then the harness's.
func withDefaults(f Flags, d scenarios.Defaults) Flags {
	set := func(name string) bool { return f.Set[name] }
	shapeGiven := set("rate") || set("ramp") || set("steps") || set("concurrency")
	if !shapeGiven {
		if d.Concurrency > 0 {
			f.Concurrency = d.Concurrency
		} else if d.Rate != "" {
			f.Rate = d.Rate
		}
	}
	if !set("duration") && !set("iterations") {
		f.Duration, f.Iterations = d.Duration, d.Iterations
		if f.Duration == 0 && f.Iterations == 0 {
			f.Duration = DefaultDuration
		}
	}
	if !set("grace") {
		f.Grace = cmp.Or(d.Grace, DefaultGrace)
	}
	if !set("verify-wait") {
		f.VerifyWait = cmp.Or(d.VerifyWait, DefaultVerifyWait)
	}
	return f
}

// executor builds the load model and says what load it will drive.
func executor(f Flags, bad func(string, ...any)) (bench.Executor, scenarios.Load) {
	ok := true
	if f.Set["duration"] && f.Duration <= 0 {
		bad("bad --duration %s: must be positive", f.Duration)
		ok = false
	}
	if f.Set["iterations"] && f.Iterations <= 0 {
		bad("bad --iterations %d: must be 1 or more", f.Iterations)
		ok = false
	}
	if f.Duration < 0 || f.Iterations < 0 {
		ok = false
	}
	limits := bench.Limits{Duration: f.Duration, Iterations: f.Iterations}
	load := scenarios.Load{Duration: f.Duration, Iterations: f.Iterations}
	if f.Set["concurrency"] || f.Concurrency != 0 {
		if f.Concurrency < 1 {
			bad("bad --concurrency %d: must be 1 or more (or leave it out for open loop)", f.Concurrency)
			return nil, load
		}
		if f.Rate != "" || f.Ramp > 0 || f.Steps != "" {
			bad("--concurrency (closed loop) cannot be combined with --rate, --ramp or --steps (open loop): pick one model")
			return nil, load
		}
		load.Concurrency, load.Expected = f.Concurrency, f.Duration
		if !ok {
			return nil, load
		}
		return bench.Concurrency{N: f.Concurrency, Limits: limits}, load
	}
	p := pacer(f, bad)
	if p == nil || !ok {
		return nil, load
	}
	load.Rate = p.Rate(time.Duration(math.MaxInt64))
	load.Expected = f.Duration
	if f.Iterations > 0 {
		if d := p.Due(f.Iterations - 1); load.Expected == 0 || d < load.Expected {
			load.Expected = d
		}
	}
	return bench.ArrivalRate{Pacer: p, MaxInFlight: f.MaxInFlight, LateAfter: f.LateAfter, Limits: limits}, load
}

// plansLargeLoad tells whether an open-loop load is due to start LargeLoad
// workflows or more within its planned length.
func plansLargeLoad(e bench.Executor, expected time.Duration) bool {
	ar, ok := e.(bench.ArrivalRate)
	return ok && expected > 0 && ar.Pacer.Due(LargeLoad-1) <= expected
}

func pacer(f Flags, bad func(string, ...any)) bench.Pacer {
	if f.Steps != "" {
		if f.Rate != "" || f.Ramp > 0 {
			bad("--steps sets the rates itself: drop --rate and --ramp")
			return nil
		}
		st, err := bench.ParseSteps(f.Steps)
		if err != nil {
			bad("%v", err)
			return nil
		}
		return st
	}
	rate, err := bench.ParseRate(cmp.Or(f.Rate, DefaultRate))
	if err != nil {
		bad("--rate: %v", err)
		return nil
	}
	if f.Ramp < 0 || (f.Set["ramp"] && f.Ramp == 0) {
		bad("bad --ramp %s: must be positive", f.Ramp)
		return nil
	}
	if f.Ramp > 0 {
		return bench.Ramp{From: 0, To: rate, Over: f.Ramp}
	}
	return bench.Constant{PerSec: rate}
}
