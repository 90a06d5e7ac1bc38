package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// NetProxy is an in-process Toxiproxy in front of the cluster's frontend.
// When network faults are scheduled, every SDK client of the run (driver
// and workers) connects through it, so toxics reach all of their traffic.
type NetProxy struct {
	proxy *toxiproxy.Proxy
	seq   atomic.Int64
}

// StartNetProxy listens on a free loopback port and forwards to upstream.
func StartNetProxy(upstream string) (*NetProxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	srv.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	p := toxiproxy.NewProxy(srv, "frontend", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start network proxy to %s: %w", upstream, err)
	}
	return &NetProxy{proxy: p}, nil
}

// Addr is the proxy's host:port; clients dial this instead of the frontend.
func (p *NetProxy) Addr() string { return p.proxy.Listen }

// Close stops the proxy and drops its connections.
func (p *NetProxy) Close() { p.proxy.Stop() }

// addToxic adds a Toxiproxy toxic in both directions (upstream: client to
// server; downstream: server to client) and returns the names to remove.
func (p *NetProxy) addToxic(typ string, attrs map[string]any, streams ...string) ([]string, error) {
	var names []string
	for _, stream := range streams {
		name := fmt.Sprintf("%s-%s-%d", typ, stream, p.seq.Add(1))
		b, _ := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
		if _, err := p.proxy.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
			p.removeToxics(names)
			return nil, fmt.Errorf("add %s toxic: %w", typ, err)
		}
		names = append(names, name)
	}
	return names, nil
}

func (p *NetProxy) removeToxics(names []string) {
	for _, n := range names {
		_ = p.proxy.Toxics.RemoveToxic(context.Background(), n)
	}
}

// toxicFault is a network fault: one Toxiproxy toxic for its window.
type toxicFault struct {
	proxy   *NetProxy
	typ     string
	attrs   map[string]any
	streams []string
	names   []string
}

var _ Fault = (*toxicFault)(nil)

func (f *toxicFault) Inject(context.Context) error {
	names, err := f.proxy.addToxic(f.typ, f.attrs, f.streams...)
	f.names = names
	return err
}

func (f *toxicFault) Heal(context.Context) error {
	f.proxy.removeToxics(f.names)
	f.names = nil
	return nil
}
