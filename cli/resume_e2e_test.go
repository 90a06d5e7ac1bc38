package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
	"github.com/testcontainers/testcontainers-go"
)

// A driver killed with SIGKILL halfway through its load, then `squall run
// --resume DIR`: the schedule goes on where it stopped, no workflow ID is
// started twice, every journaled workflow (both drivers') is verified on
// the same embedded database, and the report covers the whole run with
// the gap marked.
func TestRunResumeAfterKill(t *testing.T) {
	squalltest.SkipIfShort(t)
	dir := filepath.Join(t.TempDir(), "run")
	out := killAfterJournaled(t, 60, "run", "--scenario", "noop", "--rate", "10/s", "--duration", "20s", "--out", dir)
	journal := filepath.Join(dir, reports.FileJournal)
	before := lines(t, journal)

	// A resume whose server cannot start (its database is, for now, a
	// directory) fails, and leaves the run resumable: no run-end record.
	db := filepath.Join(dir, "temporal.db")
	if err := os.Rename(db, db+".aside"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := squalltest.Exec(t, 2*time.Minute, "run", "--resume", dir); r.Exit == 0 || !strings.Contains(r.Stderr, "still resumable") {
		t.Fatalf("resume with its database unusable: exit %d, stderr %q: want a failure that says the run is still resumable", r.Exit, r.Stderr)
	}
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(db+".aside", db); err != nil {
		t.Fatal(err)
	}

	res := squalltest.Exec(t, 4*time.Minute, "run", "--resume", dir)
	if res.Exit != 0 {
		t.Fatalf("resume: exit %d\nstdout:\n%s\nstderr:\n%s", res.Exit, res.Stdout, res.Stderr)
	}
	rep, err := reports.ReadReport(filepath.Join(dir, reports.FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != "pass" || len(rep.Run.Resumes) != 1 {
		t.Fatalf("verdict %s, resumes %+v: want a pass with one resume (the failed one went nowhere)", rep.Verdict, rep.Run.Resumes)
	}
	// The resumed server takes the killed one's ports, so its membership
	// ring forms at once instead of waiting for the dead member to expire.
	if a, b := serverAddr(out), serverAddr(res.Stdout); a == "" || a != b {
		t.Errorf("embedded server on %q before the kill and on %q after the resume: want the same address", a, b)
	}
	g := rep.Run.Resumes[0]
	t.Logf("journal before the resume %d; resume %+v (unaccounted %d)", before, g, g.Unaccounted())
	if g.Recorded < 50 || g.From < g.Recorded || g.Unaccounted() > 70 || g.From >= 200 {
		t.Errorf("resume point %+v: want it past the ~60 recorded starts, within the margin's worth of them", g)
	}
	s := squalltest.Scenario(t, rep, "noop")
	if s.ScheduledStarts != 200 || s.Started+s.DroppedStarts+g.Unaccounted() != 200 {
		t.Errorf("scheduled %d, started %d + dropped %d + unaccounted %d: want the whole 200-start schedule accounted for",
			s.ScheduledStarts, s.Started, s.DroppedStarts, g.Unaccounted())
	}
	// Every ID once; every iteration from the resume point on started by
	// the second driver; all of them verified completed.
	seen := map[string]bool{}
	if err := bench.ReadJournal(journal, func(e bench.JournalEntry) error {
		if seen[e.WorkflowID] {
			return fmt.Errorf("workflow %s journaled twice: started again by the resume", e.WorkflowID)
		}
		seen[e.WorkflowID] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for n := g.From; n < 200; n++ {
		if id := fmt.Sprintf("noop-%s-%d", rep.Run.RunID, n); !seen[id] {
			t.Errorf("iteration %d (%s) not started by the resumed driver", n, id)
		}
	}
	v := s.Verification
	if v == nil || v.Journaled != int64(len(seen)) || v.ByStatus["completed"] != v.Journaled || s.Lost != 0 {
		t.Errorf("verification %+v, lost %d: want all %d journaled workflows completed", v, s.Lost, len(seen))
	}
	squalltest.InvariantsHold(t, s)
	if md, _ := os.ReadFile(filepath.Join(dir, reports.FileMarkdown)); !strings.Contains(string(md), "| resumed |") {
		t.Error("report.md does not mark the resume")
	}

	// A finished run, and flags that would make it another run, are refused.
	for _, args := range [][]string{{"run", "--resume", dir}, {"run", "--resume", dir, "--rate", "50/s"}, {"run", "--resume", t.TempDir()}} {
		if r := squalltest.Exec(t, time.Minute, args...); r.Exit != 2 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("squall %v: exit %d, stderr %q: want exit 2 and one line", args, r.Exit, r.Stderr)
		}
	}
}

// killAfterJournaled starts squall with args (one of them --out DIR) and
// kills it with SIGKILL once its journal holds n workflows; it returns
// what the killed driver printed.
func killAfterJournaled(t *testing.T, n int, args ...string) string {
	t.Helper()
	dir := args[slices.Index(args, "--out")+1]
	cmd := exec.Command(squalltest.Binary(t), args...)
	cmd.Env = squalltest.HermeticEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(dir, reports.FileJournal)
	deadline := time.Now().Add(2 * time.Minute)
	for lines(t, journal) < n {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the first driver journaled %d workflows in 2 minutes:\n%s", lines(t, journal), out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return out.String()
}

// A killed driver of a topology of service processes (two history hosts
// on Postgres), resumed: its nodes start on their predecessors' ports, so
// the membership ring forms at once instead of waiting about 50 s for the
// dead members to expire, and nothing is lost.
func TestRunResumeTopologyAfterKill(t *testing.T) {
	dsn := squalltest.PostgresDSN(t)
	dir := filepath.Join(t.TempDir(), "run")
	out := killAfterJournaled(t, 60, "run", "--scenario", "noop", "--rate", "10/s", "--duration", "20s", "--topology", "services",
		"--history-hosts", "2", "--persistence", "postgres", "--dsn", dsn, "--out", dir)
	res := squalltest.Exec(t, 4*time.Minute, "run", "--resume", dir, "--dsn", dsn)
	if res.Exit != 0 {
		t.Fatalf("resume: exit %d\nstdout:\n%s\nstderr:\n%s", res.Exit, res.Stdout, res.Stderr)
	}
	ready := regexp.MustCompile(`service processes \(.*\) on (\S+), ready in (\S+);`)
	a, b := ready.FindStringSubmatch(out), ready.FindStringSubmatch(res.Stdout)
	if a == nil || b == nil {
		t.Fatalf("no ready line: before the kill %q, after the resume %q", out, res.Stdout)
	}
	if d, err := time.ParseDuration(b[2]); a[1] != b[1] || err != nil || d > 20*time.Second {
		t.Errorf("frontend on %s before the kill and on %s after, ready in %s: want the same address, ready in well under the ~50 s a new ring waits", a[1], b[1], b[2])
	}
	if strings.Contains(res.Stdout, "were taken") {
		t.Errorf("the resume found its nodes' old ports taken:\n%s", res.Stdout)
	}
	rep, err := reports.ReadReport(filepath.Join(dir, reports.FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	s := squalltest.Scenario(t, rep, "noop")
	if rep.Verdict != "pass" || len(rep.Run.Resumes) != 1 || s.Lost != 0 || rep.Run.Topology == nil || len(rep.Run.Topology.Processes) != 5 {
		t.Errorf("verdict %s, resumes %d, lost %d, topology %+v: want a pass with one resume, nothing lost, 5 processes", rep.Verdict, len(rep.Run.Resumes), s.Lost, rep.Run.Topology)
	}
	squalltest.InvariantsHold(t, s)
}

func lines(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	return n
}

// serverAddr is the address a run's "embedded Temporal ... on ADDR" line names.
func serverAddr(out string) string {
	if m := regexp.MustCompile(`embedded Temporal \S+ on (\S+)`).FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// A killed driver of a --cluster container run with worker containers,
// resumed: the server container it left running is taken up on its ports
// with its data (its SQLite lives in the container), the worker
// containers are replaced, nothing is lost, and at the end nothing of the
// run is left in Docker.
func TestRunResumeContainerAfterKill(t *testing.T) {
	squalltest.SkipIfShort(t)
	testcontainers.SkipIfProviderIsNotHealthy(t)
	dir := filepath.Join(t.TempDir(), "run")
	runID := fmt.Sprintf("resume-ctr-%d", time.Now().UnixNano()%1_000_000)
	out := killAfterJournaled(t, 60, "run", "--scenario", "noop", "--rate", "10/s", "--duration", "20s", "--cluster", "container",
		"--worker-containers", "--workers", "1", "--run-id", runID, "--out", dir)
	t.Cleanup(func() { _ = squalltest.Exec(t, time.Minute, "cleanup", "--run-id", runID) })
	res := squalltest.Exec(t, 4*time.Minute, "run", "--resume", dir)
	if res.Exit != 0 {
		t.Fatalf("resume: exit %d\nstdout:\n%s\nstderr:\n%s", res.Exit, res.Stdout, res.Stderr)
	}
	on := regexp.MustCompile(`Temporal in container \S+ \(image \S+\) on (\S+),`)
	a, b := on.FindStringSubmatch(out), on.FindStringSubmatch(res.Stdout)
	if a == nil || b == nil || a[1] != b[1] || !strings.Contains(res.Stdout, "taken up from the killed driver") {
		t.Errorf("server container on %v before the kill, %v after: want the same one taken up\n%s", a, b, res.Stdout)
	}
	rep, err := reports.ReadReport(filepath.Join(dir, reports.FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	s := squalltest.Scenario(t, rep, "noop")
	if rep.Verdict != "pass" || len(rep.Run.Resumes) != 1 || s.Lost != 0 || s.Verification == nil || s.Verification.Journaled < 150 {
		t.Errorf("verdict %s, resumes %d, lost %d, verification %+v: want a pass with one resume and every journaled workflow verified", rep.Verdict, len(rep.Run.Resumes), s.Lost, s.Verification)
	}
	squalltest.InvariantsHold(t, s)
	if left := squalltest.Exec(t, time.Minute, "cleanup", "--run-id", runID); !strings.Contains(left.Stdout, "nothing to remove") {
		t.Errorf("the resumed run left containers or its network behind:\n%s", left.Stdout)
	}
}
