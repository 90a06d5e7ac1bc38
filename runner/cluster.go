package runner

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/metrics"
	"github.com/squallbench/squall/workers"
)

// clusterHandle is the cluster the current entries run on: the server
// squall started (a child process or a container) or the user's, the
// worker processes, the proxy network faults go through, and the client.
// A suite gives each entry a fresh one unless it shares the server; a
// capacity search one per probe.
type clusterHandle struct {
	plan   *Plan   // the entry that brought it up (its cluster flags)
	served []*Plan // every entry it serves (what their faults need)
	dir    string  // the run directory
	// label, when set, names this cluster's files (server-LABEL.log), for
	// runs with a cluster per entry.
	label     string
	runID     string
	taskQueue string
	out       io.Writer // progress messages

	conn          cluster.Conn
	target        string // the address targeted (conn.Address may be a fault proxy)
	serverVersion string // as the cluster reports it
	client        client.Client
	starts        cluster.StartCounter // workflows the server started for the driver

	server       *cluster.Child
	serverOpts   cluster.ServerOptions // the embedded server's, without fault rules
	staticFaults bool                  // the server runs with static persistence faults
	// servers are the server processes squall started, once they run: each
	// one's metrics endpoint, service and pid (the embedded server is one
	// process running every service).
	servers    []metrics.Target
	containers *cluster.ContainerCluster
	// topo is the cluster of service processes of --topology services
	// (server is then nil; containers is its network in a container one).
	topo    *cluster.Topology
	workers []*cluster.Child
	proxy   *faults.NetProxy
}

// fileName is a file of this cluster in the run directory (server.log →
// server-LABEL.log when each entry has a cluster of its own).
func (c *clusterHandle) fileName(name string) string {
	if c.label == "" {
		return filepath.Join(c.dir, name)
	}
	ext := filepath.Ext(name)
	return filepath.Join(c.dir, strings.TrimSuffix(name, ext)+"-"+c.label+ext)
}

// needs reports whether any entry this cluster serves schedules a fault
// that needs n.
func (c *clusterHandle) needs(n faults.Need) bool {
	for _, p := range c.served {
		if needs(p.Faults, n) {
			return true
		}
	}
	return false
}

// up starts what squall runs itself (server, proxy, workers) and dials.
func (c *clusterHandle) up(ctx context.Context) error {
	p := c.plan
	c.conn = p.Conn
	if c.conn.Namespace == "" {
		c.conn.Namespace = cluster.DefaultNamespace
	}
	switch {
	case p.services():
		addr, err := c.startTopology(ctx)
		if err != nil {
			return err
		}
		c.conn.Address = addr
	case p.Embedded:
		addr, err := c.startServer(ctx)
		if err != nil {
			return err
		}
		c.conn.Address = addr
	case p.Container:
		addr, err := c.startContainers(ctx)
		if err != nil {
			return err
		}
		c.conn.Address = addr
	}
	c.target = c.conn.Address
	if c.needs(faults.NeedProxy) {
		px, err := faults.StartNetProxy(c.conn.Address)
		if err != nil {
			return err
		}
		c.proxy = px
		fmt.Fprintf(c.out, "network faults scheduled: clients and workers connect through a proxy on %s\n", px.Addr())
		c.conn.Address = px.Addr()
	}
	dial := c.conn
	dial.Starts = &c.starts
	cl, err := dial.Dial(ctx)
	if err != nil {
		return err
	}
	c.client = cl
	// The version the cluster reports for itself: the user's cluster is
	// not the server compiled into squall.
	c.serverVersion = cluster.ServerVersion
	if info, err := cl.WorkflowService().GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{}); err == nil && info.GetServerVersion() != "" {
		c.serverVersion = info.GetServerVersion()
	}
	return c.workersUp(ctx)
}

func (c *clusterHandle) startServer(ctx context.Context) (string, error) {
	p := c.plan
	port := p.ServerPort
	if port == 0 {
		port = c.resumedServerPort()
	}
	if port == 0 {
		var err error
		if port, err = cluster.FreePortRange(); err != nil {
			return "", fmt.Errorf("pick server port: %w", err)
		}
	}
	metricsPort := p.MetricsPort
	if metricsPort == 0 {
		var err error
		if metricsPort, err = cluster.FreePort(); err != nil {
			return "", fmt.Errorf("pick metrics port: %w", err)
		}
	}
	db := cmp.Or(p.DB, c.fileName("temporal.db"))
	o := cluster.ServerOptions{Persistence: p.Persistence, DBPath: db, DSN: p.DSN, Shards: p.Shards, Port: port, MetricsPort: metricsPort,
		Dynamic: p.Dynamic, LogLevel: p.ServerLogLevel, LogFile: c.fileName("server.log")}
	if c.needs(faults.NeedEmbedded) {
		var err error
		if o.ControlPort, err = cluster.FreePort(); err != nil {
			return "", fmt.Errorf("pick control port: %w", err)
		}
	}
	c.serverOpts = o
	bin, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	c.server = &cluster.Child{Name: "embedded server", Bin: bin, Args: o.Args(), Env: o.ChildEnv(),
		LogPath: c.fileName("server.out"), ReadyPrefix: cluster.ReadyLine}
	addr, err := c.server.Start(ctx, 90*time.Second)
	if err != nil {
		return "", err
	}
	srv := c.server // metrics: sampled each interval, its CPU from /proc
	c.servers = []metrics.Target{{URL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort), Pid: func() int { return srv.Pid() }}}
	fmt.Fprintf(c.out, "embedded Temporal %s on %s (metrics :%d/metrics, db %s)\n", cluster.ServerVersion, addr, metricsPort, db)
	return addr, nil
}

// resumedServerPort is the frontend port of the embedded server a killed
// driver ran, when a resume can take it over, else 0. The server keeps its
// membership in its database: a new server on other ports would find the
// dead one still listed and wait for it to expire (about 40 s in which no
// shard is served) before its ring forms. On the same ports it takes the
// dead member's place at once.
func (c *clusterHandle) resumedServerPort() int {
	r := c.plan.Resume
	if r == nil || r.Info.Cluster != "embedded" {
		return 0
	}
	_, ps, err := net.SplitHostPort(r.Info.Address)
	port, _ := strconv.Atoi(ps)
	if err != nil || port == 0 {
		return 0
	}
	for i := range cluster.InternalPorts + 1 {
		if cluster.CheckPortFree("127.0.0.1", port+i, "") != nil {
			fmt.Fprintf(c.out, "resume: the killed run's server ports %d-%d are taken: the new server picks others and waits for the old one's membership to expire\n", port, port+cluster.InternalPorts)
			return 0
		}
	}
	return port
}

func (c *clusterHandle) workersUp(ctx context.Context) error {
	p := c.plan
	if p.WorkerContainers && p.Workers > 0 {
		return c.startWorkerContainers(ctx)
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, p.Workers)
	// The connection (secrets included) goes through the environment.
	env := c.conn.ChildEnv(os.Environ())
	for i := range p.Workers {
		args := append([]string{"worker", "--task-queue", c.taskQueue}, p.Tuning.Args()...)
		args = append(args, workerMetricsArgs(p.Metrics, i)...)
		w := &cluster.Child{Name: fmt.Sprintf("worker %d", i), Bin: bin, Args: args, Env: env,
			LogPath: c.fileName(fmt.Sprintf("worker-%d.log", i)), ReadyPrefix: workers.ReadyLine}
		c.workers = append(c.workers, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.Start(ctx, 60*time.Second); err != nil {
				errs[i] = fmt.Errorf("start worker %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if p.Workers > 0 {
		fmt.Fprintf(c.out, "%d worker process(es) polling task queue %s\n", p.Workers, c.taskQueue)
	}
	return nil
}

// procs lists squall's own local processes to sample (a server's is a
// metrics.Target); a child that is down (killed by a fault, not yet
// restarted) has pid 0 and is skipped.
func (c *clusterHandle) procs() []metrics.Proc {
	ps := []metrics.Proc{{Name: "driver", Pid: os.Getpid()}}
	if c == nil {
		return ps
	}
	for i, w := range c.workers {
		ps = append(ps, metrics.Proc{Name: "worker_" + strconv.Itoa(i), Pid: w.Pid()})
	}
	return ps
}

// stop stops everything squall started for this cluster (client,
// workers, server, proxy, containers). Safe on a nil handle.
func (c *clusterHandle) stop() {
	if c == nil {
		return
	}
	if c.client != nil {
		c.client.Close()
		c.client = nil
	}
	var wg sync.WaitGroup
	for _, w := range c.workers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Stop(15 * time.Second) }()
	}
	wg.Wait()
	c.workers = nil
	if c.server != nil {
		_ = c.server.Stop(30 * time.Second)
		c.server, c.servers = nil, nil
	}
	if c.topo != nil {
		if err := c.topo.Close(context.Background()); err != nil {
			fmt.Fprintf(c.out, "warning: %v (run 'squall cleanup' to remove leftovers)\n", err)
		}
		c.topo, c.servers, c.containers = nil, nil, nil
	}
	if c.proxy != nil {
		c.proxy.Close()
		c.proxy = nil
	}
	c.staticFaults = false
	c.stopContainers()
}
