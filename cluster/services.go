package cluster

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// Temporal's services, in the order a process lays out its ports.
const (
	ServiceFrontend = "frontend"
	ServiceHistory  = "history"
	ServiceMatching = "matching"
	ServiceWorker   = "worker"
)

// Services are the services `squall server` can run, in port order.
var Services = []string{ServiceFrontend, ServiceHistory, ServiceMatching, ServiceWorker}

// normalizeServices checks names and puts them in port order without
// duplicates; none means all of them (one process, as by default).
func normalizeServices(names []string) ([]string, error) {
	if len(names) == 0 {
		return slices.Clone(Services), nil
	}
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if !slices.Contains(Services, n) {
			return nil, Usagef("bad --service %q: want %s (repeatable, or comma-separated)", n, strings.Join(Services, ", "))
		}
	}
	for _, s := range Services {
		if slices.Contains(names, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// allServices reports whether one process runs the whole cluster.
func allServices(names []string) bool { return len(names) == len(Services) }

// servicePorts is where each service of a process listens: every service
// takes two consecutive ports from the process's first port, gRPC then
// membership, in the order of Services. With all four services that is
// the single-process layout (frontend on the first port, +1..+7 internal).
func servicePorts(first int, services []string) map[string][2]int {
	out := map[string][2]int{}
	for i, s := range services {
		out[s] = [2]int{first + 2*i, first + 2*i + 1}
	}
	return out
}

// portsNeeded is how many consecutive ports a process of these services uses.
func portsNeeded(services []string) int { return 2 * len(services) }

// Broadcast addresses: loopback (one machine) or "auto", the host's own
// address on its network as the server itself would pick it (in a
// container, the container's address on the run's network).
const BroadcastAuto = "auto"

func isLoopback(ip string) bool {
	p := net.ParseIP(ip)
	return ip == "localhost" || (p != nil && p.IsLoopback())
}

func checkBroadcast(b string) error {
	if b == "" || b == BroadcastAuto || net.ParseIP(b) != nil {
		return nil
	}
	return Usagef("bad --broadcast-address %q: want an IP address the other processes reach this one at, or %s", b, BroadcastAuto)
}

// describeServices is "frontend, history" for messages.
func describeServices(s []string) string {
	if allServices(s) {
		return "all services"
	}
	return fmt.Sprintf("service(s) %s", strings.Join(s, ", "))
}
