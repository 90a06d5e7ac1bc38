package throttled

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios/fakes"
	"github.com/squallbench/squall/scenarios/fakes/historytest"
)

// The limiter (with its continue-as-new runs) and the caller (through the
// limiter, and directly with 429 retries) replay against histories
// recorded from the embedded server (testdata/; regenerate with
// SQUALL_RECORD_HISTORIES=1 go test -run TestRecordHistories ./scenarios/throttled/).
func TestReplay(t *testing.T) {
	historytest.ReplayAll(t, historytest.Workflows{WorkflowCaller: CallerWorkflow, WorkflowLimiter: LimiterWorkflow})
}

func TestRecordHistories(t *testing.T) {
	tq := "record-throttled"
	cl := historytest.Record(t, tq, Register)
	api, err := fakes.Start(fakes.Config{Name: "record.throttled", Limit: 3, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	ctx := context.Background()
	g, _ := NewGate(KindSlidingWindow, 3, time.Second, 0, 0, time.Time{})
	lim, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "record-limiter", TaskQueue: tq}, WorkflowLimiter,
		LimiterInput{Gate: g, MaxEvents: limiterMaxEvents, MaxGrants: 3})
	if err != nil {
		t.Fatal(err)
	}
	var runs []client.WorkflowRun
	for i := 0; i < 3; i++ {
		r, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("record-caller-%d", i), TaskQueue: tq}, WorkflowCaller,
			CallerInput{URL: api.URL, Calls: 2, Limiter: "record-limiter", RetryInterval: time.Second, MaxRetry: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	direct, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "record-direct", TaskQueue: tq}, WorkflowCaller,
		CallerInput{URL: api.URL, Calls: 5, RetryInterval: time.Second, MaxRetry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append(runs, direct) {
		if err := r.Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.SignalWorkflow(ctx, "record-limiter", "", SignalStop, nil); err != nil {
		t.Fatal(err)
	}
	var st LimiterStats
	if err := cl.GetWorkflow(ctx, "record-limiter", "").Get(ctx, &st); err != nil {
		t.Fatal(err)
	}
	if st.Runs < 2 || api.Counts().Throttled == 0 {
		t.Fatalf("want continue-as-new and 429s to record: %+v, %+v", st, api.Counts())
	}
	historytest.Write(t, cl, WorkflowLimiter, "record-limiter", lim.GetRunID())
	historytest.Write(t, cl, WorkflowCaller, "record-caller-0", runs[0].GetRunID())
	historytest.Write(t, cl, WorkflowCaller, "record-direct", direct.GetRunID())
}
