package compare

import (
	"fmt"
	"strconv"
	"strings"
)

// benchUnit maps a metric's unit to a Go benchmark unit and how its value
// converts. benchstat scales "sec" itself (12.5 ms prints as 12.50m), so
// latency goes out in seconds.
func benchUnit(m Metric) (unit string, factor float64) {
	switch m.Unit() {
	case "ms":
		return "sec", 1e-3
	case "/s":
		return "workflows/s", 1
	case "cpu-s":
		return "cpu-sec/1k-workflows", 1
	case "B":
		return "B", 1
	}
	return "count", 1
}

// Benchfmt renders every run of side in the Go benchmark format
// (golang.org/x/perf/benchfmt), one line per scenario, metric and run, so
// `benchstat base.txt current.txt` compares squall runs unchanged:
//
//	BenchmarkSquall/scenario=noop/metric=p99 1 0.0125 sec
//
// Unit lines tell benchstat which direction is better; the scenario and
// metric are name keys, so `benchstat -col /metric` and `-filter` work.
func Benchfmt(side *Side) string {
	var b strings.Builder
	units := map[string]bool{}
	for _, m := range Metrics {
		u, _ := benchUnit(m)
		if units[u] {
			continue
		}
		units[u] = true
		better := "lower"
		if m.Worse == Down {
			better = "higher"
		}
		fmt.Fprintf(&b, "Unit %s better=%s\n", u, better)
	}
	for _, r := range side.Runs {
		rep := r.Report
		// Configuration lines apply to the results that follow them.
		fmt.Fprintf(&b, "squall-version: %s\nserver-version: %s\ncommit: %s\n", oneLine(rep.Run.SquallVersion), oneLine(rep.Run.ServerVersion), oneLine(rep.Run.Commit))
		for i := range rep.Scenarios {
			s := &rep.Scenarios[i]
			for _, m := range Metrics {
				v, ok := m.Read(rep, s)
				if !ok {
					continue
				}
				u, f := benchUnit(m)
				fmt.Fprintf(&b, "BenchmarkSquall/scenario=%s/metric=%s 1 %s %s\n", nameField(s.Label()), m.Name,
					strconv.FormatFloat(v*f, 'g', -1, 64), u)
			}
		}
	}
	return b.String()
}

// nameField keeps a name one benchmark-name field: no spaces or slashes.
func nameField(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '/' {
			return '_'
		}
		return r
	}, s)
}

func oneLine(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Join(strings.Fields(s), " ")
}
