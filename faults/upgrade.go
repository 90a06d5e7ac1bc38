package faults

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/scenarios"
)

// A rolling upgrade is a rolling restart in which each node comes back on
// another server binary: started with --server-binary OLD, the cluster
// moves node by node to squall's own server (to=squall) or to=PATH, the
// way an operator upgrades one process at a time. Nodes already on the
// target are left alone. A rolling downgrade is the same walk towards an
// older binary.
func init() {
	for _, k := range upgradeKinds {
		Register(&Kind{
			Name: k.name,
			Description: "move every server process of --topology services, one at a time, to a " + k.dir + " server binary (to=squall: squall's own Temporal " +
				cluster.ServerVersion + "; to=PATH: an official temporal-server): graceful stop, start on the new binary, wait until the cluster serves again and gap= " +
				"before the next; every step's versions and times are the window's evidence",
			Params: []scenarios.Option{
				{Name: "to", Kind: scenarios.String, Default: k.defTo, Help: "squall (squall's own server) or the PATH of a temporal-server binary (scripts/server-binary.sh VERSION builds one)"},
				{Name: "order", Kind: scenarios.String, Default: "history,matching,frontend,worker", Help: "the services in the order their nodes move"},
				{Name: "gap", Kind: scenarios.Duration, Default: "5s", Help: "pause between one node serving again and the next step"},
			},
			Needs: NeedTopology,
			New: func(env *Env, p scenarios.Values) (Fault, error) {
				if env.Topology == nil {
					return nil, fmt.Errorf("%s needs --topology services", k.name)
				}
				all, err := rollingOrder(env.Topology, p.String("order"))
				if err != nil {
					return nil, err
				}
				var names []string
				var from []cluster.ServerBinary
				for _, n := range all {
					names, from = append(names, n.Name), append(from, n.Binary())
				}
				to, moving, err := k.plan(p.String("to"), names, from)
				if err != nil {
					return nil, err
				}
				var nodes []*cluster.Node
				for _, i := range moving {
					nodes = append(nodes, all[i])
				}
				return &rollingRestart{topo: env.Topology, nodes: nodes, gap: p.Duration("gap"), sig: syscall.SIGTERM, to: &to}, nil
			},
		})
	}
}

type upgradeKind struct{ name, dir, defTo string }

var upgradeKinds = []upgradeKind{
	{"rolling-upgrade", "newer", "squall"},
	{"rolling-downgrade", "older", ""},
}

// plan picks the nodes that move to the binary toSpec names: those not on
// it already, each of which must be older (upgrade) or newer (downgrade).
func (k upgradeKind) plan(toSpec string, names []string, from []cluster.ServerBinary) (cluster.ServerBinary, []int, error) {
	to, err := upgradeTarget(toSpec)
	if err != nil {
		return to, nil, cluster.Usagef("%s: %v", k.name, err)
	}
	var moving []int
	for i, b := range from {
		if b == to {
			continue
		}
		if c := compareVersions(to.Version, b.Version); (k.dir == "newer" && c < 0) || (k.dir == "older" && c > 0) {
			other := map[string]string{"newer": "rolling-downgrade", "older": "rolling-upgrade"}[k.dir]
			return to, nil, cluster.Usagef("%s to=%s: Temporal %s is not %s than %s's %s (use %s)", k.name, toSpec, to.Version, k.dir, names[i], b.Version, other)
		}
		moving = append(moving, i)
	}
	if len(moving) == 0 {
		return to, nil, cluster.Usagef("%s to=%s: every node already runs Temporal %s; start the cluster on another version with --server-binary PATH", k.name, toSpec, to.Version)
	}
	return to, moving, nil
}

// CheckRollingUpgrade checks a rolling-upgrade or rolling-downgrade
// before any load: its to= binary, and that some node of shape, started
// on binaryFor(service), moves in the kind's direction. Other kinds pass.
func CheckRollingUpgrade(s Spec, shape cluster.Shape, binaryFor func(service string) cluster.ServerBinary) error {
	for _, k := range upgradeKinds {
		if k.name != s.Kind.Name {
			continue
		}
		toSpec := s.Params.String("to")
		var names []string
		var from []cluster.ServerBinary
		for _, name := range shape.Names() {
			svc, _, _ := strings.Cut(name, "-")
			names, from = append(names, name), append(from, binaryFor(svc))
		}
		_, _, err := k.plan(toSpec, names, from)
		return err
	}
	return nil
}

func upgradeTarget(to string) (cluster.ServerBinary, error) {
	switch to {
	case "squall":
		return cluster.OwnServer, nil
	case "":
		return cluster.ServerBinary{}, cluster.Usagef("missing to=PATH: the temporal-server binary to move to (scripts/server-binary.sh VERSION builds one)")
	}
	return cluster.LookServerBinary(to)
}

// compareVersions orders two server versions (1.31.5 < 1.32.2); parts
// that are not numbers compare as 0.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(strings.TrimLeft(pa[i], "v"))
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(strings.TrimLeft(pb[i], "v"))
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return 0
}
