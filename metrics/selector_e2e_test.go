package metrics_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/metrics"
)

// scrapeGroup is a static_configs entry: targets and the labels
// Prometheus puts on their series.
type scrapeGroup struct {
	targets []string
	labels  map[string]string
}

// startLabelledPrometheus is startPrometheus with labelled target groups.
func startLabelledPrometheus(t *testing.T, bin string, groups ...scrapeGroup) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\nscrape_configs:\n  - job_name: cluster\n    static_configs:\n")
	for _, g := range groups {
		quoted := make([]string, len(g.targets))
		for i, tg := range g.targets {
			quoted[i] = strconv.Quote(tg)
		}
		fmt.Fprintf(&b, "      - targets: [%s]\n        labels:\n", strings.Join(quoted, ", "))
		for k, v := range g.labels {
			fmt.Fprintf(&b, "          %s: %s\n", k, strconv.Quote(v))
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Logf("prometheus.yml:\n%s\nprometheus.log:\n%s", b.String(), log)
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus on %s not ready within 60 s", addr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fakeServerProcess serves what one Temporal service process exports
// about itself: its service (gomaxprocs and service_requests, labelled
// service_name), and process CPU growing at cpu cores. loud adds what
// would give a process away if it were counted: refusals and very slow
// persistence and frontend latencies.
func fakeServerProcess(t *testing.T, service string, cores, cpu float64, loud bool) string {
	t.Helper()
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		el := time.Since(start).Seconds()
		n := el * 100 // counts growing at 100/s
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE gomaxprocs gauge\ngomaxprocs{service_name=%q} %g\n", service, cores)
		fmt.Fprintf(w, "# TYPE service_requests counter\nservice_requests{operation=\"RecordWorkflowTaskStarted\",service_name=%q} %g\n", service, n)
		fmt.Fprintf(w, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", cpu*el)
		fmt.Fprintf(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", 512<<20)
		if !loud {
			return
		}
		fmt.Fprintf(w, "# TYPE service_errors_resource_exhausted counter\nservice_errors_resource_exhausted{operation=\"StartWorkflowExecution\",resource_exhausted_cause=\"RpsLimit\",resource_exhausted_scope=\"Namespace\",service_name=\"frontend\"} %g\n", n)
		fmt.Fprintf(w, "# TYPE approximate_backlog_count gauge\napproximate_backlog_count{service_name=%q} 1e6\n", service)
		for _, h := range []struct{ name, labels string }{
			{"persistence_latency", `operation="UpdateWorkflowExecution",service_name="history"`},
			{"service_latency", `operation="StartWorkflowExecution",service_name="frontend"`},
		} {
			fmt.Fprintf(w, "# TYPE %s histogram\n", h.name)
			for _, le := range []string{"0.001", "0.01", "1", "60"} {
				fmt.Fprintf(w, "%s_bucket{%s,le=%q} 0\n", h.name, h.labels, le) // every observation over 60 s
			}
			fmt.Fprintf(w, "%s_bucket{%s,le=\"+Inf\"} %g\n%s_count{%s} %g\n%s_sum{%s} %g\n", h.name, h.labels, n, h.name, h.labels, n, h.name, h.labels, n*100)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// --prometheus-selector: every query carries it. Prometheus scrapes the
// embedded server and two history processes labelled namespace=temporal,
// and an impostor labelled namespace=other that refuses, is slow and has
// 64 cores. The run's server signals come from the first three only,
// each process found by the service its metrics name.
func TestPrometheusSelectorKeepsOtherTargetsOut(t *testing.T) {
	squalltest.SkipIfShort(t)
	bin := squalltest.EnsurePrometheus(t)
	serverMetrics := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	h1 := fakeServerProcess(t, "history", 4, 1.5, false)
	h2 := fakeServerProcess(t, "history", 4, 0.5, false)
	impostor := fakeServerProcess(t, "history", 64, 20, true)
	prom := startLabelledPrometheus(t, bin,
		scrapeGroup{targets: []string{serverMetrics, h1, h2}, labels: map[string]string{"namespace": "temporal"}},
		scrapeGroup{targets: []string{impostor}, labels: map[string]string{"namespace": "other"}})
	_, port, _ := net.SplitHostPort(serverMetrics)
	res := squalltest.Run(t, 4*time.Minute, "--scenario", "noop", "--rate", "5/s", "--duration", "10s",
		"--server-metrics-port", port, "--prometheus", prom, "--prometheus-selector", `{namespace="temporal"}`, "--server-sample-interval", "2s")
	if res.Exit != 0 {
		t.Fatalf("exit %d\n%s\n%s", res.Exit, res.Stdout, res.Stderr)
	}
	sig := res.Report.ServerSignals
	if sig == nil || len(sig.Sources) != 1 || !strings.Contains(sig.Sources[0], `namespace="temporal"`) {
		t.Fatalf("server_signals %+v: want them from %s with the selector", sig, prom)
	}
	if len(sig.Warnings) != 0 {
		t.Errorf("warnings: %v", sig.Warnings)
	}
	med := func(name string) (float64, bool) {
		st, ok := sig.Summary[name]
		return st.Median, ok && st.N > 0
	}
	// The two history processes inside the selector, and not the impostor.
	if v, ok := med(metrics.Cores("server_history")); !ok || v != 8 {
		t.Errorf("history cores %v (measured %v), want 4+4: the impostor's 64 must not count", v, ok)
	}
	// CPU: rate() over a window longer than Prometheus has scraped the
	// processes understates it (the series begin with this test), but the
	// processes keep their 3:1 ratio, and the impostor's 20 cores would
	// dwarf them.
	last := sig.Intervals[len(sig.Intervals)-1].Signals
	c1, c2 := last[metrics.CPU(metrics.ServerScope("history", h1))], last[metrics.CPU(metrics.ServerScope("history", h2))]
	if all := last[metrics.CPU("server_history")]; c2 <= 0 || c1/c2 < 2 || c1/c2 > 4 || all > 2.4 || all < c1 {
		t.Errorf("history CPU %v (processes %v and %v): want at most 1.5+0.5 cores, 3:1", all, c1, c2)
	}
	for _, h := range []string{h1, h2} {
		if _, ok := med(metrics.Cores(metrics.ServerScope("history", h))); !ok {
			t.Errorf("no per-process signals for history process %s: %v", h, keys(sig.Summary))
		}
	}
	if _, ok := med(metrics.Cores(metrics.ServerScope("history", impostor))); ok {
		t.Errorf("the impostor %s outside the selector was counted", impostor)
	}
	// The embedded server (every service in one process, here): its own
	// cores, its CPU from /proc.
	if v, ok := med(metrics.SigServerCores); !ok || v != 8+2 {
		t.Errorf("server cores %v (measured %v), want the embedded server's 2 and the history processes' 8", v, ok)
	}
	// Latency and refusals: the impostor's (over 60 s, refusing at 100/s)
	// would show in every one of these.
	for _, name := range []string{metrics.SigPersistenceP99, metrics.SigFrontendP99} {
		if st := sig.Summary[name]; st.N == 0 || st.Peak <= 0 || st.Peak > 10000 {
			t.Errorf("%s: %+v, want the embedded server's own milliseconds", name, st)
		}
	}
	if st := sig.Summary[metrics.SigBacklog]; st.Peak >= 1e6 {
		t.Errorf("backlog %+v holds the impostor's", st)
	}
	for _, r := range sig.Refusals {
		if r.Layer != metrics.LayerClient {
			t.Errorf("refusal %+v: the embedded server refused nothing; the impostor did", r)
		}
	}
}

func keys(m map[string]metrics.Stat) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
