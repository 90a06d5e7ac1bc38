package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sample is one interval's server and process signals: the payload of a
// server-sample record in the result stream.
type Sample struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	OffsetS float64   `json:"offset_s"` // End, seconds since the load began
	// Signals by name (the Sig* constants, and CPU, RSS and Cores of each
	// local process and server scope); absent when not measured.
	Signals map[string]float64 `json:"signals"`
	// WorstPersistence: the slowest persistence operations by p99.
	WorstPersistence []OpLatency `json:"worst_persistence,omitempty"`
	// Refusals: the RESOURCE_EXHAUSTED answers by cause, the server's
	// and the driver's own.
	Refusals []Refusal `json:"refusals,omitempty"`
	Source   string    `json:"source,omitempty"` // the scraped endpoints
	Warnings []string  `json:"warnings,omitempty"`
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
// Pid 0 means "not running right now" (a killed worker between restarts).
type Proc struct {
	Name string // signal scope: driver, worker_0
	Pid  int
}

// Querier asks a Prometheus that scrapes the cluster for an interval's
// signals (PromQL).
type Querier interface {
	Read(ctx context.Context, start, end time.Time) (Reading, error)
	String() string
}

// ClientCount is how many RESOURCE_EXHAUSTED answers of one kind the
// driver got so far (a running total).
type ClientCount struct {
	Operation, Cause, Scope string // Cause and Scope as the answer's details spell them ("" when absent)
	N                       int64
}

// Sampler records one Sample per interval: it scrapes the Targets (or
// asks Query), reads /proc for Procs and for the Targets that run here,
// and counts the driver's refused calls. Tick asks for a sample ending
// now and never blocks the caller: a sample still under way when the
// next tick comes makes that sample cover both intervals instead.
type Sampler struct {
	Targets []Target // server metrics endpoints (none: no server signals)
	// Query: a Prometheus scraping the cluster, asked instead of scraping
	// the Targets (whose local processes are still read from /proc).
	Query Querier
	Procs func() []Proc // nil: no local processes besides the Targets'
	// Client returns the driver's refused calls so far (nil: not counted).
	Client func() []ClientCount
	// ServerCores overrides the cores each server process reports.
	ServerCores CoreCounts
	Start       time.Time    // offsets are counted from here
	Emit        func(Sample) // called from the sampler's goroutine, in order
	// Every: the shortest span a sample covers; ticks closer than that to
	// the last sample are folded into the next (0: every tick).
	Every time.Duration

	ticks chan time.Time
	stop  chan struct{}
	done  chan struct{}

	nextDue  time.Time // Tick's own: the caller's goroutine
	lastTick time.Time

	mu         sync.Mutex
	prev       []Families // by target
	prevAt     []time.Time
	prevProc   map[int]ProcUsage // by pid
	procAt     time.Time
	prevClient map[ClientCount]int64 // by kind (N zero)
	last       time.Time             // end of the last sample
}

// Begin takes the baseline scrapes and /proc readings (so the first
// interval has something to subtract from) and starts sampling.
func (s *Sampler) Begin(ctx context.Context) {
	s.ticks = make(chan time.Time, 1)
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	now := time.Now()
	s.last, s.nextDue = now, now.Add(s.Every-s.Every/20)
	s.prevProc = map[int]ProcUsage{}
	for i := range s.Targets {
		if s.Targets[i].Instance == "" {
			s.Targets[i].Instance = hostPort(s.Targets[i].URL)
		}
	}
	s.prev, s.prevAt = make([]Families, len(s.Targets)), make([]time.Time, len(s.Targets))
	var warn []string
	if s.Query == nil {
		for i, r := range s.scrapeAll(ctx) {
			if r.err != nil {
				warn = append(warn, fmt.Sprintf("server metrics %s: %v", s.Targets[i], r.err))
				continue
			}
			s.prev[i], s.prevAt[i] = r.fams, now
		}
	}
	s.readProcs(now)
	s.readClient(0)
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
	if s.Query != nil {
		return s.Query.String()
	}
	names := make([]string, len(s.Targets))
	for i, t := range s.Targets {
		names[i] = t.String()
	}
	return strings.Join(names, ", ")
}

type scraped struct {
	fams Families
	err  error
}

// scrapeAll scrapes every target at once, each within 10 s.
func (s *Sampler) scrapeAll(ctx context.Context) []scraped {
	out := make([]scraped, len(s.Targets))
	var wg sync.WaitGroup
	for i, t := range s.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			out[i].fams, out[i].err = t.scrape(sctx)
		}()
	}
	wg.Wait()
	return out
}

func (s *Sampler) sample(ctx context.Context, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !now.After(s.last) {
		return
	}
	smp := Sample{Start: s.last, End: now, OffsetS: round(now.Sub(s.Start).Seconds()), Signals: map[string]float64{}, Source: s.source()}
	secs := now.Sub(s.last).Seconds()
	s.last = now
	var rd Reading
	// Each target's process, whether or not its scrape answered: a local
	// one still has /proc.
	instances := make([]Instance, len(s.Targets))
	for i, t := range s.Targets {
		instances[i] = Instance{Service: t.Service, Instance: t.Instance}
	}
	if s.Query != nil {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var err error
		rd, err = s.Query.Read(qctx, smp.Start, now)
		cancel()
		if err != nil {
			smp.Warnings = append(smp.Warnings, fmt.Sprintf("prometheus %s: %v", s.Query, err))
		}
		instances = s.mergeQueried(instances, rd.Instances)
	} else if len(s.Targets) > 0 {
		var pairs []Scrape
		var at []int // target of each pair
		for i, r := range s.scrapeAll(ctx) {
			switch {
			case r.err != nil:
				smp.Warnings = append(smp.Warnings, fmt.Sprintf("server metrics %s: %v", s.Targets[i], r.err))
			case s.prev[i] == nil:
				// First good scrape: a baseline; the interval has no delta yet.
				s.prev[i], s.prevAt[i] = r.fams, now
			default:
				pairs = append(pairs, Scrape{Target: s.Targets[i], Prev: s.prev[i], Cur: r.fams, Secs: now.Sub(s.prevAt[i]).Seconds()})
				at = append(at, i)
				s.prev[i], s.prevAt[i] = r.fams, now
			}
		}
		if len(pairs) > 0 {
			rd = ServerSignals(pairs)
			for j, in := range rd.Instances {
				instances[at[j]] = in
			}
		}
	}
	for k, v := range rd.Signals {
		smp.Signals[k] = v
	}
	smp.WorstPersistence = rd.Worst
	smp.Refusals = rd.Refusals
	procs := s.readProcs(now)
	machine, local := 0.0, false
	for name, u := range procs {
		smp.Signals[RSS(name)] = u.rss
		if u.hasCPU {
			smp.Signals[CPU(name)] = u.cpu
			machine, local = machine+u.cpu, true
		}
	}
	for i, t := range s.Targets {
		in := &instances[i]
		if u, ok := procs[targetProc(i)]; ok {
			// Local /proc figures win over the endpoint's own.
			in.Local, in.RSSMB, in.HasRSS = true, u.rss, true
			if u.hasCPU {
				in.CPU, in.HasCPU = u.cpu, true
			}
			delete(smp.Signals, RSS(targetProc(i)))
			delete(smp.Signals, CPU(targetProc(i)))
		} else if t.Pid != nil {
			in.Local = true
		}
		if !in.HasCores && in.Local {
			in.Cores, in.HasCores = float64(runtime.NumCPU()), true
		}
	}
	for i := range instances {
		if v, ok := s.ServerCores.For(instances[i].Service); ok {
			instances[i].Cores, instances[i].HasCores = v, true
		}
	}
	Aggregate(instances, smp.Signals)
	if s.Procs != nil {
		smp.Signals[SigMachineCores] = float64(runtime.NumCPU())
	}
	if local {
		smp.Signals[SigMachineCPU] = round(machine)
	}
	if refused, total, ok := s.readClient(secs); ok {
		smp.Refusals = append(smp.Refusals, refused...)
		smp.Signals[SigClientExhausted] = total
	}
	s.Emit(smp)
}

// mergeQueried puts what Prometheus said about each server process into
// the targets' (a target that runs here keeps its /proc figures) and adds
// the processes no target names.
func (s *Sampler) mergeQueried(targets, queried []Instance) []Instance {
	out := targets
	for _, q := range queried {
		matched := false
		for i, t := range s.Targets {
			if t.Instance == q.Instance || hostPort(t.URL) == q.Instance {
				if q.Service != "" {
					out[i].Service = q.Service
				}
				out[i].Cores, out[i].HasCores = q.Cores, q.HasCores
				out[i].CPU, out[i].HasCPU = q.CPU, q.HasCPU
				out[i].RSSMB, out[i].HasRSS = q.RSSMB, q.HasRSS
				matched = true
			}
		}
		if !matched {
			out = append(out, q)
		}
	}
	return out
}

// targetProc names target i's process among the /proc readings.
func targetProc(i int) string { return "\x00target" + strconv.Itoa(i) }

type procFigures struct {
	cpu, rss float64
	hasCPU   bool
}

// readProcs returns the CPU (cores used over the interval) and RSS of
// every local process, the Targets' included, and keeps the readings for
// the next interval.
func (s *Sampler) readProcs(now time.Time) map[string]procFigures {
	var procs []Proc
	if s.Procs != nil {
		procs = s.Procs()
	}
	for i, t := range s.Targets {
		if t.Pid != nil {
			procs = append(procs, Proc{Name: targetProc(i), Pid: t.Pid()})
		}
	}
	if len(procs) == 0 {
		return nil
	}
	out := map[string]procFigures{}
	cur := map[int]ProcUsage{}
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
		f := procFigures{rss: round(u.RSSBytes / (1 << 20))}
		// A new pid (restarted process) has no earlier reading: no CPU
		// figure for this interval rather than its whole lifetime's.
		if old, ok := s.prevProc[p.Pid]; ok {
			if dt := now.Sub(s.procAt).Seconds(); dt > 0 && u.CPUSeconds >= old.CPUSeconds {
				f.cpu, f.hasCPU = round((u.CPUSeconds-old.CPUSeconds)/dt), true
			}
		}
		out[p.Name] = f
	}
	s.prevProc, s.procAt = cur, now
	return out
}

// readClient turns the driver's running totals of refused calls into
// rates over secs (0: only keep the totals).
func (s *Sampler) readClient(secs float64) ([]Refusal, float64, bool) {
	if s.Client == nil {
		return nil, 0, false
	}
	counts := s.Client()
	prev := s.prevClient
	s.prevClient = make(map[ClientCount]int64, len(counts))
	tally := refusalTally{}
	total := 0.0
	for _, c := range counts {
		k := c
		k.N = 0
		s.prevClient[k] += c.N
		if secs <= 0 {
			continue
		}
		d := c.N - prev[k]
		if d < 0 {
			d = c.N
		}
		tally.add(LayerClient, "", c.Cause, c.Scope, c.Operation, float64(d)/secs)
		total += float64(d) / secs
	}
	if secs <= 0 {
		return nil, 0, false
	}
	return tally.rates(), round(total), true
}
