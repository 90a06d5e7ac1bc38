package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"go.temporal.io/server/api/adminservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

// The offline stack as separate services (docker-compose.offline-services.yml):
// one `squall server --service` container per Temporal service from the
// locally built image, history scaled to two hosts, on the project's
// Postgres (relayed to the docker0 bridge, which containers reach). The
// cluster's own membership shows every service's node and the two history
// hosts sharing every shard once; a driver runs noop against the frontend
// and passes with nothing lost; the DSN (a compose secret) is in no
// container's command or environment.
//
// Opt-in like the container topology (SQUALL_CONTAINER_TOPOLOGY=1, make
// test-containers): five containers and a fresh schema, a minute or two.
func TestOfflineComposeServicesRunsScenario(t *testing.T) {
	squalltest.SkipIfShort(t)
	if os.Getenv("SQUALL_CONTAINER_TOPOLOGY") == "" {
		t.Skip("set SQUALL_CONTAINER_TOPOLOGY=1 (make test-containers) to run the compose services stack")
	}
	dc := compose(t)
	testcontainers.SkipIfProviderIsNotHealthy(t)
	u, err := url.Parse(squalltest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = squalltest.RelayFromBridge(t, u.Host)
	dsn := u.String()
	dsnFile := filepath.Join(t.TempDir(), "squall-dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn), 0o600); err != nil {
		t.Fatal(err)
	}
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
	const shards = 4
	reportsDir := t.TempDir()
	project := fmt.Sprintf("squalltest%d", time.Now().UnixNano())
	env := append(os.Environ(), "SQUALL_IMAGE="+ref, "SQUALL_REPORTS="+reportsDir, fmt.Sprintf("SQUALL_PORT=%d", port),
		"SQUALL_DSN_FILE="+dsnFile, fmt.Sprintf("SQUALL_SHARDS=%d", shards), "SQUALL_RATE=10/s", "SQUALL_DURATION=10s")
	run := func(ctx context.Context, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, dc, append([]string{"-f", filepath.Join("..", "docker-compose.offline-services.yml"), "-p", project}, args...)...)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			if out, err := run(ctx, "logs", "--no-color", "--tail", "40"); err == nil {
				t.Logf("logs:\n%s", tail(out))
			}
		}
		if out, err := run(ctx, "down", "-v", "--remove-orphans"); err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
	})
	if out, err := run(ctx, "up", "-d", "--scale", "temporal-history=2",
		"temporal-frontend", "temporal-history", "temporal-matching", "temporal-worker"); err != nil {
		t.Fatalf("docker-compose up (services): %v\n%s", err, tail(out))
	}
	frontend := fmt.Sprintf("127.0.0.1:%d", port)
	rings, owners := waitServicesCluster(t, ctx, frontend, shards)
	t.Logf("membership %v; shards by history host %v", rings, owners)

	out, err := run(ctx, "up", "--no-deps", "squall-driver")
	if err != nil {
		t.Fatalf("docker-compose up squall-driver: %v\n%s", err, tail(out))
	}
	ids, err := run(ctx, "ps", "-q", "squall-driver")
	if err != nil || len(strings.Fields(string(ids))) != 1 {
		t.Fatalf("want one driver container, got %q (%v)\n%s", ids, err, tail(out))
	}
	code, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.State.ExitCode}}", strings.TrimSpace(string(ids))).Output()
	if err != nil || strings.TrimSpace(string(code)) != "0" {
		t.Errorf("driver exited %q (%v)\n%s", code, err, tail(out))
	}
	b, err := os.ReadFile(filepath.Join(reportsDir, "compose-services", "driver-1", reports.FileJSON))
	if err != nil {
		t.Fatalf("the driver left no report on the mounted folder: %v\n%s", err, tail(out))
	}
	var rep reports.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != "pass" || len(rep.Scenarios) != 1 || rep.Scenarios[0].Started != 100 || rep.Scenarios[0].Completed != 100 ||
		rep.Scenarios[0].Lost != 0 {
		t.Errorf("verdict %s, scenarios %+v: want a pass of 100 started and completed, none lost", rep.Verdict, rep.Scenarios)
	}

	// The DSN went in as a secret file: no container's configuration
	// (command, environment, labels) shows it.
	all, err := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+project).Output()
	if err != nil || len(strings.Fields(string(all))) < 6 {
		t.Fatalf("the project's containers: %q (%v)", all, err)
	}
	inspect, err := exec.CommandContext(ctx, "docker", append([]string{"inspect"}, strings.Fields(string(all))...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(inspect), dsn) || strings.Contains(string(inspect), "postgres://") {
		t.Errorf("docker inspect of the stack's containers shows the DSN")
	}
}

// waitServicesCluster waits until the frontend's membership holds one
// frontend, matching and worker node and two history hosts that between
// them own every shard exactly once; it returns the rings and each history
// host's shards.
func waitServicesCluster(t *testing.T, ctx context.Context, frontend string, shards int) (map[string]int, map[string][]int32) {
	t.Helper()
	conn, err := grpc.NewClient(frontend, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	admin := adminservice.NewAdminServiceClient(conn)
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		rings, owners, problem := servicesClusterState(ctx, admin, shards)
		if problem == "" {
			return rings, owners
		}
		last = problem
		time.Sleep(time.Second)
	}
	t.Fatalf("the services cluster did not form within 3 minutes: %s", last)
	return nil, nil
}

func servicesClusterState(ctx context.Context, admin adminservice.AdminServiceClient, shards int) (map[string]int, map[string][]int32, string) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := admin.DescribeCluster(cctx, &adminservice.DescribeClusterRequest{})
	if err != nil {
		return nil, nil, "describe cluster: " + err.Error()
	}
	rings := map[string]int{}
	var histories []string
	for _, r := range resp.GetMembershipInfo().GetRings() {
		rings[r.GetRole()] = len(r.GetMembers())
		if r.GetRole() == cluster.ServiceHistory {
			for _, m := range r.GetMembers() {
				histories = append(histories, m.GetIdentity())
			}
		}
	}
	for role, want := range map[string]int{cluster.ServiceFrontend: 1, cluster.ServiceHistory: 2, cluster.ServiceMatching: 1, cluster.ServiceWorker: 1} {
		if rings[role] != want {
			return rings, nil, fmt.Sprintf("rings %v: want %d %s", rings, want, role)
		}
	}
	owners := map[string][]int32{}
	var all []int32
	for _, h := range histories {
		r, err := admin.DescribeHistoryHost(cctx, &adminservice.DescribeHistoryHostRequest{HostAddress: h})
		if err != nil {
			return rings, nil, fmt.Sprintf("describe history host %s: %v", h, err)
		}
		if len(r.GetShardIds()) == 0 {
			return rings, nil, fmt.Sprintf("history host %s owns no shard yet", h)
		}
		owners[h] = r.GetShardIds()
		all = append(all, r.GetShardIds()...)
	}
	slices.Sort(all)
	want := make([]int32, shards)
	for i := range want {
		want[i] = int32(i + 1)
	}
	if !slices.Equal(all, want) {
		return rings, owners, fmt.Sprintf("shards owned %v: want each of 1..%d exactly once", all, shards)
	}
	return rings, owners, ""
}
