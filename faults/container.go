package faults

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/squallbench/squall/scenarios"
)

// Container is a server or worker container of a --cluster container run,
// as the container faults see it. Start waits until the container is ready
// again (the server's health check, the worker's ready line).
type Container interface {
	Name() string
	Pause(ctx context.Context) error
	Unpause(ctx context.Context) error
	Stop(ctx context.Context) error // SIGTERM, SIGKILL after a grace period
	Kill(ctx context.Context) error // SIGKILL
	Start(ctx context.Context) error
	Disconnect(ctx context.Context) error // from the run's network
	Connect(ctx context.Context) error
}

var targetParam = scenarios.Option{Name: "target", Kind: scenarios.String, Default: "server",
	Help: "which container: server, worker=N (its index, 0-based; needs --worker-containers), or with --topology services a node (frontend-1)"}

// WorkerIndex reads a worker=N target against n worker containers.
func WorkerIndex(target string, n int) (int, error) {
	s, ok := strings.CutPrefix(target, "worker=")
	i, err := strconv.Atoi(s)
	if !ok || err != nil || i < 0 || i >= n {
		return 0, fmt.Errorf("target=%s: want server or worker=N with N below --workers %d", target, n)
	}
	return i, nil
}

func pickContainer(env *Env, target string) (Container, error) {
	if env.Topology != nil && target != "server" && !strings.HasPrefix(target, "worker=") {
		nodes, err := env.Topology.Find(target)
		if err != nil {
			return nil, err
		}
		if len(nodes) != 1 || nodes[0].Container() == nil {
			return nil, fmt.Errorf("target=%s: a container fault hits one node container, e.g. %s-1", target, target)
		}
		return nodes[0].Container(), nil
	}
	if target == "server" {
		if env.ServerContainer == nil {
			return nil, fmt.Errorf("target=server: the server is not a container in this run (--cluster container)")
		}
		return env.ServerContainer, nil
	}
	i, err := WorkerIndex(target, len(env.WorkerContainers))
	if err != nil {
		return nil, err
	}
	return env.WorkerContainers[i], nil
}

// containerFault applies one action to a container and undoes it on heal.
type containerFault struct {
	c      Container
	inject func(Container, context.Context) error
	heal   func(Container, context.Context) error
	mu     sync.Mutex
	active bool
}

var _ Fault = (*containerFault)(nil)

func (f *containerFault) Inject(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.inject(f.c, ctx); err != nil {
		return fmt.Errorf("%s: %w", f.c.Name(), err)
	}
	f.active = true
	return nil
}

func (f *containerFault) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.active {
		return nil
	}
	if err := f.heal(f.c, ctx); err != nil {
		return fmt.Errorf("%s: %w", f.c.Name(), err)
	}
	f.active = false
	return nil
}

func registerContainerFault(name, desc string, inject, heal func(Container, context.Context) error) {
	Register(&Kind{
		Name:        name,
		Description: desc,
		Params:      []scenarios.Option{targetParam},
		Needs:       NeedContainer,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			c, err := pickContainer(env, p.String("target"))
			if err != nil {
				return nil, err
			}
			return &containerFault{c: c, inject: inject, heal: heal}, nil
		},
	})
}
