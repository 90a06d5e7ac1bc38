package metrics

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

func gatherText(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func TestSDKHandlerExportsCountersGaugesTimers(t *testing.T) {
	h := NewSDKHandler()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)

	base := h.WithTags(map[string]string{"namespace": "default"})
	// The same metric with two tag sets, as the SDK does (poller without
	// task queue, worker with it).
	base.Counter("temporal_request").Inc(2)
	base.WithTags(map[string]string{"task_queue": "q1"}).Counter("temporal_request").Inc(3)
	base.WithTags(map[string]string{"worker_type": "WorkflowWorker"}).Gauge("temporal_worker_task_slots_available").Update(7)
	tm := base.WithTags(map[string]string{"task_queue": "q1"}).Timer("temporal_workflow_task_schedule_to_start_latency")
	tm.Record(3 * time.Millisecond)
	tm.Record(30 * time.Millisecond)
	tm.Record(2 * time.Minute)

	text := gatherText(t, reg)
	fams, err := ParseText(strings.NewReader(text))
	if err != nil {
		t.Fatalf("our own output does not parse: %v\n%s", err, text)
	}
	vals := fams.Values("temporal_request_total")
	if len(vals) != 2 {
		t.Fatalf("temporal_request_total: %d series, want 2\n%s", len(vals), text)
	}
	sum := 0.0
	for _, v := range vals {
		sum += v.V
		if v.Labels["namespace"] != "default" {
			t.Errorf("series %v lost the namespace tag", v.Labels)
		}
	}
	if sum != 5 {
		t.Errorf("counter sum %v, want 5", sum)
	}
	if g := fams.Values("temporal_worker_task_slots_available"); len(g) != 1 || g[0].V != 7 || g[0].Labels["worker_type"] != "WorkflowWorker" {
		t.Errorf("gauge %+v", g)
	}
	hs := fams.Histograms("temporal_workflow_task_schedule_to_start_latency_seconds")
	if len(hs) != 1 || hs[0].H.Count != 3 {
		t.Fatalf("timer histogram %+v", hs)
	}
	if p50, _ := hs[0].H.Quantile(0.5); p50 < 0.025 || p50 > 0.036 {
		t.Errorf("timer p50 %v s, want about 0.03 (buckets ~20%% wide)", p50)
	}
	if !near(hs[0].H.Sum, 0.003+0.03+120) {
		t.Errorf("timer sum %v", hs[0].H.Sum)
	}
}

// The names Temporal's Go SDK dashboard (temporalio/dashboards,
// sdk/temporal-go-java-sdks-tally.json) queries, each from the SDK metric
// (name as the SDK records it, and its kind) that produces it under the
// SDK's Prometheus naming. The dashboard's Java-only thread count is left
// out: the Go SDK has no such metric.
func TestSDKHandlerNamesMatchTemporalSDKDashboard(t *testing.T) {
	const (
		counter = iota
		gauge
		timer
	)
	for _, c := range []struct {
		sdk   string
		kind  int
		query string // the name in the dashboard's PromQL
	}{
		{"temporal_request", counter, "temporal_request_total"},
		{"temporal_request_failure", counter, "temporal_request_failure_total"},
		{"temporal_request_latency", timer, "temporal_request_latency_seconds_bucket"},
		{"temporal_long_request_failure", counter, "temporal_long_request_failure_total"},
		{"temporal_long_request_latency", timer, "temporal_long_request_latency_seconds_bucket"},
		{"temporal_workflow_completed", counter, "temporal_workflow_completed_total"},
		{"temporal_workflow_failed", counter, "temporal_workflow_failed_total"},
		{"temporal_workflow_endtoend_latency", timer, "temporal_workflow_endtoend_latency_seconds_bucket"},
		{"temporal_workflow_task_queue_poll_succeed", counter, "temporal_workflow_task_queue_poll_succeed_total"},
		{"temporal_workflow_task_queue_poll_empty", counter, "temporal_workflow_task_queue_poll_empty_total"},
		{"temporal_workflow_task_schedule_to_start_latency", timer, "temporal_workflow_task_schedule_to_start_latency_seconds_bucket"},
		{"temporal_workflow_task_execution_failed", counter, "temporal_workflow_task_execution_failed_total"},
		{"temporal_workflow_task_execution_latency", timer, "temporal_workflow_task_execution_latency_seconds_bucket"},
		{"temporal_workflow_task_replay_latency", timer, "temporal_workflow_task_replay_latency_seconds_bucket"},
		{"temporal_local_activity_execution_failed", counter, "temporal_local_activity_execution_failed_total"},
		{"temporal_local_activity_execution_latency", timer, "temporal_local_activity_execution_latency_seconds_bucket"},
		{"temporal_local_activity_succeed_endtoend_latency", timer, "temporal_local_activity_succeed_endtoend_latency_seconds_bucket"},
		{"temporal_activity_schedule_to_start_latency", timer, "temporal_activity_schedule_to_start_latency_seconds_count"},
		{"temporal_activity_execution_failed", counter, "temporal_activity_execution_failed_total"},
		{"temporal_activity_execution_latency", timer, "temporal_activity_execution_latency_seconds_bucket"},
		{"temporal_activity_succeed_endtoend_latency", timer, "temporal_activity_succeed_endtoend_latency_seconds_bucket"},
		{"temporal_activity_execution_cancelled", counter, "temporal_activity_execution_cancelled_total"},
		{"temporal_activity_poll_no_task", counter, "temporal_activity_poll_no_task_total"},
		{"temporal_worker_task_slots_available", gauge, "temporal_worker_task_slots_available"},
		{"temporal_worker_task_slots_used", gauge, "temporal_worker_task_slots_used"},
		{"temporal_sticky_cache_size", gauge, "temporal_sticky_cache_size"},
		{"temporal_sticky_cache_total_forced_eviction", counter, "temporal_sticky_cache_total_forced_eviction_total"},
		{"temporal_sticky_cache_hit", counter, "temporal_sticky_cache_hit_total"},
		{"temporal_sticky_cache_miss", counter, "temporal_sticky_cache_miss_total"},
	} {
		h := NewSDKHandler()
		reg := prometheus.NewRegistry()
		reg.MustRegister(h)
		tagged := h.WithTags(map[string]string{"namespace": "default", "task_queue": "q"})
		switch c.kind {
		case counter:
			tagged.Counter(c.sdk).Inc(1)
		case gauge:
			tagged.Gauge(c.sdk).Update(1)
		case timer:
			tagged.Timer(c.sdk).Record(time.Second)
		}
		var got []string
		for _, line := range strings.Split(gatherText(t, reg), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			got = append(got, line[:strings.IndexAny(line, "{ ")])
		}
		slices.Sort(got)
		got = slices.Compact(got)
		if !slices.Contains(got, c.query) {
			t.Errorf("SDK %s: exported %v, Temporal's SDK dashboard queries %s", c.sdk, got, c.query)
		}
	}
}

// A name the SDK already gives its unit keeps one.
func TestSDKHandlerDoesNotDoubleSuffixes(t *testing.T) {
	h := NewSDKHandler()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	h.Timer("x_wait_seconds").Record(time.Second)
	h.Counter("x_calls_total").Inc(1)
	text := gatherText(t, reg)
	for _, want := range []string{"x_wait_seconds_count 1", "x_calls_total 1"} {
		if !strings.Contains(text, want) {
			t.Errorf("want %q in\n%s", want, text)
		}
	}
}

func TestLatencyBucketsCoverOneMsToTenMinutes(t *testing.T) {
	b := LatencyBuckets()
	if b[0] != 0.001 || b[len(b)-1] < 600 {
		t.Fatalf("buckets %v … %v", b[0], b[len(b)-1])
	}
	for i := 1; i < len(b); i++ {
		if r := b[i] / b[i-1]; r > 1.2001 {
			t.Fatalf("bucket %d is %.3f× the last: too coarse for p99", i, r)
		}
	}
}
