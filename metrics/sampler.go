package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Sample is one interval's server and process signals: the payload of a
// server-sample record in the result stream.
type Sample struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	OffsetS float64   `json:"offset_s"` // End, seconds since the load began
	// Signals by name (the Sig* constants, plus <process>_cpu_cores and
	// <process>_rss_mb for each local process); absent when not measured.
	Signals map[string]float64 `json:"signals"`
	// WorstPersistence: the slowest persistence operations by p99.
	WorstPersistence []OpLatency `json:"worst_persistence,omitempty"`
	Source           string      `json:"source,omitempty"` // the scraped endpoint
	Warnings         []string    `json:"warnings,omitempty"`
}

// Source yields a Temporal server's metrics.
type Source interface {
	Scrape(ctx context.Context) (Families, error)
	String() string
}

// HTTPSource scrapes a Prometheus text endpoint.
type HTTPSource struct {
	URL    string
	Client *http.Client // nil: a client with a 10 s timeout
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// Scrape implements Source.
func (s HTTPSource) Scrape(ctx context.Context) (Families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, err
	}
	// Text format only: it is what the parser reads.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	c := s.Client
	if c == nil {
		c = httpClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: %s", s.URL, resp.Status)
	}
	return ParseText(resp.Body)
}

func (s HTTPSource) String() string { return s.URL }

// Proc is a local process whose CPU and memory are sampled from /proc.
// Pid 0 means "not running right now" (a killed server between restarts).
type Proc struct {
	Name string // signal prefix: server, worker_0, driver
	Pid  int
}

// Sampler records one Sample per interval: it scrapes Source (if any) and
// reads /proc for Procs. Tick asks for a sample ending now and never
// blocks the caller: a scrape still under way when the next tick comes
// makes that sample cover both intervals instead.
type Sampler struct {
	Source Source // nil: no server endpoint
	// Query: a Prometheus scraping the cluster, asked instead of Source.
	Query interface {
		Signals(ctx context.Context, start, end time.Time) (map[string]float64, []OpLatency, error)
		String() string
	}
	Procs func() []Proc // nil: no local processes
	Start time.Time     // offsets are counted from here
	Emit  func(Sample)  // called from the sampler's goroutine, in order
	// Every: the shortest span a sample covers; ticks closer than that to
	// the last sample are folded into the next (0: every tick).
	Every time.Duration

	ticks chan time.Time
	stop  chan struct{}
	done  chan struct{}

	nextDue  time.Time // Tick's own: the caller's goroutine
	lastTick time.Time

	mu       sync.Mutex
	prev     Families
	prevAt   time.Time
	prevProc map[int]ProcUsage // by pid
	procAt   time.Time
	last     time.Time // end of the last sample
}

// Begin takes the baseline scrape and /proc reading (so the first
// interval has something to subtract from) and starts sampling.
func (s *Sampler) Begin(ctx context.Context) {
	s.ticks = make(chan time.Time, 1)
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	now := time.Now()
	s.last, s.nextDue = now, now.Add(s.Every-s.Every/20)
	s.prevProc = map[int]ProcUsage{}
	var warn []string
	if s.Source != nil && s.Query == nil {
		fams, err := s.Source.Scrape(ctx)
		if err != nil {
			warn = append(warn, fmt.Sprintf("server metrics %s: %v", s.Source, err))
		} else {
			s.prev, s.prevAt = fams, now
		}
	}
	s.readProcs(now)
	if len(warn) > 0 {
		s.Emit(Sample{Start: now, End: now, OffsetS: now.Sub(s.Start).Seconds(), Signals: map[string]float64{}, Source: s.source(), Warnings: warn})
	}
	go s.loop(ctx)
}

// Tick asks for a sample of the interval ending at now.
func (s *Sampler) Tick(now time.Time) {
	s.lastTick = now
	if now.Before(s.nextDue) {
		return
	}
	// A little slack, so 1 s ticks with jitter still sample every Every.
	s.nextDue = now.Add(s.Every - s.Every/20)
	select {
	case s.ticks <- now:
	default: // one pending already: it will cover this interval too
	}
}

// Stop takes the samples already asked for, then one up to the last
// Tick if that was folded into a sample not yet taken, and stops. Call it
// from the goroutine that calls Tick.
func (s *Sampler) Stop(ctx context.Context) {
	close(s.stop)
	<-s.done
	if !s.lastTick.IsZero() {
		s.sample(ctx, s.lastTick)
	}
}

func (s *Sampler) loop(ctx context.Context) {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			select { // a tick already taken is still sampled
			case now := <-s.ticks:
				s.sample(ctx, now)
			default:
			}
			return
		case <-ctx.Done():
			return
		case now := <-s.ticks:
			s.sample(ctx, now)
		}
	}
}

func (s *Sampler) source() string {
	switch {
	case s.Query != nil:
		return s.Query.String()
	case s.Source != nil:
		return s.Source.String()
	}
	return ""
}

func (s *Sampler) sample(ctx context.Context, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !now.After(s.last) {
		return
	}
	smp := Sample{Start: s.last, End: now, OffsetS: round(now.Sub(s.Start).Seconds()), Signals: map[string]float64{}, Source: s.source()}
	s.last = now
	if s.Query != nil {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		sig, worst, err := s.Query.Signals(qctx, smp.Start, now)
		cancel()
		if err != nil {
			smp.Warnings = append(smp.Warnings, fmt.Sprintf("prometheus %s: %v", s.Query, err))
		}
		for k, v := range sig {
			smp.Signals[k] = v
		}
		smp.WorstPersistence = worst
	} else if s.Source != nil {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		fams, err := s.Source.Scrape(sctx)
		cancel()
		switch {
		case err != nil:
			smp.Warnings = append(smp.Warnings, fmt.Sprintf("server metrics %s: %v", s.Source, err))
		case s.prev == nil:
			// First good scrape: a baseline; the interval has no delta yet.
			s.prev, s.prevAt = fams, now
		default:
			sig, worst := ServerSignals(s.prev, fams, now.Sub(s.prevAt).Seconds())
			for k, v := range sig {
				smp.Signals[k] = v
			}
			smp.WorstPersistence = worst
			s.prev, s.prevAt = fams, now
		}
	}
	for k, v := range s.readProcs(now) {
		smp.Signals[k] = v // local /proc figures win over the endpoint's own
	}
	s.Emit(smp)
}

// readProcs returns the CPU (cores used over the interval) and RSS signals
// of every local process, and keeps the readings for the next interval.
func (s *Sampler) readProcs(now time.Time) map[string]float64 {
	if s.Procs == nil {
		return nil
	}
	sig := map[string]float64{}
	cur := map[int]ProcUsage{}
	procs := s.Procs()
	sort.Slice(procs, func(i, j int) bool { return procs[i].Name < procs[j].Name })
	for _, p := range procs {
		if p.Pid <= 0 {
			continue
		}
		u, err := ReadProc(p.Pid)
		if err != nil {
			continue // exited between the listing and the read
		}
		cur[p.Pid] = u
		sig[p.Name+sigRSSSuffix] = round(u.RSSBytes / (1 << 20))
		// A new pid (restarted process) has no earlier reading: no CPU
		// figure for this interval rather than its whole lifetime's.
		if old, ok := s.prevProc[p.Pid]; ok {
			if dt := now.Sub(s.procAt).Seconds(); dt > 0 && u.CPUSeconds >= old.CPUSeconds {
				sig[p.Name+sigCPUSuffix] = round((u.CPUSeconds - old.CPUSeconds) / dt)
			}
		}
	}
	s.prevProc, s.procAt = cur, now
	return sig
}
