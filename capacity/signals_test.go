package capacity

import (
	"strings"
	"testing"

	"github.com/squallbench/squall/metrics"
)

// probesAt: one probe per rate, passing below failFrom, each with what
// sig(i) gives it.
func probesAt(rates []float64, failFrom int, sig func(i int, p *Probe)) []Probe {
	var out []Probe
	for i, r := range rates {
		p := Probe{Rate: r, Pass: i < failFrom, P99MS: float64(100 * (i + 1)), Signals: map[string]float64{metrics.SigMachineCores: 2}}
		if !p.Pass {
			p.Why = "p99<2s broken"
		}
		sig(i, &p)
		out = append(out, p)
	}
	return out
}

func rps(perS float64) []metrics.Refusal {
	return []metrics.Refusal{
		{Layer: metrics.LayerService, Service: "frontend", Cause: "RPS_LIMIT", Scope: "NAMESPACE", Key: "frontend.namespaceRPS", PerS: perS},
		{Layer: metrics.LayerClient, Cause: "RPS_LIMIT", Scope: "NAMESPACE", Key: "frontend.namespaceRPS", PerS: perS * 0.9},
	}
}

// A low frontend.namespaceRPS: refusals from 4/s on, tasks waiting, the
// driver late at the highest rate. The limit is the answer, named with
// its key, ahead of what it caused.
func TestAttributeConfiguredRPSLimit(t *testing.T) {
	ps := probesAt([]float64{2, 4, 2.83}, 1, func(i int, p *Probe) {
		p.Signals[metrics.SigWorkflowS2SP99] = []float64{40, 4800, 3000}[i]
		p.Signals[metrics.SigWorkers], p.Signals[metrics.SigWorkersCPU] = 1, 0.02
		if i > 0 {
			p.Refusals = rps([]float64{0, 13.7, 5}[i])
		}
		if i == 1 {
			p.LateFrac = 0.05
		}
	})
	got := Attribute(ps)
	if len(got) == 0 {
		t.Fatal("no findings")
	}
	f := got[0]
	if f.Resource != ResourceLimit || f.AtRate != 2.83 ||
		!strings.HasPrefix(f.Evidence, "configured limit RPS_LIMIT (frontend.namespaceRPS) at 5.0/s refused by frontend: raise it, this is not saturation") {
		t.Errorf("first finding %+v, want the configured limit at 2.83/s", f)
	}
	for _, g := range got {
		if strings.Contains(g.Resource, "server CPU") || g.Resource == "server overloaded" || g.Resource == "rate limits" {
			t.Errorf("a configured limit read as saturation: %+v", g)
		}
	}
	if n := strings.Count(strings.Join(evidence(got), "|"), "RPS_LIMIT"); n != 1 {
		t.Errorf("the limit named %d times (server and driver counts are one limit): %v", n, got)
	}
}

// A low history.persistenceMaxQPS: history's persistence client refuses,
// and frontend and history pass the refusal on. One finding names the key.
func TestAttributeConfiguredPersistenceLimit(t *testing.T) {
	ps := probesAt([]float64{2, 4}, 1, func(i int, p *Probe) {
		p.Signals[metrics.SigPersistenceP99] = []float64{4, 30}[i]
		if i == 1 {
			p.Refusals = []metrics.Refusal{
				{Layer: metrics.LayerService, Service: "frontend", Cause: "PERSISTENCE_LIMIT", Scope: "SYSTEM", PerS: 0.5},
				{Layer: metrics.LayerService, Service: "history", Cause: "PERSISTENCE_LIMIT", Scope: "SYSTEM", PerS: 0.5},
				{Layer: metrics.LayerPersistence, Service: "history", Cause: "PERSISTENCE_LIMIT", Scope: "SYSTEM", Key: "history.persistenceMaxQPS", PerS: 1.4},
			}
		}
	})
	got := Attribute(ps)
	if len(got) != 1 || got[0].Resource != ResourceLimit ||
		!strings.HasPrefix(got[0].Evidence, "configured limit PERSISTENCE_LIMIT (history.persistenceMaxQPS) at 1.4/s refused by history's persistence client") {
		t.Errorf("findings %+v, want the persistence limit with its key, once", got)
	}
}

// Saturation causes stay saturation findings; a busy workflow is the
// workload's shape.
func TestAttributeRefusalKinds(t *testing.T) {
	ps := probesAt([]float64{10, 20}, 1, func(i int, p *Probe) {
		if i == 1 {
			p.Refusals = []metrics.Refusal{
				{Layer: metrics.LayerService, Service: "matching", Cause: "SYSTEM_OVERLOADED", Scope: "NAMESPACE", PerS: 3},
				{Layer: metrics.LayerService, Service: "history", Cause: "BUSY_WORKFLOW", Scope: "NAMESPACE", PerS: 1},
			}
		}
	})
	got := Attribute(ps)
	if len(got) != 2 || got[0].Resource != "server overloaded" || !strings.Contains(got[0].Evidence, "SYSTEM_OVERLOADED 3.0/s by matching") ||
		got[1].Resource != "busy workflow" {
		t.Errorf("findings %+v", got)
	}
}

// A 16-core cluster driven from a 2-core machine: its CPU is judged
// against its own cores, part by part, never the driver's.
func TestAttributeServerCPUPerService(t *testing.T) {
	remote := probesAt([]float64{50, 100}, 1, func(i int, p *Probe) {
		p.Signals[metrics.SigServerCPU] = []float64{2, 5.4}[i] // above the driver's 2 cores
		p.Signals[metrics.SigServerCores] = 16
		p.Signals[metrics.CPU("server_history")], p.Signals[metrics.Cores("server_history")] = []float64{1.2, 3.8}[i], 4
		p.Signals[metrics.CPU("server_frontend")], p.Signals[metrics.Cores("server_frontend")] = []float64{0.5, 1.1}[i], 8
		p.Signals[metrics.CPU("server_matching")], p.Signals[metrics.Cores("server_matching")] = []float64{0.3, 0.5}[i], 4
	})
	got := Attribute(remote)
	if len(got) == 0 || got[0].Resource != "server CPU" || got[0].Evidence != "history CPU 3.80 of 4 cores" {
		t.Errorf("findings %+v, want history CPU 3.80 of 4 cores", got)
	}
	// The same cluster idling along: 5.4 cores of 16 is no saturation,
	// though it is more than the driver's machine has.
	for i := range remote {
		remote[i].Signals[metrics.CPU("server_history")] = 1.5
	}
	for _, f := range Attribute(remote) {
		if f.Resource == "server CPU" {
			t.Errorf("server CPU judged against the driver's cores: %+v", f)
		}
	}
	// One of two history hosts hot: the host is named.
	hot := probesAt([]float64{50, 100}, 1, func(i int, p *Probe) {
		p.Signals[metrics.CPU("server_history@history-1")], p.Signals[metrics.Cores("server_history@history-1")] = []float64{1, 1.9}[i], 2
		p.Signals[metrics.CPU("server_history@history-2")], p.Signals[metrics.Cores("server_history@history-2")] = 0.3, 2
		p.Signals[metrics.CPU("server_history")], p.Signals[metrics.Cores("server_history")] = []float64{1.3, 2.2}[i], 4
	})
	if got := Attribute(hot); len(got) == 0 || got[0].Evidence != "history (history-1) CPU 1.90 of 2 cores" {
		t.Errorf("findings %+v, want the hot history host", got)
	}
}

// The driver's machine is judged on what runs on it: a remote server's
// CPU is not the machine's.
func TestAttributeDriverMachine(t *testing.T) {
	ps := probesAt([]float64{10, 20}, 1, func(i int, p *Probe) {
		p.Signals[metrics.SigServerCPU] = 6 // remote, 16 cores
		p.Signals[metrics.SigServerCores] = 16
		p.Signals[metrics.SigDriverCPU] = []float64{0.3, 0.6}[i]
		p.Signals[metrics.SigWorkersCPU] = []float64{0.4, 1.3}[i]
		p.Signals[metrics.SigMachineCPU] = []float64{0.7, 1.9}[i]
	})
	got := Attribute(ps)
	if len(got) != 1 || got[0].Resource != "machine CPU" || got[0].Evidence != "driver's machine CPU 1.90 of 2 cores (driver 0.60, workers 1.30)" {
		t.Errorf("findings %+v", got)
	}
	ps[1].Signals[metrics.SigDriverCPU] = 1.8
	if got := Attribute(ps); got[0].Resource != "driver CPU" {
		t.Errorf("the driver alone on 1.8 of 2 cores: %+v", got)
	}
}

// Probes recorded before one signal vocabulary are judged by today's
// rules once upgraded.
func TestUpgradeProbe(t *testing.T) {
	p := Probe{Rate: 40, Signals: map[string]float64{"worker_cpu_cores": 0.1, "workers": 1, "workflow_schedule_to_start_p99_ms": 900,
		"lock_p99_ms": 3, "resource_exhausted_per_s": 0}}
	base := Probe{Rate: 10, Pass: true, Signals: map[string]float64{"worker_cpu_cores": 0.05, "workers": 1, "workflow_schedule_to_start_p99_ms": 20}}
	UpgradeProbe(&p)
	UpgradeProbe(&base)
	if p.Signals[metrics.SigWorkersCPU] != 0.1 || p.Signals[metrics.SigWorkflowS2SP99] != 900 || p.Signals[metrics.SigLockP99] != 3 {
		t.Fatalf("upgraded %v", p.Signals)
	}
	if got := Attribute([]Probe{base, p}); len(got) == 0 || got[0].Resource != "matching (server)" {
		t.Errorf("findings %+v", got)
	}
}

func evidence(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Evidence)
	}
	return out
}
