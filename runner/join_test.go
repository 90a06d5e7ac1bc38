package runner

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
)

type joinResult struct {
	rel      JoinRelease
	err      error
	rejected error
}

// runCoordinator sends one join update per token at the given offsets
// (n overrides a driver's N) and collects what each driver was told.
func runCoordinator(t *testing.T, in DriversInput, joins map[string]time.Duration, n map[string]int) map[string]*joinResult {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(DriversCoordinator)
	got := map[string]*joinResult{}
	for token, at := range joins {
		r := &joinResult{}
		got[token] = r
		req := JoinRequest{Token: token, N: in.N}
		if v, ok := n[token]; ok {
			req.N = v
		}
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(joinUpdate, token+"-update", &testsuite.TestUpdateCallback{
				OnAccept: func() {},
				OnReject: func(err error) { r.rejected = err },
				OnComplete: func(v any, err error) {
					r.err = err
					if err == nil {
						r.rel = v.(JoinRelease)
					}
				},
			}, req)
		}, at)
	}
	env.ExecuteWorkflow(DriversCoordinator, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("the coordinator did not finish")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("coordinator failed: %v", err)
	}
	return got
}

func TestCoordinatorReleasesAllDriversAtOnce(t *testing.T) {
	in := DriversInput{N: 3, Timeout: time.Minute, Lead: 10 * time.Second}
	got := runCoordinator(t, in, map[string]time.Duration{"a": 0, "b": 5 * time.Second, "c": 20 * time.Second}, nil)
	seen := map[int]bool{}
	var first JoinRelease
	for token, r := range got {
		if r.err != nil || r.rejected != nil {
			t.Fatalf("driver %s: %v / rejected %v", token, r.err, r.rejected)
		}
		seen[r.rel.Index] = true
		if first.RunID == "" {
			first = r.rel
		}
		if r.rel.Of != 3 || r.rel.RunID != first.RunID || !r.rel.StartAt.Equal(first.StartAt) {
			t.Errorf("driver %s got %+v, others %+v: every driver must get the same run and start", token, r.rel, first)
		}
	}
	if len(seen) != 3 || !seen[1] || !seen[2] || !seen[3] {
		t.Errorf("indexes %v, want 1, 2 and 3 once each", seen)
	}
	if got["a"].rel.Index != 1 || got["c"].rel.Index != 3 {
		t.Errorf("indexes follow arrival: a %d, c %d", got["a"].rel.Index, got["c"].rel.Index)
	}
	if !strings.HasPrefix(first.RunID, "default-test-workflow-id-") || strings.Contains(first.RunID, DriversWorkflow) {
		t.Errorf("run id %q: want the rendezvous name and the time of the first join", first.RunID)
	}
}

func TestCoordinatorTimesOutNamingTheMissingDrivers(t *testing.T) {
	in := DriversInput{N: 3, Timeout: 30 * time.Second, Lead: 10 * time.Second}
	got := runCoordinator(t, in, map[string]time.Duration{"a": 0, "b": time.Second}, nil)
	for _, token := range []string{"a", "b"} {
		if r := got[token]; r.err == nil || !strings.Contains(r.err.Error(), "only 2 of 3 drivers joined within 30s") {
			t.Errorf("driver %s: got %+v, want the timeout naming 2 of 3", token, r)
		}
	}
}

func TestCoordinatorRefusesADifferentN(t *testing.T) {
	in := DriversInput{N: 2, Timeout: 30 * time.Second, Lead: time.Second}
	got := runCoordinator(t, in, map[string]time.Duration{"a": 0, "b": time.Second, "odd": 500 * time.Millisecond}, map[string]int{"odd": 3})
	if r := got["odd"]; r.rejected == nil || !strings.Contains(r.rejected.Error(), "auto/2, this one with auto/3") {
		t.Errorf("auto/3 joining auto/2 drivers: %+v", r)
	}
	if got["a"].err != nil || got["b"].err != nil || got["a"].rel.Index+got["b"].rel.Index != 3 {
		t.Errorf("the two matching drivers: %+v %+v", got["a"], got["b"])
	}
}
