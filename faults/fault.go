// Package faults injects failures into a run while the load goes on: the
// chaos half of squall. A fault is a tiny type; the schedule (schedule.go)
// owns its lifecycle: Inject when due, Heal always (also on Ctrl-C and on
// errors), both recorded into the result stream. One file per fault kind;
// a new kind is one file with a Register call in init().
package faults

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/scenarios"
)

// Fault is one injected failure.
type Fault interface {
	// Inject returns once the fault is active.
	Inject(ctx context.Context) error
	// Heal ends the fault. It is idempotent and always called.
	Heal(ctx context.Context) error
}

// Env is what faults act on; the runner fills in what exists in this run.
type Env struct {
	Server *cluster.Child // the embedded server; nil against an external cluster
	// Topology is the cluster of service processes squall started with
	// --topology services (Server is then nil); server faults aim at its
	// nodes.
	Topology *cluster.Topology
	Workers  []*cluster.Child // worker processes started by squall
	// Restart starts an exited child again with its arguments and waits
	// until it is ready (the server reopens the same SQLite file).
	Restart func(ctx context.Context, c *cluster.Child) error
	// Proxy sits between all SDK clients (driver and workers) and the
	// frontend when network faults are scheduled; nil otherwise.
	Proxy *NetProxy
	// Persistence switches the embedded server's datastore fault injection.
	Persistence PersistenceControl
	// APIs are the scenario's fake external services, if it has any.
	APIs []scenarios.APIControl
	// ServerContainer and WorkerContainers exist with --cluster container
	// (workers only with --worker-containers).
	ServerContainer  Container
	WorkerContainers []Container
}

// PersistenceControl sets the embedded server's persistence fault rules
// (nil: none). Implemented by the runner over the server's control port.
type PersistenceControl func(ctx context.Context, rules []PersistenceRule) error

// Kind describes one kind of fault: its name, what it does, its typed
// parameters (besides at= and for=) and how to make one.
type Kind struct {
	Name        string
	Description string
	Params      []scenarios.Option
	// Needs says what the kind requires of the run, checked before the load.
	Needs Need
	New   func(env *Env, p scenarios.Values) (Fault, error)
}

// Need is a requirement a fault kind has of the run.
type Need int

const (
	NeedNothing     Need = iota
	NeedWorkers          // squall-started worker processes
	NeedEmbedded         // the embedded server (a child process squall controls)
	NeedProxy            // the network proxy in front of the frontend
	NeedFakeService      // a scenario with fake external services
	NeedContainer        // --cluster container (the target's container)
	NeedTopology         // --topology services (several server processes)
)

var (
	mu       sync.RWMutex
	registry = map[string]*Kind{}
)

// Register adds k; duplicate names panic (a programming error).
func Register(k *Kind) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[k.Name]; dup {
		panic("faults: duplicate fault kind " + k.Name)
	}
	sc := scenarios.Scenario{Name: k.Name, Options: k.Params}
	if _, err := sc.ParseOptions(nil); err != nil {
		panic(fmt.Sprintf("faults: %s: %v", k.Name, err))
	}
	registry[k.Name] = k
}

// Get returns the kind named name.
func Get(name string) (*Kind, bool) {
	mu.RLock()
	defer mu.RUnlock()
	k, ok := registry[name]
	return k, ok
}

// All returns every kind, sorted by name.
func All() []*Kind {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]*Kind, 0, len(registry))
	for _, k := range registry {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func names() string {
	var n []string
	for _, k := range All() {
		n = append(n, k.Name)
	}
	return strings.Join(n, ", ")
}

// Spec is one scheduled fault, as parsed from --fault.
type Spec struct {
	Kind   *Kind
	At     time.Duration // offset from the start of the load
	For    time.Duration // how long it stays active
	Params scenarios.Values
	Raw    map[string]string // as given, for the report
	Text   string
}

// ParseSpec reads 'KIND at=30s for=10s key=value ...'.
func ParseSpec(s string) (Spec, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return Spec{}, fmt.Errorf("empty --fault: want 'KIND at=30s for=10s key=value...' (kinds: %s)", names())
	}
	k, ok := Get(fields[0])
	if !ok {
		return Spec{}, fmt.Errorf("unknown fault kind %q in --fault %q (kinds: %s; see 'squall list faults')", fields[0], s, names())
	}
	spec := Spec{Kind: k, Raw: map[string]string{}, Text: s}
	params := map[string]string{}
	var problems []string
	for _, f := range fields[1:] {
		key, val, ok := strings.Cut(f, "=")
		if !ok || key == "" {
			problems = append(problems, fmt.Sprintf("%q is not key=value", f))
			continue
		}
		spec.Raw[key] = val
		switch key {
		case "at", "for":
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				problems = append(problems, fmt.Sprintf("%s=%s is not a duration like 10s", key, val))
				continue
			}
			if key == "at" {
				spec.At = d
			} else {
				spec.For = d
			}
		default:
			params[key] = val
		}
	}
	if _, ok := spec.Raw["at"]; !ok {
		problems = append(problems, "missing at= (when, after the load starts)")
	}
	if _, ok := spec.Raw["for"]; !ok && k.Name != "none" {
		problems = append(problems, "missing for= (how long)")
	}
	sc := scenarios.Scenario{Name: "fault " + k.Name, Options: k.Params}
	vals, err := sc.ParseOptions(params)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return Spec{}, fmt.Errorf("bad --fault %q: %s", s, strings.Join(problems, "; "))
	}
	spec.Params = vals
	return spec, nil
}
