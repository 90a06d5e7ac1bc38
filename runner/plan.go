// Package runner turns a validated plan into one run: cluster up, workers
// up, load, verification, report. The CLI (cmd/squall) only parses flags.
package runner

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/workers"
)

// Flags are the raw inputs of `squall run`, as the user typed them.
type Flags struct {
	Scenario    string
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

	Workers int
	Tuning  workers.Tuning

	Faults []string // 'KIND at=30s for=10s key=value...'
	// FaultFile holds a schedule: one fault per line in the --fault
	// syntax; blank lines and lines starting with # are skipped. Its faults
	// come before those of --fault.
	FaultFile string

	Out  string
	Args []string // the command line, recorded in the report
}

// Plan is a validated run: nothing in it can be wrong any more.
type Plan struct {
	Flags
	Scenario *scenarios.Scenario
	Options  scenarios.Values
	Pacer    bench.Pacer // nil for closed loop
	Dynamic  map[string]string
	Embedded bool
	// Container: the server runs in a container (Embedded is then false).
	Container bool
	Faults    []faults.Spec
}

// Validate checks every input before anything starts and reports every
// problem at once, as one usage error.
func Validate(f Flags) (*Plan, error) {
	p := &Plan{Flags: f, Embedded: f.Conn.Address == "" && f.Cluster != ClusterContainer, Container: f.Cluster == ClusterContainer}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	validateClusterFlags(f, bad)

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
		} else if s.Validate != nil {
			if err := s.Validate(p.Options); err != nil {
				bad("scenario %s: %v (see 'squall list scenarios -v')", s.Name, err)
			}
		}
	}

	switch {
	case f.Concurrency < 0:
		bad("bad --concurrency %d: must be 1 or more (or leave it out for open loop)", f.Concurrency)
	case f.Concurrency > 0:
		if f.Rate != "" || f.Ramp > 0 || f.Steps != "" {
			bad("--concurrency (closed loop) cannot be combined with --rate, --ramp or --steps (open loop): pick one model")
		}
	default:
		p.Pacer = pacer(f, bad)
	}
	if f.Duration < 0 {
		bad("bad --duration %s: must be positive", f.Duration)
	}
	if f.Iterations < 0 {
		bad("bad --iterations %d: must be positive", f.Iterations)
	}
	if f.Duration == 0 && f.Iterations == 0 {
		bad("give --duration or --iterations (or both: whichever is reached first ends the load)")
	}
	if f.MaxInFlight < 1 {
		bad("bad --max-in-flight %d: must be 1 or more", f.MaxInFlight)
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
	} else if _, err := cluster.ParseDynamicConfig(dyn); err != nil {
		bad("%v", err)
	}
	p.Dynamic = dyn
	if f.Conn.Address != "" && (len(f.Dynamic) > 0 || f.DB != "" || f.ServerPort != 0) {
		bad("--dynamic-config, --db and --server-port configure the embedded server; with --address, configure your cluster itself")
	}
	p.Faults = validateFaults(f, p.Embedded, bad)
	validateContainerFaults(p, bad)
	if len(problems) > 0 {
		return nil, cluster.Usagef("%s", strings.Join(problems, "; "))
	}
	return p, nil
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
	rateStr := f.Rate
	if rateStr == "" {
		rateStr = DefaultRate
	}
	rate, err := bench.ParseRate(rateStr)
	if err != nil {
		bad("--rate: %v", err)
		return nil
	}
	if f.Ramp < 0 {
		bad("bad --ramp %s: must be positive", f.Ramp)
		return nil
	}
	if f.Ramp > 0 {
		return bench.Ramp{From: 0, To: rate, Over: f.Ramp}
	}
	return bench.Constant{PerSec: rate}
}

// DefaultRate is the open-loop rate when neither --rate nor --steps is given.
const DefaultRate = "20/s"

var errInterrupted = errors.New("interrupted")
