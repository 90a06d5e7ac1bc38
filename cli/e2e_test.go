package cli

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/scenarios"
)

// The calibration scenario end to end: embedded server and worker as child
// processes, open-loop load, verification against Temporal, reports.
func TestRunNoopEndToEnd(t *testing.T) {
	squalltest.SkipIfShort(t)
	res := squalltest.Run(t, 3*time.Minute, "--scenario", "noop", "--rate", "20/s", "--duration", "5s")
	if res.Exit != 0 {
		t.Fatalf("exit %d, want 0", res.Exit)
	}
	rep := res.Report
	if rep.SchemaVersion != reports.SchemaVersion || rep.Verdict != "pass" {
		t.Fatalf("schema %d verdict %q", rep.SchemaVersion, rep.Verdict)
	}
	s := squalltest.Scenario(t, rep, "noop")
	if s.Completed == 0 || s.Lost != 0 || s.Failed != 0 {
		t.Errorf("completed %d lost %d failed %d: want completions and nothing lost or failed", s.Completed, s.Lost, s.Failed)
	}
	// 5 s at 20/s schedules 100 starts; none dropped at this rate.
	if s.Started+s.DroppedStarts != 100 || s.ScheduledStarts != 100 {
		t.Errorf("started %d + dropped %d, scheduled %d: want 100", s.Started, s.DroppedStarts, s.ScheduledStarts)
	}
	if s.Verification == nil || s.Verification.Journaled != s.Started || s.Verification.ByStatus["completed"] != s.Started {
		t.Errorf("verification %+v does not account for all %d started workflows", s.Verification, s.Started)
	}
	c := s.LatencyMS.Corrected
	if c.P50 <= 0 || c.P50 > c.P99 || c.P99 > c.Max || c.Count != s.Completed {
		t.Errorf("implausible corrected latency %+v", c)
	}
	if s.LatencyMS.Corrected.P99 < s.LatencyMS.Uncorrected.P99 {
		t.Errorf("corrected p99 %.1f below uncorrected %.1f: corrected includes the start delay", c.P99, s.LatencyMS.Uncorrected.P99)
	}
	if s.ThroughputPerS < 10 || s.ThroughputPerS > 25 {
		t.Errorf("throughput %.1f/s at a 20/s schedule", s.ThroughputPerS)
	}
	if s.History.MaxLength < 5 || s.History.MaxBytes <= 0 {
		t.Errorf("history %+v: a one-activity workflow has about 11 events", s.History)
	}
	if len(s.Intervals) < 4 {
		t.Errorf("%d intervals for a 5 s run", len(s.Intervals))
	}
	if len(s.Invariants) == 0 {
		t.Error("no invariants reported")
	}
	for _, inv := range s.Invariants {
		if !inv.OK {
			t.Errorf("invariant %s failed: %s", inv.Name, inv.Detail)
		}
	}
	// The server-health checks run by default and hold on a healthy run.
	for _, name := range []string{"server-logs-clean", "replay-deterministic", "no-stuck-work"} {
		i := slices.IndexFunc(s.Invariants, func(inv scenarios.Invariant) bool { return inv.Name == name })
		if i < 0 {
			t.Errorf("invariant %s not reported", name)
			continue
		}
		t.Logf("%s: %s", name, s.Invariants[i].Detail)
		if name == "replay-deterministic" && strings.HasPrefix(s.Invariants[i].Detail, "0 ") {
			t.Errorf("no workflow replayed: %s", s.Invariants[i].Detail)
		}
	}
	// The CI contract: these names, exactly, in report.json.
	raw, err := os.ReadFile(filepath.Join(res.Dir, reports.FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema_version", "verdict", "run", "scenarios"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("report.json lacks %q", k)
		}
	}
	run := generic["run"].(map[string]any)
	for _, k := range []string{"squall_version", "commit", "server_version", "flags", "cores", "start_time", "end_time"} {
		if _, ok := run[k]; !ok {
			t.Errorf("report.json run lacks %q", k)
		}
	}
	sc := generic["scenarios"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "started", "completed", "failed", "lost", "throughput_per_s", "late_starts", "dropped_starts", "latency_ms", "invariants"} {
		if _, ok := sc[k]; !ok {
			t.Errorf("report.json scenarios[0] lacks %q", k)
		}
	}
	for _, view := range []string{"corrected", "uncorrected"} {
		q := sc["latency_ms"].(map[string]any)[view].(map[string]any)
		for _, k := range []string{"p50", "p90", "p99", "p999", "max"} {
			if _, ok := q[k]; !ok {
				t.Errorf("latency_ms.%s lacks %q", view, k)
			}
		}
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, reports.FileMarkdown))
	if err != nil || !strings.Contains(string(md), "no-lost-workflows") {
		t.Errorf("report.md missing or without invariants: %v", err)
	}
	// The report is rebuilt offline from the result stream, identically.
	again := squalltest.Exec(t, time.Minute, "report", res.Dir)
	if again.Exit != 0 {
		t.Fatalf("squall report: exit %d: %s", again.Exit, again.Stderr)
	}
	raw2, _ := os.ReadFile(filepath.Join(res.Dir, reports.FileJSON))
	if string(raw2) != string(raw) {
		t.Error("squall report RUN_DIR rebuilt a different report.json")
	}
	if page, err := os.ReadFile(filepath.Join(res.Dir, reports.FileHTML)); err != nil || !strings.Contains(string(page), `id="plot-noop-spectrum"`) {
		t.Errorf("report.html missing or without the spectrum plot: %v", err)
	}
}

// A closed-loop run and a run against an existing server (--address), the
// embedded server started by hand as a user would.
func TestRunClosedLoopAgainstExistingServer(t *testing.T) {
	squalltest.SkipIfShort(t)
	dir := t.TempDir()
	port := squalltest.ServerPort(t)
	srv := startServer(t, filepath.Join(dir, "t.db"), port)
	defer srv()
	res := squalltest.Run(t, 3*time.Minute, "--scenario", "noop", "--concurrency", "4", "--iterations", "40",
		"--address", "127.0.0.1:"+strconv.Itoa(port), "--workers", "2")
	if res.Exit != 0 {
		t.Fatalf("exit %d", res.Exit)
	}
	s := squalltest.Scenario(t, res.Report, "noop")
	if s.Completed != 40 || s.Executor != "concurrency" || res.Report.Run.Cluster != "external" || res.Report.Run.Workers != 2 {
		t.Errorf("completed %d executor %s cluster %s workers %d", s.Completed, s.Executor, res.Report.Run.Cluster, res.Report.Run.Workers)
	}
}

// Bad input: one line naming the problem, exit 2, nothing started.
func TestBadInputExitsTwo(t *testing.T) {
	squalltest.SkipIfShort(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown scenario", []string{"run", "--scenario", "nope", "--duration", "1s"}, `unknown scenario "nope"`},
		{"bad rate", []string{"run", "--scenario", "noop", "--rate", "abc", "--duration", "1s"}, `bad rate "abc"`},
		{"negative duration", []string{"run", "--scenario", "noop", "--duration", "-5s"}, "bad --duration -5s"},
		{"unknown option", []string{"run", "--scenario", "noop", "--duration", "1s", "--option", "colour=red"}, `unknown option "colour"`},
		{"bad option value", []string{"run", "--scenario", "noop", "--duration", "1s", "--option", "activities=many"}, "option activities"},
		{"zero concurrency", []string{"run", "--scenario", "noop", "--concurrency", "0"}, "bad --concurrency 0"},
		{"zero iterations", []string{"run", "--scenario", "noop", "--iterations", "0"}, "bad --iterations 0"},
		{"zero ramp", []string{"run", "--scenario", "noop", "--ramp", "0s"}, "bad --ramp 0s"},
		{"out holds a run", []string{"run", "--scenario", "noop", "--duration", "1s", "--out", heldRun(t)}, "already holds a run"},
		{"workflow without type", []string{"run", "--scenario", "workflow"}, "missing --option type=NAME"},
		{"workflow bad input", []string{"run", "--scenario", "workflow", "--option", "type=x", "--option", "input={oops"}, "input is not valid JSON"},
		{"unreachable address", []string{"run", "--scenario", "noop", "--duration", "1s", "--address", "127.0.0.1:1", "--connect-timeout", "2s"}, "cannot reach Temporal at 127.0.0.1:1"},
		{"server port in use", []string{"run", "--scenario", "noop", "--duration", "1s", "--server-port", busyPort}, "port " + busyPort + " is in use"},
		{"unknown dynamic config", []string{"run", "--scenario", "noop", "--duration", "1s", "--dynamic-config", "no.such.key=1"}, `unregistered key "no.such.key"`},
		{"unwritable db", []string{"server", "--db", "/nonexistent/dir/t.db", "--port", "0"}, "bad --port"},
		{"db dir missing", []string{"server", "--db", "/nonexistent/dir/t.db", "--port", "17999"}, "database directory /nonexistent/dir does not exist"},
		{"unknown flag", []string{"run", "--scenario", "noop", "--speed", "9"}, "unknown flag: --speed"},
		{"corrupt run dir", []string{"report", t.TempDir()}, "no result stream"},
		{"missing fault file", []string{"run", "--scenario", "noop", "--duration", "1s", "--fault-file", "/nonexistent/chaos.faults"}, "--fault-file: open /nonexistent/chaos.faults"},
		// Options that are wrong only together: each scenario's Validate
		// refuses them before any server starts (checked below).
		{"orders options", []string{"run", "--scenario", "orders-batch", "--iterations", "1", "--option", "failure-rate=0.8", "--option", "transient-failure-rate=0.5"},
			"failure-rate + transient-failure-rate must not exceed 1"},
		{"fanout options", []string{"run", "--scenario", "fanout", "--iterations", "1", "--option", "children=3000"}, "children would be pending at once"},
		{"entity options", []string{"run", "--scenario", "entity", "--iterations", "1", "--option", "can=sometimes"}, `can="sometimes"`},
		{"can-sweep options", []string{"run", "--scenario", "can-sweep", "--iterations", "1", "--option", "lengths=lots"}, `"lots" is not a history length`},
		{"throttled options", []string{"run", "--scenario", "throttled-api", "--iterations", "1", "--option", "limiter=bogus"}, `limiter "bogus" is not one of`},
		{"degradation options", []string{"run", "--scenario", "degradation", "--iterations", "1", "--option", "primary-error-rate=2"}, "primary-error-rate must be at most 1"},
		{"approval options", []string{"run", "--scenario", "approval", "--iterations", "1", "--option", "approve=0.8", "--option", "reject=0.5"}, "must be within 0..1"},
		{"large-state options", []string{"run", "--scenario", "large-state", "--iterations", "1", "--option", "mode=external,external"}, `mode "external" named twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			out := filepath.Join(t.TempDir(), "run")
			if args[0] == "run" && !slices.Contains(args, "--out") {
				args = append(args, "--out", out)
			}
			res := squalltest.Exec(t, time.Minute, args...)
			if res.Exit != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", res.Exit, res.Stderr)
			}
			if !strings.Contains(res.Stderr, tt.want) {
				t.Errorf("stderr %q does not name the problem (%q)", res.Stderr, tt.want)
			}
			if lines := strings.Count(strings.TrimSpace(res.Stderr), "\n"); lines > 0 {
				t.Errorf("want a one-line message, got %d lines: %s", lines+1, res.Stderr)
			}
			if strings.HasSuffix(tt.name, " options") {
				if _, err := os.Stat(filepath.Join(out, "temporal.db")); err == nil {
					t.Errorf("a server was started before the options were refused")
				}
			}
		})
	}
}

// heldRun is a run directory that already holds a run's result stream.
func heldRun(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, reports.FileStream), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
