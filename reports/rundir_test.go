package reports

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/squallbench/squall/exitcode"
)

func TestCheckFreshRunDir(t *testing.T) {
	root := t.TempDir()
	empty := filepath.Join(root, "empty")
	if err := CreateRunDir(empty, false, "--overwrite"); err != nil {
		t.Fatalf("a fresh directory: %v", err)
	}
	if fi, err := os.Stat(empty); err != nil || !fi.IsDir() {
		t.Fatalf("CreateRunDir made no directory: %v", err)
	}
	for _, name := range runFiles {
		dir := filepath.Join(root, name+"-held")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		err := CheckFreshRunDir(dir, false, "--overwrite")
		if !exitcode.IsUsage(err) || !strings.Contains(err.Error(), "already holds a run ("+name+")") ||
			!strings.Contains(err.Error(), "add --overwrite") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want a one-line usage error naming the file and --overwrite", name, err)
		}
		if err := CreateRunDir(dir, true, "--overwrite"); err != nil {
			t.Errorf("%s with overwrite: %v", name, err)
		}
		if err := CheckFreshRunDir(dir, false, ""); err == nil || strings.Contains(err.Error(), "overwrite") {
			t.Errorf("%s, no overwrite flag: got %v, want a refusal that names no flag the command lacks", name, err)
		}
	}
	blocker := filepath.Join(root, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CreateRunDir(filepath.Join(blocker, "run"), false, ""); !exitcode.IsUsage(err) || !strings.Contains(err.Error(), "choose another --out") {
		t.Errorf("a directory that cannot be made: %v", err)
	}
}

func TestCheckOutsideInputs(t *testing.T) {
	root := t.TempDir()
	run := filepath.Join(root, "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(run, FileJSON)
	if err := os.WriteFile(report, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		out    string
		inputs []string
		inside bool
	}{
		{run, []string{run}, true},
		{filepath.Join(run, "x.md"), []string{run}, true},
		{filepath.Join(run, "a", "b"), []string{root + "/other", run}, true},
		{filepath.Join(run, "x.md"), []string{report}, true}, // a file input stands for its directory
		{filepath.Join(root, "run2"), []string{run}, false},  // a sibling sharing a prefix
		{filepath.Join(root, "..x"), []string{run}, false},
		{root, []string{run}, false}, // the input's parent
	} {
		err := CheckOutsideInputs("compare", tc.out, tc.inputs)
		if tc.inside != (err != nil) {
			t.Errorf("--out %s, inputs %v: got %v, want refused=%v", tc.out, tc.inputs, err, tc.inside)
		}
		if err != nil && (!exitcode.IsUsage(err) || !strings.Contains(err.Error(), "compare never writes into its inputs")) {
			t.Errorf("--out %s: refusal %v", tc.out, err)
		}
	}
}

func TestReadReport(t *testing.T) {
	dir := t.TempDir()
	good := `{"schema_version":2,"verdict":"pass","scenarios":[{"name":"noop","started":3}]}`
	for _, tc := range []struct{ name, content, want string }{
		{"good", good, ""},
		{"truncated", good[:len(good)/2], "truncated: the JSON ends after"},
		{"corrupt", "{\n  \"schema_version\": 2,\n  \"verdict\": pass\n}", "corrupt JSON at line 3"},
		{"empty", " \n", "empty file"},
		{"future", strings.Replace(good, `"schema_version":2`, `"schema_version":99`, 1), "schema_version 99 is not one this squall knows (it reads 2)"},
		{"noversion", `{"verdict":"pass"}`, "no schema_version"},
		{"badtype", strings.Replace(good, `"started":3`, `"started":"many"`, 1), "field scenarios.0.started at line 1"},
		{"noname", `{"schema_version":2,"scenarios":[{"started":1}]}`, "scenarios[0] has no name"},
	} {
		p := filepath.Join(dir, tc.name+".json")
		if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := ReadReport(p)
		if tc.want == "" {
			if err != nil || rep.Scenarios[0].Name != "noop" || rep.Scenarios[0].Started != 3 {
				t.Errorf("%s: %v, %+v", tc.name, err, rep)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), p+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v; want one line naming %s and saying %q", tc.name, err, p, tc.want)
		}
	}
	if _, err := ReadReport(filepath.Join(dir, "absent.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing report.json: %v, want fs.ErrNotExist", err)
	}
}

// The sweep's plot is drawn once, by the report: report.html's figure and
// can-sweep.svg are the same picture, and squall report rebuilds the file.
func TestCanSweepPlotFileIsTheReportFigure(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/can-sweep-300-1200.results.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileStream), src, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Rebuild(dir)
	if err != nil {
		t.Fatal(err)
	}
	var fig *Figure
	for _, f := range Figures(rep, &rep.Scenarios[0]) {
		if f.File != "" {
			if f.File != FileCanSweepPlot || fig != nil {
				t.Fatalf("figure %s written as %s", f.ID, f.File)
			}
			fig = &f
		}
	}
	if fig == nil {
		t.Fatal("no can-sweep figure")
	}
	b, err := os.ReadFile(filepath.Join(dir, FileCanSweepPlot))
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte(`<?xml version="1.0"?>`+"\n"), fig.SVG...); string(b) != string(want) {
		t.Errorf("%s is not report.html's figure (%d bytes, figure %d)", FileCanSweepPlot, len(b), len(fig.SVG))
	}
	page, _ := os.ReadFile(filepath.Join(dir, FileHTML))
	if !strings.Contains(string(page), string(fig.SVG)) {
		t.Error("report.html does not hold the figure written to the file")
	}
	noop, err := os.ReadFile("testdata/noop-worker-pause.results.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, FileStream), noop, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Rebuild(other); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(other, FileCanSweepPlot)); err == nil {
		t.Errorf("a run without a sweep got %s", FileCanSweepPlot)
	}
}
