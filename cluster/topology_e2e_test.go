package cluster_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/internal/squalltest"
)

// A cluster of service processes with two history hosts serves workflows;
// killing the history host that owns shards hands them to the other one,
// and new workflows still complete; the killed host comes back and the
// shards are split again.
func TestTopologyHistoryKillMovesShards(t *testing.T) {
	historyKill(t, postgresDSN(t), nil)
}

// The same with one container per node on the run's network. Opt-in
// (SQUALL_CONTAINER_TOPOLOGY=1): it builds the image and starts five
// containers, a minute or two on a small machine. The project's Postgres
// listens on loopback only, which inside a container is the container
// itself, so the test relays the docker0 bridge's address to it.
func TestContainerTopologyHistoryKillMovesShards(t *testing.T) {
	squalltest.SkipIfShort(t)
	if os.Getenv("SQUALL_CONTAINER_TOPOLOGY") == "" {
		t.Skip("set SQUALL_CONTAINER_TOPOLOGY=1 to run the container topology")
	}
	testcontainers.SkipIfProviderIsNotHealthy(t)
	dsn := postgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = squalltest.RelayFromBridge(t, u.Host)
	runID := fmt.Sprintf("topo%d", time.Now().UnixNano()%1e9)
	historyKill(t, u.String(), &cluster.TopologyContainers{RunID: runID})
	if left := squallContainers(t, runID); len(left) > 0 {
		t.Errorf("containers left behind: %v", left)
	}
}

func historyKill(t *testing.T, dsn string, containers *cluster.TopologyContainers) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	begin := time.Now()
	topo, err := cluster.StartTopology(ctx, cluster.TopologySpec{
		Shape:  cluster.Shape{History: 2},
		Server: cluster.ServerOptions{Persistence: cluster.PersistencePostgres, DSN: dsn},
		Bin:    squalltest.Binary(t), Dir: dir, Containers: containers,
	})
	if err != nil {
		dumpLogs(t, dir)
		t.Fatal(err)
	}
	closeTopo := sync.OnceFunc(func() {
		if err := topo.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			dumpLogs(t, dir)
		}
	})
	defer closeTopo()
	t.Logf("topology serving in %s", time.Since(begin).Round(time.Millisecond))

	var names []string
	for _, p := range topo.Processes() {
		names = append(names, p.Name)
		if p.Pid == 0 || p.Ports.GRPC == 0 || p.MetricsURL == "" || p.StartedAt.IsZero() || (containers != nil) != (p.Container != "") {
			t.Errorf("%s: incomplete process info %+v", p.Name, p)
		}
	}
	if want := []string{"history-1", "history-2", "matching-1", "frontend-1", "worker-1"}; !slices.Equal(names, want) {
		t.Errorf("nodes %v, want %v", names, want)
	}
	if topo.Shards() != 8 {
		t.Errorf("%d shards, want the default 4 per history host (8)", topo.Shards())
	}

	cl, err := client.DialContext(ctx, client.Options{HostPort: topo.Address(), Namespace: cluster.DefaultNamespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	closeClient := sync.OnceFunc(cl.Close)
	defer closeClient()
	w := worker.New(cl, "topology", worker.Options{})
	w.RegisterWorkflowWithOptions(greet, workflow.RegisterOptions{Name: "greet"})
	w.RegisterActivity(hello)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	stopWorker := sync.OnceFunc(w.Stop)
	defer stopWorker()
	runGreet(ctx, t, cl, "before")

	before, err := topo.ShardOwnership(ctx)
	if err != nil || len(before.Problems()) > 0 {
		t.Fatalf("ownership before the kill: %+v, %v", before, err)
	}
	ring, err := topo.Membership(ctx)
	if err != nil || len(ring.Rings["history"]) != 2 {
		t.Fatalf("history ring before the kill: %+v, %v", ring, err)
	}
	// The hash ring may leave a host without shards; kill one that has some.
	victim, heir := "history-1", "history-2"
	if len(before.Owners[victim]) == 0 {
		victim, heir = heir, victim
	}
	nodes, err := topo.Find(victim)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("find %s: %v %v", victim, nodes, err)
	}
	// A container node is killed the way container faults do it.
	var target interface {
		Kill(context.Context) error
		Start(context.Context) error
	} = nodes[0]
	if containers != nil {
		target = nodes[0].Container()
	}
	if err := target.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	mv, err := topo.WaitShardsMoved(ctx, victim, before.Owners[victim])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s's shards %v taken by %v after %s", victim, mv.Shards, mv.TakenBy, mv.TakenAt.Sub(mv.Since).Round(time.Millisecond))
	if len(mv.TakenBy) != 1 || !slices.Equal(mv.TakenBy[heir], before.Owners[victim]) {
		t.Errorf("taken by %v, want all of %v by %s", mv.TakenBy, before.Owners[victim], heir)
	}
	after, err := topo.Membership(ctx)
	if err != nil || slices.Contains(after.Rings["history"], victim) {
		t.Errorf("history ring after the kill: %v, %v: want %s gone", after.Rings["history"], err, victim)
	}
	runGreet(ctx, t, cl, "after-kill")

	if err := target.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := topo.WaitServing(ctx); err != nil {
		t.Fatal(err)
	}
	if info := nodes[0].Info(); len(info.RestartedAt) != 1 {
		t.Errorf("%s restarted at %v, want one restart", victim, info.RestartedAt)
	}
	runGreet(ctx, t, cl, "after-restart")

	for _, bad := range []struct{ target, want string }{
		{"history-9", "runs 2 history node(s) (history-1, history-2)"},
		{"history-0", "runs 2 history node(s)"},
		{"scheduler", "no such node"},
	} {
		if _, err := topo.Find(bad.target); err == nil || !cluster.IsUsageErr(err) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("target %s: %v, want a usage error with %q", bad.target, err, bad.want)
		}
	}
	stopWorker()
	closeClient()
	closeTopo()
}

// A service process on SQLite is refused before it starts, naming why.
func TestServiceOnSQLiteRefused(t *testing.T) {
	port, err := cluster.FreePortRange()
	if err != nil {
		t.Fatal(err)
	}
	res := squalltest.Exec(t, time.Minute, "server", "--service", "history", "--db", filepath.Join(t.TempDir(), "t.db"), "--port", fmt.Sprint(port))
	if res.Exit != 2 || !strings.Contains(res.Stderr, "SQLite lives inside one process") || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q: want exit 2 and one line naming why", res.Exit, res.Stderr)
	}
	err = cluster.TopologySpec{Shape: cluster.Shape{History: 2}}.Validate()
	if !cluster.IsUsageErr(err) || !strings.Contains(err.Error(), "--persistence postgres") {
		t.Errorf("topology on SQLite: %v, want a usage error asking for postgres", err)
	}
}

func greet(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var s string
	err := workflow.ExecuteActivity(ctx, hello, name).Get(ctx, &s)
	return s, err
}

func hello(_ context.Context, name string) (string, error) { return "hello " + name, nil }

func runGreet(ctx context.Context, t *testing.T, cl client.Client, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "greet-" + name, TaskQueue: "topology"}, "greet", name)
	if err != nil {
		t.Fatalf("start workflow %s: %v", name, err)
	}
	var s string
	if err := run.Get(ctx, &s); err != nil || s != "hello "+name {
		t.Fatalf("workflow %s: %q, %v", name, s, err)
	}
}

// dumpLogs shows the last lines of every node's output, the only clue
// when a node fails on a machine the test author never saw.
func dumpLogs(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		t.Logf("--- %s (last lines)\n%s", filepath.Base(f), strings.Join(lines[max(0, len(lines)-8):], "\n"))
	}
}

// Container faults act on a container node through the node.
var _ faults.Container = (*cluster.NodeContainer)(nil)

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// A container topology whose driver died (the Topology is dropped, not
// closed: its containers and network go on), started again with Resume:
// every node is taken up in its container on its host ports, the cluster
// serves at once, and a workflow started before is there after. Opt-in
// like the other container topology (SQUALL_CONTAINER_TOPOLOGY=1).
func TestContainerTopologyResumeTakesUpNodes(t *testing.T) {
	squalltest.SkipIfShort(t)
	if os.Getenv("SQUALL_CONTAINER_TOPOLOGY") == "" {
		t.Skip("set SQUALL_CONTAINER_TOPOLOGY=1 to run the container topology")
	}
	testcontainers.SkipIfProviderIsNotHealthy(t)
	u, err := url.Parse(postgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = squalltest.RelayFromBridge(t, u.Host)
	runID := fmt.Sprintf("topores%d", time.Now().UnixNano()%1e9)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	spec := func(resume bool) cluster.TopologySpec {
		return cluster.TopologySpec{Shape: cluster.Shape{History: 2},
			Server: cluster.ServerOptions{Persistence: cluster.PersistencePostgres, DSN: u.String()},
			Bin:    squalltest.Binary(t), Dir: dir, Containers: &cluster.TopologyContainers{RunID: runID, Resume: resume}}
	}
	first, err := cluster.StartTopology(ctx, spec(false))
	if err != nil {
		dumpLogs(t, dir)
		t.Fatal(err)
	}
	ports := map[string]cluster.NodePorts{}
	for _, p := range first.Processes() {
		ports[p.Name] = p.Ports
	}
	cl, err := client.DialContext(ctx, client.Options{HostPort: first.Address(), Namespace: cluster.DefaultNamespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "greet-before-the-kill", TaskQueue: "topology"}, "greet", "kill"); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	begin := time.Now()
	topo, err := cluster.StartTopology(ctx, spec(true))
	if err != nil {
		dumpLogs(t, dir)
		t.Fatal(err)
	}
	defer func() {
		if err := topo.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if left := squallContainers(t, runID); len(left) > 0 {
			t.Errorf("containers left behind: %v", left)
		}
	}()
	took := time.Since(begin)
	t.Logf("taken up and serving in %s", took.Round(time.Millisecond))
	for _, p := range topo.Processes() {
		if p.Ports.GRPC != ports[p.Name].GRPC || p.Ports.Metrics != ports[p.Name].Metrics {
			t.Errorf("%s on ports %+v after the resume, %+v before: want it taken up where it was", p.Name, p.Ports, ports[p.Name])
		}
	}
	if took > 30*time.Second {
		t.Errorf("serving %s after the resume began: the nodes were started anew, not taken up", took.Round(time.Second))
	}
	cl, err = client.DialContext(ctx, client.Options{HostPort: topo.Address(), Namespace: cluster.DefaultNamespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	w := worker.New(cl, "topology", worker.Options{})
	w.RegisterWorkflowWithOptions(greet, workflow.RegisterOptions{Name: "greet"})
	w.RegisterActivity(hello)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var s string
	if err := cl.GetWorkflow(ctx, "greet-before-the-kill", "").Get(ctx, &s); err != nil || s != "hello kill" {
		t.Errorf("the workflow started before the resume: %q, %v", s, err)
	}
	runGreet(ctx, t, cl, "after")
}
