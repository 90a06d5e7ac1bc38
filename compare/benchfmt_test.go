package compare

import (
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
)

// The output parses with benchstat's own reader, line for line: one
// result per scenario, metric and run, with the unit metadata benchstat
// uses to say which direction is better.
func TestBenchfmtParses(t *testing.T) {
	s := side(t, 3, 1, 1, nil)
	text := Benchfmt(s)
	r := benchfmt.NewReader(strings.NewReader(text), "base.txt")
	var results, units int
	names := map[string]bool{}
	for r.Scan() {
		switch rec := r.Result().(type) {
		case *benchfmt.Result:
			results++
			names[string(rec.Name)] = true
			if rec.Iters != 1 || len(rec.Values) != 1 {
				t.Errorf("%s: %d iterations, %d values", rec.Name, rec.Iters, len(rec.Values))
			}
			if string(rec.Name) == "Squall/scenario=noop/metric=p99" && (rec.Values[0].Unit != "sec" || rec.Values[0].Value > 0.2 || rec.Values[0].Value < 0.05) {
				t.Errorf("p99 = %v %s, want about 0.1 sec", rec.Values[0].Value, rec.Values[0].Unit)
			}
			if rec.GetConfig("server-version") != "1.32.2" {
				t.Errorf("%s: config server-version %q", rec.Name, rec.GetConfig("server-version"))
			}
		case *benchfmt.UnitMetadata:
			units++
		case *benchfmt.SyntaxError:
			t.Errorf("benchfmt syntax error: %v", rec)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if want := 3 * len(Metrics); results != want || len(names) != len(Metrics) || units == 0 {
		t.Fatalf("%d results for %d names, %d unit lines; want %d results, one name per metric\n%s", results, len(names), units, want, text)
	}
}
