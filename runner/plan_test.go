package runner

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/capacity"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/workers"
)

// A scenario with defaults of its own and a Validate that sees the load.
var sawLoad scenarios.Load

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name:     "plan-test",
		Defaults: scenarios.Defaults{Concurrency: 3, Iterations: 7, Grace: 5 * time.Minute},
		Validate: func(_ scenarios.Values, l scenarios.Load) error { sawLoad = l; return nil },
		Register: func(worker.Registry) {},
		New: func(context.Context, scenarios.Env, scenarios.Values) (scenarios.Driver, error) {
			return nil, nil
		},
	})
}

func flags(scenario string, set map[string]bool) Flags {
	return Flags{Scenario: scenario, MaxInFlight: 100, LateAfter: 10 * time.Millisecond, Workers: 1,
		Tuning: workers.Tuning{}, Set: set}
}

func TestScenarioDefaultsFillWhatFlagsLeaveOut(t *testing.T) {
	p, err := Validate(flags("plan-test", nil))
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := p.Executor.(bench.Concurrency); !ok || c.N != 3 || c.Limits.Iterations != 7 {
		t.Errorf("executor %#v: want the scenario's 3 concurrent, 7 iterations", p.Executor)
	}
	if p.Grace != 5*time.Minute || p.VerifyWait != DefaultVerifyWait {
		t.Errorf("grace %s verify-wait %s", p.Grace, p.VerifyWait)
	}
	if sawLoad.Concurrency != 3 || sawLoad.Iterations != 7 {
		t.Errorf("Validate saw load %+v", sawLoad)
	}

	// A flag given wins over the scenario's default, as a whole shape.
	f := flags("plan-test", map[string]bool{"rate": true, "duration": true})
	f.Rate, f.Duration = "5/s", 10*time.Second
	p, err = Validate(f)
	if err != nil {
		t.Fatal(err)
	}
	ar, ok := p.Executor.(bench.ArrivalRate)
	if !ok || ar.Limits.Duration != 10*time.Second || ar.Limits.Iterations != 0 {
		t.Fatalf("executor %#v: want open loop for 10 s", p.Executor)
	}
	if sawLoad.Rate != 5 || sawLoad.Expected != 10*time.Second {
		t.Errorf("load %+v: want 5/s expected to run 10 s", sawLoad)
	}
}

func TestExpectedLoadDuration(t *testing.T) {
	f := flags("noop-less", nil)
	f.Scenario = "plan-test"
	f.Set = map[string]bool{"rate": true, "iterations": true, "duration": true}
	f.Rate, f.Iterations, f.Duration = "10/s", 50, time.Minute
	if _, err := Validate(f); err != nil {
		t.Fatal(err)
	}
	if sawLoad.Expected < 4900*time.Millisecond || sawLoad.Expected > 5*time.Second {
		t.Errorf("50 iterations at 10/s end after about 5 s, before the 1 m duration: expected %s", sawLoad.Expected)
	}
}

func TestZeroAndNegativeLoadIsUsage(t *testing.T) {
	cases := []struct {
		set  string
		mod  func(*Flags)
		want string
	}{
		{"concurrency", func(f *Flags) { f.Concurrency = 0 }, "bad --concurrency 0"},
		{"concurrency", func(f *Flags) { f.Concurrency = -2 }, "bad --concurrency -2"},
		{"iterations", func(f *Flags) { f.Iterations = 0 }, "bad --iterations 0"},
		{"duration", func(f *Flags) { f.Duration = 0 }, "bad --duration 0s"},
		{"ramp", func(f *Flags) { f.Ramp = 0 }, "bad --ramp 0s"},
		{"max-in-flight", func(f *Flags) { f.MaxInFlight = 0 }, "bad --max-in-flight 0"},
	}
	for _, c := range cases {
		f := flags("plan-test", map[string]bool{c.set: true})
		c.mod(&f)
		_, err := Validate(f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--%s: err %v, want %q", c.set, err, c.want)
		}
	}
}

// A soak-long load is verified in batches as it goes unless --verify-every
// says otherwise; a shorter one only after the load, unless asked.
func TestVerifyEveryDefaultsBySoakLength(t *testing.T) {
	for _, tc := range []struct {
		duration time.Duration
		set      bool
		every    time.Duration
		want     time.Duration
	}{
		{SoakLoad, false, 0, DefaultVerifyEvery},
		{2 * time.Hour, false, 0, DefaultVerifyEvery},
		{SoakLoad - time.Second, false, 0, 0},
		{2 * time.Hour, true, 0, 0},
		{time.Minute, true, 5 * time.Second, 5 * time.Second},
	} {
		f := flags("plan-test", map[string]bool{"rate": true, "duration": true, "verify-every": tc.set})
		f.Rate, f.Duration, f.VerifyEvery = "5/s", tc.duration, tc.every
		p, err := Validate(f)
		if err != nil {
			t.Fatal(err)
		}
		if p.VerifyEvery != tc.want {
			t.Errorf("--duration %s, --verify-every %s (given %v): batches every %s, want %s", tc.duration, tc.every, tc.set, p.VerifyEvery, tc.want)
		}
	}
	// However short, an open-loop load due to start LargeLoad workflows or
	// more verifies as it goes; one starting fewer, or a closed loop, does not.
	for _, tc := range []struct {
		rate       string
		duration   time.Duration
		iterations int64
		concurrent int
		want       time.Duration
	}{
		{"2000/s", 10 * time.Minute, LargeLoad, 0, DefaultVerifyEvery},
		{"2000/s", 10 * time.Minute, LargeLoad - 1, 0, 0},
		{"2000/s", 10 * time.Minute, 1_000_000, 0, DefaultVerifyEvery},
		{"2000/s", 60 * time.Second, 0, 0, DefaultVerifyEvery},
		{"2000/s", 49 * time.Second, 0, 0, 0},
		{"", 10 * time.Minute, 1_000_000, 50, 0},
	} {
		f := flags("plan-test", map[string]bool{"rate": tc.rate != "", "duration": true, "iterations": tc.iterations > 0, "concurrency": tc.concurrent > 0})
		f.Rate, f.Duration, f.Iterations, f.Concurrency = tc.rate, tc.duration, tc.iterations, tc.concurrent
		p, err := Validate(f)
		if err != nil {
			t.Fatal(err)
		}
		if p.VerifyEvery != tc.want {
			t.Errorf("--rate %q --duration %s --iterations %d --concurrency %d: batches every %s, want %s", tc.rate, tc.duration, tc.iterations, tc.concurrent, p.VerifyEvery, tc.want)
		}
	}
	f := flags("plan-test", map[string]bool{"verify-every": true})
	f.VerifyEvery = -time.Second
	if _, err := Validate(f); err == nil || !strings.Contains(err.Error(), "bad --verify-every") {
		t.Errorf("negative --verify-every: %v", err)
	}
}

// A capacity probe verifies after its load even when it starts enough
// workflows to verify as it goes in a run, unless --verify-every was given.
func TestCapacityProbesVerifyAfterTheLoad(t *testing.T) {
	for _, given := range []bool{false, true} {
		base := flags("plan-test", map[string]bool{"verify-every": given})
		if given {
			base.VerifyEvery = 5 * time.Second
		}
		c, err := ValidateCapacity(CapacityPlan{Base: base, Search: capacity.Search{Start: 5000}, Probe: time.Minute, Settle: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.probePlan(c.Cases[0], 5000, time.Minute, "probe")
		if err != nil {
			t.Fatal(err)
		}
		if want := base.VerifyEvery; p.VerifyEvery != want {
			t.Errorf("--verify-every given %v: a probe of 300,000 starts verifies every %s, want %s", given, p.VerifyEvery, want)
		}
	}
}
