package cluster_test

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	dockerclient "github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/scenarios/noop"
)

// TestContainerSmoke builds the image from deploy/Dockerfile around a static
// squall binary, starts it, and runs one noop workflow against it from an
// in-process worker: the image is only useful if a real SDK client can drive
// a workflow to completion through the published port.
//
// It needs a Docker engine but no registry: the image is FROM scratch, so the
// build pulls nothing, and the test never asks for any other image (run it
// with TESTCONTAINERS_RYUK_DISABLED=true, or testcontainers pulls its reaper).
func TestContainerSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping container smoke test in -short mode: it builds an image and starts a Temporal server")
	}
	// Skips (rather than fails) when no Docker engine answers, so `go test ./...`
	// stays usable on machines without Docker.
	testcontainers.SkipIfProviderIsNotHealthy(t)

	start := time.Now()
	buildDir := imageContext(t, squallBinary(t))
	// Unique per run: the tag names the image we must remove, and the task
	// queue and workflow ID keep runs apart should a server ever be shared.
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	const repo = "squall-smoke"
	removeImageOnCleanup(t, repo+":"+suffix)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var buildLog bytes.Buffer
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			FromDockerfile: testcontainers.FromDockerfile{
				Context:        buildDir,
				Dockerfile:     "Dockerfile",
				Repo:           repo,
				Tag:            suffix,
				BuildLogWriter: &buildLog, // shown only on failure, see below
				// KeepImage false: Terminate removes the image it built.
				KeepImage: false,
				BuildOptionsModifier: func(o *dockerclient.ImageBuildOptions) {
					// Never refresh the base image from a registry. (scratch is
					// not pulled anyway; this keeps it so if the FROM changes.)
					o.PullParent = false
				},
			},
			ExposedPorts: []string{"7233/tcp"},
			// The server prints this once the frontend accepts connections.
			// Schema setup plus server start take a few seconds; be generous
			// for slow CI machines.
			WaitingFor: wait.ForLog(cluster.ReadyLine).WithStartupTimeout(90 * time.Second),
		},
		Started: true,
	})
	// Register before checking err: on a failed start ctr may still be a
	// container that has to go.
	testcontainers.CleanupContainer(t, ctr)
	t.Cleanup(func() {
		// Runs before the container is terminated (cleanups are LIFO), while
		// its logs can still be read.
		if t.Failed() {
			t.Logf("image build log:\n%s", buildLog.String())
			logContainer(t, ctr)
		}
	})
	require.NoError(t, err, "build and start the squall container")
	t.Logf("image built and server ready in %s", time.Since(start).Round(time.Millisecond))

	hostPort := frontendEndpoint(ctx, t, ctr)

	c, err := client.Dial(client.Options{
		HostPort:  hostPort,
		Namespace: cluster.DefaultNamespace,
		// Warnings only: the SDK's info lines would bury the test output.
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	})
	require.NoError(t, err, "dial %s", hostPort)
	t.Cleanup(c.Close)

	taskQueue := "squall-smoke-" + suffix
	w := worker.New(c, taskQueue, worker.Options{})
	noop.Register(w)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	wfCtx, wfCancel := context.WithTimeout(ctx, 60*time.Second)
	defer wfCancel()
	run, err := c.ExecuteWorkflow(wfCtx, client.StartWorkflowOptions{
		ID:        "squall-smoke-" + suffix,
		TaskQueue: taskQueue,
	}, "squall.noop", 1)
	require.NoError(t, err, "start workflow")
	require.NoError(t, run.Get(wfCtx, nil), "workflow %s", run.GetID())

	// Get returning nil already means success; the server's own record of the
	// execution is what a benchmark's verifier reads, so check it too.
	desc, err := c.DescribeWorkflowExecution(wfCtx, run.GetID(), run.GetRunID())
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())
}

// frontendEndpoint returns a host:port for the container's 7233/tcp that
// this process can actually connect to.
//
// testcontainers picks the host from the Docker setup; when the test itself
// runs in a container (/.dockerenv exists) it assumes the Docker socket was
// mounted from the host and uses a gateway address. With Docker running
// inside that same container (the engine's ports published on this network
// namespace) that guess is wrong: on a bridge network whose IPAM lists no
// gateway it falls back to the default route's gateway, where nothing
// listens. Loopback is then the right answer. An explicit
// TESTCONTAINERS_HOST_OVERRIDE is always taken as given.
func frontendEndpoint(ctx context.Context, t *testing.T, ctr testcontainers.Container) string {
	t.Helper()
	hostPort, err := ctr.PortEndpoint(ctx, "7233/tcp", "")
	require.NoError(t, err)
	if _, set := os.LookupEnv("TESTCONTAINERS_HOST_OVERRIDE"); set || canConnect(hostPort) {
		return hostPort
	}
	_, port, err := net.SplitHostPort(hostPort)
	require.NoError(t, err)
	if loopback := net.JoinHostPort("127.0.0.1", port); canConnect(loopback) {
		t.Logf("%s is unreachable from here, using %s (set TESTCONTAINERS_HOST_OVERRIDE to choose)", hostPort, loopback)
		return loopback
	}
	return hostPort // neither answers: let Dial report the original address
}

func canConnect(hostPort string) bool {
	c, err := net.DialTimeout("tcp", hostPort, 2*time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// squallBinary returns a statically linked squall: $SQUALL_BIN when set (the
// Makefile builds bin/squall with CGO_ENABLED=0), else one built here.
func squallBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("SQUALL_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "squall")
		// A cold build of the Temporal server takes minutes; the build cache
		// makes later runs quick. Set SQUALL_BIN to skip this entirely.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/squallbench/squall/cmd/squall")
		// The image is FROM scratch: there is no libc for a cgo binary.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build squall:\n%s", out)
	}
	requireStatic(t, bin)
	return bin
}

// requireStatic fails early on a dynamically linked binary: in a scratch image
// it would die with a baffling "no such file or directory" (its loader is
// missing) and the test would only see the wait for the ready line time out.
func requireStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	require.NoError(t, err, "squall binary %s", bin)
	defer f.Close()
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type,
			"%s is dynamically linked; build it with CGO_ENABLED=0 for the scratch image", bin)
	}
}

// imageContext lays out the build context deploy/Dockerfile expects: the
// binary, an empty data/ directory (it becomes /data), and the Dockerfile.
// The repository itself is not the context: it would send far more than the
// image needs to the daemon.
func imageContext(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, bin, filepath.Join(dir, "squall"), 0o755)
	copyFile(t, filepath.Join("..", "deploy", "Dockerfile"), filepath.Join(dir, "Dockerfile"), 0o644)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "data"), 0o755))
	return dir
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// removeImageOnCleanup removes the image by tag at the very end of the test.
// Terminate already removes the image it built; this covers the case where
// the build succeeded but the container was never created, so there is no
// container to terminate and nothing else would remove the image.
func removeImageOnCleanup(t *testing.T, ref string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err != nil {
			t.Errorf("docker client to remove %s: %v", ref, err)
			return
		}
		defer cli.Close()
		_, err = cli.ImageRemove(ctx, ref, dockerclient.ImageRemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !errdefs.IsNotFound(err) {
			t.Errorf("remove image %s: %v", ref, err)
		}
	})
}

// logContainer prints the tail of the container's output: when the server
// fails to start, the reason is there and nowhere else.
func logContainer(t *testing.T, ctr testcontainers.Container) {
	t.Helper()
	if ctr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := ctr.Logs(ctx)
	if err != nil {
		t.Logf("container logs: %v", err)
		return
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("container output (last %d lines):\n%s", len(lines), strings.Join(lines, "\n"))
}
