package fakefrontend

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// squallAgainst runs `squall run` of n noop workflows against s, with no
// server and no workers of its own, and returns its report.json.
func squallAgainst(t *testing.T, s *Server, n string) (map[string]any, []byte) {
	t.Helper()
	bin := os.Getenv("SQUALL_BIN")
	if bin == "" {
		t.Skip("SQUALL_BIN not set (make test sets it)")
	}
	dir := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(bin, "run", "--scenario", "noop", "--address", s.Addr(), "--workers", "0", "--health", "all=off",
		"--rate", "1000/s", "--iterations", n, "--duration", "1m", "--out", dir)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	out, _ := cmd.CombinedOutput()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatalf("no report (%v):\n%s", err, out)
	}
	var rep map[string]any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep, out
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
