package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
)

func driverFlags(d DriverFlags, set map[string]bool) Flags {
	f := flags("plan-test", set)
	f.Rate, f.Duration = "30/s", 20*time.Second
	f.DriverFlags = d
	return f
}

func TestDriverFlagsShareTheScheduleFromStartAt(t *testing.T) {
	at := time.Now().Add(20 * time.Second).UTC().Truncate(time.Second)
	p, err := Validate(driverFlags(DriverFlags{Driver: "2/3", RunID: "R", StartAt: at.Format(time.RFC3339)},
		map[string]bool{"rate": true, "duration": true}))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := p.Executor.(bench.ArrivalRate)
	if !ok || e.Share != (bench.Share{Index: 2, Of: 3}) || !e.Origin.Equal(at) || !p.StartAt.Equal(at) {
		t.Errorf("executor %#v: want driver 2/3 from %v", p.Executor, at)
	}
	if r := e.IntendedRate(0); r != 10 {
		t.Errorf("driver 2/3 of 30/s intends %v/s, want 10/s", r)
	}
	cf := driverFlags(DriverFlags{Driver: "3/3", RunID: "R"}, map[string]bool{"concurrency": true, "duration": true})
	cf.Rate, cf.Concurrency = "", 9
	c, err := Validate(cf)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Executor.(bench.Concurrency).Share; s != (bench.Share{Index: 3, Of: 3}) {
		t.Errorf("closed loop share %v, want 3/3", s)
	}
}

func TestDriverFlagsAreUsageErrors(t *testing.T) {
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	set := map[string]bool{"rate": true, "duration": true}
	for _, tc := range []struct {
		d    DriverFlags
		want string
	}{
		{DriverFlags{Driver: "0/3", RunID: "R"}, "1 ≤ i ≤ n"},
		{DriverFlags{Driver: "4/3", RunID: "R"}, "1 ≤ i ≤ n"},
		{DriverFlags{Driver: "x", RunID: "R"}, "want i/n"},
		{DriverFlags{Driver: "2/3"}, "needs --run-id"},
		{DriverFlags{Driver: "1/3", RunID: "R", StartAt: "tomorrow"}, "RFC 3339"},
		{DriverFlags{Driver: "1/3", RunID: "R", StartAt: past}, "in the past"},
		{DriverFlags{Driver: "auto/0", RunID: "R", DriverTimeout: time.Minute}, "want auto/n with n ≥ 1"},
		{DriverFlags{Driver: "auto/x", RunID: "R", DriverTimeout: time.Minute}, "want auto/n with n ≥ 1"},
		{DriverFlags{Driver: "auto/3", DriverTimeout: time.Minute}, "needs --run-id"},
		{DriverFlags{Driver: "auto/3", RunID: "R", DriverTimeout: time.Minute}, "needs --address"},
		{DriverFlags{Driver: "auto/3", RunID: "R"}, "bad --driver-timeout"},
	} {
		_, err := Validate(driverFlags(tc.d, set))
		if err == nil || !cluster.IsUsageErr(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want a usage error about %q", tc.d, err, tc.want)
		}
	}
	f := driverFlags(DriverFlags{Driver: "2/3", RunID: "R"}, set)
	f.Faults = []string{"worker-pause at=5s for=2s"}
	if _, err := Validate(f); err == nil || !strings.Contains(err.Error(), "only driver 1 runs the fault schedule") {
		t.Errorf("faults on driver 2: got %v", err)
	}
	c := driverFlags(DriverFlags{Driver: "1/3", RunID: "R"}, map[string]bool{"concurrency": true})
	c.Rate, c.Concurrency = "", 2
	if _, err := Validate(c); err == nil || !strings.Contains(err.Error(), "less than the 3 drivers") {
		t.Errorf("concurrency 2 over 3 drivers: got %v", err)
	}
}

func TestJobIndex(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	if got := jobIndex("job/3", env("0")); got != "1/3" {
		t.Errorf("index 0 → %q, want 1/3", got)
	}
	if got := jobIndex("job/3", env("2")); got != "3/3" {
		t.Errorf("index 2 → %q, want 3/3", got)
	}
	if _, err := bench.ParseShare(jobIndex("job/3", env(""))); err == nil || !strings.Contains(err.Error(), JobIndexEnv) {
		t.Errorf("no index: %v, want an error naming %s", err, JobIndexEnv)
	}
	if got := jobIndex("2/3", env("7")); got != "2/3" {
		t.Errorf("i/n is taken as is, got %q", got)
	}
}

func TestAutoDriversNeedTheirOwnDirectories(t *testing.T) {
	set := map[string]bool{"rate": true, "duration": true}
	f := driverFlags(DriverFlags{Driver: "auto/3", RunID: "R", DriverTimeout: time.Minute}, set)
	f.Conn.Address = "127.0.0.1:7233"
	f.Out = "/runs/x"
	if _, err := Validate(f); err == nil || !strings.Contains(err.Error(), "must contain {driver}") {
		t.Errorf("auto/3 with one --out: got %v", err)
	}
	f.Out = "/runs/x/driver-{driver}"
	f.Workers = 0
	if _, err := Validate(f); err == nil || !strings.Contains(err.Error(), "with --workers 0") {
		t.Errorf("auto/3 with --workers 0: got %v", err)
	}
	f.Workers = 1
	p, err := Validate(f)
	if err != nil {
		t.Fatal(err)
	}
	if p.AutoDrivers != 3 || p.Share != (bench.Share{Of: 3}) {
		t.Errorf("auto/3 before joining: AutoDrivers %d share %+v", p.AutoDrivers, p.Share)
	}
	// i/n fills {driver} in at once.
	g := driverFlags(DriverFlags{Driver: "2/3", RunID: "R"}, set)
	g.Out = "/runs/x/driver-{driver}"
	q, err := Validate(g)
	if err != nil || q.Out != "/runs/x/driver-2" {
		t.Errorf("2/3 --out: %v %q", err, q.Out)
	}
}
