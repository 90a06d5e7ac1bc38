package runner

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/faults"
	"github.com/squallbench/squall/metrics"
)

// MetricsFlags are the inputs of a run's live metrics and server sampling.
type MetricsFlags struct {
	// Listen: serve squall's own metrics on this host:port during the run,
	// until the report is written ("": off).
	Listen string
	// ServerURL: an external cluster's Prometheus endpoint to sample each
	// interval ("": the embedded server's own, or none with --address).
	ServerURL string
	// Prometheus: ask this Prometheus (base URL), which scrapes the
	// cluster, with PromQL instead of scraping an endpoint ("": off).
	Prometheus string
	// WorkerBasePort: worker i serves the SDK's metrics on
	// 127.0.0.1:WorkerBasePort+i (0: off).
	WorkerBasePort int
	// SampleEvery: how often the server endpoint and /proc are sampled
	// (0: DefaultSampleEvery).
	SampleEvery time.Duration
}

func validateMetrics(f MetricsFlags, workers int, bad func(string, ...any)) {
	if f.Listen != "" {
		if _, port, err := net.SplitHostPort(f.Listen); err != nil || port == "" {
			bad("bad --metrics-listen %q: want host:port, e.g. 127.0.0.1:9464 (port 0 picks a free one)", f.Listen)
		}
	}
	if f.ServerURL != "" {
		if u, err := url.Parse(f.ServerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("bad --server-metrics %q: want the endpoint's URL, e.g. http://temporal:9090/metrics", f.ServerURL)
		}
	}
	if f.Prometheus != "" {
		if u, err := url.Parse(f.Prometheus); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("bad --prometheus %q: want the Prometheus base URL, e.g. http://prometheus:9090", f.Prometheus)
		}
		if f.ServerURL != "" {
			bad("--prometheus and --server-metrics both name where server signals come from: give one")
		}
	}
	if f.SampleEvery != 0 && f.SampleEvery < time.Second {
		bad("bad --server-sample-interval %s: want 1s or more (the load's intervals are 1 s)", f.SampleEvery)
	}
	if f.WorkerBasePort < 0 || f.WorkerBasePort+max(workers-1, 0) > 65535 {
		bad("bad --worker-metrics-base-port %d: want a port such that port+workers-1 is at most 65535 (0: off)", f.WorkerBasePort)
	}
}

// DefaultSampleEvery: a scrape of the embedded server is ~1.4 MB of text,
// costing the server to render and the driver tens of milliseconds of CPU
// to parse; every 5 s keeps that out of what a 2-core benchmark measures.
const DefaultSampleEvery = 5 * time.Second

// runMetrics is a run's live endpoint and where its server signals come from.
type runMetrics struct {
	live          *metrics.Live
	endpoint      *metrics.Endpoint
	serverMetrics string // the embedded server's endpoint URL, once it runs
}

// startLive serves squall's own metrics if --metrics-listen asked for it.
func (r *run) startLive() error {
	f := r.plan.Metrics
	if f.Listen == "" {
		return nil
	}
	live := metrics.NewLive(r.plan.Scenario.Name, r.runID)
	ep, err := metrics.Serve(f.Listen, live.Registry())
	if err != nil {
		return cluster.Usagef("--metrics-listen: %v: choose another address", err)
	}
	r.mx.live, r.mx.endpoint = live, ep
	fmt.Fprintf(r.con.Out, "squall metrics on http://%s/metrics (until the report is written)\n", ep.Addr())
	return nil
}

// stopLive ends the endpoint: called once the report is written, and
// after one more scrape by whoever scrapes it, so that the last scrape
// sees the run's totals.
func (r *run) stopLive() {
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
	defer cancel()
	r.mx.endpoint.AwaitFinalScrape(ctx)
	_ = r.mx.endpoint.Close(ctx)
}

// startSampler samples the server's endpoint (embedded or --server-metrics)
// and /proc of the local processes into the result stream each interval.
func (r *run) startSampler(ctx context.Context, start time.Time) *metrics.Sampler {
	name := r.plan.Entry // the entry's records, as its intervals: a capacity probe reads its own
	s := &metrics.Sampler{Start: start, Procs: r.procs, Every: cmp.Or(r.plan.Metrics.SampleEvery, DefaultSampleEvery),
		Emit: func(smp metrics.Sample) {
			r.stream.Write(bench.Record{Time: smp.End, Kind: bench.KindServerSample, Scenario: name}, smp)
		}}
	switch {
	case r.plan.Metrics.Prometheus != "":
		// increase() needs two of Prometheus' scrapes in its range: look
		// back at least 30 s (twice the usual 15 s scrape interval).
		s.Query = metrics.PromQL{URL: r.plan.Metrics.Prometheus, MinWindow: 30 * time.Second}
	case r.plan.Metrics.ServerURL != "":
		s.Source = metrics.HTTPSource{URL: r.plan.Metrics.ServerURL}
	case r.mx.serverMetrics != "":
		s.Source = metrics.HTTPSource{URL: r.mx.serverMetrics}
	}
	s.Begin(ctx)
	return s
}

// procs lists the local processes to sample; a child that is down (killed
// by a fault, not yet restarted) has pid 0 and is skipped.
func (r *run) procs() []metrics.Proc {
	ps := []metrics.Proc{{Name: "driver", Pid: os.Getpid()}}
	if r.server != nil {
		ps = append(ps, metrics.Proc{Name: "server", Pid: r.server.Pid()})
	}
	for i, w := range r.workers {
		ps = append(ps, metrics.Proc{Name: "worker_" + strconv.Itoa(i), Pid: w.Pid()})
	}
	return ps
}

// workerMetricsArgs gives worker i its own metrics port, if asked for.
func (r *run) workerMetricsArgs(i int) []string {
	if r.plan.Metrics.WorkerBasePort == 0 {
		return nil
	}
	return []string{"--metrics-listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.plan.Metrics.WorkerBasePort+i))}
}

// faults wraps rec so that the live active-faults gauge follows the windows.
func (m *runMetrics) faults(rec faults.Recorder) faults.Recorder {
	if m.live == nil {
		return rec
	}
	return liveFaults{live: m.live, next: rec}
}

type liveFaults struct {
	live *metrics.Live
	next faults.Recorder
}

func windowKey(w faults.Window) string { return w.Spec + "@" + w.InjectedAt.String() }

func (l liveFaults) Injected(w faults.Window) {
	if w.Error == "" {
		l.live.FaultInjected(w.Kind, windowKey(w))
	}
	l.next.Injected(w)
}

func (l liveFaults) Healed(w faults.Window) {
	l.live.FaultHealed(windowKey(w))
	l.next.Healed(w)
}
