package cluster

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestShapeNamesAndTargets(t *testing.T) {
	s := Shape{History: 2}
	if got, want := s.Names(), []string{"history-1", "history-2", "matching-1", "frontend-1", "worker-1"}; !slices.Equal(got, want) {
		t.Errorf("names %v, want %v", got, want)
	}
	for _, c := range []struct {
		target string
		want   []string
		err    string
	}{
		{"history-2", []string{"history-2"}, ""},
		{"history", []string{"history-1", "history-2"}, ""},
		{"matching", []string{"matching-1"}, ""},
		{"worker-1", []string{"worker-1"}, ""},
		{"history-9", nil, "runs 2 history node(s) (history-1, history-2)"},
		{"history-0", nil, "runs 2 history node(s)"},
		{"history-01", nil, "runs 2 history node(s)"},
		{"history-x", nil, "runs 2 history node(s)"},
		{"frontend-2", nil, "runs 1 frontend node(s) (frontend-1)"},
		{"server", nil, "no such node"},
		{"", nil, "no such node"},
	} {
		got, err := s.Resolve(c.target)
		if c.err != "" {
			if err == nil || !IsUsageErr(err) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("target %q: %v, want a usage error with %q", c.target, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("target %q: %v %v, want %v", c.target, got, err, c.want)
		}
	}
	if err := (Shape{History: MaxHosts + 1}).Validate(); err == nil || !strings.Contains(err.Error(), "--history-hosts") {
		t.Errorf("too many history hosts: %v", err)
	}
	if DefaultShards(3) != 12 || DefaultShards(0) != 4 {
		t.Errorf("default shards %d for 3 hosts, %d for none", DefaultShards(3), DefaultShards(0))
	}
}

// Args is the inverse of the flags: what the runner, the container
// backend and the topology hand a child is what the child reads back.
func TestServerArgsRoundTrip(t *testing.T) {
	t.Setenv(DSNEnv, "")
	rule, err := ParsePersistenceRule("ExecutionStore.UpdateWorkflowExecution=ExecuteAndTimeout:0.05")
	if err != nil {
		t.Fatal(err)
	}
	full := ServerOptions{
		Persistence: PersistencePostgres, DSN: "postgres://u:secret@db:5432/t?sslmode=disable", Shards: 8,
		BindIP: "0.0.0.0", Port: 20000, MetricsPort: 9090, Dynamic: map[string]string{"frontend.rps": "5", "a.b": "c"},
		LogLevel: "info", LogFile: "/tmp/x.log", ControlPort: 20100, PersistenceFaults: []PersistenceRule{rule},
		Services: []string{"history"}, BroadcastAddress: BroadcastAuto, FrontendAddress: "frontend-1:7233",
	}
	sqlite := ServerOptions{Persistence: PersistenceSQLite, DBPath: "/data/t.db", Shards: 1, BindIP: "127.0.0.1", Port: 7233, LogLevel: "warn"}
	for _, o := range []ServerOptions{full, sqlite} {
		t.Setenv(DSNEnv, "")
		args := o.Args()
		if args[0] != "server" {
			t.Fatalf("args %v: want the subcommand first", args)
		}
		if strings.Contains(strings.Join(args, " "), "secret") {
			t.Errorf("the DSN's password is on the command line: %v", args)
		}
		if env := o.ChildEnv(); env != nil {
			k, v, _ := strings.Cut(env[len(env)-1], "=")
			t.Setenv(k, v)
		}
		var got ServerOptions
		f := pflag.NewFlagSet("server", pflag.ContinueOnError)
		finish := BindServerFlags(f, &got)
		if err := f.Parse(args[1:]); err != nil {
			t.Fatalf("parse %v: %v", args, err)
		}
		if err := finish(); err != nil {
			t.Fatal(err)
		}
		if o.Persistence == PersistencePostgres {
			o.DBPath = defaultServerDB // the flag's default, unused on Postgres
		}
		if !reflect.DeepEqual(got, o) {
			t.Errorf("round trip of %v:\n got %+v\nwant %+v", args, got, o)
		}
	}
}

// A resumed topology's nodes take their predecessors' ports when all three
// are free, and free ones otherwise: never a port in use, never a block
// laid out other than gRPC, membership, metrics.
func TestPortsForTakesTheOldPortsWhenFree(t *testing.T) {
	base, err := freePortBlock(nodePortBlock, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := NodePorts{GRPC: base, Membership: base + 1, Metrics: base + 2}
	spec := TopologySpec{Ports: map[string]NodePorts{"history-1": old}}
	if got, err := spec.portsFor("history-1", map[int]bool{}); err != nil || got != base {
		t.Errorf("free old ports: got %d (%v), want %d", got, err, base)
	}
	if got, _ := spec.portsFor("matching-1", map[int]bool{}); got == base {
		t.Errorf("a node without old ports got history-1's %d", got)
	}
	if got, _ := spec.portsFor("history-1", map[int]bool{base + 2: true}); got == base {
		t.Error("took the old ports though one is already given to another node")
	}
	odd := TopologySpec{Ports: map[string]NodePorts{"history-1": {GRPC: base, Membership: base + 2, Metrics: base + 1}}}
	if got, _ := odd.portsFor("history-1", map[int]bool{}); got == base {
		t.Error("took ports laid out otherwise than the node block")
	}
	inContainers := TopologySpec{Ports: spec.Ports, Containers: &TopologyContainers{}}
	if got, _ := inContainers.portsFor("history-1", map[int]bool{}); got == base {
		t.Error("a container node took host ports")
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+1))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := map[int]bool{}
	got, err := spec.portsFor("history-1", taken)
	if err != nil || got == base {
		t.Errorf("old membership port in use: got %d (%v), want other ports", got, err)
	}
	if !taken[got] || !taken[got+2] {
		t.Errorf("the ports picked instead (%d) are not marked taken: %v", got, taken)
	}
}
