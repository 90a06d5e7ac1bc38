//go:build !squall_lean

package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
)

// startContainerNodes opens Docker and the run's network and gives every
// node a container backend with fixed host ports (kept across restarts).
func (t *Topology) startContainerNodes(ctx context.Context) error {
	spec := t.spec
	if pg, err := parsePostgresDSN(spec.Server.DSN); err != nil {
		return err
	} else if isLoopback(pg.host) {
		return Usagef("--dsn points at loopback, which inside a node's container is the container itself: give an address of the database the containers can reach")
	}
	cc, err := openContainerCluster(ctx, spec.Containers.RunID, spec.Dir, "", spec.Bin, spec.Containers.Out, spec.Containers.Resume)
	if err != nil {
		return err
	}
	t.cc = cc
	host := "127.0.0.1"
	if h := os.Getenv("TESTCONTAINERS_HOST_OVERRIDE"); h != "" {
		host = h
	}
	for _, n := range t.nodes {
		grpcP, metricsP := fmt.Sprintf("%d/tcp", containerNodePort), fmt.Sprintf("%d/tcp", containerMetricsPort)
		grpcPort, err := FreePort()
		if err != nil {
			return err
		}
		metricsPort, err := FreePort()
		if err != nil {
			return err
		}
		if old, ok := cc.leftoverPorts(ctx, n.Name); ok && old[grpcP] > 0 && old[metricsP] > 0 {
			grpcPort, metricsPort = old[grpcP], old[metricsP] // a resume takes the node up where it is
		}
		n.Ports = NodePorts{GRPC: grpcPort, Metrics: metricsPort}
		n.dial = net.JoinHostPort(host, strconv.Itoa(grpcPort))
		n.MetricsURL = fmt.Sprintf("http://%s/metrics", net.JoinHostPort(host, strconv.Itoa(metricsPort)))
		n.LogPath = cc.logPath(&Container{name: n.Name})
		o := containerNodeOptions(spec.Server, n.Service)
		aliases := []string{n.Name}
		if n.Service == ServiceFrontend {
			// Worker containers dial ServerAlias: any frontend will do.
			aliases = append(aliases, ServerAlias)
		}
		secretArgs, files := o.ContainerSecrets()
		n.backend = &containerNode{cc: cc, node: n, req: testcontainers.ContainerRequest{
			Image:        cc.Image,
			Cmd:          append(o.Args(), secretArgs...),
			Files:        files,
			ExposedPorts: []string{grpcP, metricsP},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.PortBindings = network.PortMap{
					network.MustParsePort(grpcP):    {{HostPort: strconv.Itoa(grpcPort)}},
					network.MustParsePort(metricsP): {{HostPort: strconv.Itoa(metricsPort)}},
				}
			},
			NetworkAliases: map[string][]string{cc.netName: aliases},
			WaitingFor:     &logReady{line: ReadyLine, timeout: 2 * time.Minute},
		}}
	}
	return nil
}

// containerNode runs a node as a container; its address on the run's
// network may change when it is started again, so start reads it back.
type containerNode struct {
	cc   *ContainerCluster
	node *Node
	req  testcontainers.ContainerRequest

	mu      sync.Mutex
	c       *Container
	hostPid int
}

var _ nodeBackend = (*containerNode)(nil)

func (b *containerNode) start(ctx context.Context) error {
	b.mu.Lock()
	c := b.c
	b.mu.Unlock()
	if c == nil {
		var err error
		if c, err = b.cc.start(ctx, b.node.Name, b.req); err != nil {
			return err
		}
		b.cc.mu.Lock()
		b.cc.Nodes = append(b.cc.Nodes, c)
		b.cc.mu.Unlock()
	} else if err := c.Start(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	b.c = c
	b.mu.Unlock()
	return b.readAddress(ctx, c)
}

// readAddress reads the container's address on the run's network (the
// node's membership identity) and its main process's id on this host.
func (b *containerNode) readAddress(ctx context.Context, c *Container) error {
	ins, err := c.ctr.Inspect(ctx)
	if err != nil {
		return fmt.Errorf("inspect %s container: %w", b.node.Name, err)
	}
	ep := ins.NetworkSettings.Networks[b.cc.netName]
	if ep == nil || !ep.IPAddress.IsValid() {
		return fmt.Errorf("%s container has no address on network %s", b.node.Name, b.cc.netName)
	}
	b.setPid(ins.State.Pid)
	b.node.mu.Lock()
	b.node.addr = net.JoinHostPort(ep.IPAddress.String(), strconv.Itoa(containerNodePort))
	b.node.mu.Unlock()
	return nil
}

func (b *containerNode) current() (*Container, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil {
		return nil, fmt.Errorf("%s container not started", b.node.Name)
	}
	return b.c, nil
}

func (b *containerNode) kill(ctx context.Context) error {
	c, err := b.current()
	if err != nil {
		return err
	}
	b.setPid(0)
	return c.Kill(ctx)
}

func (b *containerNode) stop(ctx context.Context, grace time.Duration) error {
	c, err := b.current()
	if err != nil {
		return nil // never started: nothing to stop
	}
	b.setPid(0)
	_ = c.Unpause(ctx) // a frozen container cannot be stopped
	return c.ctr.Stop(ctx, &grace)
}

func (b *containerNode) pause(ctx context.Context) error {
	c, err := b.current()
	if err != nil {
		return err
	}
	return c.Pause(ctx)
}

func (b *containerNode) resume(ctx context.Context) error {
	c, err := b.current()
	if err != nil {
		return err
	}
	return c.Unpause(ctx)
}

func (b *containerNode) setPid(p int) {
	b.mu.Lock()
	b.hostPid = p
	b.mu.Unlock()
}

func (b *containerNode) pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hostPid
}

func (b *containerNode) container() string { return b.cc.containerName(b.node.Name) }

// NodeContainer is a container node as container faults see it: the
// methods of *Container, through the node, so its events are recorded
// and its address (which a new start or network connect may change) is
// read again.
type NodeContainer struct {
	n *Node
	b *containerNode
}

// Container is the node's container, nil for a process node.
func (n *Node) Container() *NodeContainer {
	if b, ok := n.backend.(*containerNode); ok {
		return &NodeContainer{n: n, b: b}
	}
	return nil
}

func (c *NodeContainer) Name() string                      { return c.n.Name + " container" }
func (c *NodeContainer) Pause(ctx context.Context) error   { return c.n.Pause(ctx) }
func (c *NodeContainer) Unpause(ctx context.Context) error { return c.n.Resume(ctx) }
func (c *NodeContainer) Stop(ctx context.Context) error    { return c.n.Stop(ctx, 10*time.Second) }
func (c *NodeContainer) Kill(ctx context.Context) error    { return c.n.Kill(ctx) }
func (c *NodeContainer) Start(ctx context.Context) error   { return c.n.Start(ctx) }
func (c *NodeContainer) Disconnect(ctx context.Context) error {
	ctr, err := c.b.current()
	if err != nil {
		return err
	}
	if err := ctr.Disconnect(ctx); err != nil {
		return err
	}
	c.n.record("disconnect")
	return nil
}

func (c *NodeContainer) Connect(ctx context.Context) error {
	ctr, err := c.b.current()
	if err != nil {
		return err
	}
	if err := ctr.Connect(ctx); err != nil {
		return err
	}
	if err := c.b.readAddress(ctx, ctr); err != nil {
		return err
	}
	c.n.record("connect")
	return nil
}
