package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/metrics"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs a Prometheus on loopback scraping targets every
// 500 ms, native histograms on; it is stopped when the test ends. It
// returns the HTTP API's base URL.
func startPrometheus(t *testing.T, bin string, targets ...string) string {
	t.Helper()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: squall
    static_configs:
      - targets: [%s]
`, strings.Join(quoted, ", "))
	return squalltest.StartPrometheus(t, bin, cfg, "--enable-feature=native-histograms")
}

// promQuery runs an instant PromQL query and returns each series' value
// by the value of label.
func promQuery(t *testing.T, base, query, label string) map[string]float64 {
	return promQueryAt(t, base, query, label, "")
}

// promQueryAt evaluates query at time at (Unix seconds; "": now).
func promQueryAt(t *testing.T, base, query, label, at string) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q := url.Values{"query": {query}}
	if at != "" {
		q.Set("time", at)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %s", query, r.Error)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		if err != nil {
			t.Fatalf("query %s: value %v", query, s.Value[1])
		}
		out[s.Metric[label]] = v
	}
	return out
}

// A short noop run serves its metrics while a real Prometheus scrapes
// them (and the worker's SDK metrics); afterwards PromQL finds squall's
// series with the totals report.json gives, and the report holds the
// embedded server's signals per interval.
func TestPrometheusScrapesALiveRun(t *testing.T) {
	squalltest.SkipIfShort(t)
	bin := squalltest.EnsurePrometheus(t)
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	workerPort := freePort(t)
	worker := net.JoinHostPort("127.0.0.1", strconv.Itoa(workerPort))
	prom := startPrometheus(t, bin, listen, worker)

	res := squalltest.Run(t, 4*time.Minute, "--scenario", "noop", "--rate", "10/s", "--duration", "8s",
		"--metrics-listen", listen, "--worker-metrics-base-port", strconv.Itoa(workerPort), "--server-sample-interval", "1s")
	if res.Exit != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", res.Exit, res.Stdout, res.Stderr)
	}
	s := squalltest.Scenario(t, res.Report, "noop")
	if s.Started == 0 || s.Completed != s.Started {
		t.Fatalf("started %d completed %d: want a clean run", s.Started, s.Completed)
	}
	// The endpoint is gone by now: ask for the last value scraped.
	last := func(metric string) map[string]float64 {
		return promQuery(t, prom, fmt.Sprintf(`last_over_time(%s{scenario="noop"}[10m])`, metric), "run_id")
	}
	started := last("squall_iterations_started_total")
	if len(started) != 1 {
		t.Fatalf("squall_iterations_started_total: %d runs %v, want exactly one run_id", len(started), started)
	}
	for id := range started {
		if id == "" {
			t.Fatal("series without run_id")
		}
	}
	check := func(metric string, want int64) {
		t.Helper()
		for id, v := range last(metric) {
			if v != float64(want) {
				t.Errorf("%s{run_id=%s} = %v, report.json says %d", metric, id, v, want)
			}
		}
	}
	check("squall_iterations_started_total", s.Started)
	check("squall_iterations_completed_total", s.Completed)
	check("squall_iterations_failed_total", s.Failed)
	check("squall_starts_dropped_total", s.DroppedStarts)
	check("squall_in_flight", 0)
	// With native histograms on, Prometheus ingests the native form; read
	// it at the time of the last scrape.
	var at string
	for _, v := range promQuery(t, prom, `timestamp(last_over_time(squall_iterations_started_total{scenario="noop"}[10m]))`, "run_id") {
		at = strconv.FormatFloat(v, 'f', 3, 64)
	}
	if at == "" {
		t.Fatal("no last scrape time")
	}
	t.Logf("series at the last scrape: %v", promQueryAt(t, prom, `count by (__name__) ({__name__=~"squall_latency.*"})`, "__name__", at))
	hist := promQueryAt(t, prom, `histogram_count(squall_latency_corrected_seconds{scenario="noop"})`, "run_id", at)
	for id, v := range hist {
		if v != float64(s.Completed) {
			t.Errorf("corrected latency histogram count %v for %s, want %d completions", v, id, s.Completed)
		}
	}
	if len(hist) == 0 {
		t.Error("no native corrected-latency histogram scraped")
	}
	// The median, not p99: with ~80 samples p99 falls between the two
	// largest values, and PromQL interpolates within a bucket where HDR
	// picks a sample, so the two can differ by the gap between them.
	p50 := promQueryAt(t, prom, `histogram_quantile(0.5, squall_latency_corrected_seconds{scenario="noop"})`, "run_id", at)
	for id, v := range p50 {
		// Native buckets are ~10 % wide (factor 1.1); HDR's is exact to 0.1 %.
		if want := s.LatencyMS.Corrected.P50 / 1000; v < want*0.85 || v > want*1.15 {
			t.Errorf("PromQL p50 %v s for %s, report.json says %v s", v, id, want)
		}
	}
	// The worker's SDK metrics: workflow tasks were polled and handled.
	sdk := promQuery(t, prom, `sum(last_over_time(temporal_workflow_task_schedule_to_start_latency_seconds_count[10m]))`, "")
	if sdk[""] < float64(s.Completed) {
		t.Errorf("worker SDK schedule-to-start count %v, want at least one per completed workflow (%d)", sdk[""], s.Completed)
	}

	// The embedded server's own signals, per interval, in report.json.
	sig := res.Report.ServerSignals
	if sig == nil || len(sig.Intervals) < 6 {
		t.Fatalf("server_signals %+v: want a sample per interval of the 8 s load", sig)
	}
	for _, name := range []string{metrics.SigPersistenceP99, metrics.SigFrontendP99, metrics.SigHistoryP99, metrics.SigWorkflowS2SP99,
		"server_cpu_cores", "server_rss_mb", "worker_0_rss_mb", "driver_cpu_cores"} {
		if st := sig.Summary[name]; st.N == 0 || st.Peak <= 0 {
			t.Errorf("signal %s: %+v, want measured", name, st)
		}
	}
	if len(sig.Warnings) != 0 {
		t.Errorf("warnings on a healthy embedded run: %v", sig.Warnings)
	}
}

// A metrics endpoint that cannot be read is a warning in the report,
// never a failed run.
func TestUnreachableServerMetricsIsAWarning(t *testing.T) {
	squalltest.SkipIfShort(t)
	dead := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))) + "/metrics"
	res := squalltest.Run(t, 3*time.Minute, "--scenario", "noop", "--rate", "5/s", "--duration", "3s", "--server-metrics", dead)
	if res.Exit != 0 {
		t.Fatalf("exit %d, want 0: an unreachable endpoint must not fail the run", res.Exit)
	}
	sig := res.Report.ServerSignals
	if sig == nil || len(sig.Warnings) == 0 || !strings.Contains(sig.Warnings[0], dead) {
		t.Fatalf("server_signals %+v: want a warning naming %s", sig, dead)
	}
	if st := sig.Summary["driver_rss_mb"]; st.N == 0 {
		t.Error("process signals missing when the endpoint is down")
	}
}

// --prometheus: the server signals come from PromQL over a Prometheus that
// scrapes the embedded server, not from squall's own scrapes.
func TestServerSignalsFromPromQL(t *testing.T) {
	squalltest.SkipIfShort(t)
	bin := squalltest.EnsurePrometheus(t)
	serverMetrics := freePort(t)
	prom := startPrometheus(t, bin, net.JoinHostPort("127.0.0.1", strconv.Itoa(serverMetrics)))
	res := squalltest.Run(t, 4*time.Minute, "--scenario", "noop", "--rate", "10/s", "--duration", "10s",
		"--server-metrics-port", strconv.Itoa(serverMetrics), "--prometheus", prom, "--server-sample-interval", "2s")
	if res.Exit != 0 {
		t.Fatalf("exit %d, want 0", res.Exit)
	}
	sig := res.Report.ServerSignals
	if sig == nil || len(sig.Sources) != 1 || sig.Sources[0] != prom {
		t.Fatalf("server_signals %+v: want them from %s", sig, prom)
	}
	for _, name := range []string{metrics.SigPersistenceP99, metrics.SigFrontendP99, metrics.SigHistoryP99, metrics.SigWorkflowS2SP99} {
		if st := sig.Summary[name]; st.N == 0 || st.Peak <= 0 || st.Peak > 120000 {
			t.Errorf("signal %s: %+v, want a latency in ms", name, st)
		}
	}
	if len(sig.WorstPersistence) == 0 {
		t.Error("no slowest persistence operations from PromQL")
	}
	if len(sig.Warnings) != 0 {
		t.Errorf("warnings: %v", sig.Warnings)
	}
}
