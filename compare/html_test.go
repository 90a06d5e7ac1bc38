package compare

import (
	"path/filepath"
	"strings"
	"testing"
)

// The compare page: the metrics table coloured by verdict and, per
// scenario, the current run drawn over the base run.
func TestHTMLOverlaysBaseAndCurrent(t *testing.T) {
	dir := filepath.Join("..", "reports", "testdata", "golden")
	base, err := Load(filepath.Join(dir, "noop-faults"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Load(filepath.Join(dir, "lost-workflow"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Compare(base, cur, Options{Alpha: 0.05, AllowDifferent: true})
	if err != nil {
		t.Fatal(err)
	}
	page, err := HTML(res, base, cur)
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	for _, want := range []string{`id="plot-noop-latency"`, `id="plot-noop-spectrum"`, `class="reg"`, "(base)", "<path"} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, fetch := range []string{`src="http`, `href="http`, "<script", "<link"} {
		if strings.Contains(s, fetch) {
			t.Errorf("the page must be self-contained, found %s", fetch)
		}
	}
}
