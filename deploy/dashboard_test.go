package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/squalltest"
)

// dashboardMetrics returns every metric name the squall dashboard's PromQL
// refers to (panels and annotations).
func dashboardMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("grafana", "dashboards", "squall.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
		Annotations struct {
			List []struct{ Expr string } `json:"list"`
		} `json:"annotations"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("squall.json: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, a := range d.Annotations.List {
		exprs = append(exprs, a.Expr)
	}
	// A metric name is an identifier followed by { or [ or ), not a
	// function (followed by "(") nor a label (inside braces or by/without).
	stripped := regexp.MustCompile(`\{[^}]*\}|by \([^)]*\)|"[^"]*"`)
	ident := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords := map[string]bool{"sum": true, "rate": true, "max": true, "histogram_quantile": true, "by": true, "le": true}
	names := map[string]bool{}
	for _, e := range exprs {
		e = stripped.ReplaceAllString(e, "")
		for _, m := range ident.FindAllStringIndex(e, -1) {
			w := e[m[0]:m[1]]
			if keywords[w] || (m[1] < len(e) && e[m[1]] == '(') {
				continue
			}
			if w == "s" { // the unit of a range such as [30s]
				continue
			}
			names[w] = true
		}
	}
	if len(names) == 0 {
		t.Fatal("no metric names found in the dashboard")
	}
	return names
}

// Every server metric the dashboard charts exists on a live server's
// /metrics. squall_* names are squall's own exporter's.
func TestDashboardServerMetricsExist(t *testing.T) {
	squalltest.SkipIfShort(t)
	names := dashboardMetrics(t)
	port, err := cluster.FreePortRange()
	if err != nil {
		t.Fatal(err)
	}
	mport, err := cluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, squalltest.Binary(t), "server", "--db", filepath.Join(dir, "t.db"), "--port", fmt.Sprint(port),
		"--metrics-port", fmt.Sprint(mport), "--log-file", filepath.Join(dir, "server.log"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), cluster.ReadyLine) {
	}
	// Some series appear only once their first sample is recorded: give
	// the server's background work a few seconds.
	var missing []string
	for try := 0; try < 20; try++ {
		time.Sleep(2 * time.Second)
		have := scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
		missing = missing[:0]
		for n := range names {
			if !strings.HasPrefix(n, "squall_") && !have[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return
		}
	}
	t.Errorf("the dashboard charts server metrics the server does not export: %v", missing)
}

func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	have := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			have[line[:i]] = true
		}
	}
	return have
}
