package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

// A driver killed with SIGKILL halfway through its load, then `squall run
// --resume DIR`: the schedule goes on where it stopped, no workflow ID is
// started twice, every journaled workflow (both drivers') is verified on
// the same embedded database, and the report covers the whole run with
// the gap marked.
func TestRunResumeAfterKill(t *testing.T) {
	squalltest.SkipIfShort(t)
	dir := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(squalltest.Binary(t), "run", "--scenario", "noop", "--rate", "10/s", "--duration", "20s", "--out", dir)
	cmd.Env = squalltest.HermeticEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(dir, reports.FileJournal)
	deadline := time.Now().Add(2 * time.Minute)
	for lines(t, journal) < 60 { // about six seconds of the twenty-second schedule
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
	before := lines(t, journal)

	res := squalltest.Exec(t, 4*time.Minute, "run", "--resume", dir)
	if res.Exit != 0 {
		t.Fatalf("resume: exit %d\nstdout:\n%s\nstderr:\n%s", res.Exit, res.Stdout, res.Stderr)
	}
	rep, err := reports.ReadReport(filepath.Join(dir, reports.FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != "pass" || len(rep.Run.Resumes) != 1 {
		t.Fatalf("verdict %s, resumes %+v: want a pass with one resume", rep.Verdict, rep.Run.Resumes)
	}
	// The resumed server takes the killed one's ports, so its membership
	// ring forms at once instead of waiting for the dead member to expire.
	if a, b := serverAddr(out.String()), serverAddr(res.Stdout); a == "" || a != b {
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
