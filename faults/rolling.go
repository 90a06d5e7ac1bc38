package faults

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/sleep"
	"github.com/squallbench/squall/scenarios"
)

// RollingStep is one node's turn in a rolling restart or upgrade.
type RollingStep struct {
	Node string `json:"node"`
	// From and To are the server versions (and binaries) before and after
	// an upgrade step (empty for a restart).
	From      string    `json:"from_version,omitempty"`
	To        string    `json:"to_version,omitempty"`
	StoppedAt time.Time `json:"stopped_at,omitzero"`
	StartedAt time.Time `json:"started_at,omitzero"` // listening again
	// ServingAt is when the whole cluster served again (rings complete,
	// every shard owned once): the operator's cue for the next node.
	ServingAt time.Time `json:"serving_again_at,omitzero"`
	Error     string    `json:"error,omitempty"`
}

// rollingRestart restarts every selected node one at a time, waiting for
// the cluster to serve again and then gap before the next, as an operator
// rolls a deployment. It runs inside Inject: the window lasts the walk
// (or for=, if longer).
type rollingRestart struct {
	topo  *cluster.Topology
	nodes []*cluster.Node
	gap   time.Duration
	sig   syscall.Signal
	// to, for a rolling upgrade, is the binary each node moves to: a
	// node is stopped gracefully and started on it (nil: restart).
	to *cluster.ServerBinary

	mu       sync.Mutex
	steps    []RollingStep
	down     *cluster.Node        // stopped and not yet started again
	downFrom cluster.ServerBinary // what down ran before an upgrade step
}

var _ Fault = (*rollingRestart)(nil)

// rollingOrder picks the nodes of the given services, in that order.
func rollingOrder(topo *cluster.Topology, order string) ([]*cluster.Node, error) {
	var out []*cluster.Node
	for _, svc := range strings.Split(order, ",") {
		svc = strings.TrimSpace(svc)
		if !slices.Contains(cluster.Services, svc) {
			return nil, fmt.Errorf("order=%s: %q is not a service (want a comma list of %s)", order, svc, strings.Join(cluster.Services, ", "))
		}
		nodes, err := topo.Find(svc)
		if err != nil {
			return nil, err
		}
		out = append(out, nodes...)
	}
	return out, nil
}

func (f *rollingRestart) Inject(ctx context.Context) error {
	for i, n := range f.nodes {
		if i > 0 && !sleep.For(ctx, f.gap) {
			return nil // the load ended: the nodes not reached stay as they are
		}
		if err := f.restart(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (f *rollingRestart) restart(ctx context.Context, n *cluster.Node) error {
	step := RollingStep{Node: n.Name}
	defer func() {
		f.mu.Lock()
		f.steps = append(f.steps, step)
		f.mu.Unlock()
	}()
	// Starting again must not be cut short by the end of the load: a node
	// left down would be the fault outliving its window.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if f.to != nil {
		step.From, step.To = n.Binary().Label(), f.to.Label()
		step.StoppedAt = time.Now() // the graceful stop begins
		f.mu.Lock()
		f.down, f.downFrom = n, n.Binary()
		f.mu.Unlock()
		if err := f.topo.Replace(sctx, n, *f.to, 30*time.Second); err != nil {
			step.Error = err.Error()
			return err
		}
	} else {
		var err error
		if f.sig == syscall.SIGKILL {
			err = n.Kill(ctx)
		} else {
			err = n.Stop(ctx, 30*time.Second)
		}
		if err != nil {
			step.Error = err.Error()
			return err
		}
		step.StoppedAt = time.Now()
		f.mu.Lock()
		f.down = n
		f.mu.Unlock()
		if err := n.Start(sctx); err != nil {
			step.Error = err.Error()
			return err
		}
	}
	step.StartedAt = time.Now()
	f.mu.Lock()
	f.down = nil
	f.mu.Unlock()
	if err := f.topo.WaitServing(sctx); err != nil {
		step.Error = err.Error()
		return err
	}
	step.ServingAt = time.Now()
	return nil
}

// Heal starts a node the walk left down (its start failed), on the
// binary it was given.
func (f *rollingRestart) Heal(ctx context.Context) error {
	f.mu.Lock()
	n := f.down
	f.mu.Unlock()
	if n == nil {
		return nil
	}
	if err := n.Start(ctx); err != nil {
		if f.to == nil {
			return err
		}
		// The new binary does not start: roll the node back, as an
		// operator would, so the cluster ends whole.
		f.mu.Lock()
		from := f.downFrom
		f.mu.Unlock()
		if rerr := f.topo.Replace(ctx, n, from, 30*time.Second); rerr != nil {
			return fmt.Errorf("%w; rolling %s back to Temporal %s: %v", err, n.Name, from.Version, rerr)
		}
	}
	f.mu.Lock()
	f.down = nil
	f.mu.Unlock()
	return f.topo.WaitServing(ctx)
}

// Evidence is every step of the walk.
func (f *rollingRestart) Evidence() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.steps)
}

func init() {
	Register(&Kind{
		Name: "rolling-restart",
		Description: "restart every server process of --topology services one at a time, waiting until the cluster serves " +
			"again and gap= before the next (SIGTERM: graceful; signal=KILL: a crash wave); the window lasts the walk or for=, whichever is longer",
		Params: []scenarios.Option{
			{Name: "order", Kind: scenarios.String, Default: "history,matching,frontend,worker", Help: "the services in the order their nodes restart"},
			{Name: "gap", Kind: scenarios.Duration, Default: "5s", Help: "pause between one node serving again and the next restart"},
			{Name: "signal", Kind: scenarios.Enum, Default: "TERM", Choices: []string{"TERM", "KILL"}, Help: "TERM: graceful stop; KILL: crash"},
		},
		Needs: NeedTopology,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			if env.Topology == nil {
				return nil, fmt.Errorf("rolling-restart needs --topology services")
			}
			nodes, err := rollingOrder(env.Topology, p.String("order"))
			if err != nil {
				return nil, err
			}
			sig := syscall.SIGTERM
			if p.String("signal") == "KILL" {
				sig = syscall.SIGKILL
			}
			return &rollingRestart{topo: env.Topology, nodes: nodes, gap: p.Duration("gap"), sig: sig}, nil
		},
	})
}
