// Package fakes is a fake third-party HTTP service for squall scenarios:
// the external API a workflow's activities call, and the ground truth its
// invariants are checked against.
//
// A Service runs inside the squall driver process (`squall run`), served on
// 127.0.0.1 at an ephemeral port, so its accounting survives any worker
// process kill. Workflows get its URL in their input; activities (in the
// worker processes) call it with Call. Every request is logged with its
// arrival time, its key (who asked for what) and the status answered.
//
// A Service can enforce its own rate limit (Limit requests per Window,
// answering 429 above it, as a throttled third-party API does), fail a
// fraction of requests (503) and add latency. The failure rate and latency
// are switchable while a run is in progress through SetMode (SetFaults is
// the same as scenarios.APIControl, for the api-errors and api-latency
// faults: drivers return their services from APIs()). Running and Find reach
// the services of the current process by name. A fake with an API of its
// own gets the same faults by wrapping its handler in Faults.Middleware.
package fakes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/squallbench/squall/scenarios"
)

// Config describes one fake service.
type Config struct {
	// Name identifies the service in logs, errors and Find, e.g.
	// "degradation.primary". Unique among the running services.
	Name string
	// Limit > 0 makes the service a rate-limited API: a request is
	// accepted when fewer than Limit requests were accepted in the Window
	// before it (a sliding window over arrival times); otherwise it is
	// answered 429 Too Many Requests.
	Limit  int
	Window time.Duration
	// ErrorRate is the fraction of requests answered 503 (seeded draw).
	ErrorRate float64
	// Latency is added before every answer.
	Latency time.Duration
	// Seed seeds the failure draws.
	Seed int64
	// OnRequest, if set, is called with every logged request after the
	// decision (outside the service's lock, before the answer is sent):
	// drivers use it to react to a request, e.g. a simulated approver
	// starting its clock when the notification arrives.
	OnRequest func(Entry)
}

// Entry is one logged request.
type Entry struct {
	At     int64  `json:"at"` // arrival, Unix nanoseconds
	Key    string `json:"key"`
	Status int    `json:"status"`
}

// Counts is a service's own accounting.
type Counts struct {
	Requests  int64 `json:"requests"`
	OK        int64 `json:"ok"`
	Throttled int64 `json:"throttled"` // 429
	Failed    int64 `json:"failed"`    // 503 (injected failures)
}

// Reply is a successful answer.
type Reply struct {
	Service string `json:"service"`
	Key     string `json:"key"`
	At      int64  `json:"at"` // arrival at the service, Unix nanoseconds
}

// Service is a running fake service.
type Service struct {
	// URL is the service's base URL (http://127.0.0.1:port).
	URL string

	name      string
	limit     int
	win       time.Duration
	onRequest func(Entry)

	// faults: the error rate and latency (SetMode); its lock nests
	// inside mu.
	faults *Faults

	mu       sync.Mutex
	log      []Entry
	accepted []int64 // arrival times of accepted requests within the window (limit > 0)
	counts   Counts

	srv *http.Server
	ln  net.Listener
}

// ModeChange records a SetMode call.
type ModeChange struct {
	At        int64         `json:"at"` // Unix nanoseconds
	ErrorRate float64       `json:"error_rate"`
	Latency   time.Duration `json:"latency_ns"`
}

var (
	runningMu sync.Mutex
	running   = map[string]*Service{}
)

// Start serves a new fake service on 127.0.0.1 at an ephemeral port.
func Start(cfg Config) (*Service, error) {
	if cfg.Name == "" {
		return nil, errors.New("fakes: a service needs a name")
	}
	if cfg.Limit < 0 || (cfg.Limit > 0 && cfg.Window <= 0) {
		return nil, fmt.Errorf("fakes: %s: a limit needs a positive window", cfg.Name)
	}
	if err := checkMode(cfg.ErrorRate, cfg.Latency); err != nil {
		return nil, fmt.Errorf("fakes: %s: %w", cfg.Name, err)
	}
	runningMu.Lock()
	defer runningMu.Unlock()
	if _, dup := running[cfg.Name]; dup {
		return nil, fmt.Errorf("fakes: a service named %s is already running", cfg.Name)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fakes: %s: listen: %w", cfg.Name, err)
	}
	f := NewFaults(cfg.Seed)
	f.errorRate, f.latency = cfg.ErrorRate, cfg.Latency // the configuration, not a change
	s := &Service{
		URL: "http://" + ln.Addr().String(), name: cfg.Name, limit: cfg.Limit, win: cfg.Window, onRequest: cfg.OnRequest,
		faults: f, ln: ln,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /call", s.handleCall)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	running[cfg.Name] = s
	return s, nil
}

// Running lists the fake services running in this process, by name.
func Running() []*Service {
	runningMu.Lock()
	defer runningMu.Unlock()
	out := make([]*Service, 0, len(running))
	for _, s := range running {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Find returns the running service named name.
func Find(name string) (*Service, bool) {
	runningMu.Lock()
	defer runningMu.Unlock()
	s, ok := running[name]
	return s, ok
}

// Name is the service's name.
func (s *Service) Name() string { return s.name }

func checkMode(errorRate float64, latency time.Duration) error {
	if errorRate < 0 || errorRate > 1 {
		return fmt.Errorf("error rate %g is not within 0..1", errorRate)
	}
	if latency < 0 {
		return fmt.Errorf("negative latency %s", latency)
	}
	return nil
}

// SetMode switches the service's failure rate (0..1, the fraction of
// requests answered 503) and added latency, effective for requests arriving
// from now on. It is safe to call at any time from any goroutine; faults
// use it to degrade and heal a service during a run.
func (s *Service) SetMode(errorRate float64, latency time.Duration) error {
	if err := s.faults.Set(errorRate, latency); err != nil {
		return fmt.Errorf("fakes: %s: %w", s.name, err)
	}
	return nil
}

// SetFaults is SetMode for the api-errors and api-latency faults
// (scenarios.APIControl): an error rate outside 0..1 and a negative latency
// are clamped; zero values heal.
func (s *Service) SetFaults(errorRate float64, latency time.Duration) {
	s.faults.SetFaults(errorRate, latency)
}

var _ scenarios.APIControl = (*Service)(nil)

// Mode returns the current failure rate and latency.
func (s *Service) Mode() (errorRate float64, latency time.Duration) {
	return s.faults.Mode()
}

// ModeChanges returns every SetMode call so far, in order.
func (s *Service) ModeChanges() []ModeChange {
	return s.faults.Changes()
}

// Log returns a copy of the request log, in arrival order.
func (s *Service) Log() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.log...)
}

// Counts returns the service's own accounting.
func (s *Service) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// Close stops serving and removes the service from Running. The log and
// counts stay readable.
func (s *Service) Close() error {
	runningMu.Lock()
	if running[s.name] == s {
		delete(running, s.name)
	}
	runningMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// admit decides a request's status at its arrival, under the lock, so the
// log's order is the order of decisions.
func (s *Service) admit(key string) (status int, at int64, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UnixNano()
	if n := len(s.log); n > 0 && now < s.log[n-1].At {
		now = s.log[n-1].At // keep the log sorted if the wall clock steps back
	}
	status = http.StatusOK
	if s.limit > 0 {
		// Accepted requests in (now-window, now]; older ones leave the window.
		cut := now - int64(s.win)
		i := 0
		for i < len(s.accepted) && s.accepted[i] <= cut {
			i++
		}
		s.accepted = s.accepted[i:]
		if len(s.accepted) >= s.limit {
			status = http.StatusTooManyRequests
		}
	}
	latency, refuse := s.faults.Decide(status == http.StatusOK)
	if refuse {
		status = http.StatusServiceUnavailable
	}
	if status == http.StatusOK && s.limit > 0 {
		s.accepted = append(s.accepted, now)
	}
	s.log = append(s.log, Entry{At: now, Key: key, Status: status})
	s.counts.Requests++
	switch status {
	case http.StatusOK:
		s.counts.OK++
	case http.StatusTooManyRequests:
		s.counts.Throttled++
	default:
		s.counts.Failed++
	}
	return status, now, latency
}

func (s *Service) handleCall(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	status, at, latency := s.admit(key)
	if s.onRequest != nil {
		s.onRequest(Entry{At: at, Key: key, Status: status})
	}
	if !Delay(r.Context(), latency) {
		return
	}
	switch status {
	case http.StatusOK:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Reply{Service: s.name, Key: key, At: at})
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.win.Seconds()))))
		http.Error(w, "rate limit exceeded", status)
	default:
		http.Error(w, "injected failure", status)
	}
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Service string
	Status  int
	Body    string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d %s: %s", e.Service, e.Status, http.StatusText(e.Status), e.Body)
}

// httpClient keeps enough idle connections for many concurrent activities
// against loopback services.
var httpClient = &http.Client{
	Timeout: 60 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	},
}

// Call sends one request for key to the service at base (its URL). A non-2xx answer
// is a *StatusError (errors.As it to tell 429 from 503).
func Call(ctx context.Context, base, key string) (Reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/call?key="+url.QueryEscape(key), nil)
	if err != nil {
		return Reply{}, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var b [256]byte
		n, _ := resp.Body.Read(b[:])
		return Reply{}, &StatusError{Service: base, Status: resp.StatusCode, Body: strings.TrimSpace(string(b[:n]))}
	}
	var rep Reply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return Reply{}, fmt.Errorf("decode answer of %s: %w", base, err)
	}
	return rep, nil
}

// WriteLog writes the request log to path as JSON lines (one Entry per
// line), for inspection after a run.
func (s *Service) WriteLog(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, e := range s.Log() {
		if err := enc.Encode(e); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
