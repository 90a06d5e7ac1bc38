package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Endpoint serves a registry's metrics on /metrics until Close.
type Endpoint struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// Serve listens on addr (host:port; port 0 picks a free one) and serves
// g on /metrics. A bad or busy address fails here, before any load.
func Serve(addr string, g prometheus.Gatherer) (*Endpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	// OpenMetrics lets the scraper negotiate native histograms and
	// exemplars; plain text stays the fallback.
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	e := &Endpoint{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		// Serve only returns when closed or when the listener fails; in
		// both cases there is nothing left to serve.
		_ = e.srv.Serve(ln)
	}()
	return e, nil
}

// Addr is the address actually listened on.
func (e *Endpoint) Addr() string { return e.addr }

// Close stops serving, letting a scrape in progress finish until ctx ends.
func (e *Endpoint) Close(ctx context.Context) error {
	if e == nil {
		return nil
	}
	err := e.srv.Shutdown(ctx)
	<-e.done
	return err
}
