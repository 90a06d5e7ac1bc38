package health

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/squallbench/squall/scenarios"
)

// NameLogs is the invariant of the log check.
const NameLogs = "server-logs-clean"

// Source is one log file of one server process.
type Source struct {
	Process string // e.g. "embedded server", "history-2"
	Path    string
}

// Exit is a server process's exit squall did not ask for (a crash, an
// OOM kill, os.Exit in the server).
type Exit struct {
	Process string    `json:"process"`
	At      time.Time `json:"at"`
	Reason  string    `json:"reason"`
}

// LogFinding is one log line that says the server was not healthy.
type LogFinding struct {
	Process string `json:"process"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Time    string `json:"time,omitempty"` // the line's own timestamp, if it has one
	What    string `json:"what"`           // which pattern matched
	Text    string `json:"text"`
}

// patterns are what a healthy server never writes: a Go panic or fatal
// runtime error (the process's stderr), a failed assertion (Temporal's
// softassert), and zap's fatal/panic levels (Temporal's JSON log).
var patterns = []struct{ what, sub string }{
	{"panic", "panic:"},
	{"failed assertion", "failed assertion"},
	{"fatal error", "fatal error:"},
	{"fatal log", `"level":"fatal"`},
	{"panic log", `"level":"panic"`},
	{"panic log", `"level":"dpanic"`},
}

// match says which pattern line matches, if any.
func match(line string) (string, bool) {
	for _, p := range patterns {
		if strings.Contains(line, p.sub) {
			return p.what, true
		}
	}
	return "", false
}

// LogScanner reads server logs incrementally: each Scan reads only what
// was appended since the previous one, so a suite's entries on one server
// each report what happened during their own part of the run.
type LogScanner struct {
	mu   sync.Mutex
	seen map[string]position
}

type position struct {
	offset int64
	line   int
}

// maxQuoted bounds the lines kept per scan (the count covers them all).
const maxQuoted = 20

// LogResult is one scan's outcome.
type LogResult struct {
	Files    int          `json:"files"`
	Bytes    int64        `json:"bytes"`
	Count    int          `json:"count"`    // matching lines, all of them
	Findings []LogFinding `json:"findings"` // the first maxQuoted
	Exits    []Exit       `json:"exits,omitempty"`
	Errors   []string     `json:"errors,omitempty"` // logs that could not be read
}

// Scan reads the new part of every source. A source that does not exist
// (a process that never wrote its log) is skipped.
func (s *LogScanner) Scan(sources []Source) *LogResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]position{}
	}
	r := &LogResult{}
	for _, src := range sources {
		pos := s.seen[src.Path]
		next, err := scanFile(src, pos, r)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		r.Files++
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", src.Path, err))
			continue
		}
		r.Bytes += next.offset - pos.offset
		s.seen[src.Path] = next
	}
	return r
}

func scanFile(src Source, pos position, r *LogResult) (position, error) {
	f, err := os.Open(src.Path)
	if err != nil {
		return pos, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() < pos.offset {
		pos = position{} // the file was replaced: read it from the start
	}
	if _, err := f.Seek(pos.offset, io.SeekStart); err != nil {
		return pos, err
	}
	br := bufio.NewReaderSize(f, 64*1024)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 && !strings.HasSuffix(line, "\n") && err == io.EOF {
			// A partial last line (the process is still writing it): read it
			// whole next time.
			return pos, nil
		}
		if len(line) > 0 {
			pos.offset += int64(len(line))
			pos.line++
			if what, ok := match(line); ok {
				r.Count++
				if len(r.Findings) < maxQuoted {
					r.Findings = append(r.Findings, LogFinding{Process: src.Process, File: filepath.Base(src.Path),
						Line: pos.line, Time: lineTime(line), What: what, Text: quote(line, 300)})
				}
			}
		}
		if err == io.EOF {
			return pos, nil
		}
		if err != nil {
			return pos, err
		}
	}
}

// lineTime is the timestamp a JSON log line carries (Temporal's "ts").
func lineTime(line string) string {
	if !strings.HasPrefix(strings.TrimSpace(line), "{") {
		return ""
	}
	var v struct {
		TS any `json:"ts"`
	}
	if json.Unmarshal([]byte(line), &v) != nil {
		return ""
	}
	switch ts := v.TS.(type) {
	case string:
		return ts
	case float64: // epoch seconds
		return time.Unix(0, int64(ts*1e9)).UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// Invariant is the log check's verdict.
func (r *LogResult) Invariant(mode Mode) scenarios.Invariant {
	ok := r.Count == 0 && len(r.Exits) == 0
	var b strings.Builder
	fmt.Fprintf(&b, "%d server log file(s), %d bytes scanned", r.Files, r.Bytes)
	if r.Files == 0 {
		b.WriteString(" (no server log: squall did not start the server)")
	}
	if r.Count > 0 {
		fmt.Fprintf(&b, "; %d alarming line(s):", r.Count)
		for _, f := range r.Findings {
			at := f.Time
			if at == "" {
				at = "no timestamp"
			}
			fmt.Fprintf(&b, " [%s %s:%d %s, %s] %q;", f.Process, f.File, f.Line, at, f.What, f.Text)
		}
		if r.Count > len(r.Findings) {
			fmt.Fprintf(&b, " …and %d more", r.Count-len(r.Findings))
		}
	}
	if len(r.Exits) > 0 {
		sort.Slice(r.Exits, func(i, j int) bool { return r.Exits[i].At.Before(r.Exits[j].At) })
		fmt.Fprintf(&b, "; %d unexpected exit(s):", len(r.Exits))
		for _, e := range r.Exits {
			fmt.Fprintf(&b, " [%s at %s: %s]", e.Process, e.At.UTC().Format(time.RFC3339), e.Reason)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "; unreadable: %s", strings.Join(r.Errors, ", "))
	}
	if ok && r.Count == 0 && len(r.Exits) == 0 && r.Files > 0 {
		b.WriteString("; no panic, failed assertion, fatal error or unexpected exit")
	}
	return invariant(NameLogs, mode, ok, b.String())
}

// RunDirSources finds the server logs squall keeps in a run directory:
// every process squall starts writes NAME.out (its stdout and stderr,
// where a Go panic lands) and, for server processes, NAME.log (the
// server's own log); container-NAME.log holds a server container's output.
// Worker processes (worker-N.log without a .out) are not server processes.
func RunDirSources(dir string) []Source {
	var out []Source
	outs, _ := filepath.Glob(filepath.Join(dir, "*.out"))
	sort.Strings(outs)
	for _, o := range outs {
		name := strings.TrimSuffix(filepath.Base(o), ".out")
		proc := name
		if strings.HasPrefix(name, "server") {
			proc = "embedded " + name
		}
		out = append(out, Source{Process: proc, Path: o})
		if l := strings.TrimSuffix(o, ".out") + ".log"; fileExists(l) {
			out = append(out, Source{Process: proc, Path: l})
		}
	}
	ctrs, _ := filepath.Glob(filepath.Join(dir, "container-*.log"))
	sort.Strings(ctrs)
	for _, c := range ctrs {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(c), "container-"), ".log")
		if strings.HasPrefix(name, "worker") {
			continue // squall's worker containers (worker-N)
		}
		out = append(out, Source{Process: "container " + name, Path: c})
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
