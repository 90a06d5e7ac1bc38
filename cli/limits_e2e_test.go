package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

// limitSearch runs the smallest capacity search that shows a limit, on
// the embedded server with dynamic config set: from 2/s up to 4/s, a
// single probe deciding each rate. The limits are set low enough to bite
// from the first rate on, so that what a busy test machine does to the
// driver cannot decide the outcome. It returns the rebuilt report and
// report.md.
func limitSearch(t *testing.T, dynamic string) (*reports.Report, string) {
	t.Helper()
	squalltest.SkipIfShort(t)
	dir := filepath.Join(t.TempDir(), "cap")
	res := squalltest.Exec(t, 8*time.Minute, "capacity", "--scenario", "noop", "--slo", "p99<2s", "--start", "2/s", "--max", "4/s",
		"--rounds", "1", "--canary-every", "0", "--probe", "8s", "--settle", "3s", "--warmup", "0s", "--server-sample-interval", "1s",
		"--dynamic-config", dynamic, "--out", dir)
	// 0: a rate was found; 1: even 2/s failed under the limit. Either way
	// the search ran and attributed.
	if res.Exit != 0 && res.Exit != 1 {
		t.Fatalf("exit %d\n%s\n%s", res.Exit, res.Stdout, res.Stderr)
	}
	rep, err := reports.Rebuild(dir)
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, reports.FileMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Capacity == nil || len(rep.Capacity.Searches) != 1 {
		t.Fatalf("no capacity search in the report:\n%s", md)
	}
	t.Logf("report.md capacity section:\n%s", section(string(md), "## Capacity"))
	return rep, string(md)
}

// section cuts report.md's section that starts with head, up to the next
// probe's own section.
func section(md, head string) string {
	i := strings.Index(md, head)
	if i < 0 {
		return ""
	}
	rest := md[i:]
	if j := strings.Index(rest[len(head):], "\n## "); j >= 0 {
		rest = rest[:len(head)+j]
	}
	return rest
}

// firstServerFinding is the first finding about the cluster: the driver
// and its machine are squall's side (a busy test machine may make a
// start late) and do not count.
func firstServerFinding(s capacity.Outcome) (capacity.Finding, bool) {
	for _, f := range s.Findings {
		if !slices.Contains([]string{"driver", "driver CPU", "machine CPU"}, f.Resource) {
			return f, true
		}
	}
	return capacity.Finding{}, false
}

func checkLimitNamed(t *testing.T, rep *reports.Report, md, want string) {
	t.Helper()
	s := rep.Capacity.Searches[0]
	f, ok := firstServerFinding(s)
	if !ok || f.Resource != capacity.ResourceLimit || !strings.HasPrefix(f.Evidence, want) || !strings.Contains(f.Evidence, "raise it, this is not saturation") {
		t.Errorf("first finding about the server %+v (all: %+v), want %q", f, s.Findings, want)
	}
	if s.FirstFail > 0 && f.AtRate > s.FirstFail {
		t.Errorf("the limit is first seen at %v/s, after the first failing rate %v/s", f.AtRate, s.FirstFail)
	}
	if !strings.Contains(md, want) {
		t.Errorf("report.md does not name %q", want)
	}
	// The run's own signals section lists the refusals by cause with the key.
	if !strings.Contains(md, "Refusals (RESOURCE_EXHAUSTED) by cause") || !strings.Contains(md, "| configured limit |") {
		t.Errorf("report.md has no refusals table naming the configured limit")
	}
}

// A capacity search under a low frontend.namespaceRPS ends with the
// limit named as what it is: RPS_LIMIT, the key that sets it, the rate
// it refused at; not server saturation.
func TestCapacityNamesConfiguredRPSLimit(t *testing.T) {
	rep, md := limitSearch(t, "frontend.namespaceRPS=5")
	checkLimitNamed(t, rep, md, "configured limit RPS_LIMIT (frontend.namespaceRPS) at ")
	for _, p := range rep.Capacity.Searches[0].Probes {
		if len(p.Refusals) == 0 {
			t.Errorf("probe %s at %v/s has no refusals recorded", p.Entry, p.Rate)
		}
	}
}

// A low history.persistenceMaxQPS reads as PERSISTENCE_LIMIT with its key,
// counted by history's own persistence client.
func TestCapacityNamesPersistenceLimit(t *testing.T) {
	rep, md := limitSearch(t, "history.persistenceMaxQPS=20")
	checkLimitNamed(t, rep, md, "configured limit PERSISTENCE_LIMIT (history.persistence")
	f, _ := firstServerFinding(rep.Capacity.Searches[0])
	if !strings.Contains(f.Evidence, "history's persistence client") {
		t.Errorf("finding %q: want it counted by history's persistence client", f.Evidence)
	}
}
