package reports

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A chaos matrix is a directory of runs, one per scenario and fault kind:
// DIR/SCENARIO/KIND/ is a run directory; DIR/SCENARIO/KIND.na says why the
// kind does not apply to the scenario (one line); DIR/SCENARIO/KIND.exit
// holds the exit code of a run that may have written no report. The
// matrix is rebuilt from those files alone (scripts/chaos-matrix.sh makes
// them).
const (
	FileMatrixMD   = "matrix.md"
	FileMatrixJSON = "matrix.json"
	FileMatrixHTML = "matrix.html"
	MixedColumn    = "mixed"
)

// Matrix is every scenario under every fault kind.
type Matrix struct {
	Dir     string   `json:"dir"`
	Rows    []string `json:"scenarios"`
	Columns []string `json:"faults"`
	// Cells[scenario][fault].
	Cells  map[string]map[string]*MatrixCell `json:"cells"`
	Passed int                               `json:"passed"`
	Failed int                               `json:"failed"`
	NA     int                               `json:"not_applicable"`
}

// MatrixCell is one run of the matrix (or why there is none).
type MatrixCell struct {
	// State: pass, fail, or n/a.
	State string `json:"state"`
	// Reason: why a cell does not apply, or what broke a run.
	Reason     string   `json:"reason,omitempty"`
	Exit       *int     `json:"exit,omitempty"`
	Lost       int64    `json:"lost"`
	Violations []string `json:"violations,omitempty"` // broken invariants and thresholds
	// Failed: iterations that failed and were reported as failures (not
	// lost, not silent).
	Failed int64 `json:"failed_reported"`
	// MaxInWindowMS: the largest corrected latency of the work any fault
	// window held (iterations in flight during it or due in it, whenever
	// they completed); in runs recorded before that was measured, of the
	// completions in the intervals overlapping the window.
	MaxInWindowMS float64 `json:"max_corrected_in_window_ms"`
	// CompletedInWindow: how many of that work completed; none, and the
	// max above says nothing (shown as "-", not as 0 ms).
	CompletedInWindow int64 `json:"completed_in_window"`
	// RecoveredAfterS: the slowest recovery of its windows; nil when one
	// never recovered within the run (Recovery says why).
	RecoveredAfterS *float64 `json:"recovered_after_s"`
	Recovery        string   `json:"recovery,omitempty"`
	Completed       int64    `json:"completed"`
	Started         int64    `json:"started"`
}

// Cell states.
const (
	CellPass = "pass"
	CellFail = "fail"
	CellNA   = "n/a"
)

// BuildMatrix reads a matrix directory.
func BuildMatrix(dir string) (*Matrix, error) {
	rows, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := &Matrix{Dir: dir, Cells: map[string]map[string]*MatrixCell{}}
	cols := map[string]bool{}
	for _, row := range rows {
		if !row.IsDir() {
			continue
		}
		scen := row.Name()
		entries, err := os.ReadDir(filepath.Join(dir, scen))
		if err != nil {
			return nil, err
		}
		cells := map[string]*MatrixCell{}
		for _, e := range entries {
			name := e.Name()
			path := filepath.Join(dir, scen, name)
			switch {
			case e.IsDir():
				if isCell(path) {
					cells[name] = runCell(path)
				}
			case strings.HasSuffix(name, ".na"):
				b, err := os.ReadFile(path)
				if err != nil {
					return nil, err
				}
				cells[strings.TrimSuffix(name, ".na")] = &MatrixCell{State: CellNA, Reason: strings.TrimSpace(string(b))}
			case strings.HasSuffix(name, ".exit"):
				kind := strings.TrimSuffix(name, ".exit")
				if _, err := os.Stat(filepath.Join(dir, scen, kind)); err != nil {
					cells[kind] = runCell(filepath.Join(dir, scen, kind)) // no run directory at all
				}
			}
		}
		if len(cells) == 0 {
			continue
		}
		m.Rows = append(m.Rows, scen)
		m.Cells[scen] = cells
		for k := range cells {
			cols[k] = true
		}
	}
	if len(m.Rows) == 0 {
		return nil, fmt.Errorf("%s holds no matrix (want SCENARIO/FAULT run directories): run scripts/chaos-matrix.sh", dir)
	}
	for k := range cols {
		m.Columns = append(m.Columns, k)
	}
	slices.SortFunc(m.Columns, func(a, b string) int { // the mixed schedule last
		if (a == MixedColumn) != (b == MixedColumn) {
			if a == MixedColumn {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	for _, r := range m.Rows {
		for _, c := range m.Columns {
			cell := m.Cells[r][c]
			if cell == nil {
				cell = &MatrixCell{State: CellFail, Reason: "no run and no reason why not: the matrix run was cut short"}
				m.Cells[r][c] = cell
			}
			switch cell.State {
			case CellPass:
				m.Passed++
			case CellNA:
				m.NA++
			default:
				m.Failed++
			}
		}
	}
	return m, nil
}

// isCell: a directory is a matrix cell when the script ran it (its exit
// code beside it) or it holds a run's report; anything else in a
// scenario's folder is not part of the matrix.
func isCell(dir string) bool {
	if _, err := os.Stat(dir + ".exit"); err == nil {
		return true
	}
	return HeldRun(dir) != ""
}

// runCell judges one run directory (and the exit code beside it).
func runCell(dir string) *MatrixCell {
	c := &MatrixCell{State: CellFail}
	if b, err := os.ReadFile(dir + ".exit"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			c.Exit = &n
		}
	}
	rep, err := ReadReport(filepath.Join(dir, FileJSON))
	if errors.Is(err, fs.ErrNotExist) {
		c.Reason = "no report.json"
		if c.Exit != nil {
			c.Reason += fmt.Sprintf(" (exit %d)", *c.Exit)
		}
		return c
	}
	if err != nil {
		c.Reason = err.Error()
		return c
	}
	for _, s := range rep.Scenarios {
		c.Lost += s.Lost
		c.Failed += s.Failed
		c.Started += s.Started
		c.Completed += s.Completed
		for _, inv := range s.Invariants {
			if inv.Fails() {
				c.Violations = append(c.Violations, inv.Name+": "+inv.Detail)
			}
		}
		for _, th := range s.Thresholds {
			if !th.OK {
				c.Violations = append(c.Violations, "threshold "+th.Expr)
			}
		}
	}
	recovered := 0.0
	for _, f := range rep.Faults {
		// The work a window held, when measured; in older runs, the
		// completions inside it.
		if f.Held > 0 {
			c.MaxInWindowMS = max(c.MaxInWindowMS, f.HeldMaxMS)
			c.CompletedInWindow += f.Held - f.HeldFailed
		} else {
			c.MaxInWindowMS = max(c.MaxInWindowMS, f.MaxCorrectedMS)
			c.CompletedInWindow += f.Completed
		}
		if f.RecoveredAfterS == nil {
			if c.Recovery == "" {
				c.Recovery = f.Kind + ": " + f.Recovery
			}
			continue
		}
		recovered = max(recovered, *f.RecoveredAfterS)
	}
	if len(rep.Faults) > 0 && c.Recovery == "" {
		c.RecoveredAfterS = &recovered
	}
	switch {
	case rep.Run.Error != "":
		c.Reason = rep.Run.Error
	case rep.Verdict != VerdictPass:
		c.Reason = "verdict " + rep.Verdict
	default:
		c.State = CellPass
	}
	return c
}

// Markdown renders the matrix as a table of states and a list of what
// broke or did not apply.
func (m *Matrix) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Chaos matrix: %d pass, %d fail, %d not applicable\n\n", m.Passed, m.Failed, m.NA)
	fmt.Fprintf(&b, "Each cell: verdict · lost · failed-but-reported iterations · max corrected latency of the work the fault windows held, whenever it completed (-: none of it completed) · recovered after (s).\n\n")
	b.WriteString("| scenario |")
	for _, c := range m.Columns {
		fmt.Fprintf(&b, " %s |", c)
	}
	b.WriteString("\n|---|")
	for range m.Columns {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range m.Rows {
		fmt.Fprintf(&b, "| %s |", r)
		for _, c := range m.Columns {
			fmt.Fprintf(&b, " %s |", m.Cells[r][c].short())
		}
		b.WriteString("\n")
	}
	var notes []string
	for _, r := range m.Rows {
		for _, c := range m.Columns {
			cell := m.Cells[r][c]
			switch {
			case cell.State == CellNA:
				notes = append(notes, fmt.Sprintf("- %s × %s: n/a: %s", r, c, cell.Reason))
			case cell.State == CellFail:
				why := cell.Reason
				if len(cell.Violations) > 0 {
					why += "; " + strings.Join(cell.Violations, "; ")
				}
				notes = append(notes, fmt.Sprintf("- %s × %s: **fail**: %s", r, c, why))
			}
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n## Cells that failed or do not apply\n\n")
		b.WriteString(strings.Join(notes, "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

func (c *MatrixCell) short() string {
	switch c.State {
	case CellNA:
		return "n/a"
	case CellFail:
		if c.Started == 0 && c.Completed == 0 && c.Lost == 0 {
			return "**fail**"
		}
		return fmt.Sprintf("**fail** · %d · %d · %s · %s", c.Lost, c.Failed, c.MaxInWindow(), c.recovered())
	}
	return fmt.Sprintf("ok · %d · %d · %s · %s", c.Lost, c.Failed, c.MaxInWindow(), c.recovered())
}

// MaxInWindow renders the largest latency in the fault windows, or "-"
// when nothing completed in them (a slow scenario's window can hold no
// completion at all).
func (c *MatrixCell) MaxInWindow() string {
	if c.CompletedInWindow == 0 {
		return "-"
	}
	return ms(c.MaxInWindowMS)
}

func (c *MatrixCell) recovered() string {
	if c.RecoveredAfterS == nil {
		return "never"
	}
	return fmt.Sprintf("%.0f", *c.RecoveredAfterS)
}

func ms(v float64) string {
	if v >= 10000 {
		return fmt.Sprintf("%.0fs", v/1000)
	}
	return fmt.Sprintf("%.0fms", v)
}

//go:embed matrix.html.tmpl
var matrixHTML string

var matrixTemplate = template.Must(template.New("matrix").Funcs(template.FuncMap{
	"cell":  func(m *Matrix, r, c string) *MatrixCell { return m.Cells[r][c] },
	"ms":    ms,
	"deref": func(v *float64) float64 { return *v },
}).Parse(matrixHTML))

// HTML renders the matrix as a page: one coloured cell per run, its
// numbers and, on hover and below, what broke or why it does not apply.
func (m *Matrix) HTML() ([]byte, error) {
	var b bytes.Buffer
	err := matrixTemplate.Execute(&b, m)
	return b.Bytes(), err
}

// WriteMatrix writes matrix.md, matrix.json and matrix.html into the
// matrix directory.
func WriteMatrix(m *Matrix) error {
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	page, err := m.HTML()
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{FileMatrixMD: []byte(m.Markdown()), FileMatrixJSON: append(js, '\n'), FileMatrixHTML: page} {
		if err := os.WriteFile(filepath.Join(m.Dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
