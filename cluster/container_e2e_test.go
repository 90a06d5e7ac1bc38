package cluster_test

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	dockerclient "github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/squalltest"
)

// squallContainers lists the containers carrying squall's run label.
func squallContainers(t *testing.T, runID string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	filter := cluster.LabelRunID
	if runID != "" {
		filter += "=" + runID
	}
	l, err := cli.ContainerList(ctx, dockerclient.ContainerListOptions{All: true, Filters: dockerclient.Filters{}.Add("label", filter)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range l.Items {
		names = append(names, strings.Join(c.Names, ","))
	}
	return names
}

func runIDOf(t *testing.T, res squalltest.Result) string {
	t.Helper()
	if res.Report == nil || res.Report.Run.TaskQueue == "" {
		t.Fatal("no report or no task queue in it")
	}
	return strings.TrimPrefix(res.Report.Run.TaskQueue, "squall-")
}

// A noop run on --cluster container passes, and leaves no container or
// network behind.
func TestContainerClusterNoop(t *testing.T) {
	squalltest.SkipIfShort(t)
	testcontainers.SkipIfProviderIsNotHealthy(t)
	res := squalltest.Run(t, 8*time.Minute, "--scenario", "noop", "--cluster", "container", "--rate", "10/s", "--duration", "20s")
	s := squalltest.Scenario(t, res.Report, "noop")
	if res.Exit != 0 || res.Report.Verdict != "pass" || s.Lost != 0 || s.Completed != s.Started {
		t.Errorf("exit %d verdict %s started %d completed %d lost %d", res.Exit, res.Report.Verdict, s.Started, s.Completed, s.Lost)
	}
	if res.Report.Run.Cluster != "container" {
		t.Errorf("report says cluster %q, want container", res.Report.Run.Cluster)
	}
	if left := squallContainers(t, runIDOf(t, res)); len(left) > 0 {
		t.Errorf("containers left after a normal exit: %v", left)
	}
}

// The image tag is the content hash: a second call finds the image.
func TestImageCachedByContent(t *testing.T) {
	squalltest.SkipIfShort(t)
	testcontainers.SkipIfProviderIsNotHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := squalltest.Binary(t)
	ref, _, err := cluster.EnsureImage(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	again, built, err := cluster.EnsureImage(ctx, bin)
	if err != nil || built || again != ref {
		t.Errorf("second EnsureImage: %s built=%v err=%v, want %s from the cache", again, built, err, ref)
	}
	t.Logf("cached image lookup: %s", time.Since(start))
}

func TestImagePullFailureIsUsageError(t *testing.T) {
	squalltest.SkipIfShort(t)
	testcontainers.SkipIfProviderIsNotHealthy(t)
	res := squalltest.Run(t, 2*time.Minute, "--scenario", "noop", "--cluster", "container", "--image", "temporalio/temporal:0.0.0-squall-test",
		"--rate", "5/s", "--duration", "5s")
	if res.Exit != 2 || !strings.Contains(res.Stderr, "cannot be pulled") {
		t.Errorf("exit %d stderr %q: want exit 2 saying the image cannot be pulled", res.Exit, res.Stderr)
	}
}

// A run killed with SIGKILL cannot remove its containers; squall cleanup
// does, and says what it removed.
func TestCleanupRemovesLeftoversOfKilledRun(t *testing.T) {
	squalltest.SkipIfShort(t)
	testcontainers.SkipIfProviderIsNotHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, squalltest.Binary(t), "run", "--scenario", "noop", "--cluster", "container",
		"--rate", "5/s", "--duration", "5m", "--out", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var runID string
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "Temporal in container squall-"); ok {
			runID = strings.TrimSuffix(strings.Fields(rest)[0], "-server")
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if runID == "" {
		t.Fatal("the run never reported its server container")
	}
	if left := squallContainers(t, runID); len(left) == 0 {
		t.Fatal("nothing left behind by a killed run: the test would prove nothing")
	}
	res := squalltest.Exec(t, 2*time.Minute, "cleanup", "--run-id", runID)
	if res.Exit != 0 || !strings.Contains(res.Stdout, "removed container squall-"+runID+"-server") || !strings.Contains(res.Stdout, "removed network") {
		t.Errorf("cleanup: exit %d stdout %q stderr %q", res.Exit, res.Stdout, res.Stderr)
	}
	if left := squallContainers(t, runID); len(left) > 0 {
		t.Errorf("containers left after cleanup: %v", left)
	}
}
