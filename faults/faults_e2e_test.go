package faults_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

// runWithFault runs noop open loop with one fault and returns the report;
// zero lost workflows and a pass verdict are required of every kind.
func runWithFault(t *testing.T, rate, duration string, fault ...string) (*reports.Report, reports.Scenario) {
	t.Helper()
	// A generous grace: after some faults (ExecuteAndTimeout above all)
	// Temporal takes its timeouts' worth to finish what was in flight, and
	// the tests demand that everything completes, not that it is quick.
	args := []string{"--scenario", "noop", "--rate", rate, "--duration", duration, "--workers", "1",
		"--grace", "150s", "--verify-wait", "90s"}
	for _, f := range fault {
		args = append(args, "--fault", f)
	}
	res := squalltest.Run(t, 6*time.Minute, args...)
	s := squalltest.Scenario(t, res.Report, "noop")
	if s.Lost != 0 {
		t.Errorf("%d workflows lost under %v", s.Lost, fault)
	}
	if res.Exit != 0 || res.Report.Verdict != "pass" {
		t.Errorf("exit %d verdict %s under %v; invariants %+v; errors %v", res.Exit, res.Report.Verdict, fault, s.Invariants, s.Errors)
	}
	if len(res.Report.Faults) != len(fault) {
		t.Fatalf("report has %d fault windows, want %d", len(res.Report.Faults), len(fault))
	}
	for _, w := range res.Report.Faults {
		if w.Error != "" || w.Skipped != "" || w.InjectedAt.IsZero() || !w.HealedAt.After(w.InjectedAt) {
			t.Errorf("fault window %+v: want injected, then healed, no error", w)
		}
	}
	return res.Report, s
}

// The check that squall does not hide stalls the way closed-loop tools do:
// a 3 s server pause must show in the corrected max and p99.9.
func TestServerPauseShowsInCorrectedLatency(t *testing.T) {
	squalltest.SkipIfShort(t)
	rep, s := runWithFault(t, "20/s", "10s", "server-pause at=3s for=3s")
	c := s.LatencyMS.Corrected
	if c.Max < 3000 || c.P999 < 3000 {
		t.Errorf("corrected max %.0f ms, p99.9 %.0f ms: a 3 s stall must show (≥ 3000 ms)", c.Max, c.P999)
	}
	if s.LatencyMS.Uncorrected.Count == 0 {
		t.Error("uncorrected figures missing beside the corrected ones")
	}
	w := rep.Faults[0]
	if got := w.HealedAt.Sub(w.InjectedAt); got < 3*time.Second || got > 6*time.Second {
		t.Errorf("window lasted %s, want 3s (a little more on a loaded machine)", got)
	}
	marked := 0
	for _, iv := range s.Intervals {
		if len(iv.Faults) > 0 {
			marked++
		}
	}
	if marked < 3 {
		t.Errorf("%d intervals marked with the fault, want ≥ 3", marked)
	}
}

func TestServerKillRestartsOnSameData(t *testing.T) {
	squalltest.SkipIfShort(t)
	_, s := runWithFault(t, "20/s", "12s", "server-kill at=3s for=2s")
	if s.Completed != s.Started || s.Started < 200 {
		t.Errorf("started %d completed %d: every workflow must complete after the restart", s.Started, s.Completed)
	}
}

func TestWorkerKillAndPause(t *testing.T) {
	squalltest.SkipIfShort(t)
	_, s := runWithFault(t, "20/s", "12s", "worker-kill at=2s for=2s", "worker-pause at=7s for=2s")
	if s.Completed != s.Started {
		t.Errorf("started %d completed %d", s.Started, s.Completed)
	}
}

func TestNetworkFaults(t *testing.T) {
	squalltest.SkipIfShort(t)
	_, s := runWithFault(t, "20/s", "14s", "net-latency at=1s for=3s latency=200ms", "net-partition at=5s for=3s",
		"net-reset at=9s for=1s", "net-bandwidth at=11s for=2s kbps=32")
	// Added latency both ways: workflows started in the window take longer.
	if s.LatencyMS.Corrected.Max < 400 {
		t.Errorf("corrected max %.0f ms under 200 ms latency each way and a 3 s partition", s.LatencyMS.Corrected.Max)
	}
}

func TestPersistenceErrors(t *testing.T) {
	squalltest.SkipIfShort(t)
	// Run-time switched errors, then the write-happens-but-times-out kind
	// (a server restart with the static rule, and one without to heal).
	_, s := runWithFault(t, "15/s", "12s",
		"persistence-errors at=1s for=4s store=ExecutionStore method=* error=Unavailable rate=0.2",
		"persistence-errors at=6s for=4s store=ExecutionStore method=UpdateWorkflowExecution error=ExecuteAndTimeout rate=0.2")
	if s.Completed != s.Started {
		t.Errorf("started %d completed %d", s.Started, s.Completed)
	}
}

func TestParseSpec(t *testing.T) {
	s, err := faults.ParseSpec("net-latency at=30s for=10s latency=250ms")
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind.Name != "net-latency" || s.At != 30*time.Second || s.For != 10*time.Second || s.Params.Duration("latency") != 250*time.Millisecond {
		t.Errorf("parsed %+v", s)
	}
	bad := map[string]string{
		"":                                           "empty --fault",
		"meteor at=1s for=1s":                        `unknown fault kind "meteor"`,
		"worker-kill for=1s":                         "missing at=",
		"worker-kill at=1s":                          "missing for=",
		"worker-kill at=soon for=1s":                 "at=soon is not a duration",
		"net-latency at=1s for=1s latency=fast":      "option latency",
		"net-latency at=1s for=1s colour=red":        `unknown option "colour"`,
		"persistence-errors at=1s for=1s error=Boom": "not one of",
	}
	for in, want := range bad {
		if _, err := faults.ParseSpec(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSpec(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestBadFaultsAreUsageErrors(t *testing.T) {
	squalltest.SkipIfShort(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--fault", "server-kill at=1s for=1s", "--address", "127.0.0.1:1"}, "needs the embedded server"},
		{[]string{"--fault", "worker-kill at=1s for=1s", "--workers", "0"}, "needs worker processes"},
		{[]string{"--fault", "worker-kill at=1s for=1s worker=3"}, "worker=3"},
		{[]string{"--fault", "none at=20s"}, "not within the load"},
		{[]string{"--fault", "api-errors at=1s for=1s"}, "fake external services"},
	} {
		res := squalltest.Run(t, time.Minute, append([]string{"--scenario", "noop", "--duration", "5s"}, tc.args...)...)
		if res.Exit != 2 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", tc.args, res.Exit, res.Stderr, tc.want)
		}
	}
}

// api-errors and api-latency act on a scenario's fake services: the
// degradation scenario's primary fails every request for a while, then
// answers slowly, and every request must still be answered (fallbacks).
func TestAPIFaults(t *testing.T) {
	squalltest.SkipIfShort(t)
	res := squalltest.Run(t, 4*time.Minute, "--scenario", "degradation", "--rate", "1/s", "--iterations", "4",
		"--option", "requests=8", "--option", "outage-duration=0s", "--grace", "2m",
		"--fault", "api-errors at=1s for=6s api=degradation.primary rate=1",
		"--fault", "api-latency at=8s for=3s api=all latency=300ms")
	if res.Exit != 0 || res.Report.Verdict != "pass" {
		s := squalltest.Scenario(t, res.Report, "degradation")
		t.Fatalf("exit %d verdict %s; invariants %+v", res.Exit, res.Report.Verdict, s.Invariants)
	}
	if len(res.Report.Faults) != 2 {
		t.Fatalf("%d fault windows, want 2", len(res.Report.Faults))
	}
	for _, w := range res.Report.Faults {
		if w.Error != "" || w.InjectedAt.IsZero() {
			t.Errorf("window %+v", w)
		}
	}
}

// api-errors on the order store: half the store's requests are refused for
// the first seconds of the load, yet every order is applied exactly once
// (refused requests never reach the ledger and are retried without using
// up an order's attempts), and the store says how many it refused.
func TestAPIErrorsOnOrderStore(t *testing.T) {
	squalltest.SkipIfShort(t)
	res := squalltest.Run(t, 4*time.Minute, "--scenario", "orders-batch", "--rate", "1/s", "--iterations", "3",
		"--option", "orders=2000", "--option", "batch-size=50", "--option", "parallel=2", "--grace", "2m",
		"--fault", "api-errors at=0s for=4s api=orders.store rate=0.5")
	s := squalltest.Scenario(t, res.Report, "orders-batch")
	if res.Exit != 0 || res.Report.Verdict != "pass" {
		t.Fatalf("exit %d verdict %s; invariants %+v", res.Exit, res.Report.Verdict, s.Invariants)
	}
	var api struct {
		Refused int64 `json:"requests_refused"`
	}
	if err := json.Unmarshal(s.Details["api_faults"], &api); err != nil || api.Refused == 0 {
		t.Fatalf("the store refused %d requests (%v): the fault did not reach it", api.Refused, err)
	}
}
