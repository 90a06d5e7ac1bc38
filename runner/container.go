package runner

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/workers"
)

// Cluster kinds for --cluster.
const (
	ClusterEmbedded  = "embedded"
	ClusterContainer = "container"
)

// validateClusterFlags checks --cluster, --image, --worker-containers,
// --persistence, --dsn and --shards.
func validateClusterFlags(f Flags, bad func(string, ...any)) {
	switch f.Cluster {
	case "", ClusterEmbedded:
		if f.Image != "" || f.WorkerContainers {
			bad("--image and --worker-containers need --cluster container")
		}
	case ClusterContainer:
		if f.Conn.Address != "" {
			bad("--cluster container starts its own server: drop --address (or drop --cluster to use the cluster at --address)")
		}
		if f.DB != "" || f.ServerPort != 0 || f.MetricsPort != 0 {
			bad("--db, --server-port and --server-metrics-port are for the embedded server: the server container keeps its SQLite file on its own volume and gets free host ports")
		}
		if f.WorkerContainers && f.Image != "" && !cluster.IsSquallImage(f.Image) {
			bad("--worker-containers runs squall workers from the squall image: drop --image %s or --worker-containers", f.Image)
		}
	default:
		bad("bad --cluster %q: want %s (default) or %s", f.Cluster, ClusterEmbedded, ClusterContainer)
	}
	switch f.Persistence {
	case "", cluster.PersistenceSQLite:
		if f.DSN != "" {
			bad("--dsn is for --persistence postgres")
		}
	case cluster.PersistencePostgres:
		if f.DSN == "" {
			bad("--persistence postgres needs --dsn postgres://USER:PASSWORD@HOST:PORT/DB (scripts/ensure-postgres.sh starts a local PostgreSQL and prints one)")
		}
		if f.DB != "" {
			bad("--db names a SQLite file: drop it with --persistence postgres")
		}
		if f.Cluster == ClusterContainer && dsnOnLoopback(f.DSN) {
			bad("--dsn points at loopback, which inside the server's container is the container itself: give a host address the container can reach")
		}
		if f.Cluster == ClusterContainer && f.Image != "" && !cluster.IsSquallImage(f.Image) {
			bad("--persistence postgres with --image %s: configure that image's persistence yourself (only the squall image takes squall's flags)", f.Image)
		}
	default:
		bad("bad --persistence %q: want %s or %s", f.Persistence, cluster.PersistenceSQLite, cluster.PersistencePostgres)
	}
	if f.Shards < 0 || f.Shards > cluster.MaxShards {
		bad("bad --shards %d: want 1-%d", f.Shards, cluster.MaxShards)
	}
	if f.Conn.Address != "" && (f.Persistence != "" || f.DSN != "" || f.Shards != 0) {
		bad("--persistence, --dsn and --shards configure a server squall starts; with --address, configure your cluster itself")
	}
}

func dsnOnLoopback(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// validateContainerFaults: container faults act on containers, so they need
// --cluster container (and worker containers for worker= targets).
func validateContainerFaults(p *Plan, bad func(string, ...any)) {
	for _, s := range p.Faults {
		if s.Kind.Needs == faults.NeedProxy && p.WorkerContainers {
			bad("--fault %s puts a proxy on this host between clients and the server; worker containers cannot reach it: drop --worker-containers or use container-net-disconnect", s.Kind.Name)
		}
		if s.Kind.Needs != faults.NeedContainer {
			continue
		}
		if !p.Container {
			bad("--fault %s needs --cluster container (it acts on the server's or workers' containers)", s.Kind.Name)
			continue
		}
		target := s.Params.String("target")
		if target == "server" || p.services() && !strings.HasPrefix(target, "worker=") {
			continue // a node of the topology: validateNodeTargets checks it
		}
		if !p.WorkerContainers {
			bad("--fault %q: target=%s needs --worker-containers (workers run as processes otherwise)", s.Text, target)
			continue
		}
		if _, err := faults.WorkerIndex(target, p.Workers); err != nil {
			bad("--fault %q: %v", s.Text, err)
		}
	}
}

// startContainers starts the server container and returns its frontend
// address on this host.
func (c *clusterHandle) startContainers(ctx context.Context) (string, error) {
	p := c.plan
	bin, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	// The official image's dev server gets squall's load-test defaults too.
	dyn := map[string]string{}
	for k, v := range cluster.LoadTestDynamicConfig {
		dyn[k] = v
	}
	for k, v := range p.Dynamic {
		dyn[k] = v
	}
	start := time.Now()
	cc, err := cluster.StartContainerCluster(ctx, cluster.ContainerSpec{
		RunID: c.runID, Image: p.Image, Bin: bin, Server: cluster.ServerOptions{Persistence: p.Persistence, DSN: p.DSN, Shards: p.Shards, Dynamic: p.Dynamic, LogLevel: p.ServerLogLevel}, Dynamic: dyn, LogDir: c.dir, Out: c.out,
		Resume: p.Resume != nil,
	})
	if err != nil {
		return "", err
	}
	c.containers = cc
	how := "ready"
	if cc.TakenUp {
		how = "taken up from the killed driver, ready"
	}
	fmt.Fprintf(c.out, "Temporal in container %s (image %s) on %s, metrics :%d/metrics, %s in %s\n",
		"squall-"+cc.RunID+"-server", cc.Image, cc.Address, cc.MetricsPort, how, time.Since(start).Round(time.Millisecond))
	return cc.Address, nil
}

// startWorkerContainers runs the run's workers as containers on the run's
// network, so container faults can hit them.
func (c *clusterHandle) startWorkerContainers(ctx context.Context) error {
	p := c.plan
	args := append([]string{"--task-queue", c.taskQueue}, p.Tuning.Args()...)
	if err := c.containers.StartWorkers(ctx, p.Workers, c.conn, args, workers.ReadyLine); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%d worker container(s) polling task queue %s\n", p.Workers, c.taskQueue)
	return nil
}

// addContainers gives the container faults their targets.
func (c *clusterHandle) addContainers(env *faults.Env) {
	if c.containers == nil {
		return
	}
	env.ServerContainer = c.containers.Server
	for _, w := range c.containers.Workers {
		env.WorkerContainers = append(env.WorkerContainers, w)
	}
}

func (c *clusterHandle) stopContainers() {
	if c.containers == nil {
		return
	}
	if err := c.containers.Close(context.Background()); err != nil {
		fmt.Fprintf(c.out, "warning: %v (run 'squall cleanup' to remove leftovers)\n", err)
	}
	c.containers = nil
}
