package faults

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/scenarios"
)

// nodeTargetParam aims a server fault at nodes of a topology of service
// processes (--topology services).
var nodeTargetParam = scenarios.Option{Name: "target", Kind: scenarios.String, Default: "",
	Help: "with --topology services: one node as SERVICE-N (history-1: 1-based per service) or a service (all its nodes); default: every server process"}

// pickNodes resolves target against the run's topology; an empty target
// is every node, as the single server process is all of them.
func pickNodes(env *Env, target string) ([]*cluster.Node, error) {
	if env.Topology == nil {
		return nil, fmt.Errorf("target=%s names a node of --topology services; this run has one server process", target)
	}
	if target == "" {
		return env.Topology.Nodes(), nil
	}
	return env.Topology.Find(target)
}

// nodeAction is what a node fault does to a node (and undoes on heal).
type nodeAction int

const (
	actKill  nodeAction = iota // SIGKILL; started again on heal
	actStop                    // graceful stop (SIGTERM); started again on heal
	actPause                   // SIGSTOP or docker pause; resumed on heal
)

// NodeEvidence is what a fault on one node of a topology saw: what the
// node held when it was hit, how the cluster took it over, and when the
// whole cluster served again after the heal. It is the fault window's
// evidence in the report.
type NodeEvidence struct {
	Node    string `json:"node"`
	Service string `json:"service"`
	// Shards are the history shards the node owned when it was hit.
	Shards []int32 `json:"shards,omitempty"`
	// Ring* are the node's service ring as a frontend saw it: before the
	// fault, just before the heal, and once the cluster served again.
	RingBefore []string `json:"ring_before,omitempty"`
	RingDuring []string `json:"ring_during,omitempty"`
	RingAfter  []string `json:"ring_after,omitempty"`
	// Moved is when the other history hosts owned every one of Shards.
	Moved     *cluster.ShardMove `json:"shards_moved,omitempty"`
	MoveError string             `json:"shards_moved_error,omitempty"`
	// ServingAt is when, after the heal, every ring was complete and
	// every shard had one owner again.
	ServingAt    time.Time `json:"serving_again_at,omitzero"`
	ServingError string    `json:"serving_error,omitempty"`
}

// nodeFault kills, stops or pauses nodes of a topology and records the
// evidence of what moved.
type nodeFault struct {
	topo   *cluster.Topology
	nodes  []*cluster.Node
	action nodeAction

	mu       sync.Mutex
	done     []*cluster.Node
	evidence []*NodeEvidence
	watch    sync.WaitGroup
	stopWait context.CancelFunc
}

var _ Fault = (*nodeFault)(nil)

func newNodeFault(env *Env, target string, a nodeAction) (Fault, error) {
	nodes, err := pickNodes(env, target)
	if err != nil {
		return nil, err
	}
	return &nodeFault{topo: env.Topology, nodes: nodes, action: a}, nil
}

// ring is the service's ring as a frontend sees it now (nil when no
// frontend answers: the fault may have hit the only one).
func ring(ctx context.Context, topo *cluster.Topology, service string) []string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := topo.Membership(ctx)
	if err != nil {
		return nil
	}
	return m.Rings[service]
}

func (f *nodeFault) Inject(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	// What the nodes hold, asked before anything is hit.
	var owned cluster.ShardOwnership
	if f.hitsHistory() {
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		owned, _ = f.topo.ShardOwnership(octx)
		cancel()
	}
	for _, n := range f.nodes {
		ev := &NodeEvidence{Node: n.Name, Service: n.Service, Shards: owned.Owners[n.Name], RingBefore: ring(ctx, f.topo, n.Service)}
		f.evidence = append(f.evidence, ev)
		var err error
		switch f.action {
		case actKill:
			err = n.Kill(ctx)
		case actStop:
			err = n.Stop(ctx, 30*time.Second)
		case actPause:
			err = n.Pause(ctx)
		}
		if err != nil {
			return err
		}
		f.done = append(f.done, n)
	}
	// Watch the shards move to the surviving hosts while the fault lasts
	// (the whole history service down leaves them nowhere to go).
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.stopWait = cancel
	for _, ev := range f.evidence {
		if len(ev.Shards) == 0 || len(f.survivors(cluster.ServiceHistory)) == 0 {
			continue
		}
		f.watch.Add(1)
		go func() {
			defer f.watch.Done()
			mv, err := f.topo.WaitShardsMoved(wctx, ev.Node, ev.Shards)
			if err != nil {
				ev.MoveError = err.Error()
				return
			}
			ev.Moved = &mv
		}()
	}
	return nil
}

func (f *nodeFault) hitsHistory() bool {
	for _, n := range f.nodes {
		if n.Service == cluster.ServiceHistory {
			return true
		}
	}
	return false
}

// survivors are the nodes of service this fault leaves alone.
func (f *nodeFault) survivors(service string) []*cluster.Node {
	var out []*cluster.Node
	for _, n := range f.topo.Nodes() {
		if n.Service == service && !containsNode(f.nodes, n) {
			out = append(out, n)
		}
	}
	return out
}

func containsNode(nodes []*cluster.Node, n *cluster.Node) bool {
	for _, m := range nodes {
		if m == n {
			return true
		}
	}
	return false
}

func (f *nodeFault) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopWait != nil {
		f.stopWait()
		f.watch.Wait()
		f.stopWait = nil
	}
	for _, ev := range f.evidence {
		ev.RingDuring = ring(ctx, f.topo, ev.Service)
	}
	var first error
	for _, n := range f.done {
		var err error
		if f.action == actPause {
			err = n.Resume(ctx)
		} else {
			err = n.Start(ctx)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	if len(f.done) == 0 {
		return first
	}
	f.done = nil
	serr := f.topo.WaitServing(ctx)
	now := time.Now()
	for _, ev := range f.evidence {
		if serr != nil {
			ev.ServingError = serr.Error()
		} else {
			ev.ServingAt = now
		}
		ev.RingAfter = ring(ctx, f.topo, ev.Service)
	}
	if first == nil {
		first = serr
	}
	return first
}

// Evidence is what the fault saw, per node.
func (f *nodeFault) Evidence() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.evidence
}
