package fakefrontend

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// TestSDKRoundTrip drives the fake with the Go SDK the way a squall run
// does: dial (system info, namespace), start, await the result, describe.
func TestSDKRoundTrip(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: s.Addr(), Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.WorkflowService().GetSystemInfo(ctx, nil)
	if err != nil || info.GetServerVersion() != Version {
		t.Fatalf("system info: %v %v", info, err)
	}
	for i := range 50 {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("noop-r1-%d", i), TaskQueue: "q"}, "squall.noop", 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Get(ctx, nil); err != nil {
			t.Fatalf("result of %d: %v", i, err)
		}
	}
	if _, err := c.SignalWithStartWorkflow(ctx, "entity-a", "sig", 1, client.StartWorkflowOptions{TaskQueue: "q"}, "w"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"noop-r1-0", "noop-r1-49", "entity-a"} {
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatalf("describe %s: %v", id, err)
		}
		if got := d.GetWorkflowExecutionInfo().GetStatus().String(); got != "Completed" {
			t.Errorf("%s: status %s, want Completed", id, got)
		}
	}
	// Never started: NotFound, as verification of a lost workflow needs.
	for _, id := range []string{"noop-r1-50", "noop-r2-0", "noop-r1-007", "other"} {
		_, err := c.DescribeWorkflowExecution(ctx, id, "")
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			t.Errorf("describe %s (never started): %v, want NotFound", id, err)
		}
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, nil); !errors.As(err, &nf) {
			t.Errorf("result of %s (never started): %v, want NotFound", id, err)
		}
	}
	if got := s.Started(); got != 51 {
		t.Errorf("started %d, want 51", got)
	}
}

func TestIDSet(t *testing.T) {
	s := idSet{maxOther: 2}
	for _, id := range []string{"a-0", "a-63", "a-64", "a-100000", "b-1", "x-07", "plain"} {
		if added, err := s.add(id); !added || err != nil {
			t.Fatalf("add %s: %v %v", id, added, err)
		}
	}
	if added, _ := s.add("a-64"); added {
		t.Error("a-64 added twice")
	}
	for _, id := range []string{"a-1", "a-65", "a-99999", "b-0", "x-7", "c-0", "plai"} {
		if s.has(id) {
			t.Errorf("has %s, never added", id)
		}
	}
	if _, err := s.add("third-by-name"); err == nil {
		t.Error("by-name set grew past its bound")
	}
	if s.len() != 7 {
		t.Errorf("len %d, want 7", s.len())
	}
}
