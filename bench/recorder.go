package bench

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Names of the histograms every run records. Scenarios may Observe more
// (e.g. "activity"); they travel and merge the same way.
const (
	HistCorrected   = "corrected"   // completion − intended start
	HistUncorrected = "uncorrected" // completion − actual start
	HistLateness    = "lateness"    // actual start − intended start, late starts only
)

// Counts are what happened to iterations in an interval (or a whole run).
type Counts struct {
	Started   int64 `json:"started"`
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
	Late      int64 `json:"late"`
	Dropped   int64 `json:"dropped"`
	// Abandoned iterations were still running when the grace period after
	// the load ran out; verification decides what became of them.
	Abandoned int64 `json:"abandoned"`
}

// Add accumulates o into c.
func (c *Counts) Add(o Counts) {
	c.Started += o.Started
	c.Completed += o.Completed
	c.Failed += o.Failed
	c.Late += o.Late
	c.Dropped += o.Dropped
	c.Abandoned += o.Abandoned
}

// Interval is one slice of the run's time series: counts plus the encoded
// histograms of the values recorded within it.
type Interval struct {
	Start    time.Time         `json:"start"`
	End      time.Time         `json:"end"`
	InFlight int64             `json:"in_flight"`
	Rate     float64           `json:"intended_rate,omitempty"`
	Counts                     // embedded: flat in JSON
	Hists    map[string]string `json:"hists,omitempty"`
}

// Recorder collects what the executors report, safe for concurrent use. It
// keeps one set of histograms per interval; Cut closes the interval, hands
// it out encoded, and merges it into the run's running totals. Memory stays
// bounded however long the run.
type Recorder struct {
	mu       sync.Mutex
	start    time.Time
	counts   Counts
	hists    map[string]*Histogram
	total    map[string]*Histogram
	totalCnt Counts
	inFlight atomic.Int64
	hook     Hook
	holds    []*hold // fault windows whose held work is recorded apart
}

// hold is a fault window as the recorder sees it: from its injection to
// its heal (zero while it lasts).
type hold struct {
	key      string
	from, to time.Time
}

// HeldPrefix names the histograms of the work a fault window held:
// HeldPrefix+KEY holds the corrected latency of every iteration that
// completed and was intended to start before the window healed and was
// still running when it began; HeldFailedPrefix+KEY, the same for those
// that failed or were abandoned (their count is what matters).
const (
	HeldPrefix       = "held:"
	HeldFailedPrefix = "held-failed:"
)

// Hold starts recording the work the fault window key holds, from its
// injection at from. Completions judged against a window are those of
// iterations in flight during it or due in it, whenever they complete:
// work a fault held completes after its heal, and is its latency.
func (r *Recorder) Hold(key string, from time.Time) {
	r.mu.Lock()
	r.holds = append(r.holds, &hold{key: key, from: from})
	r.mu.Unlock()
}

// Release marks the window key healed at to: iterations due after it are
// no longer its work.
func (r *Recorder) Release(key string, to time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.holds {
		if h.key == key && h.to.IsZero() {
			h.to = to
		}
	}
}

// Hook sees every event the recorder counts, as it happens, outside the
// recorder's lock: live exporters (Prometheus) plug in here so the
// recorder itself stays free of them. Implementations must be safe for
// concurrent use and cheap: they run on the load's hot path.
type Hook interface {
	Started(lateness time.Duration, late bool)
	Dropped()
	Done(o Outcome, corrected, uncorrected time.Duration)
	Observe(name string, d time.Duration)
}

// SetHook installs h (nil: none). Call it before the recorder is used.
func (r *Recorder) SetHook(h Hook) { r.hook = h }

// NewRecorder starts the first interval at now.
func NewRecorder(now time.Time) *Recorder {
	return &Recorder{start: now, hists: map[string]*Histogram{}, total: map[string]*Histogram{}}
}

func (r *Recorder) hist(name string) *Histogram {
	h := r.hists[name]
	if h == nil {
		h = NewHistogram()
		r.hists[name] = h
	}
	return h
}

// Started records a start that was issued, lateness after its intended time.
func (r *Recorder) Started(lateness time.Duration, late bool) {
	r.inFlight.Add(1)
	r.mu.Lock()
	r.counts.Started++
	if late {
		r.counts.Late++
		r.hist(HistLateness).Record(lateness)
	}
	r.mu.Unlock()
	if r.hook != nil {
		r.hook.Started(lateness, late)
	}
}

// Dropped records a start that was due but refused (in-flight limit).
func (r *Recorder) Dropped() {
	r.mu.Lock()
	r.counts.Dropped++
	r.mu.Unlock()
	if r.hook != nil {
		r.hook.Dropped()
	}
}

// Outcome of one iteration.
type Outcome int

const (
	Completed Outcome = iota
	Failed
	Abandoned
)

// Done records the end of an iteration. Latency is recorded for completed
// iterations only: a failure's latency says how fast it failed, not how fast
// the system served.
func (r *Recorder) Done(o Outcome, corrected, uncorrected time.Duration) {
	r.inFlight.Add(-1)
	r.mu.Lock()
	if len(r.holds) > 0 {
		now := time.Now()
		due := now.Add(-corrected)
		for _, h := range r.holds {
			if now.Before(h.from) || (!h.to.IsZero() && due.After(h.to)) {
				continue
			}
			if o == Completed {
				r.hist(HeldPrefix + h.key).Record(corrected)
			} else {
				r.hist(HeldFailedPrefix + h.key).Record(corrected)
			}
		}
	}
	switch o {
	case Completed:
		r.counts.Completed++
		r.hist(HistCorrected).Record(corrected)
		r.hist(HistUncorrected).Record(uncorrected)
	case Failed:
		r.counts.Failed++
	case Abandoned:
		r.counts.Abandoned++
	}
	r.mu.Unlock()
	if r.hook != nil {
		r.hook.Done(o, corrected, uncorrected)
	}
}

// Observe records a scenario-specific duration under name.
func (r *Recorder) Observe(name string, d time.Duration) {
	r.mu.Lock()
	r.hist(name).Record(d)
	r.mu.Unlock()
	if r.hook != nil {
		r.hook.Observe(name, d)
	}
}

// InFlight is the number of iterations started and not yet done.
func (r *Recorder) InFlight() int64 { return r.inFlight.Load() }

// Cut closes the current interval at now and starts the next.
func (r *Recorder) Cut(now time.Time) Interval {
	r.mu.Lock()
	defer r.mu.Unlock()
	iv := Interval{Start: r.start, End: now, InFlight: r.inFlight.Load(), Counts: r.counts, Hists: map[string]string{}}
	names := make([]string, 0, len(r.hists))
	for name := range r.hists {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		h := r.hists[name]
		if h.Count() == 0 {
			continue
		}
		if enc, err := h.Encode(); err == nil {
			iv.Hists[name] = enc
		}
		t := r.total[name]
		if t == nil {
			t = NewHistogram()
			r.total[name] = t
		}
		t.Merge(h)
		h.Reset()
	}
	r.totalCnt.Add(r.counts)
	r.counts = Counts{}
	r.start = now
	return iv
}

// Totals returns the counts so far and the value of histogram name at
// quantile q (0–1), both as of the last Cut. For live progress.
func (r *Recorder) Totals(name string, q float64) (Counts, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var v time.Duration
	if h := r.total[name]; h != nil {
		v = h.Quantile(q)
	}
	return r.totalCnt, v
}
