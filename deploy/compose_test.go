package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

// The offline stack, end to end: squall server and three squall drivers
// (docker-compose --scale) from the locally built image, which number
// themselves through the server, split one noop schedule and write their
// run directories to the mounted folder; the merge service makes one
// report of them with the single-driver totals; everything torn down.
// While the drivers run, each one's squall metrics and its worker's SDK
// metrics, and the server's, are read where the compose file serves them
// for Prometheus (published on loopback for the test only).
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
		"SQUALL_DRIVERS=3", "SQUALL_RATE=9/s", "SQUALL_DURATION=10s")
	// The metrics ports, published on loopback at free host ports, so
	// the test reads what a Prometheus on the compose network would.
	override := filepath.Join(t.TempDir(), "metrics-ports.yml")
	if err := os.WriteFile(override, []byte(`services:
  squall-server:
    ports: ["127.0.0.1::9090"]
  squall-driver:
    ports: ["127.0.0.1::9464", "127.0.0.1::9465"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(ctx context.Context, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, dc, append([]string{"-f", filepath.Join("..", "docker-compose.offline.yml"), "-f", override, "-p", project}, args...)...)
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
	if out, err := run(ctx, "up", "-d", "squall-server"); err != nil {
		t.Fatalf("docker-compose up squall-server: %v\n%s", err, tail(out))
	}
	scraped := make(chan map[string]bool, 1)
	scrapeCtx, stopScraping := context.WithCancel(ctx)
	go func() { scraped <- scrapeCompose(scrapeCtx, project) }()
	out, err := run(ctx, "up", "--no-deps", "--scale", "squall-driver=3", "squall-driver")
	stopScraping()
	if err != nil {
		t.Fatalf("docker-compose up squall-driver: %v\n%s", err, tail(out))
	}
	seen := <-scraped
	for _, want := range []string{"server service_requests", "driver 1 squall_iterations_started_total", "driver 2 squall_iterations_started_total",
		"driver 3 squall_iterations_started_total", "driver 1 worker temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
		"driver 2 worker temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
		"driver 3 worker temporal_workflow_task_schedule_to_start_latency_seconds_bucket"} {
		if !seen[want] {
			t.Errorf("while the drivers ran: no %s where the compose file serves it (seen %v)", want, keys(seen))
		}
	}
	ids, err := run(ctx, "ps", "-q", "squall-driver")
	if err != nil || len(strings.Fields(string(ids))) != 3 {
		t.Fatalf("want 3 driver containers, got %q (%v)\n%s", ids, err, tail(out))
	}
	for _, id := range strings.Fields(string(ids)) {
		code, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.State.ExitCode}}", id).Output()
		if err != nil || strings.TrimSpace(string(code)) != "0" {
			t.Errorf("driver container %s exited %q (%v)\n%s", id, code, err, tail(out))
		}
	}
	for d := 1; d <= 3; d++ {
		if _, err := os.Stat(filepath.Join(reportsDir, "compose-run", fmt.Sprintf("driver-%d", d), reports.FileJSON)); err != nil {
			t.Errorf("driver %d left no report on the mounted folder: %v", d, err)
		}
	}
	if mout, err := run(ctx, "run", "--rm", "squall-merge"); err != nil {
		t.Fatalf("docker-compose run squall-merge: %v\n%s", err, tail(mout))
	}
	b, err := os.ReadFile(filepath.Join(reportsDir, "compose-run", "merged", reports.FileJSON))
	if err != nil {
		t.Fatalf("no merged report on the mounted folder: %v", err)
	}
	var rep reports.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != "pass" || len(rep.Scenarios) != 1 || rep.Scenarios[0].Started != 90 || rep.Scenarios[0].Completed != 90 ||
		rep.Scenarios[0].Lost != 0 || rep.Run.Drivers != 3 || len(rep.Run.Merged) != 3 {
		t.Errorf("merged: verdict %s, drivers %d, merged %v, scenarios %+v: want a pass of 90 started and completed, none lost, from 3 drivers",
			rep.Verdict, rep.Run.Drivers, rep.Run.Merged, rep.Scenarios)
	}
	t.Logf("offline stack, 3 drivers: %s, completed %d, lost %d", rep.Verdict, rep.Scenarios[0].Completed, rep.Scenarios[0].Lost)
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return strings.TrimSpace(s)
}

// scrapeCompose reads, until ctx ends, the metrics that compose project's
// server and drivers (and their first workers) serve through their
// published ports, and returns what it saw: "server NAME", "driver I
// NAME", "driver I worker NAME" for the names that matter to the
// dashboards.
func scrapeCompose(ctx context.Context, project string) map[string]bool {
	seen := map[string]bool{}
	// Each container's published ports: "SERVICE NUMBER 127.0.0.1:H->C/tcp, …".
	// The docker CLI answers in milliseconds where docker-compose takes
	// seconds, and a driver's run lasts only seconds.
	published := func() map[string]string { // "SERVICE NUMBER CONTAINER_PORT" → host:port
		out, err := exec.CommandContext(ctx, "docker", "ps", "--filter", "label=com.docker.compose.project="+project, "--format",
			`{{.Label "com.docker.compose.service"}} {{.Label "com.docker.compose.container-number"}} {{.Ports}}`).Output()
		m := map[string]string{}
		if err != nil {
			return m
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.SplitN(line, " ", 3)
			if len(f) < 3 {
				continue
			}
			for _, p := range strings.Split(f[2], ", ") {
				host, cport, ok := strings.Cut(p, "->")
				if ok {
					m[f[0]+" "+f[1]+" "+strings.TrimSuffix(cport, "/tcp")] = host
				}
			}
		}
		return m
	}
	read := func(hostPort, prefix string, names ...string) {
		if hostPort == "" {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+hostPort+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			for _, name := range names {
				if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
					seen[prefix+name] = true
				}
			}
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		ports := published()
		read(ports["squall-server 1 9090"], "server ", "service_requests")
		for key, hostPort := range ports {
			var i, port int
			if _, err := fmt.Sscanf(key, "squall-driver %d %d", &i, &port); err != nil {
				continue
			}
			switch port {
			case 9464:
				read(hostPort, fmt.Sprintf("driver %d ", i), "squall_iterations_started_total")
			case 9465:
				read(hostPort, fmt.Sprintf("driver %d worker ", i), "temporal_workflow_task_schedule_to_start_latency_seconds_bucket")
			}
		}
		select {
		case <-ctx.Done():
			return seen
		case <-tick.C:
		}
	}
}
