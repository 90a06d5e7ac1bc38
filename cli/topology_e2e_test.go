package cli_test

import (
	"cmp"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/scenarios"
)

// topologyArgs runs scenario on a cluster of service processes with two
// history hosts on a Postgres database of the test's own.
func topologyArgs(t *testing.T, scenario string, extra ...string) []string {
	return append([]string{"--scenario", scenario, "--topology", "services", "--history-hosts", "2",
		"--persistence", "postgres", "--dsn", squalltest.PostgresDSN(t), "--workers", "1",
		"--grace", "120s", "--verify-wait", "90s"}, extra...)
}

// nodeEvidence is what a node fault records in its window.
type nodeEvidence struct {
	Node   string  `json:"node"`
	Shards []int32 `json:"shards"`
	Moved  *struct {
		Since   time.Time          `json:"since"`
		TakenAt time.Time          `json:"taken_at"`
		TakenBy map[string][]int32 `json:"taken_by"`
	} `json:"shards_moved"`
	ServingAt time.Time `json:"serving_again_at"`
}

// noop on separate service processes, with one history host killed in the
// middle of the load: nothing is lost, the report lists every process with
// its service, and the fault window shows the killed host's shards taken
// over by the other host and the cluster serving again after the heal.
func TestTopologyHistoryKill(t *testing.T) {
	res := squalltest.Run(t, 8*time.Minute, topologyArgs(t, "noop", "--rate", "10/s", "--duration", "25s",
		"--fault", "server-kill target=history-1 at=8s for=8s")...)
	rep := res.Report
	if rep == nil {
		t.Fatalf("no report (exit %d)", res.Exit)
	}
	s := squalltest.Scenario(t, rep, "noop")
	if res.Exit != 0 || rep.Verdict != reports.VerdictPass || s.Lost != 0 {
		t.Errorf("exit %d verdict %s lost %d: want a pass with nothing lost", res.Exit, rep.Verdict, s.Lost)
	}
	topo := rep.Run.Topology
	if topo == nil {
		t.Fatal("report.json has no run.topology")
	}
	var names []string
	for _, p := range topo.Processes {
		names = append(names, p.Name+"/"+p.Service)
		if p.ServerVersion == "" || p.Pid == 0 || p.GRPCPort == 0 {
			t.Errorf("process %+v: want its version, pid and port", p)
		}
		if p.Name == "history-1" && len(p.RestartedAt) != 1 {
			t.Errorf("history-1 restarted at %v: want once, after the kill", p.RestartedAt)
		}
	}
	if want := []string{"history-1/history", "history-2/history", "matching-1/matching", "frontend-1/frontend", "worker-1/worker"}; !slices.Equal(names, want) {
		t.Errorf("processes %v, want %v", names, want)
	}
	if len(rep.Faults) != 1 || rep.Faults[0].Error != "" {
		t.Fatalf("fault windows %+v: want one, without error", rep.Faults)
	}
	var ev []nodeEvidence
	if err := json.Unmarshal(rep.Faults[0].Evidence, &ev); err != nil || len(ev) != 1 || ev[0].Node != "history-1" {
		t.Fatalf("evidence %s: want history-1's (%v)", rep.Faults[0].Evidence, err)
	}
	if ev[0].ServingAt.IsZero() {
		t.Errorf("evidence %+v: want the cluster serving again after the heal", ev[0])
	}
	// The hash ring can leave a host without shards; when history-1 held
	// some, history-2 must have taken every one of them.
	if len(ev[0].Shards) > 0 && (ev[0].Moved == nil || !slices.Equal(ev[0].Moved.TakenBy["history-2"], ev[0].Shards)) {
		t.Errorf("history-1 held shards %v; moved %+v: want all taken by history-2", ev[0].Shards, ev[0].Moved)
	}
	t.Logf("history-1 held %v; moved %+v", ev[0].Shards, ev[0].Moved)
	raw, _ := os.ReadFile(filepath.Join(res.Dir, reports.FileMarkdown))
	md := string(raw)
	for _, want := range []string{"## Topology: 5 processes", "### What `server-kill target=history-1"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// The entity pattern on separate service processes while every process
// restarts in turn: nothing lost, every invariant held, every process
// restarted exactly once and the walk recorded step by step.
func TestTopologyRollingRestart(t *testing.T) {
	res := squalltest.Run(t, 10*time.Minute, topologyArgs(t, "entity", "--duration", "75s",
		"--fault", "rolling-restart at=3s for=1s gap=1s")...)
	rep := res.Report
	if rep == nil {
		t.Fatalf("no report (exit %d)", res.Exit)
	}
	s := squalltest.Scenario(t, rep, "entity")
	if res.Exit != 0 || rep.Verdict != reports.VerdictPass || s.Lost != 0 {
		t.Errorf("exit %d verdict %s lost %d; invariants %+v", res.Exit, rep.Verdict, s.Lost, s.Invariants)
	}
	var steps []struct {
		Node      string    `json:"node"`
		ServingAt time.Time `json:"serving_again_at"`
		Error     string    `json:"error"`
	}
	if len(rep.Faults) != 1 {
		t.Fatalf("fault windows %+v: want one", rep.Faults)
	}
	if err := json.Unmarshal(rep.Faults[0].Evidence, &steps); err != nil {
		t.Fatal(err)
	}
	var walked []string
	for _, st := range steps {
		walked = append(walked, st.Node)
		if st.Error != "" || st.ServingAt.IsZero() {
			t.Errorf("step %+v: want the cluster serving again, no error", st)
		}
	}
	if want := []string{"history-1", "history-2", "matching-1", "frontend-1", "worker-1"}; !slices.Equal(walked, want) {
		t.Errorf("walk %v, want %v", walked, want)
	}
	for _, p := range rep.Run.Topology.Processes {
		if len(p.RestartedAt) != 1 {
			t.Errorf("%s restarted %d times, want once", p.Name, len(p.RestartedAt))
		}
	}
}

// Shapes and targets that cannot run are refused before anything starts,
// in one line with exit 2.
func TestTopologyBadInputRefused(t *testing.T) {
	dsn := "postgres://u:p@127.0.0.1:1/x?sslmode=disable"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--topology", "services"}, "needs --persistence postgres"},
		{[]string{"--topology", "services", "--history-hosts", "2", "--persistence", "postgres", "--dsn", dsn, "--fault", "server-kill target=history-9 at=1s for=1s"}, "runs 2 history node(s)"},
		{[]string{"--topology", "services", "--persistence", "postgres", "--dsn", dsn, "--fault", "server-pause target=scheduler at=1s for=1s"}, "no such node"},
		{[]string{"--fault", "server-kill target=history-1 at=1s for=1s"}, "names a node of --topology services"},
		{[]string{"--fault", "rolling-restart at=1s for=1s"}, "needs --topology services"},
		{[]string{"--history-hosts", "2"}, "add --topology services"},
		{[]string{"--topology", "pods"}, "bad --topology"},
		{[]string{"--server-binary", "/bin/true"}, "add --topology services"},
		{[]string{"--topology", "services", "--persistence", "postgres", "--dsn", dsn, "--server-binary", "/nonexistent/temporal-server"}, "not an executable file"},
		{[]string{"--topology", "services", "--persistence", "postgres", "--dsn", dsn, "--server-binary", "/bin/true"}, "did not name a Temporal server version"},
		{[]string{"--topology", "services", "--persistence", "postgres", "--dsn", dsn, "--server-binary", "scheduler=/bin/true"}, "is not a service"},
		{[]string{"--topology", "services", "--persistence", "postgres", "--dsn", dsn, "--fault", "rolling-upgrade at=1s for=1s"}, "every node already runs Temporal"},
		{[]string{"--topology", "services", "--persistence", "postgres", "--dsn", dsn, "--fault", "rolling-downgrade at=1s for=1s"}, "missing to=PATH"},
	} {
		res := squalltest.Exec(t, time.Minute, append([]string{"run", "--scenario", "noop", "--duration", "5s"}, c.args...)...)
		if res.Exit != 2 || !strings.Contains(res.Stderr, c.want) || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q: want exit 2 and one line with %q", c.args, res.Exit, res.Stderr, c.want)
		}
	}
}

// A rolling upgrade under load: the cluster starts with every process on
// an official temporal-server binary and moves, one process at a time, to
// squall's own server. Nothing is lost, the server-health checks pass
// (logs, replay), every process ends on the new binary, and report.json
// and report.md show each process's versions over time.
//
// $SQUALL_OLD_SERVER_BINARY names the binary to start on (make upgrade
// passes v1.31.5, the previous minor); without it, the official binary of
// the version squall embeds, which exercises the same walk.
// $SQUALL_UPGRADE_SCENARIOS lists the scenarios (default noop).
func TestTopologyRollingUpgrade(t *testing.T) {
	old := os.Getenv("SQUALL_OLD_SERVER_BINARY")
	if old == "" {
		old = squalltest.OfficialServer(t)
	}
	scens := strings.Split(cmp.Or(os.Getenv("SQUALL_UPGRADE_SCENARIOS"), "noop"), ",")
	for _, scen := range scens {
		t.Run(scen, func(t *testing.T) {
			args := topologyArgs(t, scen, "--duration", "40s", "--server-binary", old,
				"--fault", "rolling-upgrade at=3s for=1s gap=1s")
			if scen == "noop" {
				args = append(args, "--rate", "10/s")
			}
			res := squalltest.Run(t, 10*time.Minute, args...)
			rep := res.Report
			if rep == nil {
				t.Fatalf("no report (exit %d)", res.Exit)
			}
			s := squalltest.Scenario(t, rep, scen)
			if res.Exit != 0 || rep.Verdict != reports.VerdictPass || s.Lost != 0 {
				t.Errorf("exit %d verdict %s lost %d; invariants %+v", res.Exit, rep.Verdict, s.Lost, s.Invariants)
			}
			for _, want := range []string{"replay", "log"} {
				if !slices.ContainsFunc(s.Invariants, func(i scenarios.Invariant) bool { return strings.Contains(i.Name, want) && i.OK }) {
					t.Errorf("no passing %s check among %+v", want, s.Invariants)
				}
			}
			if len(rep.Faults) != 1 || rep.Faults[0].Error != "" {
				t.Fatalf("fault windows %+v: want one, without error", rep.Faults)
			}
			var steps []struct {
				Node      string    `json:"node"`
				From      string    `json:"from_version"`
				To        string    `json:"to_version"`
				ServingAt time.Time `json:"serving_again_at"`
			}
			if err := json.Unmarshal(rep.Faults[0].Evidence, &steps); err != nil {
				t.Fatal(err)
			}
			if len(steps) != 5 {
				t.Errorf("steps %+v: want one per process", steps)
			}
			for _, st := range steps {
				if st.ServingAt.IsZero() || !strings.Contains(st.To, "(squall)") || strings.Contains(st.From, "(squall)") {
					t.Errorf("step %+v: want official → squall, serving again", st)
				}
			}
			for _, p := range rep.Run.Topology.Processes {
				var versions []string
				for _, e := range p.Events {
					if e.Version != "" {
						versions = append(versions, e.Version+"@"+e.Binary)
					}
				}
				if p.Binary != "" || len(versions) != 2 || !strings.HasSuffix(versions[0], old) || !strings.HasSuffix(versions[1], "@") {
					t.Errorf("%s: binary %q, versions over time %v: want started on %s, then squall's server", p.Name, p.Binary, versions, old)
				}
			}
			md, _ := os.ReadFile(filepath.Join(res.Dir, reports.FileMarkdown))
			if want := "(" + filepath.Base(old) + ") → "; !strings.Contains(string(md), want) {
				t.Errorf("report.md does not show the versions changing (no %q)", want)
			}
			t.Logf("steps: %+v", steps)
		})
	}
}
