package compare

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/squallbench/squall/reports"
)

// Run is one run's report and where it came from.
type Run struct {
	Path   string
	Report *reports.Report
}

// Side is one side of a comparison: one run or several repeats.
type Side struct {
	Path string
	Runs []Run
}

// Load reads one side: a report.json file, a run directory (its report.json,
// or, when there is none, a report built in memory from its results.jsonl),
// or a directory of repeated runs (run-1..N, or any subdirectories holding
// a report). It only reads.
func Load(path string) (*Side, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	side := &Side{Path: path}
	if !fi.IsDir() {
		rep, err := ReadReport(path)
		if err != nil {
			return nil, err
		}
		side.Runs = []Run{{Path: path, Report: rep}}
		return side, nil
	}
	if run, ok, err := loadRunDir(path); err != nil {
		return nil, err
	} else if ok {
		side.Runs = []Run{run}
		return side, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	sort.Slice(dirs, func(i, j int) bool { return naturalLess(dirs[i], dirs[j]) })
	for _, d := range dirs {
		run, ok, err := loadRunDir(filepath.Join(path, d))
		if err != nil {
			return nil, err
		}
		if ok {
			side.Runs = append(side.Runs, run)
		}
	}
	if len(side.Runs) == 0 {
		return nil, fmt.Errorf("%s holds no %s, no %s and no run subdirectories (run-1..N) holding them: give a run directory, a report.json or a directory of repeated runs",
			path, reports.FileJSON, reports.FileStream)
	}
	return side, nil
}

func loadRunDir(dir string) (Run, bool, error) {
	p := filepath.Join(dir, reports.FileJSON)
	if _, err := os.Stat(p); err == nil {
		rep, err := ReadReport(p)
		return Run{Path: p, Report: rep}, true, err
	}
	p = filepath.Join(dir, reports.FileStream)
	f, err := os.Open(p)
	if err != nil {
		return Run{}, false, nil
	}
	defer f.Close()
	rep, err := reports.Build(f)
	if err != nil {
		return Run{}, false, fmt.Errorf("%s: %w", p, err)
	}
	return Run{Path: p, Report: rep}, true, nil
}

// ReadReport reads and checks one report.json. A truncated or corrupt file
// is named with what is wrong with it, a schema it does not know refused:
// numbers read with the wrong meaning would make a wrong verdict.
func ReadReport(path string) (*reports.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
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
	if *head.SchemaVersion != reports.SchemaVersion {
		return nil, fmt.Errorf("%s: schema_version %d is not one this squall knows (it reads %d): compare with the squall version that wrote it",
			path, *head.SchemaVersion, reports.SchemaVersion)
	}
	var rep reports.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %s", path, describeJSONError(b, err))
	}
	if len(rep.Scenarios) == 0 {
		return nil, fmt.Errorf("%s: no scenarios: the run recorded nothing to compare", path)
	}
	for i, s := range rep.Scenarios {
		if s.Name == "" {
			return nil, fmt.Errorf("%s: scenarios[%d] has no name", path, i)
		}
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

// naturalLess orders run-2 before run-10.
func naturalLess(a, b string) bool {
	pa, na := splitNum(a)
	pb, nb := splitNum(b)
	if pa != pb || na < 0 || nb < 0 {
		if pa == pb {
			return a < b
		}
		return pa < pb
	}
	return na < nb
}

func splitNum(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil {
		return s, -1
	}
	return strings.TrimRight(s[:i], "-_"), n
}
