package runner

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/metrics"
	"github.com/squallbench/squall/reports"
)

// Topologies of the cluster squall starts.
const (
	TopologySingle   = "single"   // one process runs every service (default)
	TopologyServices = "services" // one process per service instance, on Postgres
)

// services reports whether the plan starts a topology of service processes.
func (p *Plan) services() bool { return p.Topology == TopologyServices }

// validateTopology checks --topology and the host counts before anything
// starts, so a shape that cannot run is a usage error, not a failed start.
func validateTopology(p *Plan, bad func(string, ...any)) {
	f := p.Flags
	switch f.Topology {
	case "", TopologySingle:
		if len(f.ServerBinaries) > 0 {
			bad("--server-binary runs official temporal-server binaries as nodes of a cluster squall starts: add --topology services --persistence postgres --dsn ...")
		}
		if f.Shape != (cluster.Shape{}) {
			bad("--history-hosts, --matching-hosts and --frontend-hosts shape a cluster of separate service processes: add --topology services")
		}
		return
	case TopologyServices:
	default:
		bad("bad --topology %q: want %s (default: one process runs every service) or %s (one process per service instance, on Postgres)", f.Topology, TopologySingle, TopologyServices)
		return
	}
	if f.Conn.Address != "" {
		bad("--topology services starts its own cluster: drop --address (or drop --topology to use the cluster at --address)")
	}
	if f.DB != "" || f.ServerPort != 0 || f.MetricsPort != 0 {
		bad("--db, --server-port and --server-metrics-port are for the single embedded server: a topology's processes take free ports and share --dsn")
	}
	if f.Cluster == ClusterContainer && f.Image != "" && !cluster.IsSquallImage(f.Image) {
		bad("--topology services runs `squall server --service` per node: only the squall image can (drop --image %s)", f.Image)
	}
	if f.Persistence == cluster.PersistencePostgres && f.DSN == "" {
		return // validateClusterFlags asks for --dsn
	}
	bins, err := cluster.ParseServerBinaries(f.ServerBinaries)
	if err != nil {
		bad("%v", err)
	}
	p.Binaries = bins
	spec := p.topologySpec()
	if p.Container {
		spec.Containers = &cluster.TopologyContainers{}
	}
	if err := spec.Validate(); err != nil {
		bad("%v", err)
	}
}

// topologySpec is the cluster --topology services starts (Bin and Dir
// are the run's).
func (p *Plan) topologySpec() cluster.TopologySpec {
	return cluster.TopologySpec{Shape: p.Shape, Binaries: p.Binaries,
		Server: cluster.ServerOptions{Persistence: p.Persistence, DSN: p.DSN, Shards: p.Shards, Dynamic: p.Dynamic, LogLevel: p.ServerLogLevel}}
}

// validateNodeTargets checks the faults aimed at nodes against the shape:
// history-9 of two history hosts is refused before any load.
func validateNodeTargets(p *Plan, bad func(string, ...any)) {
	for _, s := range p.Faults {
		target, aimed := s.Raw["target"]
		switch {
		case s.Kind.Needs == faults.NeedTopology && !p.services():
			bad("--fault %s needs --topology services (it acts on several server processes)", s.Kind.Name)
		case s.Kind.Name == "persistence-errors" && p.services():
			bad("--fault persistence-errors reconfigures one server process at run time; a topology has several: use server-kill, server-pause or rolling-restart with target=")
		case !aimed || target == "server" || strings.HasPrefix(target, "worker="):
		case !p.services():
			if s.Kind.Needs == faults.NeedEmbedded {
				bad("--fault %q: target=%s names a node of --topology services; this run has one server process", s.Text, target)
			}
		default:
			if _, err := p.Shape.Resolve(target); err != nil {
				bad("--fault %q: %v", s.Text, err)
			}
		}
		if p.services() {
			if err := faults.CheckRollingUpgrade(s, p.Shape, p.topologySpec().BinaryFor); err != nil {
				bad("--fault %q: %v", s.Text, err)
			}
		}
	}
}

// startTopology starts one process (or container) per service instance
// and returns frontend-1's address.
func (c *clusterHandle) startTopology(ctx context.Context) (string, error) {
	p := c.plan
	bin, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	spec := p.topologySpec()
	spec.Bin, spec.Dir = bin, c.dir
	if p.Container {
		spec.Containers = &cluster.TopologyContainers{RunID: c.runID, Resume: p.Resume != nil}
	}
	spec.Ports = resumedNodePorts(p.Resume)
	start := time.Now()
	topo, err := cluster.StartTopology(ctx, spec)
	if err != nil {
		return "", err
	}
	if len(spec.Ports) > 0 {
		var moved []string
		for _, n := range topo.Nodes() {
			if old, ok := spec.Ports[n.Name]; ok && old != n.Ports {
				moved = append(moved, n.Name)
			}
		}
		if len(moved) > 0 {
			fmt.Fprintf(c.out, "resume: the killed run's ports of %s were taken: those nodes run on others, and the ring waits for their predecessors' membership to expire\n", strings.Join(moved, ", "))
		}
	}
	c.topo = topo
	c.containers = topo.Containers()
	for _, n := range topo.Nodes() {
		c.servers = append(c.servers, metrics.Target{Service: n.Service, Instance: strconv.Itoa(n.Instance), URL: n.MetricsURL, Pid: n.Pid})
	}
	fmt.Fprintf(c.out, "Temporal %s as %d service processes (%s; %d shards) on %s, ready in %s; logs %s/NODE.log\n",
		topologyVersions(topo), len(topo.Nodes()), strings.Join(topo.Shape().Names(), ", "), topo.Shards(), topo.Address(),
		time.Since(start).Round(time.Millisecond), c.dir)
	return topo.Address(), nil
}

// resumedNodePorts are the ports each node of a killed run's topology
// had, for its successor to take again (cluster.TopologySpec.Ports); nil
// when the run is not a resume of a topology.
func resumedNodePorts(r *Resumable) map[string]cluster.NodePorts {
	if r == nil || r.Info.Topology == nil {
		return nil
	}
	ports := map[string]cluster.NodePorts{}
	for _, pr := range r.Info.Topology.Processes {
		u, err := url.Parse(pr.MetricsURL)
		if err != nil || pr.Container != "" {
			continue
		}
		metrics, err := strconv.Atoi(u.Port())
		if err != nil {
			continue
		}
		ports[pr.Name] = cluster.NodePorts{GRPC: pr.GRPCPort, Membership: pr.MembershipPort, Metrics: metrics}
	}
	return ports
}

// topologyVersions says which server versions the nodes run: one
// version, or each with its nodes in a mixed cluster.
func topologyVersions(topo *cluster.Topology) string {
	by := map[string][]string{}
	var order []string
	for _, n := range topo.Nodes() {
		v := n.Binary().Version
		if by[v] == nil {
			order = append(order, v)
		}
		by[v] = append(by[v], n.Name)
	}
	if len(order) == 1 {
		return order[0]
	}
	var parts []string
	for _, v := range order {
		parts = append(parts, v+" ("+strings.Join(by[v], ", ")+")")
	}
	return strings.Join(parts, " and ")
}

// topologyReport is the topology as report.json records it: every
// process, its service, ports, pid or container and its restarts.
func (c *clusterHandle) topologyReport() *reports.Topology {
	if c == nil || c.topo == nil {
		return nil
	}
	t := &reports.Topology{Kind: TopologyServices, Shards: c.topo.Shards()}
	for _, n := range c.topo.Processes() {
		pr := reports.Process{Name: n.Name, Service: n.Service, Instance: n.Instance, Pid: n.Pid, Container: n.Container,
			Address: n.Address, GRPCPort: n.Ports.GRPC, MembershipPort: n.Ports.Membership, MetricsURL: n.MetricsURL,
			Log: n.Log, StartedAt: n.StartedAt, RestartedAt: n.RestartedAt, ServerVersion: n.Version, Binary: n.Binary}
		for _, e := range n.Events {
			pr.Events = append(pr.Events, reports.ProcessEvent{At: e.At, What: e.What, Version: e.Version, Binary: e.Binary})
		}
		t.Processes = append(t.Processes, pr)
	}
	return t
}
