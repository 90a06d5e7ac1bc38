package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOmesHeldOnlyWhenItStartedWhatTheRateAsks(t *testing.T) {
	for _, c := range []struct {
		r    omesResult
		held bool
		why  string
	}{
		{omesResult{expected: 1000, started: 1000}, true, ""},
		{omesResult{expected: 1000, started: 990}, true, ""},
		{omesResult{expected: 1000, started: 989}, false, "started 989 of the 1000"},
		{omesResult{expected: 1000, started: 1000, runErr: "omes exited (exit status 1)"}, false, "exit status 1"},
	} {
		held, why := c.r.held()
		if held != c.held || !strings.Contains(why, c.why) {
			t.Errorf("%+v: held %v (%q), want %v (%q)", c.r, held, why, c.held, c.why)
		}
	}
}

// An omes that exits at once without starting anything must not pass for
// one that kept up, and its complaint must reach the line.
func TestOmesRunCountsStartsTheFakeAnswered(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "omes")
	args := filepath.Join(dir, "args")
	body := "#!/bin/sh\necho \"$@\" > " + args + "\necho 'no server here' >&2\nexit 3\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	o := options{omes: script, out: filepath.Join(dir, "out"), step: 2 * time.Second}
	r, err := omesRun(context.Background(), o, 50)
	if err != nil {
		t.Fatal(err)
	}
	if r.started != 0 || r.expected != 100 {
		t.Errorf("started %d of %d, want 0 of 100", r.started, r.expected)
	}
	if held, why := r.held(); held || !strings.Contains(why, "no server here") {
		t.Errorf("held %v (%q): want not held, with omes' own words", held, why)
	}
	got, err := os.ReadFile(args)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"run-scenario", "--scenario " + omesScenario, "--do-not-register-search-attributes", "--max-iterations-per-second 50", "--duration 2s", "--server-address 127.0.0.1:"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("omes was run with %q: want %q in it", strings.TrimSpace(string(got)), want)
		}
	}
}
