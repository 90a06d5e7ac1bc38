package fakefrontend

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/metrics"
)

// squallAgainst runs `squall run` of n noop workflows against s, with no
// server and no workers of its own, and returns its report.json.
func squallAgainst(t *testing.T, s *Server, n string) (map[string]any, []byte) {
	t.Helper()
	bin := os.Getenv("SQUALL_BIN")
	if bin == "" {
		t.Skip("SQUALL_BIN not set (make test sets it)")
	}
	rep, out, _ := runAgainst(t, bin, s, n, "1000/s")
	return rep, out
}

// runAgainst runs bin's `squall run` of n noop workflows at rate against
// s and returns its report.json, its output and its peak RSS in bytes.
func runAgainst(t *testing.T, bin string, s *Server, n, rate string) (map[string]any, []byte, int64) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(bin, "run", "--scenario", "noop", "--address", s.Addr(), "--workers", "0", "--health", "all=off",
		"--rate", rate, "--iterations", n, "--duration", "1m", "--out", dir)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The peak RSS is the kernel's high-water mark (VmHWM), read while it
	// runs: the wait status's Maxrss also counts the parent's pages the
	// child shared before exec, and this test binary is larger than a lean
	// squall.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(20 * time.Millisecond):
			if u, err := metrics.ReadProc(cmd.Process.Pid); err == nil {
				peak = max(peak, int64(u.PeakRSSBytes))
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatalf("no report (%v):\n%s", err, out.Bytes())
	}
	var rep map[string]any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep, out.Bytes(), peak
}

// A squall run against the fake starts, awaits and verifies every
// workflow, and reports the driver's CPU per 1,000 workflows.
func TestSquallRunAgainstFake(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, out := squallAgainst(t, s, "2000")
	sc := rep["scenarios"].([]any)[0].(map[string]any)
	v := sc["verification"].(map[string]any)
	if rep["verdict"] != "pass" || sc["completed"].(float64) != 2000 || v["journaled"].(float64) != 2000 || v["lost"].(float64) != 0 {
		t.Fatalf("verdict %v, completed %v, verification %v:\n%s", rep["verdict"], sc["completed"], v, out)
	}
	if s.Started() != 2000 {
		t.Errorf("the fake saw %d workflows started, want 2000", s.Started())
	}
	run := rep["run"].(map[string]any)
	if run["server_version"] != Version || run["driver_cpu_per_1k_workflows_s"] == nil {
		t.Errorf("run: server %v, driver CPU per 1k %v", run["server_version"], run["driver_cpu_per_1k_workflows_s"])
	}
	if !strings.Contains(string(out), "per 1,000 workflows") {
		t.Errorf("summary lacks the driver CPU per 1,000 workflows:\n%s", out)
	}
}

// The same run against a fake that loses workflows fails: the fake's
// answers are what verification goes by.
func TestSquallRunAgainstLossyFake(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.lose = func(id string) bool { return strings.HasSuffix(id, "7") }
	rep, out := squallAgainst(t, s, "200")
	sc := rep["scenarios"].([]any)[0].(map[string]any)
	if rep["verdict"] != "fail" || sc["verification"].(map[string]any)["lost"].(float64) != 20 {
		t.Fatalf("verdict %v, verification %v, want fail with 20 lost:\n%s", rep["verdict"], sc["verification"], out)
	}
}

// The lean squall (no Temporal server or container engine inside) drives
// the same load as the full one, verifies every workflow, and does so in
// well under the full binary's memory: what it leaves out is most of the
// full binary's resident pages (measured: 48 MB against 105 MB at 500/s).
func TestLeanSquallDrivesInLessMemory(t *testing.T) {
	squalltest.SkipIfShort(t)
	full, lean := squalltest.Binary(t), squalltest.LeanBinary(t)
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var rss [2]int64
	for i, bin := range []string{full, lean} {
		rep, out, maxRSS := runAgainst(t, bin, s, "3000", "1000/s")
		sc := rep["scenarios"].([]any)[0].(map[string]any)
		v := sc["verification"].(map[string]any)
		if rep["verdict"] != "pass" || v["journaled"].(float64) != 3000 || v["lost"].(float64) != 0 {
			t.Fatalf("%s: verdict %v, verification %v:\n%s", filepath.Base(bin), rep["verdict"], v, out)
		}
		rss[i] = maxRSS
	}
	t.Logf("peak RSS: full %d MB, lean %d MB", rss[0]>>20, rss[1]>>20)
	if rss[1]*10 > rss[0]*7 {
		t.Errorf("lean squall peaked at %d MB, full at %d MB: want the lean one under 70 %% of the full one", rss[1]>>20, rss[0]>>20)
	}
}

// What needs the server or the container engine is refused up front, as a
// usage error naming both ways out, before a run directory is filled.
func TestLeanSquallRefusesToStartAServer(t *testing.T) {
	lean := squalltest.LeanBinary(t)
	for _, args := range [][]string{
		{"run", "--scenario", "noop", "--rate", "5/s", "--duration", "3s", "--out", filepath.Join(t.TempDir(), "run")},
		{"run", "--scenario", "noop", "--rate", "5/s", "--duration", "3s", "--cluster", "container", "--out", filepath.Join(t.TempDir(), "run")},
		{"server"},
		{"server", "--port", "7233", "--db", "t.db"},
		{"cleanup"},
	} {
		cmd := exec.Command(lean, args...)
		cmd.Env = squalltest.HermeticEnv()
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("squall-lean %v: %v, want exit 2:\n%s", args, err, out)
			continue
		}
		if !strings.Contains(string(out), "squall_lean") || !strings.Contains(string(out), "make build") {
			t.Errorf("squall-lean %v: the refusal names neither the build nor the way out:\n%s", args, out)
		}
	}
}
