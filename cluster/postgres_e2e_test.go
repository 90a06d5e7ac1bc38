package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/squalltest"
)

func postgresDSN(t *testing.T) string { return squalltest.PostgresDSN(t) }

func TestPostgresBadDSNIsOneLineUsageError(t *testing.T) {
	dsn := postgresDSN(t)
	wrongPass := strings.Replace(dsn, ":squall@", ":not-the-password@", 1)
	unreachable := "postgres://postgres:squall@127.0.0.1:1/x?sslmode=disable"
	for _, c := range []struct{ dsn, want string }{
		{"mysql://x", "bad --dsn"},
		{wrongPass, "password authentication failed"},
		{unreachable, "cannot reach postgres at 127.0.0.1:1"},
	} {
		port, err := cluster.FreePortRange()
		if err != nil {
			t.Fatal(err)
		}
		res := squalltest.Exec(t, time.Minute, "server", "--persistence", "postgres", "--dsn", c.dsn, "--port", fmt.Sprint(port))
		lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
		if res.Exit != 2 || len(lines) != 1 || !strings.Contains(lines[0], c.want) {
			t.Errorf("--dsn %s: exit %d, stderr %q: want exit 2 and one line with %q", c.dsn, res.Exit, res.Stderr, c.want)
		}
		if strings.Contains(res.Stderr, "not-the-password") {
			t.Errorf("the password shows in the message: %s", res.Stderr)
		}
	}
}

// A run on Postgres with 2 shards, then the server restarted by hand on the
// same database: the workflows of the run are still there, and asking for a
// different shard count is refused before the server starts.
func TestPostgresRunRestartKeepsDataAndShardCount(t *testing.T) {
	dsn := postgresDSN(t)
	res := squalltest.Run(t, 5*time.Minute, "--scenario", "noop", "--concurrency", "5", "--iterations", "40",
		"--persistence", "postgres", "--dsn", dsn, "--shards", "2")
	s := squalltest.Scenario(t, res.Report, "noop")
	if res.Exit != 0 || s.Completed != 40 || s.Lost != 0 {
		t.Fatalf("exit %d, completed %d lost %d: want 0, 40, 0", res.Exit, s.Completed, s.Lost)
	}
	id := firstJournaled(t, res.Dir)

	port, err := cluster.FreePortRange()
	if err != nil {
		t.Fatal(err)
	}
	bad := squalltest.Exec(t, time.Minute, "server", "--persistence", "postgres", "--dsn", dsn, "--shards", "3", "--port", fmt.Sprint(port))
	if bad.Exit != 2 || !strings.Contains(bad.Stderr, "created with 2 history shard(s)") {
		t.Errorf("--shards 3 on a 2-shard database: exit %d, stderr %q: want exit 2 naming the stored count", bad.Exit, bad.Stderr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, squalltest.Binary(t), "server", "--persistence", "postgres", "--dsn", dsn, "--shards", "2",
		"--port", fmt.Sprint(port), "--log-file", filepath.Join(t.TempDir(), "server.log"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	addr := waitReady(t, stdout)
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: cluster.DefaultNamespace})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatalf("workflow %s after the restart: %v", id, err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("workflow %s after the restart: %s, want completed", id, st)
	}
}

func TestOrdersBatchOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	res := squalltest.Run(t, 8*time.Minute, "--scenario", "orders-batch", "--option", "orders=2000", "--iterations", "1",
		"--concurrency", "1", "--persistence", "postgres", "--dsn", dsn)
	s := squalltest.Scenario(t, res.Report, "orders-batch")
	if res.Exit != 0 || res.Report.Verdict != "pass" || s.Lost != 0 {
		t.Errorf("orders on postgres: exit %d verdict %s lost %d; invariants %+v", res.Exit, res.Report.Verdict, s.Lost, s.Invariants)
	}
}

// The server's datastore fault injection wraps whichever store is the
// default, so persistence-errors works on Postgres as on SQLite.
func TestPersistenceErrorsOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	res := squalltest.Run(t, 6*time.Minute, "--scenario", "noop", "--rate", "10/s", "--duration", "12s",
		"--persistence", "postgres", "--dsn", dsn, "--grace", "150s", "--verify-wait", "90s",
		"--fault", "persistence-errors at=3s for=4s error=Unavailable rate=0.1")
	s := squalltest.Scenario(t, res.Report, "noop")
	if res.Exit != 0 || s.Lost != 0 || len(res.Report.Faults) != 1 || res.Report.Faults[0].Error != "" {
		t.Errorf("exit %d lost %d faults %+v: want a clean pass with one healed fault window", res.Exit, s.Lost, res.Report.Faults)
	}
}

func firstJournaled(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		t.Fatal("empty journal")
	}
	var e struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.ID == "" {
		t.Fatalf("journal line %q: %v", sc.Text(), err)
	}
	return e.ID
}

func waitReady(t *testing.T, stdout interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), cluster.ReadyLine); ok {
				got <- strings.TrimSpace(rest)
				return
			}
		}
		close(got)
	}()
	select {
	case addr, ok := <-got:
		if !ok {
			t.Fatal("server exited before it was ready")
		}
		return addr
	case <-time.After(2 * time.Minute):
		t.Fatal("server not ready within 2m")
	}
	return ""
}
