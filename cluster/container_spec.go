package cluster

import (
	"io"
	"net"
	"strconv"
	"strings"
)

// ServerAlias is the server container's name on the run's network: worker
// containers dial ServerAlias:7233.
const ServerAlias = "temporal"

// Ports inside the server container.
const (
	containerFrontendPort = 7233
	containerMetricsPort  = 9090
)

// ContainerSpec describes the server container of a --cluster container run.
type ContainerSpec struct {
	RunID string
	// Image is another server image; empty: the squall image built from Bin.
	Image string
	Bin   string
	// Server is the squall image's `squall server` options (persistence,
	// shards, dynamic config, log level); the container sets the ports,
	// bind address and SQLite path itself. The DSN goes in as a file
	// (ServerOptions.ContainerSecrets), not in its command or environment.
	Server ServerOptions
	// ServerFlags are more `squall server` flags, appended after Server's.
	ServerFlags []string
	// Dynamic is the dynamic config, for the official image's preset.
	Dynamic map[string]string
	LogDir  string
	Out     io.Writer // progress messages
	// Resume takes up the containers and network a killed driver of the
	// same run left behind: the server container is started again if it
	// stopped and keeps its data and ports; worker containers are replaced.
	Resume bool
}

// Leftover is one Docker object `squall cleanup` removed.
type Leftover struct{ Kind, Name, RunID string }

// TopologyContainers runs a topology's nodes as containers of the squall
// image, one per node, on the run's own network, so container faults
// (pause, stop, network disconnect) can hit one node.
type TopologyContainers struct {
	RunID string
	Out   io.Writer // progress, e.g. that the image had to be built
	// Resume takes up the node containers and network a killed driver of
	// the same run left behind (ContainerSpec.Resume).
	Resume bool
}

// Inside every node's container the node listens on the same ports; the
// containers differ by address on the run's network.
const (
	containerNodePort = containerFrontendPort // gRPC; membership is the next port
)

// containerNodeOptions are a node's `squall server` options inside its
// container: every service bound to the container's interface and
// advertised at its address on the run's network, frontend-1 found by its
// network alias.
func containerNodeOptions(shared ServerOptions, service string) ServerOptions {
	o := shared
	o.Services = []string{service}
	o.Port, o.MetricsPort = containerNodePort, containerMetricsPort
	o.BindIP, o.BroadcastAddress = "0.0.0.0", BroadcastAuto
	o.FrontendAddress = net.JoinHostPort(nodeName(ServiceFrontend, 1), strconv.Itoa(containerNodePort))
	o.LogFile, o.DBPath = "", ""
	return o
}

// ImageRepo is the repository of the locally built squall images; the tag
// is a hash of the binary and the Dockerfile, so a rebuilt binary gets a
// new image and an unchanged one never rebuilds.
const ImageRepo = "squall"

// Labels put on everything squall creates in Docker, so `squall cleanup`
// finds leftovers of runs that could not clean up after themselves.
const (
	LabelRunID = "io.squall.run-id"
	LabelRole  = "io.squall.role"
)

// IsSquallImage reports whether ref is a squall image (it takes squall's
// own command line).
func IsSquallImage(ref string) bool {
	return ref == "" || ref == ImageRepo || strings.HasPrefix(ref, ImageRepo+":")
}
