package cli

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/verify"
)

// writeRuns writes n synthetic noop reports into dir/run-1..n, latencies
// scaled by f (with a small spread from run to run).
func writeRuns(t *testing.T, dir string, n int, f float64, edit func(*reports.Report)) {
	t.Helper()
	for i := range n {
		g := f * (1 + 0.01*float64(i%3))
		s := reports.Scenario{
			ScenarioPlan: reports.ScenarioPlan{Name: "noop", Options: map[string]string{}, Executor: "arrival-rate", Pacer: "constant 20/s", Duration: "30s", LateAfter: "10ms"},
			Started:      600, Completed: 600, ThroughputPerS: 20, LoadSeconds: 30,
			LatencyMS:    reports.Latency{Corrected: reports.Quantiles{Count: 600, P50: 40 * g, P90: 60 * g, P99: 80 * g, P999: 90 * g, Max: 100 * g}},
			Verification: &verify.Result{Scenario: "noop"},
			Invariants:   []scenarios.Invariant{{Name: "no-lost-workflows", OK: true}},
			Intervals:    []reports.IntervalRow{},
		}
		rep := &reports.Report{SchemaVersion: reports.SchemaVersion, Verdict: "pass", Scenarios: []reports.Scenario{s}, Faults: []reports.FaultWindow{},
			Run: reports.RunInfo{SquallVersion: "v1", ServerVersion: "1.32.2", DriverCPUSeconds: 3, ChildrenCPUSeconds: 20}}
		if edit != nil {
			edit(rep)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("run-%d", i+1), reports.FileJSON)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		fmt.Fprintf(h, "%s %x\n", p, sha256.Sum256(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// The exit codes CI relies on: 0 no regression, 1 regression, 2 bad or
// incomparable input, one line on stderr; inputs left as they were.
func TestCompareExitCodes(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "in")
	base, same, slow := filepath.Join(in, "base"), filepath.Join(in, "same"), filepath.Join(in, "slow")
	writeRuns(t, base, 5, 1, nil)
	writeRuns(t, same, 5, 1, nil)
	writeRuns(t, slow, 5, 1.3, nil)
	other := filepath.Join(in, "other")
	writeRuns(t, other, 5, 1, func(r *reports.Report) { r.Scenarios[0].Pacer = "constant 40/s" })
	future := filepath.Join(in, "future")
	writeRuns(t, future, 5, 1, func(r *reports.Report) { r.SchemaVersion = 99 })
	corrupt := filepath.Join(in, "corrupt", reports.FileJSON)
	if err := os.MkdirAll(filepath.Dir(corrupt), 0o755); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(base, "run-1", reports.FileJSON))
	if err := os.WriteFile(corrupt, good[:len(good)-40], 0o644); err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, in)
	md := filepath.Join(root, "compare.md")
	for _, tc := range []struct {
		name   string
		args   []string
		exit   int
		stdout string
		stderr string
	}{
		{"identical", []string{"compare", base, same}, 0, "gate: pass", ""},
		{"slower", []string{"compare", base, slow}, 1, "regression", "metric(s) regressed"},
		{"slower within 50%", []string{"compare", base, slow, "--max-regression", "50%"}, 0, "within the 50% tolerance", ""},
		{"slower, markdown to a file", []string{"compare", base, slow, "--format", "md", "--out", md}, 1, "regression", ""},
		{"incomparable", []string{"compare", base, other}, 2, "", "scenario noop pacer"},
		{"allowed", []string{"compare", base, other, "--allow-different"}, 0, "allowed difference", ""},
		{"corrupt", []string{"compare", base, corrupt}, 2, "", corrupt + ": truncated"},
		{"future schema", []string{"compare", future, base}, 2, "", "schema_version 99"},
		{"missing", []string{"compare", base, filepath.Join(root, "nope")}, 2, "", "nope"},
		{"bad tolerance", []string{"compare", base, same, "--max-regression", "p98=5%"}, 2, "", `unknown metric "p98"`},
		{"bad format", []string{"compare", base, same, "--format", "xml"}, 2, "", `--format "xml"`},
		{"out into an input", []string{"compare", base, same, "--out", filepath.Join(base, "x.md")}, 2, "", "never writes into its inputs"},
		{"one argument", []string{"compare", base}, 2, "", "BASE and CURRENT"},
		{"benchfmt", []string{"report", "--format", "benchfmt", base, same}, 0, "BenchmarkSquall/scenario=noop/metric=p99 1 0.08 sec", ""},
		{"report bad format", []string{"report", "--format", "html", base}, 2, "", "benchfmt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := squalltest.Exec(t, time.Minute, tc.args...)
			if res.Exit != tc.exit || !strings.Contains(res.Stdout, tc.stdout) || !strings.Contains(res.Stderr, tc.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout %s\nstderr %s\nwant stdout ∋ %q, stderr ∋ %q", res.Exit, tc.exit, res.Stdout, res.Stderr, tc.stdout, tc.stderr)
			}
			if tc.exit == 2 && strings.Count(strings.TrimSpace(res.Stderr), "\n") > 0 {
				t.Errorf("want a one-line error, got: %s", res.Stderr)
			}
		})
	}
	if b, err := os.ReadFile(md); err != nil || !strings.Contains(string(b), "| noop | p99 |") {
		t.Errorf("--out %s: %v\n%s", md, err, b)
	}
	if treeHash(t, in) != before {
		t.Error("compare or report --format benchfmt changed its inputs")
	}
}
