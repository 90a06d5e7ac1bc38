package throttled

import (
	"slices"
	"sync"
	"time"

	"github.com/squallbench/squall/scenarios/fakes"
)

// meter aggregates an API's arrivals as they happen, in memory bounded by
// one window's worth of requests: the sliding peak (the same figure as
// fakes.MaxInWindow over the whole log), the count per fixed window for
// plots, and the first and last arrival.
//
// The API reports each request after deciding it, outside its lock, so
// reports may come slightly out of order. Arrivals wait in a sorted buffer
// until slack has passed behind the newest one; only then are they settled
// (no earlier arrival can still come) and counted in order.
type meter struct {
	window time.Duration
	slack  int64 // ns

	mu      sync.Mutex
	pending []int64 // reported, not settled; sorted
	newest  int64
	state   meterState
}

// meterState is what the settled arrivals add up to.
type meterState struct {
	inWindow []int64 // settled arrivals in (last-window, last]
	peak     fakes.WindowPeak
	first    int64
	last     int64
	n        int64
	// perWindow counts arrivals in consecutive fixed windows from the
	// first (at most maxPerWindow).
	perWindow []int
	// late: arrivals reported more than slack behind the newest, counted
	// as if they had arrived at the settled frontier.
	late int64
}

// maxPerWindow bounds the fixed windows kept for plots.
const maxPerWindow = 120

// meterSlack is how far behind the newest arrival a report may come.
const meterSlack = 2 * time.Second

func newMeter(window time.Duration) *meter {
	return &meter{window: window, slack: int64(meterSlack)}
}

// add takes one arrival (Unix ns).
func (m *meter) add(at int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, _ := slices.BinarySearch(m.pending, at+1) // after equal ones: stable
	m.pending = slices.Insert(m.pending, i, at)
	m.newest = max(m.newest, at)
	n := 0
	for n < len(m.pending) && m.pending[n] <= m.newest-m.slack {
		n++
	}
	m.state.settle(m.pending[:n], m.window)
	m.pending = slices.Delete(m.pending, 0, n)
}

// snapshot is the state with every pending arrival settled, leaving the
// meter as it is.
func (m *meter) snapshot() meterState {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state
	s.inWindow = slices.Clone(s.inWindow)
	s.perWindow = slices.Clone(s.perWindow)
	s.settle(m.pending, m.window)
	return s
}

func (s *meterState) settle(ats []int64, window time.Duration) {
	for _, at := range ats {
		if s.n > 0 && at < s.last {
			s.late++
			at = s.last
		}
		if s.n == 0 {
			s.first = at
		}
		s.n++
		s.last = at
		cut := 0
		for cut < len(s.inWindow) && s.inWindow[cut] <= at-int64(window) {
			cut++
		}
		s.inWindow = append(s.inWindow[cut:], at)
		if len(s.inWindow) > s.peak.Max {
			s.peak = fakes.WindowPeak{Max: len(s.inWindow), Start: s.inWindow[0]}
		}
		if b := int((at - s.first) / int64(window)); b < maxPerWindow {
			for len(s.perWindow) <= b {
				s.perWindow = append(s.perWindow, 0)
			}
			s.perWindow[b]++
		}
	}
}
