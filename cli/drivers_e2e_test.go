package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

// Three drivers given the same command (as compose --scale gives them)
// number themselves through the cluster, start together and split the
// schedule; their merge has exactly the single-driver totals.
func TestAutoDriversMeetSplitAndMerge(t *testing.T) {
	squalltest.SkipIfShort(t)
	dir := t.TempDir()
	port := squalltest.ServerPort(t)
	defer startServer(t, filepath.Join(dir, "t.db"), port)()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	out := filepath.Join(dir, "run", "driver-{driver}")
	var wg sync.WaitGroup
	results := make([]squalltest.Result, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i > 0 { // drivers arrive apart: the first one waits for the others
				time.Sleep(time.Duration(i) * 2 * time.Second)
			}
			results[i] = squalltest.Exec(t, 3*time.Minute, "run", "--scenario", "noop", "--rate", "9/s", "--duration", "10s",
				"--address", addr, "--driver", "auto/3", "--run-id", "e2e", "--out", out)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.Exit != 0 {
			t.Fatalf("driver process %d: exit %d\n%s\n%s", i, r.Exit, r.Stdout, r.Stderr)
		}
	}
	var runID string
	var startAt time.Time
	for d := 1; d <= 3; d++ {
		b, err := os.ReadFile(filepath.Join(dir, "run", fmt.Sprintf("driver-%d", d), reports.FileJSON))
		if err != nil {
			t.Fatalf("driver %d wrote no report: %v", d, err)
		}
		var rep reports.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Run.Driver != d || rep.Run.Drivers != 3 || !strings.HasPrefix(rep.Run.RunID, "e2e-") {
			t.Errorf("driver-%d: driver %d of %d, run id %q", d, rep.Run.Driver, rep.Run.Drivers, rep.Run.RunID)
		}
		if runID == "" {
			runID, startAt = rep.Run.RunID, rep.Run.StartAt
		} else if rep.Run.RunID != runID || !rep.Run.StartAt.Equal(startAt) {
			t.Errorf("driver-%d: run %s at %v, driver 1: %s at %v", d, rep.Run.RunID, rep.Run.StartAt, runID, startAt)
		}
	}
	merged := filepath.Join(dir, "merged")
	m := squalltest.Exec(t, time.Minute, "report", "merge", filepath.Join(dir, "run", "driver-*"), "--out", merged)
	if m.Exit != 0 {
		t.Fatalf("merge: exit %d\n%s\n%s", m.Exit, m.Stdout, m.Stderr)
	}
	rep, err := reports.Rebuild(merged)
	if err != nil {
		t.Fatal(err)
	}
	s := squalltest.Scenario(t, rep, "noop")
	if s.Started != 90 || s.Completed != 90 || s.Lost != 0 {
		t.Errorf("merged: started %d completed %d lost %d, want the single-driver schedule: 90 and 90, 0 lost", s.Started, s.Completed, s.Lost)
	}
	if rep.Verdict != reports.VerdictPass {
		t.Errorf("merged verdict %s", rep.Verdict)
	}

	// Fewer drivers than announced: every one that came is told, naming
	// how many came, and exits 2 before any load.
	lone := squalltest.Exec(t, time.Minute, "run", "--scenario", "noop", "--rate", "5/s", "--duration", "5s", "--address", addr,
		"--driver", "auto/2", "--run-id", "lonely", "--driver-timeout", "3s", "--out", filepath.Join(dir, "lonely-{driver}"))
	if lone.Exit != 2 || !strings.Contains(lone.Stderr, "only 1 of 2 drivers joined within 3s") {
		t.Errorf("one of two drivers: exit %d, stderr %q", lone.Exit, lone.Stderr)
	}
}
