package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
)

// Shape is how many processes of each Temporal service a topology runs;
// the worker service always runs once. Zero means one.
type Shape struct {
	Frontend, History, Matching int
}

// MaxHosts bounds the processes per service: each is a full server
// process (tens of MB, its own connection pools).
const MaxHosts = 16

// ShardsPerHistoryHost is the topology's default shard count per history
// host: with fewer shards than hosts some hosts own nothing, and with one
// or two per host a host's death moves too few shards to show anything.
const ShardsPerHistoryHost = 4

// DefaultShards is the shard count a topology uses when none is asked for.
func DefaultShards(historyHosts int) int { return ShardsPerHistoryHost * max(historyHosts, 1) }

func (s Shape) withDefaults() Shape {
	s.Frontend, s.History, s.Matching = max(s.Frontend, 1), max(s.History, 1), max(s.Matching, 1)
	return s
}

// Validate checks the host counts (flag names as the run command spells them).
func (s Shape) Validate() error {
	for _, c := range []struct {
		flag string
		n    int
	}{{"--frontend-hosts", s.Frontend}, {"--history-hosts", s.History}, {"--matching-hosts", s.Matching}} {
		if c.n < 0 || c.n > MaxHosts {
			return Usagef("bad %s %d: want 1-%d", c.flag, c.n, MaxHosts)
		}
	}
	return nil
}

// Count is how many processes run service.
func (s Shape) Count(service string) int {
	s = s.withDefaults()
	switch service {
	case ServiceFrontend:
		return s.Frontend
	case ServiceHistory:
		return s.History
	case ServiceMatching:
		return s.Matching
	case ServiceWorker:
		return 1
	}
	return 0
}

// Names are the node names, SERVICE-N (1-based per service), history
// first: the order the topology starts them in.
func (s Shape) Names() []string {
	var out []string
	for _, svc := range []string{ServiceHistory, ServiceMatching, ServiceFrontend, ServiceWorker} {
		for i := 1; i <= s.Count(svc); i++ {
			out = append(out, nodeName(svc, i))
		}
	}
	return out
}

func nodeName(service string, i int) string { return service + "-" + strconv.Itoa(i) }

// Resolve turns a fault target into node names: SERVICE-N is that one
// node; a bare SERVICE is every node of that service (as a selector on a
// role would be). Anything else is a usage error naming what exists, so a
// fault schedule is refused before any load starts.
func (s Shape) Resolve(target string) ([]string, error) {
	target = strings.TrimSpace(target)
	svc, num, numbered := strings.Cut(target, "-")
	if !slices.Contains(Services, svc) {
		return nil, Usagef("target=%s: no such node; want a service (%s) for all its nodes, or one node as SERVICE-N, e.g. %s",
			target, strings.Join(Services, ", "), nodeName(ServiceHistory, 1))
	}
	n := s.Count(svc)
	all := make([]string, n)
	for i := range n {
		all[i] = nodeName(svc, i+1)
	}
	if !numbered {
		return all, nil
	}
	i, err := strconv.Atoi(num)
	if err != nil || i < 1 || i > n || num != strconv.Itoa(i) {
		return nil, Usagef("target=%s: the topology runs %d %s node(s) (%s)", target, n, svc, strings.Join(all, ", "))
	}
	return []string{nodeName(svc, i)}, nil
}

// TopologySpec is a production-shaped cluster: every service in processes
// of its own, on one Postgres database.
type TopologySpec struct {
	Shape Shape
	// Server is what every process shares: Persistence (postgres), DSN,
	// Shards (0: DefaultShards), Dynamic, LogLevel, PersistenceFaults.
	// Services, ports, bind and log file are set per process.
	Server ServerOptions
	Bin    string // the squall binary
	// Dir gets each node's server log (NAME.log) and output (NAME.out).
	Dir string
	// ReadyTimeout bounds the start of the whole cluster (0: 3 minutes).
	ReadyTimeout time.Duration
	// Containers, when set, runs each node as a container of the squall
	// image on the run's network instead of a child process.
	Containers *TopologyContainers
	// Binaries run some or all services on official temporal-server
	// binaries instead of squall's own server: keyed by service, "" for
	// every service (ParseServerBinaries).
	Binaries map[string]ServerBinary
	// Ports are node ports to take again, by node name: a resumed run's.
	// Nodes keep their membership in the database, so a node on other
	// ports finds its killed predecessor still listed and the ring waits
	// for it to expire (about 50 s with no shard served) before it forms.
	// A node whose old ports are taken gets free ones. Processes only: a
	// container node's ports are its own network's.
	Ports map[string]NodePorts
}

// Validate is everything that can be checked before anything starts.
func (s TopologySpec) Validate() error {
	if err := s.Shape.Validate(); err != nil {
		return err
	}
	switch s.Server.Persistence {
	case PersistencePostgres:
	case "", PersistenceSQLite:
		return Usagef("a topology of separate service processes needs --persistence postgres --dsn ...: its processes share one database, and the server's SQLite lives inside one process (one file, one writer)")
	default:
		return Usagef("bad --persistence %q: a topology needs %s", s.Server.Persistence, PersistencePostgres)
	}
	if _, err := parsePostgresDSN(s.Server.DSN); err != nil {
		return err
	}
	if s.Server.Shards < 0 || s.Server.Shards > MaxShards {
		return Usagef("bad --shards %d: want 1-%d", s.Server.Shards, MaxShards)
	}
	if s.Server.ControlPort != 0 {
		return Usagef("run-time persistence faults act on one server process; a topology has several: use static --persistence-fault rules")
	}
	if err := CheckDynamicConfig(s.Server.Dynamic); err != nil {
		return err
	}
	if len(s.Binaries) > 0 {
		if s.Containers != nil {
			return Usagef("--server-binary runs official server binaries as processes on this host: drop --cluster container (its nodes run the squall image)")
		}
		if len(s.Server.PersistenceFaults) > 0 {
			return Usagef("--persistence-fault rules are injected inside squall's own server; official --server-binary nodes cannot take them")
		}
	}
	return nil
}

// Topology is a running cluster of service processes.
type Topology struct {
	spec  TopologySpec
	nodes []*Node

	cc *ContainerCluster // the run's network and containers, in a container topology

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // per frontend address, for the admin API
}

// portsFor picks the first of a node's nodePortBlock ports: the ones
// spec.Ports gives for it when they are all free, else free ones.
func (s TopologySpec) portsFor(name string, taken map[int]bool) (int, error) {
	if p, ok := s.Ports[name]; ok && s.Containers == nil && p.GRPC > 0 &&
		p.Membership == p.GRPC+1 && p.Metrics == p.GRPC+2 && p.GRPC+nodePortBlock-1 <= MaxPostgresPort {
		free := true
		for i := range nodePortBlock {
			free = free && !taken[p.GRPC+i] && CheckPortFree("127.0.0.1", p.GRPC+i, "") == nil
		}
		if free {
			for i := range nodePortBlock {
				taken[p.GRPC+i] = true
			}
			return p.GRPC, nil
		}
	}
	return freePortBlock(nodePortBlock, taken)
}

// Ports of one node, on this host.
type NodePorts struct {
	GRPC       int `json:"grpc"`
	Membership int `json:"membership"`
	Metrics    int `json:"metrics"`
}

// nodePortBlock is how many consecutive ports a one-service node takes:
// gRPC, membership, metrics.
const nodePortBlock = 3

// be is the node's current backend (Replace swaps it during a run).
func (n *Node) be() nodeBackend {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.backend
}

// Binary is what node n runs now.
func (n *Node) Binary() ServerBinary {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.binary
}

// Containers is the run's network and node containers in a container
// topology (nil otherwise): worker containers join it with StartWorkers
// and reach a frontend as ServerAlias.
func (t *Topology) Containers() *ContainerCluster { return t.cc }

// Shards is the cluster's history shard count.
func (t *Topology) Shards() int { return t.spec.Server.Shards }

// Shape is the number of processes per service.
func (t *Topology) Shape() Shape { return t.spec.Shape }

// Nodes are every process, in start order (history, matching, frontend, worker).
func (t *Topology) Nodes() []*Node { return slices.Clone(t.nodes) }

// Node is the node called name, nil if there is none.
func (t *Topology) Node(name string) *Node {
	for _, n := range t.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Find resolves a fault target (see Shape.Resolve) to nodes.
func (t *Topology) Find(target string) ([]*Node, error) {
	names, err := t.spec.Shape.Resolve(target)
	if err != nil {
		return nil, err
	}
	out := make([]*Node, len(names))
	for i, name := range names {
		out[i] = t.Node(name)
	}
	return out, nil
}

// Frontends are the frontend addresses clients dial, frontend-1 first.
func (t *Topology) Frontends() []string {
	var out []string
	for _, n := range t.nodes {
		if n.Service == ServiceFrontend {
			out = append(out, n.DialAddress())
		}
	}
	return out
}

// Address is frontend-1's address: where a single-address client dials.
func (t *Topology) Address() string { return t.Frontends()[0] }

// Processes describes every node for the report.
func (t *Topology) Processes() []ProcessInfo {
	out := make([]ProcessInfo, len(t.nodes))
	for i, n := range t.nodes {
		out[i] = n.Info()
	}
	return out
}

// Close stops every node (SIGTERM, SIGKILL after a grace period), all at
// once. It takes its own time budget: it also runs after Ctrl-C.
func (t *Topology) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(t.nodes))
	for i, n := range t.nodes {
		if n.be() == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.be().stop(ctx, 15*time.Second); err != nil {
				errs[i] = fmt.Errorf("stop %s: %w", n.Name, err)
			}
		}()
	}
	wg.Wait()
	if t.cc != nil {
		errs = append(errs, t.cc.Close(ctx))
	}
	t.mu.Lock()
	for _, c := range t.conns {
		_ = c.Close()
	}
	t.conns = map[string]*grpc.ClientConn{}
	t.mu.Unlock()
	return errors.Join(errs...)
}

// Node is one service process of a topology.
type Node struct {
	Name       string // SERVICE-N
	Service    string
	Instance   int // 1-based per service
	Ports      NodePorts
	MetricsURL string
	LogPath    string // the server's own log

	backend nodeBackend
	mu      sync.Mutex
	binary  ServerBinary // what the node runs now
	// pastExits are the unasked exits of processes the node ran before
	// Replace gave it another binary.
	pastExits []ChildExit
	addr      string // gRPC host:port as the cluster knows it
	dial      string // gRPC host:port as this host reaches it
	started   time.Time
	history   []NodeEvent
	lastPid   int
}

// NodeEvent is something done to a node, for the report's timeline.
type NodeEvent struct {
	At   time.Time `json:"at"`
	What string    `json:"what"` // start, restart, kill, stop, pause, resume, upgrade
	// Version is the server version a start, restart or upgrade brought
	// up, Binary its official binary (empty: squall's own server).
	Version string `json:"version,omitempty"`
	Binary  string `json:"binary,omitempty"`
}

// ProcessInfo is one node as report.json records it.
type ProcessInfo struct {
	Name        string      `json:"name"`
	Service     string      `json:"service"`
	Instance    int         `json:"instance"`
	Pid         int         `json:"pid,omitempty"`       // the latest process's id
	Container   string      `json:"container,omitempty"` // container name, for a container node
	Address     string      `json:"address"`
	Ports       NodePorts   `json:"ports"`
	MetricsURL  string      `json:"metrics_url"`
	Log         string      `json:"log"`
	StartedAt   time.Time   `json:"started_at"`
	RestartedAt []time.Time `json:"restarted_at,omitempty"`
	Events      []NodeEvent `json:"events,omitempty"`
	// Version is the Temporal server version the node runs now; Binary
	// its official temporal-server binary (empty: squall's own server).
	Version string `json:"version"`
	Binary  string `json:"binary,omitempty"`
}

// nodeBackend is what runs a node: a child process here, a container in
// a container topology.
type nodeBackend interface {
	start(ctx context.Context) error // and wait until it serves its port
	kill(ctx context.Context) error  // SIGKILL, wait until gone
	stop(ctx context.Context, grace time.Duration) error
	pause(ctx context.Context) error
	resume(ctx context.Context) error
	pid() int
	container() string
}

func (n *Node) record(what string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	ev := NodeEvent{At: now, What: what}
	if what == "start" || what == "upgrade" {
		if n.started.IsZero() {
			n.started = now
		} else if what == "start" {
			ev.What = "restart"
		}
		if p := n.backend.pid(); p != 0 {
			n.lastPid = p
		}
		ev.Version, ev.Binary = n.binary.Version, n.binary.Path
	}
	n.history = append(n.history, ev)
}

func (n *Node) start(ctx context.Context) error {
	if err := n.be().start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", n.Name, schemaMismatch(err, n.Binary()))
	}
	n.record("start")
	return nil
}

// Address is the node's gRPC host:port as the cluster knows it: its
// membership identity, what admin calls name a history host by. A
// container's changes when it is started again.
func (n *Node) Address() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr
}

// DialAddress is where this host reaches the node's gRPC port (the
// published port of a container).
func (n *Node) DialAddress() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dial
}

// Pid is the running process's id on this host (a container's main
// process), 0 when it is not running.
func (n *Node) Pid() int { return n.be().pid() }

// Start starts a killed or stopped node again, on the same ports, and
// returns once it listens. Its ring membership and (history) shards come
// back later: Topology.WaitServing waits for those.
func (n *Node) Start(ctx context.Context) error { return n.start(ctx) }

// Kill sends SIGKILL and returns once the process is gone.
func (n *Node) Kill(ctx context.Context) error {
	if err := n.be().kill(ctx); err != nil {
		return fmt.Errorf("kill %s: %w", n.Name, err)
	}
	n.record("kill")
	return nil
}

// Stop shuts the node down gracefully (SIGTERM: it leaves the ring and
// hands its shards over), SIGKILL if it is still there after grace.
func (n *Node) Stop(ctx context.Context, grace time.Duration) error {
	if err := n.be().stop(ctx, grace); err != nil {
		return fmt.Errorf("stop %s: %w", n.Name, err)
	}
	n.record("stop")
	return nil
}

// Pause freezes the node (SIGSTOP, or docker pause): it holds its sockets
// and shards but answers nothing, until Resume.
func (n *Node) Pause(ctx context.Context) error {
	if err := n.be().pause(ctx); err != nil {
		return fmt.Errorf("pause %s: %w", n.Name, err)
	}
	n.record("pause")
	return nil
}

// Resume undoes Pause.
func (n *Node) Resume(ctx context.Context) error {
	if err := n.be().resume(ctx); err != nil {
		return fmt.Errorf("resume %s: %w", n.Name, err)
	}
	n.record("resume")
	return nil
}

// Restart stops the node with sig (SIGTERM: graceful, 30 s grace;
// SIGKILL: a crash) and starts it again on the same ports.
func (n *Node) Restart(ctx context.Context, sig syscall.Signal) error {
	var err error
	switch sig {
	case syscall.SIGKILL:
		err = n.Kill(ctx)
	case syscall.SIGTERM:
		err = n.Stop(ctx, 30*time.Second)
	default:
		return fmt.Errorf("restart %s with %v: want SIGTERM or SIGKILL", n.Name, sig)
	}
	if err != nil {
		return err
	}
	return n.Start(ctx)
}

// Info is the node as the report records it.
func (n *Node) Info() ProcessInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	pi := ProcessInfo{Name: n.Name, Service: n.Service, Instance: n.Instance, Pid: n.lastPid, Container: n.backend.container(),
		Address: n.addr, Ports: n.Ports, MetricsURL: n.MetricsURL, Log: n.LogPath, StartedAt: n.started,
		Events: slices.Clone(n.history), Version: n.binary.Version, Binary: n.binary.Path}
	for _, e := range n.history {
		if e.What == "restart" {
			pi.RestartedAt = append(pi.RestartedAt, e.At)
		}
	}
	return pi
}

// UnexpectedExits lists the node's exits squall did not ask for (a crash,
// an OOM kill, a kill from outside). A container node reports none: its
// exits are seen by the container engine, not by squall.
func (n *Node) UnexpectedExits() []ChildExit {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := slices.Clone(n.pastExits)
	if p, ok := n.backend.(*processNode); ok {
		out = append(out, p.child.UnexpectedExits()...)
	}
	return out
}

// processNode runs a node as a child process of squall.
type processNode struct{ child *Child }

var _ nodeBackend = (*processNode)(nil)

func (p *processNode) start(ctx context.Context) error {
	_, err := p.child.Start(ctx, 90*time.Second)
	return err
}

func (p *processNode) kill(context.Context) error {
	if p.child.Exited() == nil {
		return nil
	}
	return p.child.Kill()
}

func (p *processNode) stop(_ context.Context, grace time.Duration) error { return p.child.Stop(grace) }
func (p *processNode) pause(context.Context) error                       { return p.child.Signal(syscall.SIGSTOP) }
func (p *processNode) resume(context.Context) error                      { return p.child.Signal(syscall.SIGCONT) }
func (p *processNode) pid() int                                          { return p.child.Pid() }
func (p *processNode) container() string                                 { return "" }
