package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

func compose(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose is not installed")
	}
	return bin
}

// Both files must parse for docker-compose (v1.29 here; the files use only
// what Compose v2 reads the same way).
func TestComposeFilesValidate(t *testing.T) {
	dc := compose(t)
	for _, f := range []string{"docker-compose.yml", "docker-compose.offline.yml"} {
		cmd := exec.Command(dc, "-f", filepath.Join("..", f), "config", "-q")
		cmd.Env = append(os.Environ(), "SQUALL_IMAGE=squall:dev")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker-compose -f %s config: %v\n%s", f, err, out)
		}
	}
}

// The offline stack, end to end: squall server and a squall driver from the
// locally built image, a short noop run, its report on the mounted folder,
// and everything torn down.
func TestOfflineComposeRunsScenario(t *testing.T) {
	squalltest.SkipIfShort(t)
	dc := compose(t)
	testcontainers.SkipIfProviderIsNotHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ref, _, err := cluster.EnsureImage(ctx, squalltest.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	port, err := cluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	reportsDir := t.TempDir()
	project := fmt.Sprintf("squalltest%d", time.Now().UnixNano())
	env := append(os.Environ(), "SQUALL_IMAGE="+ref, "SQUALL_REPORTS="+reportsDir, fmt.Sprintf("SQUALL_PORT=%d", port),
		"SQUALL_RATE=5/s", "SQUALL_DURATION=10s")
	run := func(ctx context.Context, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, dc, append([]string{"-f", filepath.Join("..", "docker-compose.offline.yml"), "-p", project}, args...)...)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	t.Cleanup(func() {
		// Its own time: ctx is gone by now.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, err := run(ctx, "down", "-v", "--remove-orphans"); err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
	})
	out, err := run(ctx, "up", "--exit-code-from", "squall-driver", "--abort-on-container-exit")
	if err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, tail(out))
	}
	b, err := os.ReadFile(filepath.Join(reportsDir, "compose-run", reports.FileJSON))
	if err != nil {
		t.Fatalf("no report on the mounted folder: %v\n%s", err, tail(out))
	}
	var rep reports.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != "pass" || len(rep.Scenarios) != 1 || rep.Scenarios[0].Completed < 40 || rep.Scenarios[0].Lost != 0 {
		t.Errorf("verdict %s, scenarios %+v: want a pass with ≥ 40 completed and none lost", rep.Verdict, rep.Scenarios)
	}
	t.Logf("offline stack: %s completed %d, lost %d", rep.Verdict, rep.Scenarios[0].Completed, rep.Scenarios[0].Lost)
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return strings.TrimSpace(s)
}
