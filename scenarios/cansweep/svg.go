package cansweep

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/squallbench/squall/reports/plots"
)

// PlotFile is the sweep's curve, written into the run directory.
const PlotFile = "can-sweep.svg"

// writeSVG draws the sweep with the report's own plot (the same picture
// report.html shows): non-sticky task latency (p50, p99), cold replay and
// history fetch against history length, the budget and the recommended
// threshold. It returns the file's path ("" when there is nothing to draw).
func writeSVG(dir string, rows []Row, rec Recommendation) (string, error) {
	var pts []plots.SweepPoint
	for _, r := range rows {
		if r.Error != "" || r.Events == 0 || r.TaskMS.Count == 0 {
			continue
		}
		pts = append(pts, plots.SweepPoint{Events: float64(r.Events), TaskP50MS: r.TaskMS.P50, TaskP99MS: r.TaskMS.P99,
			ReplayMS: r.ReplayMS.Median, FetchMS: r.FetchMS, HistoryBytes: float64(r.Bytes)})
	}
	if dir == "" {
		return "", nil
	}
	suggest := rec.SuggestionSeenAt // the server's limit may not be its default
	if suggest == 0 {
		suggest = rec.ServerSuggestEvents
	}
	svg, err := plots.CanSweepSVG(pts, rec.BudgetMS, float64(rec.MaxEvents), float64(suggest))
	if errors.Is(err, plots.ErrNoData) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, PlotFile)
	doc := append([]byte(`<?xml version="1.0"?>`+"\n"), svg...)
	return path, os.WriteFile(path, doc, 0o644)
}
