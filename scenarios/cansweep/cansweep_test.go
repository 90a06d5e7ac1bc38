package cansweep

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/squallbench/squall/scenarios"
)

func TestParseLengths(t *testing.T) {
	got, err := ParseLengths(DefaultLengths)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{1000, 2000, 5000, 10000, 20000, 50000}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	got, err = ParseLengths(" 600, 300,1.5k,300 ")
	if err != nil || len(got) != 3 || got[0] != 300 || got[1] != 600 || got[2] != 1500 {
		t.Fatalf("got %v %v", got, err)
	}
	for _, bad := range []string{"", "abc", "-5", "1k,x", ","} {
		if _, err := ParseLengths(bad); err == nil {
			t.Errorf("ParseLengths(%q) accepted", bad)
		}
	}
}

func TestTaskStatsNearestRank(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 21; i++ {
		v = append(v, time.Duration(i)*time.Millisecond)
	}
	s := taskStats(v)
	if s.Count != 21 || s.P50 != 11 || s.P99 != 21 || s.Max != 21 {
		t.Fatalf("%+v", s)
	}
	if (taskStats(nil) != TaskStats{}) {
		t.Fatal("empty")
	}
}

func row(events int64, p99, replay float64) Row {
	return Row{Target: int(events), Events: events, Bytes: events * 200, TaskMS: TaskStats{Count: 21, P50: p99 / 2, P99: p99, Max: p99},
		ReplayMS: Spread{Median: replay}, UnderBudget: p99 < 1000}
}

func TestRecommend(t *testing.T) {
	rows := []Row{row(1000, 100, 10), row(2000, 200, 20), row(5000, 500, 50), row(10000, 900, 100), row(20000, 1800, 200)}
	rows[2].Suggested, rows[2].SuggestedAtEvents = true, 4097
	r := recommend(rows, time.Second)
	if r.MaxEvents != 10000 || r.FirstOverBudget != 20000 || r.MaxBytes != 2000000 {
		t.Fatalf("%+v", r)
	}
	if r.ReplayMSPer1k != 10 {
		t.Fatalf("replay per 1k %v", r.ReplayMSPer1k)
	}
	if r.SuggestionSeenAt != 4097 {
		t.Fatalf("suggestion %d", r.SuggestionSeenAt)
	}
	if len(r.Rules) != 3 || !r.Rules[1].InBudget || r.Rules[1].Source != "measured" || r.Rules[2].InBudget || r.Rules[2].Source != "fitted" {
		t.Fatalf("rules %+v", r.Rules)
	}
	js, err := json.Marshal(r)
	if err != nil || bytes.Contains(js, []byte(`"chapter"`)) || !bytes.Contains(js, []byte(`"rules":[`)) ||
		!strings.HasPrefix(r.Rules[1].Rule, "guidance: ") {
		t.Fatalf("recommendation JSON (%v): %s", err, js)
	}
	if !strings.Contains(r.Summary, "at most 10000 events") || strings.Contains(r.Summary, "superlinear") {
		t.Fatalf("summary %s", r.Summary)
	}

	// Replay per 1,000 events growing with length is called out.
	rows[4].ReplayMS.Median, rows[4].ReplayMSPer1k = 2000, 100
	rows[0].ReplayMSPer1k = 10
	if r := recommend(rows, time.Second); r.ReplayMSPer1kShortest != 10 || r.ReplayMSPer1kLongest != 100 || !strings.Contains(r.Summary, "superlinear") {
		t.Fatalf("%+v", r)
	}

	// A noisy dip over budget stops the recommendation there even if a
	// longer history happened to pass.
	rows = []Row{row(1000, 100, 10), row(2000, 1200, 20), row(5000, 500, 50)}
	if r := recommend(rows, time.Second); r.MaxEvents != 1000 || r.FirstOverBudget != 2000 {
		t.Fatalf("%+v", r)
	}
	// Nothing within budget.
	if r := recommend([]Row{row(1000, 2000, 10)}, time.Second); r.MaxEvents != 0 || !strings.Contains(r.Summary, "Even the shortest") {
		t.Fatalf("%+v", r)
	}
	// A falling fit (noise) is not extrapolated.
	r = recommend([]Row{row(1000, 300, 20), row(2000, 200, 10)}, time.Second)
	if len(r.Rules) != 0 || r.EstimatedEventsAtBudget != 0 || regexp.MustCompile(` -[0-9]`).MatchString(r.Summary) {
		t.Fatalf("falling fit extrapolated: %+v", r)
	}
	// All within budget: the fitted crossing is reported.
	r = recommend([]Row{row(1000, 100, 10), row(2000, 200, 20)}, time.Second)
	if r.MaxEvents != 2000 || r.EstimatedEventsAtBudget != 10000 {
		t.Fatalf("%+v", r)
	}
}

func ev(id int64, t time.Time, typ enumspb.EventType) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventId: id, EventTime: timestamppb.New(t), EventType: typ}
}

func TestAnalyzeProbes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(msec int) time.Time { return t0.Add(time.Duration(msec) * time.Millisecond) }
	started := func(id int64, msec int, suggest bool) *historypb.HistoryEvent {
		e := ev(id, at(msec), enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED)
		e.Attributes = &historypb.HistoryEvent_WorkflowTaskStartedEventAttributes{
			WorkflowTaskStartedEventAttributes: &historypb.WorkflowTaskStartedEventAttributes{SuggestContinueAsNew: suggest}}
		return e
	}
	scheduled := func(id int64, msec int, kind enumspb.TaskQueueKind) *historypb.HistoryEvent {
		e := ev(id, at(msec), enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)
		e.Attributes = &historypb.HistoryEvent_WorkflowTaskScheduledEventAttributes{
			WorkflowTaskScheduledEventAttributes: &historypb.WorkflowTaskScheduledEventAttributes{TaskQueue: &taskqueuepb.TaskQueue{Kind: kind}}}
		return e
	}
	signal := ev(7, at(50), enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
	signal.Attributes = &historypb.HistoryEvent_WorkflowExecutionSignaledEventAttributes{
		WorkflowExecutionSignaledEventAttributes: &historypb.WorkflowExecutionSignaledEventAttributes{SignalName: SignalProbe}}
	events := []*historypb.HistoryEvent{
		ev(1, at(0), enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
		scheduled(2, 0, enumspb.TASK_QUEUE_KIND_NORMAL),
		started(3, 1, false), ev(4, at(2), enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), // building: not measured
		scheduled(5, 10, enumspb.TASK_QUEUE_KIND_STICKY),
		started(6, 11, true), ev(7, at(12), enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
		signal,
		scheduled(9, 50, enumspb.TASK_QUEUE_KIND_STICKY),
		started(10, 60, true), ev(11, at(90), enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), // 30 ms
		scheduled(12, 100, enumspb.TASK_QUEUE_KIND_NORMAL),
		started(13, 100, true), ev(14, at(110), enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT),
		scheduled(15, 120, enumspb.TASK_QUEUE_KIND_NORMAL),
		started(16, 120, true), ev(17, at(170), enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), // 50 ms
	}
	f := analyzeProbes(events)
	if len(f.latencies) != 2 || f.latencies[0] != 30*time.Millisecond || f.latencies[1] != 50*time.Millisecond {
		t.Fatalf("latencies %v", f.latencies)
	}
	if f.sticky != 1 || f.failures != 1 || f.firstSuggested != 6 {
		t.Fatalf("%+v", f)
	}
}

// TestWorkflow drives the sweep workflow in the SDK test environment: the
// mocked activity advances the history length as a real one would (6
// events per activity), the server's suggestion switches on at 60 events.
func TestWorkflow(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(Step, activity.RegisterOptions{Name: ActivityName})
	length, calls, probeCalls := 3, 0, 0
	probing := false
	env.SetCurrentHistoryLength(length)
	env.OnActivity(ActivityName, mock.Anything, mock.Anything).Return(func(_ context.Context, p []byte) ([]byte, error) {
		calls++
		if probing {
			probeCalls++
			if len(p) != 16 {
				t.Errorf("probe payload %d bytes", len(p))
			}
		} else if len(p) != 100 {
			t.Errorf("build payload %d bytes", len(p))
		}
		length += 6
		env.SetCurrentHistoryLength(length)
		env.SetCurrentHistorySize(length * 100)
		if length >= 60 {
			env.SetContinueAsNewSuggested(true)
		}
		return p, nil
	})
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryPhase)
		if err != nil {
			t.Error(err)
			return
		}
		var p Progress
		_ = v.Get(&p)
		if p.Phase != PhaseBuilt {
			t.Errorf("phase before the probe signal: %+v", p)
		}
		probing = true
		env.SignalWorkflow(SignalProbe, nil)
	}, time.Hour)
	env.ExecuteWorkflow(WorkflowName, Input{Target: 100, Batch: 2, Payload: 100, Probes: 4})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	// Batches of 2: 3 + 12k >= 100 after 9 batches (18 activities, length 111).
	if calls != 22 || probeCalls != 4 || res.BuiltLength != 111 || res.FinalLength != 135 {
		t.Fatalf("calls %d probes %d result %+v", calls, probeCalls, res)
	}
	if res.SuggestedAtLength != 63 || res.SuggestedAtBytes != 6300 || len(res.SuggestedReasons) != 0 {
		t.Fatalf("suggestion %+v", res)
	}
}

// probe-timeout must cover one lost probe step's recovery.
func TestValidateProbeTimeoutCoversRecovery(t *testing.T) {
	s, _ := scenarios.Get(Name)
	for _, c := range []struct {
		opts map[string]string
		ok   bool
	}{
		{map[string]string{}, true},
		{map[string]string{"probe-timeout": "70s"}, true},
		{map[string]string{"probe-timeout": "69s"}, false},
		{map[string]string{"probe-timeout": "65s", "task-timeout": "5s"}, true},
	} {
		v, err := s.ParseOptions(c.opts)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Validate(v, scenarios.Load{Concurrency: 1, Iterations: 1})
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "recovery")) {
			t.Errorf("%v: %v, want ok %v", c.opts, err, c.ok)
		}
	}
}
