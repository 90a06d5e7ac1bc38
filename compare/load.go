package compare

import (
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
		rep, err := readReport(path)
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
		rep, err := readReport(p)
		return Run{Path: p, Report: rep}, true, err
	}
	f, err := reports.OpenStream(dir)
	if err != nil {
		return Run{}, false, nil
	}
	p = f.Name()
	defer f.Close()
	rep, err := reports.Build(f)
	if err != nil {
		return Run{}, false, fmt.Errorf("%s: %w", p, err)
	}
	return Run{Path: p, Report: rep}, true, nil
}

// readReport reads one report.json as reports.ReadReport does, and
// refuses one with no scenarios: it holds nothing to compare.
func readReport(path string) (*reports.Report, error) {
	rep, err := reports.ReadReport(path)
	if err != nil {
		return nil, err
	}
	if len(rep.Scenarios) == 0 {
		return nil, fmt.Errorf("%s: no scenarios: the run recorded nothing to compare", path)
	}
	return rep, nil
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
