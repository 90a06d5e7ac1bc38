package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/squallbench/squall/exitcode"
)

// A run directory: what squall run writes, squall report rebuilds,
// squall report merge combines and squall compare judges. This file owns
// its file names, its creation, the guards that keep one run from
// overwriting another or an output from landing in its inputs, and the
// one reader of report.json.

// Files written into a run directory.
const (
	FileStream   = "results.jsonl"
	FileJournal  = "journal.jsonl"
	FileJSON     = "report.json"
	FileMarkdown = "report.md"
	FileHTML     = "report.html"
	// FileCanSweepPlot is a continue-as-new sweep's curve on its own, the
	// same picture report.html shows.
	FileCanSweepPlot = "can-sweep.svg"
)

// runFiles are the files whose presence means a directory holds a run.
var runFiles = []string{FileStream, FileJournal, FileJSON}

// HeldRun names the first file of a run that dir holds, or "" when it
// holds none.
func HeldRun(dir string) string {
	for _, name := range runFiles {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return name
		}
	}
	return ""
}

// CheckFreshRunDir refuses (a usage error) a run directory that already
// holds a run: a run never replaces what another one gathered, unless
// told to. overwrite is that permission; overwriteFlag is the flag that
// gives it, named in the refusal ("" when the command has none).
func CheckFreshRunDir(dir string, overwrite bool, overwriteFlag string) error {
	if overwrite {
		return nil
	}
	if name := HeldRun(dir); name != "" {
		fix := "choose a fresh --out"
		if overwriteFlag != "" {
			fix += ", or add " + overwriteFlag + " to replace it"
		}
		return exitcode.Usagef("run directory %s already holds a run (%s): %s", dir, name, fix)
	}
	return nil
}

// CreateRunDir checks dir as CheckFreshRunDir does and creates it.
func CreateRunDir(dir string, overwrite bool, overwriteFlag string) error {
	if err := CheckFreshRunDir(dir, overwrite, overwriteFlag); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return exitcode.Usagef("cannot create run directory %s (%v): choose another --out", dir, err)
	}
	return nil
}

// CheckOutsideInputs refuses (a usage error) an --out that is one of
// inputs or lies inside one of them (an input that is a file stands for
// its directory): command, which reads inputs, must leave them as they
// were.
func CheckOutsideInputs(command, out string, inputs []string) error {
	o, err := filepath.Abs(out)
	if err != nil {
		return exitcode.Usagef("--out %s: %v", out, err)
	}
	for _, in := range inputs {
		a, err := filepath.Abs(in)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(a); err == nil && !fi.IsDir() {
			a = filepath.Dir(a)
		}
		rel, err := filepath.Rel(a, o)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return exitcode.Usagef("--out %s is inside the input %s: %s never writes into its inputs; choose another --out", out, in, command)
		}
	}
	return nil
}

// OpenStream opens dir's result stream for reading.
func OpenStream(dir string) (*os.File, error) {
	f, err := os.Open(filepath.Join(dir, FileStream))
	if err != nil {
		return nil, fmt.Errorf("no result stream in %s (%w): is it a squall run directory?", dir, err)
	}
	return f, nil
}

// ReadReport reads and checks one report.json. A truncated or corrupt file
// is named with what is wrong with it, a schema it does not know refused:
// numbers read with the wrong meaning would make a wrong verdict. The
// error of a missing file wraps fs.ErrNotExist.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%s: empty file: not a squall report.json", path)
	}
	var head struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%s: %s", path, describeJSONError(b, err))
	}
	if head.SchemaVersion == nil {
		return nil, fmt.Errorf("%s: no schema_version: not a squall report.json", path)
	}
	if *head.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%s: schema_version %d is not one this squall knows (it reads %d): read it with the squall version that wrote it",
			path, *head.SchemaVersion, SchemaVersion)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %s", path, describeJSONError(b, err))
	}
	for i, s := range rep.Scenarios {
		if s.Name == "" {
			return nil, fmt.Errorf("%s: scenarios[%d] has no name", path, i)
		}
		upgradeDetails(rep.Scenarios[i].Details)
	}
	return &rep, nil
}

func describeJSONError(b []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err.Error() == "unexpected end of JSON input":
		return fmt.Sprintf("truncated: the JSON ends after %d bytes, in the middle of a value (was the run killed while writing it? `squall report RUN_DIR` rebuilds it)", len(b))
	case errors.As(err, &syn):
		line, col := position(b, syn.Offset)
		return fmt.Sprintf("corrupt JSON at line %d, column %d: %v", line, col, syn)
	case errors.As(err, &typ):
		line, col := position(b, typ.Offset)
		return fmt.Sprintf("field %s at line %d, column %d: a JSON %s where the schema wants %s", typ.Field, line, col, typ.Value, typ.Type)
	}
	return err.Error()
}

func position(b []byte, off int64) (line, col int) {
	off = min(off, int64(len(b)))
	prefix := b[:off]
	line = bytes.Count(prefix, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(prefix, '\n')
	return line, col
}

// writeFigureFiles writes the plots that also stand on their own in the
// run directory (Figure.File). A plot that could not be drawn is left
// out: report.html says why.
func writeFigureFiles(dir string, rep *Report) error {
	for i := range rep.Scenarios {
		for _, fig := range Figures(rep, &rep.Scenarios[i]) {
			if fig.File == "" || fig.Error != "" {
				continue
			}
			doc := append([]byte(`<?xml version="1.0"?>`+"\n"), fig.SVG...)
			if err := os.WriteFile(filepath.Join(dir, fig.File), doc, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", fig.File, err)
			}
		}
	}
	return nil
}
