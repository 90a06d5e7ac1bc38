//go:build !squall_lean

package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// StartTopology starts every node and returns once the cluster serves:
// every ring complete, the namespace registered on every frontend, every
// history shard owned by exactly one host. On failure it stops what it
// started.
func StartTopology(ctx context.Context, spec TopologySpec) (_ *Topology, err error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	spec.Shape = spec.Shape.withDefaults()
	if spec.Server.Shards == 0 {
		spec.Server.Shards = DefaultShards(spec.Shape.History)
	}
	if spec.ReadyTimeout == 0 {
		spec.ReadyTimeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, spec.ReadyTimeout)
	defer cancel()
	t := &Topology{spec: spec, conns: map[string]*grpc.ClientConn{}}
	defer func() {
		if err != nil {
			_ = t.Close(context.WithoutCancel(ctx))
		}
	}()
	taken := map[int]bool{}
	for _, name := range spec.Shape.Names() {
		svc, num, _ := strings.Cut(name, "-")
		inst, _ := strconv.Atoi(num)
		first, err := spec.portsFor(name, taken)
		if err != nil {
			return nil, err
		}
		n := &Node{Name: name, Service: svc, Instance: inst,
			Ports:   NodePorts{GRPC: first, Membership: first + 1, Metrics: first + 2},
			addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(first)),
			LogPath: filepath.Join(spec.Dir, name+".log")}
		n.dial = n.addr
		n.binary = spec.BinaryFor(svc)
		n.MetricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", n.Ports.Metrics)
		t.nodes = append(t.nodes, n)
	}
	if spec.Containers != nil {
		err = t.startContainerNodes(ctx)
	} else {
		err = t.processNodes(ctx)
	}
	if err != nil {
		return nil, err
	}
	// The first process alone: it creates the schema, the namespace and the
	// cluster's metadata record, which two first starts at once would race
	// for. The others join it.
	if err := t.nodes[0].start(ctx); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(t.nodes))
	for i, n := range t.nodes[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.start(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := t.WaitServing(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// processNodes gives every node a child process of its own, on loopback.
// When official server binaries run some nodes, squall prepares the
// database first (schema, namespace), as its own server does on start.
func (t *Topology) processNodes(ctx context.Context) error {
	if len(t.spec.Binaries) > 0 {
		if err := preparePostgres(ctx, t.spec.Server); err != nil {
			return err
		}
	}
	for _, n := range t.nodes {
		if err := t.setProcess(n, n.binary); err != nil {
			return err
		}
	}
	return nil
}

// setProcess makes node n a child process running binary b: squall's own
// server (`squall server --service`) or an official temporal-server with
// the config squall generates for it.
func (t *Topology) setProcess(n *Node, b ServerBinary) error {
	o := t.spec.Server
	o.Services = []string{n.Service}
	o.Port, o.MetricsPort = n.Ports.GRPC, n.Ports.Metrics
	o.BindIP, o.BroadcastAddress, o.FrontendAddress = "127.0.0.1", "", t.Frontends()[0]
	o.LogFile, o.DBPath = n.LogPath, ""
	child := &Child{Name: n.Name, Bin: t.spec.Bin, Args: o.Args(), Env: o.ChildEnv(),
		LogPath: filepath.Join(t.spec.Dir, n.Name+".out"), ReadyPrefix: ReadyLine}
	if !b.IsOwn() {
		file, env, err := officialConfig(o, n, t.spec.Dir)
		if err != nil {
			return err
		}
		child = &Child{Name: n.Name, Bin: b.Path, Args: officialArgs(file, n.Service), Env: env,
			LogPath: child.LogPath, ReadyTCP: n.dial}
	}
	n.mu.Lock()
	if old, ok := n.backend.(*processNode); ok {
		n.pastExits = append(n.pastExits, old.child.UnexpectedExits()...)
	}
	n.backend, n.binary = &processNode{child: child}, b
	n.mu.Unlock()
	return nil
}

// Replace runs node n on binary b from now on, the way an operator
// upgrades one process: a graceful stop (grace, then SIGKILL), the new
// binary started on the same ports, and an "upgrade" event with its
// version. The caller waits for the cluster to serve again.
func (t *Topology) Replace(ctx context.Context, n *Node, b ServerBinary, grace time.Duration) error {
	if t.cc != nil {
		return Usagef("a container topology's nodes run the squall image: they cannot change binary")
	}
	if err := n.Stop(ctx, grace); err != nil {
		return err
	}
	if err := t.setProcess(n, b); err != nil {
		return err
	}
	if err := n.be().start(ctx); err != nil {
		return fmt.Errorf("start %s on Temporal %s: %w", n.Name, b.Version, schemaMismatch(err, b))
	}
	n.record("upgrade")
	return nil
}
