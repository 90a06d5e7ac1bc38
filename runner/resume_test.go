package runner

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/reports"
)

// The schedule goes on at the first iteration due after the last record
// plus the margin, moved so that it is due when the new driver starts, and
// never ahead of the old schedule.
func TestResumePoint(t *testing.T) {
	origin := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	ex := bench.ArrivalRate{Pacer: bench.Constant{PerSec: 10}, Limits: bench.Limits{Duration: 60 * time.Second}}
	r := &Resumable{Scenario: &reports.ScenarioPlan{Name: "noop"}, Origin: origin, Recorded: 200, Last: origin.Add(20 * time.Second)}

	// Resumed a minute after the stop: iteration 230 (due at 23 s) is due now.
	now := origin.Add(80 * time.Second)
	got, res := resumePoint(r, ex, now)
	if res.From != 230 || got.From != 230 || res.Unaccounted() != 30 {
		t.Errorf("from %d (executor %d), unaccounted %d: want 230, 30", res.From, got.From, res.Unaccounted())
	}
	if !got.Origin.Add(got.Pacer.Due(230)).Equal(now) || res.ShiftSeconds != 57 {
		t.Errorf("origin %s shift %.1f s: want iteration 230 due now, 57 s later than planned", got.Origin, res.ShiftSeconds)
	}

	// Resumed within the margin: the old schedule stands.
	got, res = resumePoint(r, ex, origin.Add(21*time.Second))
	if !got.Origin.Equal(origin) || res.ShiftSeconds != 0 || res.From != 230 {
		t.Errorf("origin %s shift %.1f from %d: want the old origin, no shift, 230", got.Origin, res.ShiftSeconds, res.From)
	}

	// Killed after the last start was due: nothing is left to start.
	r.Last = origin.Add(59 * time.Second)
	r.Recorded = 590
	_, res = resumePoint(r, ex, now)
	if res.From != 600 {
		t.Errorf("from %d: want 600 (the end of a 60 s schedule at 10/s)", res.From)
	}

	// Killed before the load began: it begins now, from 0.
	got, res = resumePoint(&Resumable{}, ex, now)
	if res.From != 0 || !got.Origin.Equal(now) {
		t.Errorf("from %d origin %s: want 0 and now", res.From, got.Origin)
	}
}

// A resumed embedded run takes the killed server's ports when they are free
// (its membership ring then forms at once), and picks others, saying so,
// when they are taken; a run on the user's cluster starts no server.
func TestResumedServerPort(t *testing.T) {
	base, err := cluster.FreePortRange()
	if err != nil {
		t.Fatal(err)
	}
	handle := func(clusterKind string) (*clusterHandle, *strings.Builder) {
		var out strings.Builder
		r := &Resumable{Info: reports.RunInfo{Cluster: clusterKind, Address: fmt.Sprintf("127.0.0.1:%d", base)}}
		return &clusterHandle{plan: &Plan{Resume: r}, out: &out}, &out
	}
	if c, _ := handle("embedded"); c.resumedServerPort() != base {
		t.Errorf("free ports: got %d, want the killed server's %d", c.resumedServerPort(), base)
	}
	if c, _ := handle("external"); c.resumedServerPort() != 0 {
		t.Errorf("external cluster: got port %d, want 0 (no server of squall's)", c.resumedServerPort())
	}
	if c := (&clusterHandle{plan: &Plan{}}); c.resumedServerPort() != 0 {
		t.Errorf("not a resume: got port %d, want 0", c.resumedServerPort())
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+cluster.InternalPorts))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, out := handle("embedded")
	if got := c.resumedServerPort(); got != 0 || !strings.Contains(out.String(), "are taken") {
		t.Errorf("last internal port taken: got %d and %q, want 0 and a message", got, out.String())
	}
}

// A resumed topology asks for each process node's recorded ports (metrics
// from its URL); container nodes, and runs without a topology, ask none.
func TestResumedNodePorts(t *testing.T) {
	if got := resumedNodePorts(nil); got != nil {
		t.Errorf("not a resume: %v", got)
	}
	if got := resumedNodePorts(&Resumable{}); got != nil {
		t.Errorf("no topology: %v", got)
	}
	r := &Resumable{Info: reports.RunInfo{Topology: &reports.Topology{Processes: []reports.Process{
		{Name: "history-1", GRPCPort: 27934, MembershipPort: 27935, MetricsURL: "http://127.0.0.1:27936/metrics"},
		{Name: "frontend-1", GRPCPort: 28604, MembershipPort: 28605, MetricsURL: "http://127.0.0.1:28606/metrics"},
		{Name: "matching-1", Container: "squall-x-matching-1", GRPCPort: 7235, MembershipPort: 6935, MetricsURL: "http://10.0.0.3:9090/metrics"},
	}}}}
	got := resumedNodePorts(r)
	want := map[string]cluster.NodePorts{
		"history-1":  {GRPC: 27934, Membership: 27935, Metrics: 27936},
		"frontend-1": {GRPC: 28604, Membership: 28605, Metrics: 28606},
	}
	if len(got) != len(want) || got["history-1"] != want["history-1"] || got["frontend-1"] != want["frontend-1"] {
		t.Errorf("got %v, want %v", got, want)
	}
}
