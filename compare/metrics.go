package compare

import (
	"github.com/squallbench/squall/reports"
)

// Metric is one compared quantity, from the catalogue thresholds share.
type Metric = reports.Metric

// Worse says which way a metric moves when things get worse.
type Worse = reports.Worse

const (
	Up   = reports.Up
	Down = reports.Down
)

// Metrics is what compare looks at, in its table's order: the catalogue's
// compared metrics.
var Metrics = compared()

func compared() []Metric {
	var out []Metric
	for _, m := range reports.Catalogue {
		if m.Compared {
			out = append(out, m)
		}
	}
	return out
}

// MetricNames lists Metrics' names, for errors and help.
func MetricNames() []string {
	out := make([]string, len(Metrics))
	for i, m := range Metrics {
		out[i] = m.Name
	}
	return out
}

func metricByName(name string) (Metric, bool) {
	if m, ok := reports.MetricByName(name); ok && m.Compared {
		return m, true
	}
	return Metric{}, false
}
