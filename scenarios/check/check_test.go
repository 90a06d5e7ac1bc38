package check

import (
	"strings"
	"testing"
)

func TestProblemsInvariant(t *testing.T) {
	var p Problems
	if inv := p.Invariant("x", "all fine"); !inv.OK || inv.Detail != "all fine" {
		t.Errorf("no problems: %+v", inv)
	}
	for i := range 7 {
		p.Add("wf-%d wrong", i)
	}
	inv := p.Invariant("x", "all fine")
	if inv.OK || !strings.Contains(inv.Detail, "wf-0 wrong") || strings.Contains(inv.Detail, "wf-5") || !strings.Contains(inv.Detail, "7 problems in all") {
		t.Errorf("7 problems: %+v (want %d examples and the count)", inv, MaxExamples)
	}
}

func TestHistoriesPerType(t *testing.T) {
	var h Histories
	for _, e := range []Execution{
		{Type: "parent", Status: "completed", HistoryLength: 100, HistoryBytes: 5 << 20},
		{Type: "child", Status: "completed", HistoryLength: 11, HistoryBytes: 1000},
		{Type: "child", Status: "completed", HistoryLength: 12000, HistoryBytes: 2000},
		{Type: "child", Status: "completed", HistoryLength: 13, HistoryBytes: 3000},
		{Type: "child", Status: "missing"},
	} {
		h.Add(e)
	}
	rows := h.Rows()
	if len(rows) != 2 || rows[0].Type != "child" || rows[1].Type != "parent" {
		t.Fatalf("rows %+v", rows)
	}
	c, p := rows[0], rows[1]
	if c.Count != 3 || c.P50Length != 13 || c.MaxLength != 12000 || c.OverWarn != 1 || c.OverSuggest != 1 || c.OverErrorLimit != 0 {
		t.Errorf("child %+v", c)
	}
	if p.OverSuggest != 1 || p.OverWarn != 0 {
		t.Errorf("parent at 5 MiB is past the suggestion, not the warning: %+v", p)
	}
}
