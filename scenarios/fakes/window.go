package fakes

import "time"

// WindowPeak is the result of MaxInWindow.
type WindowPeak struct {
	Max   int   `json:"max"`   // most requests within any window
	Start int64 `json:"start"` // arrival (Unix ns) of the first request of that window
}

// MaxInWindow returns the largest number of arrival times (Unix ns, sorted
// ascending) within any half-open window [t, t+window) — the check of a
// "at most N requests per window" limit against a service's own log. It is
// the sliding check over every window start, not fixed buckets: a burst
// straddling a bucket boundary counts in full.
func MaxInWindow(at []int64, window time.Duration) WindowPeak {
	var p WindowPeak
	j := 0
	for i := range at {
		// j: first index at or beyond at[i]+window.
		if j < i {
			j = i
		}
		for j < len(at) && at[j] < at[i]+int64(window) {
			j++
		}
		if n := j - i; n > p.Max {
			p = WindowPeak{Max: n, Start: at[i]}
		}
	}
	return p
}

// Arrivals returns the arrival times of log entries for which keep is true
// (all when keep is nil).
func Arrivals(log []Entry, keep func(Entry) bool) []int64 {
	out := make([]int64, 0, len(log))
	for _, e := range log {
		if keep == nil || keep(e) {
			out = append(out, e.At)
		}
	}
	return out
}
