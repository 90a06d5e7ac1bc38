package approval

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/squallbench/squall/scenarios/fakes"
	"github.com/squallbench/squall/scenarios/fakes/historytest"
)

// Both workflows replay against histories recorded from the embedded
// server: a chain approved twice then rejected, a single approval approved,
// one timed out (testdata/; regenerate with SQUALL_RECORD_HISTORIES=1 go
// test -run TestRecordHistories ./scenarios/approval/).
func TestReplay(t *testing.T) {
	historytest.ReplayAll(t, historytest.Workflows{WorkflowSingle: SingleWorkflow, WorkflowChain: ChainWorkflow})
}

func TestRecordHistories(t *testing.T) {
	tq := "record-approval"
	cl := historytest.Record(t, tq, Register)
	n, err := fakes.Start(fakes.Config{Name: "record.notify"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, err := fakes.Start(fakes.Config{Name: "record.actions"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	req := func(id string, amount float64) Request {
		return Request{ID: id, Amount: amount, NotifyURL: n.URL, ActionsURL: a.URL}
	}
	waitNotified := func(key string) {
		for i := 0; i < 100; i++ {
			for _, e := range n.Log() {
				if e.Key == key {
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s never notified", key)
	}
	chain, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "record-chain", TaskQueue: tq}, WorkflowChain,
		Input{Request: req("record-chain", 500_000), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ level, sig string }{{Manager, SignalApproveStep}, {Director, SignalApproveStep}, {VP, SignalRejectStep}} {
		waitNotified(NotifyKey("record-chain", s.level))
		if err := cl.SignalWorkflow(ctx, "record-chain", "", s.sig, StepSignal{Level: s.level, Approver: "rec", Reason: "rec"}); err != nil {
			t.Fatal(err)
		}
	}
	single, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "record-single", TaskQueue: tq}, WorkflowSingle,
		Input{Request: req("record-single", 500), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	waitNotified(NotifyKey("record-single", Approver))
	if err := cl.SignalWorkflow(ctx, "record-single", "", SignalApprove, "rec"); err != nil {
		t.Fatal(err)
	}
	timeout, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "record-single-timeout", TaskQueue: tq}, WorkflowSingle,
		Input{Request: req("record-single-timeout", 500), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		run  client.WorkflowRun
		want string
	}{{chain, StatusRejected}, {single, StatusApproved}, {timeout, StatusTimeout}} {
		var o Outcome
		if err := c.run.Get(ctx, &o); err != nil || o.Status != c.want {
			t.Fatalf("%s: %+v %v, want %s", c.run.GetID(), o, err, c.want)
		}
		typ := WorkflowSingle
		if c.run.GetID() == "record-chain" {
			typ = WorkflowChain
		}
		historytest.Write(t, cl, typ, c.run.GetID(), c.run.GetRunID())
	}
}
