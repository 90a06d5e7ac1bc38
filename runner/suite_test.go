package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeSuite(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSuiteEntriesOverCommandLine(t *testing.T) {
	path := writeSuite(t, `
shared-server: true
entries:
  - scenario: noop
    rate: 7/s
    duration: 3s
    thresholds: ["p99<1s"]
  - scenario: noop
    name: second
    concurrency: 2
    iterations: 9
    options: {activities: "3"}
`)
	base := flags("", map[string]bool{"grace": true})
	base.Grace = 42 * time.Second
	s, err := LoadSuite(path, base)
	if err != nil {
		t.Fatal(err)
	}
	if !s.SharedServer || len(s.Plans) != 2 {
		t.Fatalf("shared %v, %d plans", s.SharedServer, len(s.Plans))
	}
	a, b := s.Plans[0], s.Plans[1]
	if a.Entry != "noop" || a.Load.Rate != 7 || a.Duration != 3*time.Second || a.Grace != 42*time.Second || len(a.Thresholds) != 1 {
		t.Errorf("first entry %+v", a.Flags)
	}
	if b.Entry != "second" || b.Load.Concurrency != 2 || b.Iterations != 9 || b.Options.Int("activities") != 3 {
		t.Errorf("second entry %+v", b.Flags)
	}
}

// Every problem of every entry at once, each with its line.
func TestSuiteErrorsNameTheirLines(t *testing.T) {
	path := writeSuite(t, `entries:
  - scenario: noop
    rate: fast
    colour: red
  - scenario: nope
  - scenario: noop
    duration: 5x
  - scenario: noop
    threshold: ["p99<1s"]
  - scenario: noop
    thresholds: ["p99 < soon"]
`)
	_, err := LoadSuite(path, flags("", nil))
	if err == nil {
		t.Fatal("a bad suite was accepted")
	}
	for _, want := range []string{"s.yaml:2: --rate: bad rate \"fast\"", `bad rate "fast"`, `s.yaml:4: unknown key "colour"`, `s.yaml:5: unknown scenario "nope"`,
		"s.yaml:7:", "5x", `s.yaml:9: unknown key "threshold"`, "s.yaml:10:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

func TestSuitesShippedAreValid(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "suites", "*.yaml"))
	if len(files) < 2 {
		t.Fatalf("suites/ holds %d files, want ci.yaml and nightly.yaml at least", len(files))
	}
	for _, f := range files {
		if _, err := LoadSuite(f, flags("", nil)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
