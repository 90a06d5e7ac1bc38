package cansweep

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squallbench/squall/internal/squalltest"
	"github.com/squallbench/squall/reports"
)

// TestE2ESmallSweep runs the whole sweep at two small lengths with the
// server's suggestion threshold lowered to 400 events: the 600-event
// history must see the suggestion near event 400, the 300-event one not at
// all, and the table, the recommendation and the plot must be written.
func TestE2ESmallSweep(t *testing.T) {
	squalltest.SkipIfShort(t)
	res := squalltest.Run(t, 4*time.Minute, "--scenario", Name,
		"--option", "lengths=300,600", "--option", "probes=5", "--option", "replays=2", "--option", "budget=30s",
		"--iterations", "1", "--rate", "1/s", "--grace", "3m",
		"--dynamic-config", "limit.historyCount.suggestContinueAsNew=400")
	if res.Exit != 0 {
		t.Fatalf("exit %d, want 0\n%s", res.Exit, res.Stdout)
	}
	s := squalltest.Scenario(t, res.Report, Name)
	squalltest.InvariantsHold(t, s)
	var rows []Row
	if err := json.Unmarshal(s.Details["sweep"], &rows); err != nil {
		t.Fatalf("sweep details: %v", err)
	}
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		if r.Events < int64(r.Target)-20 || r.Events > int64(r.Target)+20 || r.Bytes < r.Events*50 {
			t.Errorf("length %d: history %d events / %d bytes", r.Target, r.Events, r.Bytes)
		}
		if r.TaskMS.Count != 6 || r.TaskMS.P99 <= 0 || r.ReplayMS.Median <= 0 || r.FetchMS <= 0 {
			t.Errorf("length %d: measurements %+v", r.Target, r)
		}
	}
	if rows[0].Suggested {
		t.Errorf("300 events: suggested at %d", rows[0].SuggestedAtEvents)
	}
	if !rows[1].Suggested || rows[1].SuggestedAtEvents < 400 || rows[1].SuggestedAtEvents > 420 ||
		rows[1].HistorySuggestAt != int64(rows[1].SuggestedAtEvents) || len(rows[1].SuggestedReasons) != 1 ||
		rows[1].SuggestedReasons[0] != "history-events" {
		t.Errorf("600 events: suggestion %+v", rows[1])
	}
	var rec Recommendation
	if err := json.Unmarshal(s.Details["recommendation"], &rec); err != nil {
		t.Fatalf("recommendation: %v", err)
	}
	if rec.BudgetMS != 30000 || rec.MaxEvents != int(rows[1].Events) || rec.SuggestionSeenAt != rows[1].SuggestedAtEvents || rec.Summary == "" || rec.MaxEvents == 0 {
		t.Errorf("recommendation %+v", rec)
	}
	svg, err := os.ReadFile(filepath.Join(res.Dir, reports.FileCanSweepPlot))
	if err != nil || !strings.Contains(string(svg), "<path d=") {
		t.Errorf("plot: %v", err)
	}
	if _, ok := s.HistogramsMS["workflow-task-nonsticky@600"]; !ok {
		t.Errorf("histograms %v", s.HistogramsMS)
	}
}
