package check

import (
	"slices"
	"sort"
	"sync"
)

// HistoryRow is the history distribution of one workflow type: how long
// and how large its histories grew, and how many crossed the server's
// warning and continue-as-new thresholds.
type HistoryRow struct {
	Type           string `json:"type"`
	Count          int    `json:"count"`
	P50Length      int64  `json:"p50_length"`
	MaxLength      int64  `json:"max_length"`
	P50Bytes       int64  `json:"p50_bytes"`
	MaxBytes       int64  `json:"max_bytes"`
	OverSuggest    int    `json:"over_suggest"` // at or past the continue-as-new suggestion
	OverWarn       int    `json:"over_warn"`    // at or past the warning
	OverErrorLimit int    `json:"over_error"`   // at or past the terminating limit
}

// Histories tallies described executions per workflow type. Safe for
// concurrent use. It keeps the lengths and sizes of what it was given, so
// give it a sample (a few per parent), not every workflow of a long run.
type Histories struct {
	mu     sync.Mutex
	byType map[string]*histTally
}

type histTally struct{ lengths, bytes []int64 }

// Add tallies one described execution (missing or failed ones are skipped).
func (h *Histories) Add(e Execution) {
	if e.Missing() || e.Status == "error" || e.Type == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byType == nil {
		h.byType = map[string]*histTally{}
	}
	t := h.byType[e.Type]
	if t == nil {
		t = &histTally{}
		h.byType[e.Type] = t
	}
	t.lengths = append(t.lengths, e.HistoryLength)
	t.bytes = append(t.bytes, e.HistoryBytes)
}

// Rows returns one row per workflow type, sorted by type.
func (h *Histories) Rows() []HistoryRow {
	h.mu.Lock()
	defer h.mu.Unlock()
	rows := []HistoryRow{}
	for typ, t := range h.byType {
		r := HistoryRow{Type: typ, Count: len(t.lengths)}
		l, b := slices.Sorted(slices.Values(t.lengths)), slices.Sorted(slices.Values(t.bytes))
		r.P50Length, r.MaxLength = l[len(l)/2], l[len(l)-1]
		r.P50Bytes, r.MaxBytes = b[len(b)/2], b[len(b)-1]
		for i := range l {
			if t.lengths[i] >= HistoryEventsSuggest || t.bytes[i] >= HistoryBytesSuggest {
				r.OverSuggest++
			}
			if t.lengths[i] >= HistoryEventsWarn || t.bytes[i] >= HistoryBytesWarn {
				r.OverWarn++
			}
			if t.lengths[i] >= HistoryEventsError || t.bytes[i] >= HistoryBytesError {
				r.OverErrorLimit++
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Type < rows[j].Type })
	return rows
}
