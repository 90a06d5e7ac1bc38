//go:build !squall_lean

package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	dockerclient "github.com/moby/moby/client"
	"github.com/squallbench/squall/internal/sleep"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ContainerCluster is a server container (and optionally worker
// containers) on a network of their own, all labelled with the run id.
type ContainerCluster struct {
	RunID       string
	Address     string // the server's frontend, as this host reaches it
	MetricsPort int    // the server's Prometheus port on this host
	Image       string
	// TakenUp: the server container is the one a killed driver of this
	// run left behind, with its data (ContainerSpec.Resume).
	TakenUp bool
	Server  *Container
	Workers []*Container
	// Nodes are a topology's service containers (no Server then).
	Nodes []*Container

	cli *testcontainers.DockerClient
	// The run's network: created here (net set), or a killed driver's,
	// taken up by a resume (net nil).
	net     *testcontainers.DockerNetwork
	netName string
	netID   string
	resume  bool
	logDir  string
	mu      sync.Mutex // Nodes, appended as they start in parallel
}

// Container is one container of the run, with what faults need: pause,
// stop, kill, start again (waiting until it is ready), network
// disconnect and reconnect.
type Container struct {
	name    string
	ctr     testcontainers.Container
	cli     *testcontainers.DockerClient
	network string
	aliases []string
}

// officialPreset is the command line of the official temporalio/temporal
// image (the Temporal CLI's dev server), for --image temporalio/temporal:TAG.
func officialPreset(dynamic map[string]string) []string {
	args := []string{"server", "start-dev", "--ip", "0.0.0.0", "--port", strconv.Itoa(containerFrontendPort),
		"--metrics-port", strconv.Itoa(containerMetricsPort), "--headless", "--namespace", DefaultNamespace}
	keys := make([]string, 0, len(dynamic))
	for k := range dynamic {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--dynamic-config-value", k+"="+dynamic[k])
	}
	return args
}

func isOfficialImage(ref string) bool {
	repo, _, _ := strings.Cut(ref, ":")
	return repo == "temporalio/temporal" || strings.HasSuffix(repo, "/temporalio/temporal")
}

func labels(runID, role string) map[string]string {
	return map[string]string{LabelRunID: runID, LabelRole: role}
}

// StartContainerCluster builds (or finds) the image, creates the run's
// network and starts the server container, ready when its frontend answers
// a gRPC health check.
func StartContainerCluster(ctx context.Context, spec ContainerSpec) (_ *ContainerCluster, err error) {
	cc, err := openContainerCluster(ctx, spec.RunID, spec.LogDir, spec.Image, spec.Bin, spec.Out, spec.Resume)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cc.Close(context.WithoutCancel(ctx))
		}
	}()

	var cmd []string
	var files []testcontainers.ContainerFile
	if IsSquallImage(spec.Image) {
		o := spec.Server
		o.DBPath, o.Port, o.BindIP, o.MetricsPort = "/data/temporal.db", containerFrontendPort, "0.0.0.0", containerMetricsPort
		var secretArgs []string
		secretArgs, files = o.ContainerSecrets()
		cmd = append(append(o.Args(), spec.ServerFlags...), secretArgs...)
	} else if isOfficialImage(spec.Image) {
		cmd = officialPreset(spec.Dynamic)
	} // any other image: its own default command
	// Fixed host ports: a container started again after a stop or kill
	// keeps them, so clients reconnect to the same address; a resumed run's
	// server container is taken up on the ports it has.
	frontendP, metricsP := fmt.Sprintf("%d/tcp", containerFrontendPort), fmt.Sprintf("%d/tcp", containerMetricsPort)
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	if cc.MetricsPort, err = FreePort(); err != nil {
		return nil, err
	}
	if old, ok := cc.leftoverPorts(ctx, "server"); ok && old[frontendP] > 0 && old[metricsP] > 0 {
		port, cc.MetricsPort, cc.TakenUp = old[frontendP], old[metricsP], true
	}
	host := "127.0.0.1"
	if h := os.Getenv("TESTCONTAINERS_HOST_OVERRIDE"); h != "" {
		host = h
	}
	cc.Address = net.JoinHostPort(host, strconv.Itoa(port))
	srv, err := cc.start(ctx, "server", testcontainers.ContainerRequest{
		Image:        cc.Image,
		Cmd:          cmd,
		Files:        files,
		ExposedPorts: []string{frontendP, metricsP},
		HostConfigModifier: func(hc *container.HostConfig) {
			// /data on an anonymous volume, not the image's layered file
			// system: under fuse-overlayfs SQLite's writes slow to the point
			// of timeouts. The volume lives as long as the container (kept
			// across stop and start), and goes with it.
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Target: "/data"})
			hc.PortBindings = network.PortMap{
				network.MustParsePort(frontendP): {{HostPort: strconv.Itoa(port)}},
				network.MustParsePort(metricsP):  {{HostPort: strconv.Itoa(cc.MetricsPort)}},
			}
		},
		NetworkAliases: map[string][]string{cc.netName: {ServerAlias}},
		WaitingFor:     &grpcHealth{addr: cc.Address, timeout: 2 * time.Minute},
	})
	if err != nil {
		return nil, err
	}
	cc.Server = srv
	return cc, nil
}

// openContainerCluster connects to Docker, finds (or builds, or pulls)
// the image and creates the run's network: what every container of a run
// needs before the first one starts.
func openContainerCluster(ctx context.Context, runID, logDir, image, bin string, out io.Writer, resume bool) (_ *ContainerCluster, err error) {
	quietTestcontainers()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, dockerUnavailable(err)
	}
	if _, err := cli.Ping(ctx, dockerclient.PingOptions{}); err != nil {
		cli.Close()
		return nil, dockerUnavailable(err)
	}
	cc := &ContainerCluster{RunID: runID, cli: cli, logDir: logDir, resume: resume}
	defer func() {
		if err != nil {
			cc.Close(context.WithoutCancel(ctx))
		}
	}()
	switch {
	case image == "":
		start := time.Now()
		ref, built, err := EnsureImage(ctx, bin)
		if err != nil {
			return nil, err
		}
		if built && out != nil {
			fmt.Fprintf(out, "built image %s in %s\n", ref, time.Since(start).Round(time.Millisecond))
		}
		cc.Image = ref
	default:
		cc.Image = image
		if err := ensurePulled(ctx, cli, image); err != nil {
			return nil, err
		}
	}
	if resume {
		// The killed driver's containers are on its network: the ones taken
		// up stay there, and new ones must join them.
		nl, err := cli.NetworkList(ctx, dockerclient.NetworkListOptions{Filters: dockerclient.Filters{}.
			Add("label", LabelRunID+"="+runID).Add("label", LabelRole+"=network")})
		if err != nil {
			return nil, dockerUnavailable(err)
		}
		if len(nl.Items) > 0 {
			cc.netName, cc.netID = nl.Items[0].Name, nl.Items[0].ID
			return cc, nil
		}
	}
	nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(labels(runID, "network")), tcnetwork.WithAttachable())
	if err != nil {
		return nil, fmt.Errorf("create docker network: %w", err)
	}
	cc.net, cc.netName, cc.netID = nw, nw.Name, nw.ID
	return cc, nil
}

// containerName is the name of the run's container of role: fixed, so a
// resumed run finds what its killed driver left behind.
func (cc *ContainerCluster) containerName(role string) string {
	return "squall-" + cc.RunID + "-" + role
}

// leftoverPorts are the host ports, by container port ("7233/tcp"), of the
// run's container of role that a killed driver left behind, when this is
// a resume and there is one.
func (cc *ContainerCluster) leftoverPorts(ctx context.Context, role string) (map[string]int, bool) {
	if !cc.resume {
		return nil, false
	}
	ins, err := cc.cli.ContainerInspect(ctx, cc.containerName(role), dockerclient.ContainerInspectOptions{})
	if err != nil || ins.Container.HostConfig == nil {
		return nil, false
	}
	ports := map[string]int{}
	for p, bs := range ins.Container.HostConfig.PortBindings {
		for _, b := range bs {
			if n, err := strconv.Atoi(b.HostPort); err == nil {
				ports[p.String()] = n
			}
		}
	}
	return ports, true
}

// ensurePulled makes sure ref is present, pulling it when it is not; a
// failed pull is a usage error (here: no registry to pull from).
func ensurePulled(ctx context.Context, cli *testcontainers.DockerClient, ref string) error {
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return nil
	}
	rc, err := cli.ImagePull(ctx, ref, dockerclient.ImagePullOptions{})
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
	}
	if err == nil {
		if _, err = cli.ImageInspect(ctx, ref); err == nil {
			return nil
		}
	}
	return Usagef("--image %s is not present locally and cannot be pulled (%v): pull or build it first, or drop --image to use the locally built squall image", ref, oneLine(err))
}

// Where secrets live inside squall's containers (the image has /tmp).
const (
	containerDSNFile     = "/tmp/squall-dsn"
	containerProfileFile = "/tmp/squall-temporal.toml"
)

// secretFile is a file copied into a container before it starts, readable
// by its owner only.
func secretFile(path string, content []byte) testcontainers.ContainerFile {
	return testcontainers.ContainerFile{Reader: bytes.NewReader(content), ContainerFilePath: path, FileMode: 0o600}
}

func oneLine(err error) string {
	s := strings.TrimSpace(fmt.Sprint(err))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// StartWorkers starts n worker containers from the squall image, each
// running `squall worker ARGS...` connected as conn says but to the server
// container on the run's network (temporal:7233), ready once it prints its
// ready line. The connection, secrets included, goes in as a temporal.toml
// file the worker reads through TEMPORAL_CONFIG_FILE: the container's
// environment is on show in `docker inspect`.
func (cc *ContainerCluster) StartWorkers(ctx context.Context, n int, conn Conn, args []string, readyLine string) error {
	if !IsSquallImage(cc.Image) {
		return Usagef("worker containers need the squall image, not %s", cc.Image)
	}
	conn.Address = net.JoinHostPort(ServerAlias, strconv.Itoa(containerFrontendPort))
	profile, err := conn.ProfileTOML()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	cs := make([]*Container, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs[i], errs[i] = cc.start(ctx, fmt.Sprintf("worker-%d", i), testcontainers.ContainerRequest{
				Image:      cc.Image,
				Cmd:        append([]string{"worker"}, args...),
				Env:        map[string]string{"TEMPORAL_CONFIG_FILE": containerProfileFile, "TEMPORAL_PROFILE": ChildProfile},
				Files:      []testcontainers.ContainerFile{secretFile(containerProfileFile, profile)},
				WaitingFor: &logReady{line: readyLine, timeout: time.Minute},
			})
		}()
	}
	wg.Wait()
	for i, c := range cs {
		if c != nil {
			cc.Workers = append(cc.Workers, c)
		}
		if errs[i] != nil {
			return fmt.Errorf("worker container %d: %w", i, errs[i])
		}
	}
	return nil
}

func (cc *ContainerCluster) start(ctx context.Context, role string, req testcontainers.ContainerRequest) (*Container, error) {
	req.Name = cc.containerName(role)
	req.Labels = labels(cc.RunID, role)
	req.Networks = []string{cc.netName}
	// A resume takes up what the killed driver left: the server and the
	// topology's nodes hold the cluster's data and membership, so they are
	// reused (started again if they stopped); workers hold nothing and
	// are replaced, to run the resumed driver's command line.
	reuse := cc.resume && !strings.HasPrefix(role, "worker-")
	if cc.resume && !reuse {
		_, _ = cc.cli.ContainerRemove(ctx, req.Name, dockerclient.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true, Reuse: reuse})
	c := &Container{name: role, ctr: ctr, cli: cc.cli, network: cc.netName, aliases: req.NetworkAliases[cc.netName]}
	if ctr != nil && err != nil {
		cc.saveLogs(c)
		_ = ctr.Terminate(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%s container (image %s): %w (log: %s)", role, req.Image, err, cc.logPath(c))
	}
	if err != nil {
		return nil, fmt.Errorf("%s container (image %s): %w", role, req.Image, err)
	}
	return c, nil
}

func (cc *ContainerCluster) logPath(c *Container) string {
	return filepath.Join(cc.logDir, "container-"+c.name+".log")
}

// saveLogs writes the container's whole output (every start) to the run
// directory: once it is removed, nothing else has it.
func (cc *ContainerCluster) saveLogs(c *Container) {
	if cc.logDir == "" || c.ctr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := c.ctr.Logs(ctx)
	if err != nil {
		return
	}
	defer rc.Close()
	f, err := os.Create(cc.logPath(c))
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, rc)
}

// Close saves every container's output, then removes the containers and
// the network. It takes its own time budget: it also runs after Ctrl-C.
func (cc *ContainerCluster) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	var errs []error
	all := append(append(append([]*Container{}, cc.Workers...), cc.Nodes...), cc.Server)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, c := range all {
		if c == nil || c.ctr == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Frozen containers cannot be stopped.
			_, _ = cc.cli.ContainerUnpause(ctx, c.ctr.GetContainerID(), dockerclient.ContainerUnpauseOptions{})
			cc.saveLogs(c)
			if err := c.ctr.Terminate(ctx, testcontainers.StopTimeout(10*time.Second)); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("remove %s container: %w", c.name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cc.Workers, cc.Nodes, cc.Server = nil, nil, nil
	if cc.net != nil {
		if err := cc.net.Remove(ctx); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", cc.netName, err))
		}
	} else if cc.netID != "" && cc.cli != nil {
		if _, err := cc.cli.NetworkRemove(ctx, cc.netID, dockerclient.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", cc.netName, err))
		}
	}
	cc.net, cc.netID = nil, ""
	if cc.cli != nil {
		cc.cli.Close()
		cc.cli = nil
	}
	return errors.Join(errs...)
}

// Name is the container's role: server or worker-N.
func (c *Container) Name() string { return c.name + " container" }

func (c *Container) id() string { return c.ctr.GetContainerID() }

func (c *Container) Pause(ctx context.Context) error {
	_, err := c.cli.ContainerPause(ctx, c.id(), dockerclient.ContainerPauseOptions{})
	return err
}

func (c *Container) Unpause(ctx context.Context) error {
	_, err := c.cli.ContainerUnpause(ctx, c.id(), dockerclient.ContainerUnpauseOptions{})
	return err
}

func (c *Container) Stop(ctx context.Context) error {
	grace := 10 * time.Second
	return c.ctr.Stop(ctx, &grace)
}

func (c *Container) Kill(ctx context.Context) error {
	if _, err := c.cli.ContainerKill(ctx, c.id(), dockerclient.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		return err
	}
	for {
		st, err := c.ctr.State(ctx)
		if err != nil {
			return err
		}
		if !st.Running {
			return nil
		}
		if !sleep.For(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// Start starts a stopped container and waits until it is ready again.
func (c *Container) Start(ctx context.Context) error { return c.ctr.Start(ctx) }

func (c *Container) Disconnect(ctx context.Context) error {
	_, err := c.cli.NetworkDisconnect(ctx, c.network, dockerclient.NetworkDisconnectOptions{Container: c.id(), Force: true})
	return err
}

func (c *Container) Connect(ctx context.Context) error {
	_, err := c.cli.NetworkConnect(ctx, c.network, dockerclient.NetworkConnectOptions{Container: c.id(),
		EndpointConfig: &network.EndpointSettings{Aliases: c.aliases}})
	return err
}

// grpcHealth is ready when the frontend's gRPC health service reports the
// workflow service SERVING: the server answers, not merely listens.
type grpcHealth struct {
	addr    string
	timeout time.Duration
}

const workflowServiceName = "temporal.api.workflowservice.v1.WorkflowService"

func (h *grpcHealth) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	var last error
	for {
		if err := exitedEarly(ctx, target); err != nil {
			return err
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{Service: workflowServiceName})
		ccancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("health: %s", resp.GetStatus())
		}
		if !sleep.For(ctx, 200*time.Millisecond) {
			return fmt.Errorf("frontend %s not healthy within %s: %v", h.addr, h.timeout, last)
		}
	}
}

// logReady is ready when line appears in the output once more than it
// had before this start (the output of earlier starts stays).
type logReady struct {
	line    string
	timeout time.Duration
	seen    int
}

func (l *logReady) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	for {
		if err := exitedEarly(ctx, target); err != nil {
			return err
		}
		if rc, err := target.Logs(ctx); err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			if n := bytes.Count(b, []byte(l.line)); n > l.seen {
				l.seen = n
				return nil
			}
		}
		if !sleep.For(ctx, 200*time.Millisecond) {
			return fmt.Errorf("no %q within %s", l.line, l.timeout)
		}
	}
}

// exitedEarly turns a container that died during start-up into an error
// carrying its last output line (usually the reason).
func exitedEarly(ctx context.Context, target wait.StrategyTarget) error {
	st, err := target.State(ctx)
	if err != nil || st.Running {
		return nil
	}
	if st.Status != "exited" && st.Status != "dead" {
		return nil
	}
	last := ""
	if rc, err := target.Logs(ctx); err == nil {
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			if s := strings.TrimSpace(sc.Text()); s != "" {
				last = s
			}
		}
		rc.Close()
	}
	if st.ExitCode == 2 && last != "" {
		return Usagef("server container: %s", strings.TrimPrefix(last, "squall: "))
	}
	return fmt.Errorf("container exited with code %d during start-up: %s", st.ExitCode, last)
}

// Cleanup removes every container and network labelled by squall (of the
// one run runID, or of all runs when it is empty), running or not.
func Cleanup(ctx context.Context, runID string) ([]Leftover, error) {
	quietTestcontainers()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, dockerUnavailable(err)
	}
	defer cli.Close()
	filter := LabelRunID
	if runID != "" {
		filter += "=" + runID
	}
	f := dockerclient.Filters{}.Add("label", filter)
	cl, err := cli.ContainerList(ctx, dockerclient.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, dockerUnavailable(err)
	}
	var out []Leftover
	var errs []error
	for _, c := range cl.Items {
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		if _, err := cli.ContainerRemove(ctx, c.ID, dockerclient.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", name, err))
			continue
		}
		out = append(out, Leftover{Kind: "container", Name: name, RunID: c.Labels[LabelRunID]})
	}
	nl, err := cli.NetworkList(ctx, dockerclient.NetworkListOptions{Filters: f})
	if err != nil {
		return out, errors.Join(append(errs, err)...)
	}
	for _, n := range nl.Items {
		if _, err := cli.NetworkRemove(ctx, n.ID, dockerclient.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		out = append(out, Leftover{Kind: "network", Name: n.Name, RunID: n.Labels[LabelRunID]})
	}
	return out, errors.Join(errs...)
}

// quietTestcontainers silences testcontainers' own progress lines: squall
// reports what matters itself, and they would break into the progress
// output of a run.
func quietTestcontainers() { tclog.SetDefault(tclog.NewNoopLogger()) }
