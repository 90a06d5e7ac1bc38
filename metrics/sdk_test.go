package metrics

import (
	"bytes"
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
	hs := fams.Histograms("temporal_workflow_task_schedule_to_start_latency")
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
