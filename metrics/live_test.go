package metrics

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
)

func TestLiveFollowsTheRecorderAndServes(t *testing.T) {
	l := NewLive("run-1")
	rec := bench.NewRecorder(time.Now())
	rec.SetHook(l.Hook("noop"))
	for range 5 {
		rec.Started(0, false)
	}
	rec.Started(50*time.Millisecond, true)
	rec.Dropped()
	rec.Done(bench.Completed, 20*time.Millisecond, 10*time.Millisecond)
	rec.Done(bench.Completed, 2*time.Second, 1*time.Second)
	rec.Done(bench.Failed, 0, 0)
	rec.Observe("activity", 5*time.Millisecond)
	l.FaultInjected("noop", "server-kill", "w1")
	l.FaultInjected("noop", "server-kill", "w2")
	l.FaultHealed("w1")
	l.FaultHealed("never-injected")

	ep, err := Serve("127.0.0.1:0", l.Registry())
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close(t.Context())
	resp, err := http.Get("http://" + ep.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fams, err := ParseText(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	one := func(name string) float64 {
		t.Helper()
		vs := fams.Values(name)
		if len(vs) != 1 {
			t.Fatalf("%s: %d series", name, len(vs))
		}
		if vs[0].Labels["scenario"] != "noop" || vs[0].Labels["run_id"] != "run-1" {
			t.Errorf("%s labels %v", name, vs[0].Labels)
		}
		return vs[0].V
	}
	for name, want := range map[string]float64{
		"squall_iterations_started_total": 6, "squall_iterations_completed_total": 2, "squall_iterations_failed_total": 1,
		"squall_starts_late_total": 1, "squall_starts_dropped_total": 1, "squall_in_flight": 3, "squall_faults_active": 1,
	} {
		if got := one(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	h := fams.Histograms("squall_latency_corrected_seconds")
	if len(h) != 1 || h[0].H.Count != 2 || !near(h[0].H.Sum, 2.02) {
		t.Fatalf("corrected histogram %+v", h)
	}
	if p50, _ := h[0].H.Quantile(0.5); p50 < 0.016 || p50 > 0.024 { // within one ~20 % bucket
		t.Errorf("corrected p50 %v s, want 0.02 within one bucket", p50)
	}
	if o := fams.Histograms("squall_observed_seconds"); len(o) != 1 || o[0].Labels["histogram"] != "activity" {
		t.Errorf("observed %+v", o)
	}
	if fams["process_cpu_seconds_total"] == nil {
		t.Error("driver's process metrics missing")
	}
}

// A suite runs scenarios one after another under one endpoint: each one's
// series carry its own name, a scenario that has recorded nothing yet
// reads zero, and a fault window belongs to the scenario it was injected in.
func TestLiveSeparatesScenarios(t *testing.T) {
	l := NewLive("run-1")
	a, b := l.Hook("noop"), l.Hook("entity")
	a.Started(0, false)
	a.Started(0, false)
	a.Done(bench.Completed, time.Millisecond, time.Millisecond)
	b.Started(0, false)
	l.FaultInjected("entity", "worker-kill", "w")
	text := gatherText(t, l.Registry())
	fams, err := ParseText(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, name := range []string{"squall_iterations_started_total", "squall_iterations_failed_total", "squall_in_flight", "squall_faults_active"} {
		for _, v := range fams.Values(name) {
			got[name+"/"+v.Labels["scenario"]] = v.V
		}
	}
	for k, want := range map[string]float64{
		"squall_iterations_started_total/noop": 2, "squall_iterations_started_total/entity": 1,
		"squall_iterations_failed_total/noop": 0, "squall_iterations_failed_total/entity": 0,
		"squall_in_flight/noop": 1, "squall_in_flight/entity": 1, "squall_faults_active/entity": 1,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v\n%s", k, v, ok, want, text)
		}
	}
	if _, ok := got["squall_faults_active/noop"]; ok {
		t.Error("the fault injected during entity shows under noop")
	}
}

func TestNilLiveIsNoHook(t *testing.T) {
	var l *Live
	if l.Hook("s") != nil {
		t.Fatal("nil Live gave a non-nil hook: the recorder would call through a nil pointer")
	}
	l.FaultInjected("s", "x", "k") // no panic
	l.FaultHealed("k")
}

func TestAwaitFinalScrape(t *testing.T) {
	ep, err := Serve("127.0.0.1:0", NewLive("r").Registry())
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close(t.Context())
	scrape := func() {
		resp, err := http.Get("http://" + ep.Addr() + "/metrics")
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// Nobody scraping: no wait.
	t0 := time.Now()
	ep.AwaitFinalScrape(t.Context())
	if d := time.Since(t0); d > 50*time.Millisecond {
		t.Fatalf("waited %s with no scraper", d)
	}
	// A scraper every 200 ms: the wait ends at its next scrape.
	scrape()
	time.Sleep(200 * time.Millisecond)
	scrape()
	go func() { time.Sleep(100 * time.Millisecond); scrape() }()
	t0 = time.Now()
	ep.AwaitFinalScrape(t.Context())
	if d := time.Since(t0); d < 80*time.Millisecond || d > 290*time.Millisecond {
		t.Errorf("waited %s for a scrape due in 100 ms", d)
	}
	// The scraper went away: the wait is bounded by 1.5 of its interval
	// (here the last two scrapes were ~100 ms apart).
	t0 = time.Now()
	ep.AwaitFinalScrape(t.Context())
	if d := time.Since(t0); d > 400*time.Millisecond {
		t.Errorf("waited %s for a scraper that stopped", d)
	}
}
