package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Endpoint serves a registry's metrics on /metrics until Close.
type Endpoint struct {
	srv  *http.Server
	addr string
	done chan struct{}

	mu             sync.Mutex
	scraped        *sync.Cond
	last, previous time.Time // the two latest scrapes served
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
	e := &Endpoint{addr: ln.Addr().String(), done: make(chan struct{})}
	e.scraped = sync.NewCond(&e.mu)
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		e.mu.Lock()
		e.previous, e.last = e.last, time.Now()
		e.scraped.Broadcast()
		e.mu.Unlock()
	})
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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

// AwaitFinalScrape waits until a scraper has read the metrics once more
// after now, so it holds the final totals: at most 1.5 of its observed
// scrape intervals (30 s at most), and not at all when nobody scraped
// twice yet or ctx ends.
func (e *Endpoint) AwaitFinalScrape(ctx context.Context) {
	if e == nil {
		return
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.previous.IsZero() {
		return
	}
	wait := min(e.last.Sub(e.previous)*3/2, 30*time.Second)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // wake the waiter when time is up
		select {
		case <-deadline.C:
		case <-ctx.Done():
		case <-stop:
			return
		}
		e.mu.Lock()
		e.scraped.Broadcast()
		e.mu.Unlock()
	}()
	for !e.last.After(now) && time.Since(now) < wait && ctx.Err() == nil {
		e.scraped.Wait()
	}
}

// Close stops serving, letting a scrape in progress finish until ctx ends.
func (e *Endpoint) Close(ctx context.Context) error {
	if e == nil {
		return nil
	}
	err := e.srv.Shutdown(ctx)
	<-e.done
	return err
}
