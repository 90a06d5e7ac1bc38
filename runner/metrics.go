package runner

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/url"
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
	// ServerMetrics: the cluster's Prometheus endpoints to sample each
	// interval, as --server-metrics gives them (NAME=URL,… or a bare URL;
	// none: the embedded server's own, or none with --address).
	ServerMetrics []string
	// Prometheus: ask this Prometheus (base URL), which scrapes the
	// cluster, with PromQL instead of scraping endpoints ("": off).
	Prometheus string
	// PrometheusSelector: label matchers every PromQL query carries, so
	// only the cluster's own series count ({namespace="temporal"}).
	PrometheusSelector string
	// ServerCores: the cores of each server process (N, or SERVICE=N,…),
	// instead of what the processes report ("": theirs).
	ServerCores string
	// WorkerBasePort: worker i serves the SDK's metrics on port
	// WorkerBasePort+i of Listen's host, 127.0.0.1 without Listen (0: off).
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
	if _, err := metrics.ParseTargets(f.ServerMetrics); err != nil {
		bad("%v", err)
	}
	if f.Prometheus != "" {
		if u, err := url.Parse(f.Prometheus); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("bad --prometheus %q: want the Prometheus base URL, e.g. http://prometheus:9090", f.Prometheus)
		}
		if len(f.ServerMetrics) > 0 {
			bad("--prometheus and --server-metrics both name where server signals come from: give one")
		}
	}
	if _, err := metrics.ParseSelector(f.PrometheusSelector); err != nil {
		bad("%v", err)
	} else if f.PrometheusSelector != "" && f.Prometheus == "" {
		bad("--prometheus-selector %s narrows the queries of --prometheus: give --prometheus URL too", f.PrometheusSelector)
	}
	if _, err := metrics.ParseCores(f.ServerCores); err != nil {
		bad("%v", err)
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

// runMetrics is a session's live endpoint.
type runMetrics struct {
	live     *metrics.Live
	endpoint *metrics.Endpoint
}

// startLive serves squall's own metrics if --metrics-listen asked for it.
func (s *Session) startLive() error {
	f := s.first.Metrics
	if f.Listen == "" {
		return nil
	}
	live := metrics.NewLive(s.runID)
	ep, err := metrics.Serve(f.Listen, live.Registry())
	if err != nil {
		return cluster.Usagef("--metrics-listen: %v: choose another address", err)
	}
	s.mx.live, s.mx.endpoint = live, ep
	fmt.Fprintf(s.con.Out, "squall metrics on http://%s/metrics (until the report is written)\n", ep.Addr())
	return nil
}

// stopLive ends the endpoint: called once the report is written, and
// after one more scrape by whoever scrapes it, so that the last scrape
// sees the run's totals.
func (s *Session) stopLive() {
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
	defer cancel()
	s.mx.endpoint.AwaitFinalScrape(ctx)
	_ = s.mx.endpoint.Close(ctx)
}

// startSampler samples the server's endpoints (those squall started, or
// --server-metrics), or asks --prometheus, reads /proc of the local
// processes and counts the driver's refused calls into the result stream
// each interval, as records of this entry (and into its figures when kept).
func (e *entry) startSampler(ctx context.Context, start time.Time) *metrics.Sampler {
	f := e.plan.Metrics
	s := &metrics.Sampler{Start: start, Procs: e.c.procs, Every: cmp.Or(f.SampleEvery, DefaultSampleEvery), Client: e.c.clientRefusals,
		Emit: func(smp metrics.Sample) {
			e.write(bench.Record{Time: smp.End, Kind: bench.KindServerSample}, smp)
			if e.keep {
				e.figs.Samples = append(e.figs.Samples, smp) // the sampler emits from one goroutine, done by Stop
			}
		}}
	// Validated with the plan: these parse.
	s.ServerCores, _ = metrics.ParseCores(f.ServerCores)
	s.Targets, _ = metrics.ParseTargets(f.ServerMetrics)
	if len(s.Targets) == 0 {
		s.Targets = append(s.Targets, e.c.servers...)
	}
	for i := range s.Targets {
		// An endpoint given with --server-metrics that is one squall
		// started: its process is here, for /proc.
		for _, own := range e.c.servers {
			if s.Targets[i].URL == own.URL {
				s.Targets[i].Pid = own.Pid
			}
		}
	}
	if f.Prometheus != "" {
		// increase() needs two of Prometheus' scrapes in its range: look
		// back at least 30 s (twice the usual 15 s scrape interval).
		q, err := metrics.NewPromQL(f.Prometheus, f.PrometheusSelector, 30*time.Second, nil)
		if err == nil {
			s.Query = q
		}
	}
	s.Begin(ctx)
	return s
}

// workerMetricsArgs gives worker i its own metrics port, if asked for, on
// the interface the driver's own metrics listen on: a driver in a
// container that serves its metrics on 0.0.0.0 for a Prometheus in
// another container needs its workers reachable the same way.
func workerMetricsArgs(f MetricsFlags, i int) []string {
	if f.WorkerBasePort == 0 {
		return nil
	}
	host := "127.0.0.1"
	if f.Listen != "" {
		host, _, _ = net.SplitHostPort(f.Listen) // validated by validateMetrics
	}
	return []string{"--metrics-listen", net.JoinHostPort(host, strconv.Itoa(f.WorkerBasePort+i))}
}

// clientRefusals are the driver's refused calls so far.
func (c *clusterHandle) clientRefusals() []metrics.ClientCount {
	counts := c.starts.Refused.Counts()
	out := make([]metrics.ClientCount, 0, len(counts))
	for k, n := range counts {
		out = append(out, metrics.ClientCount{Operation: k.Method, Cause: k.Cause, Scope: k.Scope, N: n})
	}
	return out
}

// faults wraps rec so that scenario's live active-faults gauge follows
// the windows.
func (m *runMetrics) faults(scenario string, rec faults.Recorder) faults.Recorder {
	if m.live == nil {
		return rec
	}
	return liveFaults{live: m.live, scenario: scenario, next: rec}
}

type liveFaults struct {
	live     *metrics.Live
	scenario string
	next     faults.Recorder
}

func windowKey(w faults.Window) string { return w.Spec + "@" + w.InjectedAt.String() }

func (l liveFaults) Injecting(w faults.Window) { l.next.Injecting(w) }

func (l liveFaults) Injected(w faults.Window) {
	if w.Error == "" {
		l.live.FaultInjected(l.scenario, w.Kind, windowKey(w))
	}
	l.next.Injected(w)
}

func (l liveFaults) Healed(w faults.Window) {
	l.live.FaultHealed(windowKey(w))
	l.next.Healed(w)
}
