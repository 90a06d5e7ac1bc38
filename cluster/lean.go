//go:build squall_lean

package cluster

import (
	"context"
	"time"

	"github.com/spf13/pflag"
)

// This file stands in, in a squall built with -tags squall_lean, for
// everything that needs the Temporal server or the container engine
// compiled in: starting a server (embedded, as processes or as
// containers), preparing its database, and reading a topology's shards
// and membership through the server's admin API. Each refuses with the
// same usage error; the rest of squall (driving, verifying, reporting and
// comparing runs against a cluster at --address, and `squall worker`) is
// the same code as in the full binary.

// Lean is true in this build: the runner refuses plans that would start a
// cluster before anything starts.
const Lean = true

// lean is the one refusal: what was asked for, and the two ways to get it.
func lean(what string) error {
	return Usagef("%s needs the Temporal server or container engine that this squall leaves out (built with -tags squall_lean): use the full squall (make build), or drive your own cluster with --address", what)
}

// CheckDynamicConfig: no server here to run it, so any is refused.
func CheckDynamicConfig(overrides map[string]string) error {
	if len(overrides) > 0 {
		return lean("--dynamic-config")
	}
	return nil
}

// RunServer refuses: `squall server` is the embedded server.
func RunServer(context.Context, ServerOptions, func(string)) error {
	return lean("squall server")
}

// BindServerFlags defines no flags: `squall server` refuses whatever it is
// given.
func BindServerFlags(*pflag.FlagSet, *ServerOptions) (finish func() error) {
	return func() error { return nil }
}

// StartTopology refuses: its nodes are squall's own server.
func StartTopology(context.Context, TopologySpec) (*Topology, error) {
	return nil, lean("--topology")
}

// Replace is never reached: no Topology exists here.
func (t *Topology) Replace(context.Context, *Node, ServerBinary, time.Duration) error {
	return lean("a node upgrade")
}

func (t *Topology) ShardOwnership(context.Context) (ShardOwnership, error) {
	return ShardOwnership{}, lean("shard ownership")
}

func (t *Topology) Membership(context.Context) (Membership, error) {
	return Membership{}, lean("membership")
}

func (t *Topology) WaitShardsMoved(context.Context, string, []int32) (ShardMove, error) {
	return ShardMove{}, lean("shard movement")
}

func (t *Topology) WaitServing(context.Context) error { return lean("a topology") }

// ContainerCluster has the fields the runner reads; none is ever made here.
type ContainerCluster struct {
	RunID       string
	Address     string
	MetricsPort int
	Image       string
	TakenUp     bool
	Server      *Container
	Workers     []*Container
	Nodes       []*Container
}

// StartContainerCluster refuses: containers need the container engine.
func StartContainerCluster(context.Context, ContainerSpec) (*ContainerCluster, error) {
	return nil, lean("--cluster container")
}

func (cc *ContainerCluster) StartWorkers(context.Context, int, Conn, []string, string) error {
	return lean("worker containers")
}

func (cc *ContainerCluster) Close(context.Context) error { return nil }

// Container is one container; none is ever made here.
type Container struct{ name string }

func (c *Container) Name() string                     { return c.name + " container" }
func (c *Container) Pause(context.Context) error      { return lean("a container fault") }
func (c *Container) Unpause(context.Context) error    { return lean("a container fault") }
func (c *Container) Stop(context.Context) error       { return lean("a container fault") }
func (c *Container) Kill(context.Context) error       { return lean("a container fault") }
func (c *Container) Start(context.Context) error      { return lean("a container fault") }
func (c *Container) Disconnect(context.Context) error { return lean("a container fault") }
func (c *Container) Connect(context.Context) error    { return lean("a container fault") }

// Cleanup refuses: leftover containers of a full squall's runs are
// removed by the full squall.
func Cleanup(context.Context, string) ([]Leftover, error) {
	return nil, lean("squall cleanup")
}

// EnsureImage refuses: building the squall image needs the engine.
func EnsureImage(context.Context, string) (string, bool, error) {
	return "", false, lean("the squall image")
}

// NodeContainer is a topology node's container; with no topology here,
// Node.Container is always nil.
type NodeContainer struct{}

func (n *Node) Container() *NodeContainer { return nil }

func (c *NodeContainer) Name() string                     { return "container" }
func (c *NodeContainer) Pause(context.Context) error      { return lean("a container fault") }
func (c *NodeContainer) Unpause(context.Context) error    { return lean("a container fault") }
func (c *NodeContainer) Stop(context.Context) error       { return lean("a container fault") }
func (c *NodeContainer) Kill(context.Context) error       { return lean("a container fault") }
func (c *NodeContainer) Start(context.Context) error      { return lean("a container fault") }
func (c *NodeContainer) Disconnect(context.Context) error { return lean("a container fault") }
func (c *NodeContainer) Connect(context.Context) error    { return lean("a container fault") }
