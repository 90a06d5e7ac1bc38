package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/squallbench/squall/internal/squalltest"
)

// grafanaExpr is one query of a dashboard: a panel's target, an
// annotation, or a template variable's label_values().
type grafanaExpr struct {
	Where string // for messages: `panel "Title" B`, `annotation "faults"`, `variable run_id`
	Expr  string // PromQL, with Grafana's variables still in it
	Label string // a variable's label_values(EXPR, LABEL): LABEL; "" for plain PromQL
}

// The uid deploy/grafana/provisioning/datasources/prometheus.yml gives
// Prometheus; a panel naming another would show "datasource not found".
const provisionedDatasource = "prometheus"

// dashboardFiles lists every dashboard Grafana provisions from
// deploy/grafana/dashboards.
func dashboardFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in grafana/dashboards (%v)", err)
	}
	return files
}

// dashboardExprs reads every query of one dashboard: panels (rows' nested
// panels too), annotations and template variables.
func dashboardExprs(t *testing.T, file string) []grafanaExpr {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels      []json.RawMessage `json:"panels"`
		Annotations struct {
			List []struct {
				Name       string          `json:"name"`
				Expr       string          `json:"expr"`
				Datasource json.RawMessage `json:"datasource"`
			} `json:"list"`
		} `json:"annotations"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []grafanaExpr
	checkDS := func(where string, raw json.RawMessage) {
		var ds struct{ UID string }
		if len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &ds); err != nil || ds.UID != provisionedDatasource {
				t.Errorf("%s: %s has datasource %s, want uid %q (the provisioned Prometheus)", file, where, raw, provisionedDatasource)
			}
		}
	}
	var walk func([]json.RawMessage)
	walk = func(panels []json.RawMessage) {
		for _, raw := range panels {
			var p struct {
				Title      string            `json:"title"`
				Datasource json.RawMessage   `json:"datasource"`
				Panels     []json.RawMessage `json:"panels"`
				Targets    []struct {
					RefID      string          `json:"refId"`
					Expr       string          `json:"expr"`
					Datasource json.RawMessage `json:"datasource"`
				} `json:"targets"`
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("%s: panel: %v", file, err)
			}
			checkDS(fmt.Sprintf("panel %q", p.Title), p.Datasource)
			for _, tg := range p.Targets {
				where := fmt.Sprintf("panel %q %s", p.Title, tg.RefID)
				checkDS(where, tg.Datasource)
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: %s has no expression", file, where)
					continue
				}
				out = append(out, grafanaExpr{Where: where, Expr: tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, a := range d.Annotations.List {
		if a.Expr == "" { // Grafana's built-in annotations have none
			continue
		}
		where := fmt.Sprintf("annotation %q", a.Name)
		checkDS(where, a.Datasource)
		out = append(out, grafanaExpr{Where: where, Expr: a.Expr})
	}
	labelValues := regexp.MustCompile(`^\s*label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
	queryResult := regexp.MustCompile(`^\s*query_result\((.+)\)\s*$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct{ Query string }
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Fatalf("%s: variable %s: query %s", file, v.Name, v.Query)
			}
			q = obj.Query
		}
		where := "variable " + v.Name
		switch {
		case labelValues.MatchString(q):
			m := labelValues.FindStringSubmatch(q)
			out = append(out, grafanaExpr{Where: where, Expr: m[1], Label: m[2]})
		case queryResult.MatchString(q):
			out = append(out, grafanaExpr{Where: where, Expr: queryResult.FindStringSubmatch(q)[1]})
		default:
			t.Errorf("%s: %s: query %q: want label_values(METRIC, LABEL) or query_result(PROMQL), which this test can check", file, where, q)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no queries", file)
	}
	return out
}

var (
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGroupings = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlKeywords  = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true}
)

// metricNames are the metric names expr selects: identifiers outside label
// matchers, ranges, groupings and strings that are not functions,
// aggregations, keywords or parts of a number.
func metricNames(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlRanges.ReplaceAllString(e, " ")
	e = promqlGroupings.ReplaceAllString(e, " ")
	var names []string
	for _, m := range promqlIdent.FindAllStringIndex(e, -1) {
		w := e[m[0]:m[1]]
		if promqlKeywords[strings.ToLower(w)] {
			continue
		}
		if m[0] > 0 && strings.ContainsRune("0123456789.$", rune(e[m[0]-1])) { // 1e3, $var
			continue
		}
		if rest := strings.TrimLeft(e[m[1]:], " \t\n"); strings.HasPrefix(rest, "(") { // a function or aggregation
			continue
		}
		if !slices.Contains(names, w) {
			names = append(names, w)
		}
	}
	return names
}

func TestMetricNamesOfPromQL(t *testing.T) {
	for expr, want := range map[string][]string{
		`histogram_quantile(0.99, sum by (le, scenario) (rate(squall_latency_corrected_seconds_bucket{scenario=~"$scenario"}[$__rate_interval])))`: {"squall_latency_corrected_seconds_bucket"},
		`sum by (kind) (squall_faults_active{run_id=~"a|b"}) > 0`:                                                                                  {"squall_faults_active"},
		`sum by (job, instance) (process_resident_memory_bytes) / 2^30`:                                                                            {"process_resident_memory_bytes"},
		`rate(a_total[5m]) / on (job) group_left (x) b_info or vector(1e3)`:                                                                        {"a_total", "b_info"},
		`sum without (le) (rate(c[1m] offset 5m)) and bool d`:                                                                                      {"c", "d"},
		`label_replace(up, "dst", "$1", "src", "(.*)")`:                                                                                            {"up"},
		`max_over_time(squall_in_flight{scenario="x"}[10m:1m])`:                                                                                    {"squall_in_flight"},
		`sum(rate(temporal_request_total{service_name=""}[$__rate_interval])) by (operation)`:                                                      {"temporal_request_total"},
		`count(x{a="}"}) + count(y{b="{"})`:                                                                                                        {"x", "y"},
		`sum(rate(persistence_requests[30s]))`:                                                                                                     {"persistence_requests"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}

// Grafana's own variables the dashboards may use, with the value the live
// test gives each when it evaluates a query in Prometheus.
var grafanaBuiltins = map[string]string{"__rate_interval": "5s", "__interval": "1s", "__range": "60s"}

var grafanaVariable = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?`)

// Every dashboard parses, names the provisioned datasource, has queries
// and only uses variables it defines (or Grafana's own), and every query
// selects a metric by name.
func TestDashboardsAreWellFormed(t *testing.T) {
	for _, file := range dashboardFiles(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID        string `json:"uid"`
			Templating struct {
				List []struct{ Name string } `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(b, &d); err != nil || d.UID == "" {
			t.Fatalf("%s: %v (uid %q)", file, err, d.UID)
		}
		defined := map[string]bool{}
		for _, v := range d.Templating.List {
			defined[v.Name] = true
		}
		for _, e := range dashboardExprs(t, file) {
			for _, m := range grafanaVariable.FindAllStringSubmatch(e.Expr, -1) {
				if _, builtin := grafanaBuiltins[m[1]]; !builtin && !defined[m[1]] {
					t.Errorf("%s: %s uses $%s, which the dashboard does not define", file, e.Where, m[1])
				}
			}
			if len(metricNames(e.Expr)) == 0 {
				t.Errorf("%s: %s selects no metric by name: %s", file, e.Where, e.Expr)
			}
		}
	}
}

// The names Temporal's Go SDK dashboard (temporalio/dashboards,
// sdk/temporal-go-java-sdks-tally.json) queries that a squall worker
// exports under the live test's load. Its other names need an event that
// load does not cause (a failed request, workflow, workflow task or
// activity; a local or cancelled activity; an empty poll, which takes a
// long poll's minute; a sticky cache miss; an activity polled rather than
// dispatched eagerly), or are the Java SDK's;
// metrics.TestSDKHandlerNamesMatchTemporalSDKDashboard checks how a squall
// worker names those.
var sdkDashboardNamesLive = []string{
	"temporal_request_total",
	"temporal_request_latency_seconds_bucket",
	"temporal_long_request_latency_seconds_bucket",
	"temporal_workflow_completed_total",
	"temporal_workflow_endtoend_latency_seconds_bucket",
	"temporal_workflow_task_queue_poll_succeed_total",
	"temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
	"temporal_workflow_task_execution_latency_seconds_bucket",
	"temporal_workflow_task_replay_latency_seconds_bucket",
	"temporal_activity_execution_latency_seconds_bucket",
	"temporal_activity_succeed_endtoend_latency_seconds_bucket",
	"temporal_worker_task_slots_available",
	"temporal_worker_task_slots_used",
	"temporal_sticky_cache_size",
	"temporal_sticky_cache_hit_total",
	"temporal_sticky_cache_total_forced_eviction_total",
}

// loopbackScrapeConfig is deploy/prometheus/prometheus.yml's jobs, each
// pointed at the loopback address of what it scrapes in compose, every
// second: the dashboards see the labels (job) they see in compose.
func loopbackScrapeConfig(t *testing.T, targets map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	var jobs strings.Builder
	seen := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		addr, ok := targets[sc.JobName]
		if !ok {
			t.Fatalf("prometheus.yml has job %q: this test knows %v; teach it what the job scrapes", sc.JobName, keys(targets))
		}
		seen[sc.JobName] = true
		fmt.Fprintf(&jobs, "  - job_name: %s\n    static_configs:\n      - targets: [%q]\n", sc.JobName, addr)
	}
	for job := range targets {
		if !seen[job] {
			t.Fatalf("prometheus.yml has no job %q", job)
		}
	}
	return "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n" + jobs.String()
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// A live run scraped by a real Prometheus, the way docker-compose.yml
// wires it (the same job names): the embedded `squall server`, a `squall
// run --metrics-listen` driver and its worker serving the SDK's metrics,
// a scenario with activities and scenario-specific histograms, and a
// (no-op) fault window. Every metric name in every query of every
// dashboard in grafana/dashboards must be one that run exported, and every
// query, evaluated as Grafana would with the run selected, must return at
// least one series: no empty panel, annotation or variable. Temporal's SDK
// dashboard's names are checked against the worker's series too.
func TestDashboardsShowALiveRun(t *testing.T) {
	squalltest.SkipIfShort(t)
	files := dashboardFiles(t)
	exprs := map[string][]grafanaExpr{}
	for _, f := range files {
		exprs[f] = dashboardExprs(t, f)
	}
	bin := squalltest.EnsurePrometheus(t)
	driver := net.JoinHostPort("127.0.0.1", strconv.Itoa(squalltest.FreePort(t)))
	workerPort := squalltest.FreePort(t)
	serverPort := squalltest.FreePort(t)
	prom := squalltest.StartPrometheus(t, bin, loopbackScrapeConfig(t, map[string]string{
		"temporal":      net.JoinHostPort("127.0.0.1", strconv.Itoa(serverPort)),
		"squall-driver": driver,
		"squall-worker": net.JoinHostPort("127.0.0.1", strconv.Itoa(workerPort)),
	}))

	const scenario = "approval"
	runID := fmt.Sprintf("dash%d", time.Now().UnixNano()%1_000_000_000)
	begin := time.Now()
	// Every approver approves after ~0.2 s: iterations complete within
	// the run, with activities, signals, queries and the scenario's own
	// histograms (approver delay, request duration).
	res := squalltest.Run(t, 4*time.Minute, "--scenario", scenario,
		"-o", "mode=single", "-o", "approve=1", "-o", "reject=0", "-o", "delay=200ms",
		"--rate", "5/s", "--duration", "12s", "--workers", "1", "--run-id", runID,
		// The fault window spans 8 scrapes at 1 s: a 3 s window once got
		// none on a loaded CI machine (scrapes late or timed out), and the
		// faults annotation came back empty.
		"--fault", "none at=2s for=8s",
		"--metrics-listen", driver, "--worker-metrics-base-port", strconv.Itoa(workerPort),
		"--server-metrics-port", strconv.Itoa(serverPort))
	end := time.Now()
	if res.Exit != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", res.Exit, res.Stdout, res.Stderr)
	}
	if s := squalltest.Scenario(t, res.Report, scenario); s.Completed == 0 {
		t.Fatalf("%s completed nothing: no load to show", scenario)
	}

	client, err := api.NewClient(api.Config{Address: prom})
	if err != nil {
		t.Fatal(err)
	}
	papi := promv1.NewAPI(client)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	exported := map[string]bool{}
	vals, _, _, err := papi.LabelValues(ctx, model.MetricNameLabel, nil, begin, end)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vals {
		exported[string(v)] = true
	}
	for _, n := range []string{"squall_iterations_started_total", "temporal_workflow_completed_total", "service_requests"} {
		if !exported[n] {
			t.Fatalf("Prometheus has no %s from the run: the driver, worker or server was not scraped (%d names)", n, len(exported))
		}
	}
	series := func(q string) (model.Matrix, error) {
		v, _, _, err := papi.QueryRange(ctx, q, promv1.Range{Start: begin, End: end, Step: time.Second})
		if err != nil {
			return nil, err
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return nil, fmt.Errorf("%s: a %s, want a range vector", q, v.Type())
		}
		return m, nil
	}
	vars := map[string]string{"run_id": runID, "scenario": scenario}
	for k, v := range grafanaBuiltins {
		vars[k] = v
	}
	for _, f := range files {
		for _, e := range exprs[f] {
			for _, n := range metricNames(e.Expr) {
				if !exported[n] {
					t.Errorf("%s: %s uses %s, which no live squall driver, worker or server exported", filepath.Base(f), e.Where, n)
				}
			}
			q := grafanaVariable.ReplaceAllStringFunc(e.Expr, func(m string) string {
				name := grafanaVariable.FindStringSubmatch(m)[1]
				if v, ok := vars[name]; ok {
					return v
				}
				t.Errorf("%s: %s: no value for $%s", filepath.Base(f), e.Where, name)
				return m
			})
			if e.Label != "" { // label_values(EXPR, LABEL): the values EXPR has of LABEL
				q = fmt.Sprintf("group by (%s) (%s)", e.Label, q)
			}
			m, err := series(q)
			if err != nil {
				t.Errorf("%s: %s: %v", filepath.Base(f), e.Where, err)
				continue
			}
			n := 0 // series with a value to draw: NaN (a quantile of no observations) draws nothing
			for _, s := range m {
				if e.Label != "" && s.Metric[model.LabelName(e.Label)] == "" {
					continue
				}
				if slices.ContainsFunc(s.Values, func(p model.SamplePair) bool { return !math.IsNaN(float64(p.Value)) }) {
					n++
				}
			}
			if n == 0 {
				t.Errorf("%s: %s is empty over a live run (%d series, none with a number): %s", filepath.Base(f), e.Where, len(m), q)
				continue
			}
			t.Logf("%s: %s: %d series", filepath.Base(f), e.Where, n)
		}
	}
	for _, name := range sdkDashboardNamesLive {
		m, err := series(fmt.Sprintf(`count(%s{job="squall-worker"})`, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 {
			t.Errorf("Temporal's SDK dashboard queries %s: the squall worker exported none", name)
		}
	}
}

// composeFile is what this test reads of a docker-compose file.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Profiles    []string          `yaml:"profiles"`
	} `yaml:"services"`
}

// composeDefault is the default of a ${VAR:-default} value, or s itself.
func composeDefault(s string) string {
	if m := regexp.MustCompile(`^\$\{[A-Z_]+:-(.*)\}$`).FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return s
}

// flagValue is the value of --name=V or "--name", "V" in a command.
func flagValue(cmd []string, name string) (string, bool) {
	for i, a := range cmd {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return composeDefault(v), true
		}
		if a == name && i+1 < len(cmd) {
			return composeDefault(cmd[i+1]), true
		}
	}
	return "", false
}

// Both compose stacks are wired for the dashboards: the driver serves its
// metrics and its workers' on the compose network, the server its own, and
// deploy/prometheus/prometheus.yml scrapes each of them at the port the
// compose file gives it (every worker of the file's default count), with
// Prometheus and Grafana mounting the repository's config and dashboards.
func TestComposeStacksAreScraped(t *testing.T) {
	scraped, _ := promScrapes(t)
	want := func(file, job, target, what string) {
		t.Helper()
		if !scraped[job][target] {
			t.Errorf("%s: %s serves on %s, but prometheus.yml's job %q scrapes %v", file, what, target, job, keys(scraped[job]))
		}
	}
	for _, file := range []string{"docker-compose.yml", "docker-compose.offline.yml", "docker-compose.offline-services.yml"} {
		b, err := os.ReadFile(filepath.Join("..", file))
		if err != nil {
			t.Fatal(err)
		}
		var c composeFile
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		driver, ok := c.Services["squall-driver"]
		if !ok {
			t.Fatalf("%s: no squall-driver service", file)
		}
		listen, ok := flagValue(driver.Command, "--metrics-listen")
		host, port, err := net.SplitHostPort(listen)
		if !ok || err != nil || (host != "0.0.0.0" && host != "") {
			t.Errorf("%s: squall-driver --metrics-listen %q: want 0.0.0.0:PORT, reachable from the Prometheus container", file, listen)
		} else {
			want(file, "squall-driver", net.JoinHostPort("squall-driver", port), "the driver")
		}
		base, _ := flagValue(driver.Command, "--worker-metrics-base-port")
		workers, _ := flagValue(driver.Command, "--workers")
		bp, err1 := strconv.Atoi(base)
		n, err2 := strconv.Atoi(workers)
		if err1 != nil || err2 != nil || n < 1 {
			t.Errorf("%s: squall-driver --worker-metrics-base-port %q --workers %q: want a port and a count of workers", file, base, workers)
			n = 0
		}
		for i := 0; i < n; i++ {
			want(file, "squall-worker", net.JoinHostPort("squall-driver", strconv.Itoa(bp+i)), fmt.Sprintf("worker %d of %d", i, n))
		}
		servers := composeServers(c)
		if len(servers) == 0 {
			t.Errorf("%s: no server service serving Prometheus metrics", file)
		}
		for _, server := range servers {
			want(file, "temporal", server, "the Temporal server")
		}
		mounts := map[string][]string{
			"prometheus": {"./deploy/prometheus/prometheus.yml:"},
			"grafana":    {"./deploy/grafana/provisioning:", "./deploy/grafana/dashboards:"},
		}
		for svc, vols := range mounts {
			s, ok := c.Services[svc]
			if !ok {
				t.Errorf("%s: no %s service", file, svc)
				continue
			}
			for _, v := range vols {
				if !slices.ContainsFunc(s.Volumes, func(m string) bool { return strings.HasPrefix(m, v) }) {
					t.Errorf("%s: %s does not mount %s (mounts %v)", file, svc, strings.TrimSuffix(v, ":"), s.Volumes)
				}
			}
		}
	}
}

// promScrapes reads deploy/prometheus/prometheus.yml: each job's targets as
// "service:port" (static and DNS-discovered), and the label each job
// copies __meta_dns_name into (if any).
func promScrapes(t *testing.T) (map[string]map[string]bool, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
			RelabelConfigs []struct {
				SourceLabels []string `yaml:"source_labels"`
				TargetLabel  string   `yaml:"target_label"`
			} `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &prom); err != nil {
		t.Fatal(err)
	}
	scraped, labels := map[string]map[string]bool{}, map[string]string{}
	for _, sc := range prom.ScrapeConfigs {
		scraped[sc.JobName] = map[string]bool{}
		for _, s := range sc.StaticConfigs {
			for _, tg := range s.Targets {
				scraped[sc.JobName][tg] = true
			}
		}
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				scraped[sc.JobName][net.JoinHostPort(n, strconv.Itoa(d.Port))] = true
			}
		}
		for _, r := range sc.RelabelConfigs {
			if slices.Equal(r.SourceLabels, []string{"__meta_dns_name"}) {
				labels[sc.JobName] = r.TargetLabel
			}
		}
	}
	return scraped, labels
}

// composeServers are the "service:port" addresses where a compose file's
// Temporal server processes serve their metrics: Temporal's image
// (PROMETHEUS_ENDPOINT) and `squall server --metrics-port`.
func composeServers(c composeFile) []string {
	var out []string
	for name, s := range c.Services {
		if ep, ok := s.Environment["PROMETHEUS_ENDPOINT"]; ok {
			_, p, _ := net.SplitHostPort(ep)
			out = append(out, net.JoinHostPort(name, p))
		}
		if len(s.Command) > 0 && s.Command[0] == "server" {
			if p, ok := flagValue(s.Command, "--metrics-port"); ok {
				out = append(out, net.JoinHostPort(name, p))
			}
		}
	}
	sort.Strings(out)
	return out
}

// docker-compose.services.yml splits docker-compose.yml's server into one
// container per Temporal service: each must be scraped (and labelled with
// its service, which the dashboards and queries by service need), and
// every service's container must run exactly the service its name says.
func TestComposeServicesOverlayIsScraped(t *testing.T) {
	jobs, labels := promScrapes(t)
	scraped := jobs["temporal"]
	if labels["temporal"] != "service" {
		t.Errorf("prometheus.yml job temporal: no relabelling of __meta_dns_name to label service")
	}
	for _, file := range []string{"docker-compose.services.yml", "docker-compose.offline-services.yml"} {
		b, err := os.ReadFile(filepath.Join("..", file))
		if err != nil {
			t.Fatal(err)
		}
		var c composeFile
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		services := map[string]string{} // Temporal service → compose service
		for name, s := range c.Services {
			svc := s.Environment["TEMPORAL_SERVICES"]
			if v, ok := flagValue(s.Command, "--service"); ok {
				svc = v
			}
			if svc == "" {
				continue
			}
			if prev, dup := services[svc]; dup {
				t.Errorf("%s: both %s and %s run %s", file, prev, name, svc)
			}
			services[svc] = name
			if want := strings.TrimPrefix(name, "temporal-"); name != "temporal" && want != svc {
				t.Errorf("%s: %s runs %s", file, name, svc)
			}
		}
		if got := slices.Sorted(maps.Keys(services)); !slices.Equal(got, []string{"frontend", "history", "matching", "worker"}) {
			t.Errorf("%s: Temporal services %v, want one container each for frontend, history, matching and worker", file, got)
		}
		for _, server := range composeServers(c) {
			if !scraped[server] {
				t.Errorf("%s: a Temporal service serves metrics on %s, but prometheus.yml's job temporal scrapes %v", file, server, keys(scraped))
			}
		}
	}
}
