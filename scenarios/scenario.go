// Package scenarios holds the registry of squall scenarios. Each scenario is
// its own package (scenarios/noop, ...) and registers itself in init(); a new
// scenario is one new folder plus one import line in scenarios/all.
package scenarios

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
)

// Scenario is mostly data: what it is called, what it takes, what it
// registers on workers, and how to drive one run of it.
type Scenario struct {
	Name        string
	Description string
	// Proves says what the plain run (`squall run --scenario NAME`, the
	// defaults) puts under pressure and what its passing verdict shows;
	// `squall list scenarios -v` prints it.
	Proves  string
	Options []Option
	// Defaults is the load the scenario runs with when the command line
	// leaves it out, so `squall run --scenario NAME` alone always works.
	Defaults Defaults
	// Validate, if set, checks the options as a whole, against the load
	// that will actually run, before anything starts (e.g. a size the
	// server's limits cannot take, or an outage placed after the load
	// ends); its error is a usage error.
	Validate func(Values, Load) error
	// OwnWorkers, if set, says the options name the user's own workers
	// (their task queue): squall then starts none unless --workers says so.
	OwnWorkers func(Values) bool
	// Resumable: the driver's own checks need nothing the iterations
	// before it kept in memory, so a run killed mid-load can be taken up
	// by a new driver (`squall run --resume DIR`) and still be judged
	// whole (verification reads the journal both drivers wrote).
	Resumable bool
	// Register adds the scenario's workflows and activities to a worker.
	Register func(r worker.Registry)
	// New prepares one run (fake services, per-run state) and returns its driver.
	New func(ctx context.Context, env Env, opts Values) (Driver, error)
}

// Defaults is a scenario's own load shape, used for what flags leave out.
// Zero fields fall back to the harness's defaults.
type Defaults struct {
	Rate        string        // open-loop rate, e.g. "10/s" (unless Concurrency is set)
	Concurrency int           // closed loop
	Duration    time.Duration // how long to start iterations
	Iterations  int64         // how many iterations to schedule
	Grace       time.Duration // how long in-flight iterations may finish after the load
	VerifyWait  time.Duration // how long verification waits for running workflows
}

// Load is the load a run will drive, as a scenario sees it when it
// validates its options and places its own timed events.
type Load struct {
	// Rate is the open-loop rate at the end of the schedule (0: closed loop).
	Rate        float64
	Concurrency int
	Duration    time.Duration // 0: no duration limit
	Iterations  int64         // 0: no iteration limit
	// Expected is how long the load will run: the duration, or the time the
	// schedule needs for its iterations, whichever ends first (0: unknown,
	// closed loop by iterations).
	Expected time.Duration
	// Grace is how long in-flight iterations may still finish after the
	// load; VerifyWait how long verification waits for running workflows.
	// A scenario whose worst-case iteration takes longer must say so.
	Grace, VerifyWait time.Duration
}

// Env is what a driver gets from the harness. Drivers start workflows
// only through Start (Client refuses starts): the harness journals each
// one with the end state it must reach and verification holds it to it.
type Env struct {
	// Client is the run's client for everything but starting workflows
	// (signals, queries, describe, results).
	Client    client.Client
	TaskQueue string
	// RunID is unique per run; drivers put it into workflow IDs so runs
	// against one cluster never collide.
	RunID string
	// Dir is the run directory, for any files the scenario keeps.
	Dir string
	// Load is the load the run drives (for scenarios that time their own
	// events, e.g. an outage, against it).
	Load Load
	// Observe records a scenario-specific duration (e.g. "activity") into an
	// HDR histogram of that name; it appears in the report's histograms_ms.
	Observe func(name string, d time.Duration)
	// Emit records scenario-specific results under key (e.g. "runs per
	// entity", a sweep table) into the result stream; the report shows the
	// last value per key under details.
	Emit func(key string, v any)
	// Address is the cluster's frontend host:port, for scenarios that run
	// their own in-process workers or clients (e.g. with special tuning).
	Address   string
	Namespace string

	h   *harness
	raw client.Client
}

// Finisher is implemented by drivers that must act after the load and
// before verification (e.g. tell long-running entities to close, emit
// what they measured).
type Finisher interface {
	Finish(ctx context.Context) error
}

// Iteration is one unit of load as the executor schedules it.
type Iteration struct {
	N int64 // 0-based sequence number within the run
	// Due is the iteration's intended start (open loop: its place in the
	// schedule, however late it actually began). Latencies a driver
	// measures itself should start here, as the harness's do, so a stall
	// of the driver or the cluster is not hidden (coordinated omission).
	Due time.Time
}

// Driver runs one scenario's iterations and checks its own invariants.
type Driver interface {
	// Iterate performs one iteration and returns when it has finished
	// (typically: env.Start a workflow, wait for its result). Its error
	// is counted and recorded by the runner.
	Iterate(ctx context.Context, it Iteration) error
	// Invariants checks scenario-specific invariants after the load and
	// Finish. It has no side effects (what a scenario emits belongs in
	// Finish).
	Invariants(ctx context.Context) []Invariant
	// Close releases the run's resources (fake services, files).
	Close() error
}

// Invariant is one checked property of a run.
type Invariant struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Warn: a broken invariant is reported as a warning and does not fail
	// the verdict (a check the user made advisory, e.g. --health logs=warn).
	Warn bool `json:"warn,omitempty"`
}

// Fails says whether the invariant fails the verdict: broken, and not a
// warning.
func (i Invariant) Fails() bool { return !i.OK && !i.Warn }

var (
	mu       sync.RWMutex
	registry = map[string]*Scenario{}
)

// Register adds s to the registry. Duplicate or empty names are programming
// errors and panic at start-up.
func Register(s *Scenario) {
	mu.Lock()
	defer mu.Unlock()
	if s.Name == "" || s.New == nil || s.Register == nil {
		panic(fmt.Sprintf("scenarios: incomplete scenario %q", s.Name))
	}
	if _, dup := registry[s.Name]; dup {
		panic("scenarios: duplicate scenario name " + s.Name)
	}
	for i, o := range s.Options {
		if err := o.check(); err != nil {
			panic(fmt.Sprintf("scenarios: %s option %d: %v", s.Name, i, err))
		}
	}
	registry[s.Name] = s
}

// Get returns the scenario named name.
func Get(name string) (*Scenario, bool) {
	mu.RLock()
	defer mu.RUnlock()
	s, ok := registry[name]
	return s, ok
}

// All returns every registered scenario, sorted by name.
func All() []*Scenario {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]*Scenario, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists the registered scenario names, sorted.
func Names() []string {
	var names []string
	for _, s := range All() {
		names = append(names, s.Name)
	}
	return names
}

// RegisterAll registers every scenario's workflows and activities on r.
func RegisterAll(r worker.Registry) {
	for _, s := range All() {
		s.Register(r)
	}
}

// ReplayDataConverter decodes every payload squall's workers may write:
// the default converter behind the zlib codec the large-state scenario's
// compressed mode uses. The zlib codec leaves payloads it did not encode
// as they are, so one converter serves every scenario's histories.
func ReplayDataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(),
		converter.NewZlibCodec(converter.ZlibCodecOptions{}))
}

// APIControl switches one of a scenario's fake external services into error
// or slow mode (the api-errors and api-latency faults). Zero values heal.
type APIControl interface {
	Name() string
	SetFaults(errorRate float64, latency time.Duration)
}

// APIProvider is implemented by drivers whose scenario has fake external
// services that faults may act on.
type APIProvider interface {
	APIs() []APIControl
}
