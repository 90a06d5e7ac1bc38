package metrics

import (
	"strings"
	"testing"
)

func TestParseTargets(t *testing.T) {
	got, err := ParseTargets([]string{
		"frontend=http://fe:9090/metrics,history-1=http://h1:9090/metrics",
		"history-2=http://h2:9090/metrics",
		"internal-frontend-a=https://ife:9090/metrics, matching=http://m:9090/metrics?x=y",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{
		{Service: "frontend", Instance: "fe:9090", URL: "http://fe:9090/metrics"},
		{Service: "history", Instance: "history-1", URL: "http://h1:9090/metrics"},
		{Service: "history", Instance: "history-2", URL: "http://h2:9090/metrics"},
		{Service: "internal-frontend", Instance: "internal-frontend-a", URL: "https://ife:9090/metrics"},
		{Service: "matching", Instance: "m:9090", URL: "http://m:9090/metrics?x=y"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].Service != want[i].Service || got[i].Instance != want[i].Instance || got[i].URL != want[i].URL {
			t.Errorf("target %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := got[1].String(); s != "history-1=http://h1:9090/metrics" {
		t.Errorf("String() = %q", s)
	}
	// A bare URL (with = in its query) is one process running every service.
	bare, err := ParseTargets([]string{"http://temporal:9090/metrics?a=b", "server=http://t2:9090/metrics"})
	if err != nil || len(bare) != 2 || bare[0].Service != "" || bare[0].URL != "http://temporal:9090/metrics?a=b" || bare[1].Service != "" {
		t.Errorf("bare URLs: %+v, %v", bare, err)
	}
	for _, bad := range []struct{ spec, msg string }{
		{"histroy=http://h:1/metrics", `name "histroy"`},
		{"history=temporal:9090", "want NAME=URL or URL"},
		{"history=http://h:1/metrics,history=http://h:1/metrics", "given twice"},
		{"ftp://x/metrics", "want NAME=URL or URL"},
	} {
		if _, err := ParseTargets([]string{bad.spec}); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%q: %v, want an error with %q", bad.spec, err, bad.msg)
		}
	}
}

func TestParseCores(t *testing.T) {
	c, err := ParseCores("4")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := c.For("history"); !ok || v != 4 {
		t.Errorf("4 for every process: history %v %v", v, ok)
	}
	c, err = ParseCores("history=8, frontend=2,server=1")
	if err != nil {
		t.Fatal(err)
	}
	for svc, want := range map[string]float64{"history": 8, "frontend": 2, "matching": 1, "": 1} {
		if v, ok := c.For(svc); !ok || v != want {
			t.Errorf("%s: %v %v, want %v", svc, v, ok, want)
		}
	}
	if c, _ := ParseCores(""); c != nil {
		t.Errorf("empty: %v", c)
	}
	if _, ok := CoreCounts(nil).For("history"); ok {
		t.Error("nil counts gave cores")
	}
	for _, bad := range []string{"0", "four", "histroy=4", "history-1=4", "history=-2"} {
		if _, err := ParseCores(bad); err == nil || !strings.Contains(err.Error(), "--server-cores") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseSelector(t *testing.T) {
	for in, want := range map[string]string{
		`{namespace="temporal"}`:                            `namespace="temporal"`,
		` { namespace = "temporal" , job=~"temporal-.*" } `: `namespace="temporal",job=~"temporal-.*"`,
		"{app!=`db`,}":                                      `app!="db"`,
		`{a="x\"y"}`:                                        `a="x\"y"`,
		"":                                                  "",
	} {
		got, err := ParseSelector(in)
		if err != nil || got != want {
			t.Errorf("ParseSelector(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`namespace="temporal"`, `{namespace}`, `{namespace=temporal}`, `{1a="x"}`, `{a="x" b="y"}`, `{a=~"("}`, `{}`, `{a="x}`} {
		if _, err := ParseSelector(bad); err == nil || !strings.Contains(err.Error(), "--prometheus-selector") {
			t.Errorf("ParseSelector(%q): %v, want an error", bad, err)
		}
	}
}

func TestServerScopes(t *testing.T) {
	for _, c := range []struct{ svc, inst, scope, name string }{
		{"", "", "server", "server"},
		{"history", "", "server_history", "history"},
		{"history", "history-1", "server_history@history-1", "history (history-1)"},
		{"", "10.0.0.5:9090", "server@10.0.0.5:9090", "server (10.0.0.5:9090)"},
		{"internal-frontend", "", "server_internal-frontend", "internal-frontend"},
	} {
		if got := ServerScope(c.svc, c.inst); got != c.scope {
			t.Errorf("ServerScope(%q, %q) = %q", c.svc, c.inst, got)
		}
		if s, i, ok := ParseServerScope(c.scope); !ok || s != c.svc || i != c.inst {
			t.Errorf("ParseServerScope(%q) = %q %q %v", c.scope, s, i, ok)
		}
		if got := ScopeName(c.scope); got != c.name {
			t.Errorf("ScopeName(%q) = %q", c.scope, got)
		}
	}
	for _, notServer := range []string{"driver", "worker_0", "serverless", "machine"} {
		if _, _, ok := ParseServerScope(notServer); ok {
			t.Errorf("%q read as a server scope", notServer)
		}
	}
	sig := map[string]float64{CPU("server_history@h1"): 1, Cores("server_history@h1"): 2, CPU("server_history"): 2, Cores("server_history"): 4,
		CPU("server"): 3, Cores("server"): 6, CPU("server_frontend"): 1, SigDriverCPU: 1, SigMachineCores: 2}
	if got := strings.Join(ServerCPUScopes(sig), " "); got != "server_history@h1 server_history server" {
		t.Errorf("ServerCPUScopes = %q: processes, services, whole; only those with cores", got)
	}
}

func TestUpgradeSignals(t *testing.T) {
	sig := map[string]float64{"worker_cpu_cores": 0.5, "workflow_schedule_to_start_p99_ms": 40, "lock_p99_ms": 3, "resource_exhausted": 10, "driver_cpu_cores": 0.1}
	UpgradeSignals(sig, 5)
	want := map[string]float64{SigWorkersCPU: 0.5, SigWorkflowS2SP99: 40, SigLockP99: 3, SigExhausted: 2, SigDriverCPU: 0.1}
	if len(sig) != len(want) {
		t.Fatalf("upgraded %v, want %v", sig, want)
	}
	for k, v := range want {
		if sig[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, sig[k], v, sig)
		}
	}
}
