package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/squallbench/squall/scenarios"
)

func writeCell(t *testing.T, dir, scen, kind string, rep *Report, exit string) {
	t.Helper()
	cell := filepath.Join(dir, scen, kind)
	if rep != nil {
		if err := os.MkdirAll(cell, 0o755); err != nil {
			t.Fatal(err)
		}
		rep.SchemaVersion = SchemaVersion // as every report.json squall writes
		b, _ := json.Marshal(rep)
		if err := os.WriteFile(filepath.Join(cell, FileJSON), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if exit != "" {
		if err := os.MkdirAll(filepath.Dir(cell), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cell+".exit", []byte(exit+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMatrixFromRunDirectories(t *testing.T) {
	dir := t.TempDir()
	rec := 4.0
	pass := &Report{Verdict: VerdictPass,
		Scenarios: []Scenario{{ScenarioPlan: ScenarioPlan{Name: "noop"}, Started: 750, Completed: 750, Invariants: []scenarios.Invariant{{Name: "no-lost-workflows", OK: true}}}},
		Faults:    []FaultWindow{{Kind: "server-kill", Completed: 40, MaxCorrectedMS: 3200, RecoveredAfterS: &rec}}}
	writeCell(t, dir, "noop", "server-kill", pass, "0")
	broken := &Report{Verdict: VerdictFail,
		Scenarios: []Scenario{{ScenarioPlan: ScenarioPlan{Name: "approval"}, Started: 50, Completed: 48, Failed: 2, Lost: 1,
			Invariants: []scenarios.Invariant{{Name: "every-request-decided", OK: false, Detail: "approval-17: level vp was never notified"}}}},
		Faults: []FaultWindow{{Kind: "server-kill", MaxCorrectedMS: 21000, Recovery: "in flight never got back to 12"}}}
	writeCell(t, dir, "approval", "server-kill", broken, "1")
	writeCell(t, dir, "approval", "net-reset", nil, "3") // the run wrote nothing
	if err := os.WriteFile(filepath.Join(dir, "noop", "api-errors.na"), []byte("noop has no fake external services\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	m, err := BuildMatrix(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.Rows, ",") != "approval,noop" || strings.Join(m.Columns, ",") != "api-errors,net-reset,server-kill" {
		t.Fatalf("rows %v columns %v", m.Rows, m.Columns)
	}
	if m.Passed != 1 || m.NA != 1 || m.Failed != 4 {
		// approval: api-errors missing (cut short), net-reset no report,
		// server-kill failed; noop: net-reset missing.
		t.Errorf("passed %d n/a %d failed %d, want 1, 1, 4", m.Passed, m.NA, m.Failed)
	}
	c := m.Cells["noop"]["server-kill"]
	if c.State != CellPass || c.MaxInWindowMS != 3200 || c.RecoveredAfterS == nil || *c.RecoveredAfterS != 4 || c.Exit == nil || *c.Exit != 0 {
		t.Errorf("passing cell %+v", c)
	}
	f := m.Cells["approval"]["server-kill"]
	if f.State != CellFail || f.Lost != 1 || f.Failed != 2 || len(f.Violations) != 1 || f.RecoveredAfterS != nil || !strings.Contains(f.Recovery, "never got back") {
		t.Errorf("failing cell %+v", f)
	}
	if n := m.Cells["approval"]["net-reset"]; n.State != CellFail || !strings.Contains(n.Reason, "no report.json (exit 3)") {
		t.Errorf("cell without a report %+v", n)
	}
	if n := m.Cells["noop"]["api-errors"]; n.State != CellNA || n.Reason != "noop has no fake external services" {
		t.Errorf("n/a cell %+v", n)
	}
	md := m.Markdown()
	for _, want := range []string{
		"1 pass, 4 fail, 1 not applicable",
		"| noop | n/a | **fail** | ok · 0 · 0 · 3200ms · 4 |",
		"| approval | **fail** | **fail** | **fail** · 1 · 2 · - · never |", // nothing completed in its window: no max, not 0 ms
		"approval × server-kill: **fail**: verdict fail; every-request-decided: approval-17: level vp was never notified",
		"noop × api-errors: n/a: noop has no fake external services",
		"noop × net-reset: **fail**: no run and no reason why not",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("matrix.md lacks %q:\n%s", want, md)
		}
	}
	if err := WriteMatrix(m); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, FileMatrixHTML))
	if !strings.Contains(string(page), `class="cell fail"`) || !strings.Contains(string(page), `class="cell na"`) || !strings.Contains(string(page), "rec 4 s") {
		t.Errorf("matrix.html lacks the cells:\n%s", page)
	}
	var back Matrix
	if b, err := os.ReadFile(filepath.Join(dir, FileMatrixJSON)); err != nil || json.Unmarshal(b, &back) != nil || back.Failed != 4 {
		t.Errorf("matrix.json: %v, failed %d", err, back.Failed)
	}
}

func TestMatrixOfNothingIsAnError(t *testing.T) {
	if _, err := BuildMatrix(t.TempDir()); err == nil || !strings.Contains(err.Error(), "holds no matrix") {
		t.Errorf("empty directory: %v", err)
	}
	// Folders of folders that are no runs (say, /tmp) are no matrix either.
	other := t.TempDir()
	if err := os.MkdirAll(filepath.Join(other, "cache", "b001"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildMatrix(other); err == nil || !strings.Contains(err.Error(), "holds no matrix") {
		t.Errorf("a directory of unrelated folders: %v", err)
	}
}
