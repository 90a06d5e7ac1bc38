package health

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// A server log with a panic fails the check, quoting the line with its
// process and time; a clean one passes; each scan reads only what is new.
func TestLogScanFindsPanics(t *testing.T) {
	dir := t.TempDir()
	clean := `{"level":"warn","ts":"2026-12-05T04:00:00.000Z","msg":"history size exceeds warn limit"}` + "\n"
	write(t, filepath.Join(dir, "server.log"), clean)
	write(t, filepath.Join(dir, "server.out"), "some output\n")
	write(t, filepath.Join(dir, "worker-0.log"), "panic: a workflow's own panic, not the server's\n")
	var sc LogScanner

	r := sc.Scan(RunDirSources(dir))
	if inv := r.Invariant(Fail); !inv.OK || r.Files != 2 {
		t.Fatalf("clean logs: %+v (files %d, want server.out and server.log, not the worker's)", inv, r.Files)
	}

	write(t, filepath.Join(dir, "server.log"), `{"level":"error","ts":"2026-12-05T04:00:01.500Z","msg":"failed assertion: mutable state has no start event"}`+"\n")
	write(t, filepath.Join(dir, "server.out"), "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\n")
	r = sc.Scan(RunDirSources(dir))
	inv := r.Invariant(Fail)
	if inv.OK || !inv.Fails() || r.Count != 2 {
		t.Fatalf("injected panic and failed assertion: %+v, count %d", inv, r.Count)
	}
	for _, want := range []string{NameLogs, "log"} {
		if !strings.Contains(inv.Name, want) {
			t.Errorf("invariant name %q lacks %q", inv.Name, want)
		}
	}
	for _, want := range []string{"embedded server", "server.out:2", "index out of range", "server.log:2", "2026-12-05T04:00:01.500Z", "failed assertion"} {
		if !strings.Contains(inv.Detail, want) {
			t.Errorf("detail lacks %q: %s", want, inv.Detail)
		}
	}

	// Nothing new: the next entry's scan is clean again.
	if r := sc.Scan(RunDirSources(dir)); r.Count != 0 || r.Bytes != 0 {
		t.Errorf("rescan found %d lines in %d new bytes", r.Count, r.Bytes)
	}

	// Warn mode reports without failing.
	if w := r.Invariant(Warn); w.OK || w.Fails() || !w.Warn {
		t.Errorf("warn mode: %+v", w)
	}
}

func TestLogScanReportsUnexpectedExits(t *testing.T) {
	r := &LogResult{Files: 1, Exits: []Exit{{Process: "history-2", At: time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC), Reason: "signal: killed"}}}
	inv := r.Invariant(Fail)
	if inv.OK || !strings.Contains(inv.Detail, "history-2 at 2026-12-05T04:00:00Z: signal: killed") {
		t.Errorf("unexpected exit: %+v", inv)
	}
}

func TestParseFlags(t *testing.T) {
	c, probs := Flags{Checks: []string{"all=warn", "replay=off"}, ReplaySample: 5}.Parse()
	if len(probs) != 0 || c.Mode(CheckLogs) != Warn || c.On(CheckReplay) || c.Mode(CheckStuck) != Warn {
		t.Errorf("parse: %+v %v", c, probs)
	}
	if c, _ := (Flags{}).Parse(); c.Mode(CheckLogs) != Fail {
		t.Error("default mode is not fail")
	}
	_, probs = Flags{Checks: []string{"logz=fail", "replay=maybe", "stuck"}, ReplaySample: -1}.Parse()
	if len(probs) != 4 {
		t.Errorf("want 4 problems, got %q", probs)
	}
}
