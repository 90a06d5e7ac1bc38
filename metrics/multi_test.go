package metrics

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// exposition writes one server process's scrape: its gomaxprocs, process
// CPU, refusals and a persistence latency histogram (bounds in its own
// unit, cumulative counts).
type exposition struct {
	service        string
	cores          float64
	cpuSeconds     float64
	refusals       map[string]float64 // metric{labels} → count
	bounds, counts []float64          // persistence_latency{operation="GetWorkflowExecution"}
}

func (e exposition) families(t *testing.T) Families {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE gomaxprocs gauge\ngomaxprocs{service_name=%q} %g\n", e.service, e.cores)
	fmt.Fprintf(&b, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", e.cpuSeconds)
	fmt.Fprintf(&b, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", 100<<20)
	byFam := map[string][]string{}
	for series, n := range e.refusals {
		name := series[:strings.IndexByte(series, '{')]
		byFam[name] = append(byFam[name], fmt.Sprintf("%s %g", series, n))
	}
	for name, lines := range byFam {
		fmt.Fprintf(&b, "# TYPE %s counter\n%s\n", name, strings.Join(lines, "\n"))
	}
	b.WriteString("# TYPE persistence_latency histogram\n")
	total := 0.0
	for i, bound := range e.bounds {
		fmt.Fprintf(&b, "persistence_latency_bucket{operation=\"GetWorkflowExecution\",service_name=%q,le=\"%g\"} %g\n", e.service, bound, e.counts[i])
		total = e.counts[i]
	}
	fmt.Fprintf(&b, "persistence_latency_bucket{operation=\"GetWorkflowExecution\",service_name=%q,le=\"+Inf\"} %g\n", e.service, total)
	fmt.Fprintf(&b, "persistence_latency_count{operation=\"GetWorkflowExecution\",service_name=%q} %g\n", e.service, total)
	fmt.Fprintf(&b, "persistence_latency_sum{operation=\"GetWorkflowExecution\",service_name=%q} 1\n", e.service)
	f, err := ParseText(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return f
}

const (
	rpsRefusal     = `service_errors_resource_exhausted{operation="StartWorkflowExecution",resource_exhausted_cause="RpsLimit",resource_exhausted_scope="Namespace",service_name="frontend"}`
	persistRefusal = `persistence_errors_resource_exhausted{operation="UpdateWorkflowExecution",resource_exhausted_cause="PersistenceLimit",resource_exhausted_scope="System",service_name="history"}`
)

// A frontend and two history hosts, each scraped twice 10 s apart: the
// frontend exports seconds, the history hosts milliseconds, and the two
// history hosts' series carry identical labels.
func clusterScrapes(t *testing.T) []Scrape {
	secs, ms := []float64{0.001, 0.01, 0.1}, []float64{1, 10, 100}
	fe := Target{Service: "frontend", Instance: "fe:9090"}
	h1 := Target{Service: "history", Instance: "history-1"}
	h2 := Target{Service: "history", Instance: "history-2"}
	return []Scrape{
		{Target: fe, Secs: 10,
			Prev: exposition{service: "frontend", cores: 2, cpuSeconds: 100, refusals: map[string]float64{rpsRefusal: 10}, bounds: secs, counts: []float64{5, 5, 5}}.families(t),
			Cur:  exposition{service: "frontend", cores: 2, cpuSeconds: 110, refusals: map[string]float64{rpsRefusal: 130}, bounds: secs, counts: []float64{5, 15, 15}}.families(t)},
		{Target: h1, Secs: 10,
			Prev: exposition{service: "history", cores: 4, cpuSeconds: 0, refusals: map[string]float64{persistRefusal: 0}, bounds: ms, counts: []float64{0, 0, 0}}.families(t),
			Cur:  exposition{service: "history", cores: 4, cpuSeconds: 38, refusals: map[string]float64{persistRefusal: 20}, bounds: ms, counts: []float64{10, 10, 10}}.families(t)},
		{Target: h2, Secs: 10,
			Prev: exposition{service: "history", cores: 4, cpuSeconds: 50, bounds: ms, counts: []float64{0, 0, 0}}.families(t),
			Cur:  exposition{service: "history", cores: 4, cpuSeconds: 60, bounds: ms, counts: []float64{0, 0, 10}}.families(t)},
	}
}

func TestServerSignalsPerService(t *testing.T) {
	r := ServerSignals(clusterScrapes(t))
	sig := r.Signals
	Aggregate(r.Instances, sig)
	want := map[string]float64{
		CPU("server_history@history-1"): 3.8, Cores("server_history@history-1"): 4,
		CPU("server_history@history-2"): 1, Cores("server_history@history-2"): 4,
		CPU("server_history"): 4.8, Cores("server_history"): 8, RSS("server_history"): 200,
		CPU("server_frontend"): 1, Cores("server_frontend"): 2,
		SigServerCPU: 5.8, SigServerCores: 10, SigServerRSS: 300,
		SigExhausted: 14, // 12/s refused by the frontend, 2/s by history's persistence client
		// 10 observations ≤ 1 ms (history-1), 10 in (1, 10] ms (the
		// frontend, in seconds), 10 in (10, 100] ms (history-2): the median
		// is mid-way through the middle bucket.
		SigPersistenceP50: 5.5,
	}
	for k, v := range want {
		if got, ok := sig[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if _, ok := sig[CPU("server_frontend@fe:9090")]; ok {
		t.Error("a service with one process has no per-process scope")
	}
	if len(r.Refusals) != 2 {
		t.Fatalf("refusals %+v", r.Refusals)
	}
	for _, w := range []Refusal{
		{Layer: LayerService, Service: "frontend", Cause: "RPS_LIMIT", Scope: "NAMESPACE", Key: "frontend.namespaceRPS", PerS: 12},
		{Layer: LayerPersistence, Service: "history", Cause: "PERSISTENCE_LIMIT", Scope: "SYSTEM", Key: "history.persistenceMaxQPS", PerS: 2},
	} {
		found := false
		for _, g := range r.Refusals {
			found = found || (g.Same(w) && g.PerS == w.PerS)
		}
		if !found {
			t.Errorf("no refusal %+v in %+v", w, r.Refusals)
		}
	}
	// A process whose CPU is unknown leaves its service's and the whole
	// server's CPU out rather than judging a part against all the cores.
	ins := append([]Instance(nil), r.Instances...)
	ins[2].HasCPU = false
	part := map[string]float64{}
	Aggregate(ins, part)
	if _, ok := part[CPU("server_history")]; ok {
		t.Errorf("history CPU summed without history-2's: %v", part)
	}
	if _, ok := part[SigServerCPU]; ok {
		t.Errorf("server CPU summed without history-2's: %v", part)
	}
	if part[CPU("server_frontend")] != 1 || part[CPU("server_history@history-1")] != 3.8 {
		t.Errorf("the parts that are known: %v", part)
	}
}

// The embedded server's processes: one process running every service,
// here; its scrape says its cores, /proc its CPU; the driver's refused
// calls become rates; --server-cores overrides what a process reports.
func TestSamplerLocalServerAndClientRefusals(t *testing.T) {
	secs := []float64{0.001, 0.01}
	scr := func(cores float64) Families {
		f := exposition{service: "frontend", cores: cores, bounds: secs, counts: []float64{1, 1}}.families(t)
		// A process running every service: its metrics name them all.
		g, err := ParseText(strings.NewReader("# TYPE gomaxprocs gauge\ngomaxprocs{service_name=\"frontend\"} 2\ngomaxprocs{service_name=\"history\"} 2\n"))
		if err != nil {
			t.Fatal(err)
		}
		f["gomaxprocs"] = g["gomaxprocs"]
		return f
	}
	n := int64(0)
	sample := func(cores CoreCounts, ticks int) []Sample {
		var got []Sample
		start := time.Now()
		s := &Sampler{
			Targets: []Target{{URL: "http://127.0.0.1:1/metrics", Source: &replay{scrapes: []Families{scr(2), scr(2), scr(2)}}, Pid: os.Getpid}},
			Procs:   func() []Proc { return []Proc{{Name: "driver", Pid: os.Getpid()}} },
			Client: func() []ClientCount {
				return []ClientCount{{Operation: "StartWorkflowExecution", Cause: "RpsLimit", Scope: "Namespace", N: n}}
			},
			ServerCores: cores,
			Start:       start, Emit: func(smp Sample) { got = append(got, smp) },
		}
		s.Begin(t.Context())
		n += 30
		for i := 1; i <= ticks; i++ {
			s.Tick(start.Add(time.Duration(2*i) * time.Second))
			time.Sleep(100 * time.Millisecond)
		}
		s.Stop(context.Background())
		return got
	}
	got := sample(nil, 2)
	if len(got) != 2 {
		t.Fatalf("%d samples: %+v", len(got), got)
	}
	first := got[0].Signals
	if first[SigServerCores] != 2 {
		t.Errorf("server cores %v, want the process's gomaxprocs 2", first[SigServerCores])
	}
	if _, ok := first[SigServerCPU]; !ok {
		t.Errorf("no server CPU from /proc: %v", first)
	}
	if first[SigMachineCores] != float64(runtime.NumCPU()) {
		t.Errorf("machine cores %v", first[SigMachineCores])
	}
	if _, ok := first[SigMachineCPU]; !ok {
		t.Errorf("no machine CPU: %v", first)
	}
	if v := first[SigClientExhausted]; v <= 0 {
		t.Errorf("client refusals %v/s, want 30 over the interval", v)
	}
	var client *Refusal
	for i, r := range got[0].Refusals {
		if r.Layer == LayerClient {
			client = &got[0].Refusals[i]
		}
	}
	if client == nil || client.Cause != "RPS_LIMIT" || client.Key != "frontend.namespaceRPS" {
		t.Errorf("driver's refusals %+v", got[0].Refusals)
	}
	if second := got[1].Signals; second[SigClientExhausted] != 0 {
		t.Errorf("no new refusals, yet %v/s", second[SigClientExhausted])
	}
	// As --server-cores 16.
	if over := sample(CoreCounts{"": 16}, 1); len(over) != 1 || over[0].Signals[SigServerCores] != 16 {
		t.Errorf("with --server-cores 16: %+v", over)
	}
}

// The refusal families of two scrapes of the embedded server 5.66 s apart,
// recorded under load (noop at 4/s) with frontend.namespaceRPS=5 and
// history.persistenceMaxQPS=20: the server's own label spellings
// (RpsLimit, Namespace, PersistenceLimit, System).
func TestRefusalsOnRecordedScrapes(t *testing.T) {
	read := func(name string) Families {
		f, err := os.Open("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fams, err := ParseText(f)
		if err != nil {
			t.Fatal(err)
		}
		return fams
	}
	a, b := read("limited-scrape-1.txt"), read("limited-scrape-2.txt")
	r := ServerSignals([]Scrape{{Prev: a, Cur: b, Secs: 5.66}})
	want := Refusal{Layer: LayerService, Service: "frontend", Cause: "RPS_LIMIT", Scope: "NAMESPACE", Key: "frontend.namespaceRPS", PerS: 19.435}
	if len(r.Refusals) != 1 || !r.Refusals[0].Same(want) || r.Refusals[0].PerS != want.PerS {
		t.Errorf("refusals between the scrapes %+v, want %+v (110 refusals of the default namespace's polls)", r.Refusals, want)
	}
	if r.Signals[SigExhausted] != 19.435 {
		t.Errorf("%s = %v", SigExhausted, r.Signals[SigExhausted])
	}
	// Since the server started: history's persistence client refused too.
	r = ServerSignals([]Scrape{{Prev: Families{}, Cur: b, Secs: 20}})
	var persist *Refusal
	for i, rf := range r.Refusals {
		if rf.Layer == LayerPersistence {
			persist = &r.Refusals[i]
		}
	}
	if persist == nil || persist.Service != "history" || persist.Cause != "PERSISTENCE_LIMIT" || persist.Scope != "SYSTEM" ||
		persist.Key != "history.persistenceMaxQPS" || persist.PerS != 0.1 {
		t.Errorf("persistence refusals %+v in %+v", persist, r.Refusals)
	}
	if l := Limits(r.Refusals); len(l) != 2 || l[0].Limit() != "RPS_LIMIT (frontend.namespaceRPS)" || l[1].Limit() != "PERSISTENCE_LIMIT (history.persistenceMaxQPS)" {
		t.Errorf("limits %+v", l)
	}
	// One process running every service: the whole server, its 2 cores.
	sig := map[string]float64{}
	Aggregate(r.Instances, sig)
	if len(r.Instances) != 1 || r.Instances[0].Service != "" || sig[SigServerCores] != 2 {
		t.Errorf("instances %+v, signals %v", r.Instances, sig)
	}
}
