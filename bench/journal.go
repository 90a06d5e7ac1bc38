package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// JournalEntry is one workflow start, as the journal keeps it.
type JournalEntry struct {
	Scenario   string `json:"s"`
	WorkflowID string `json:"id"`
	RunID      string `json:"run,omitempty"`
	// Acked is false when the start call returned an error: the workflow
	// may or may not exist, and verification says which.
	Acked bool  `json:"ok"`
	At    int64 `json:"at"` // unix ms
	// Expect is the end state the workflow must reach (a status name as
	// verification spells it, or "any-closed"); empty means completed.
	Expect string `json:"expect,omitempty"`
	// Child: the driver did not start it; its parent did.
	Child bool `json:"child,omitempty"`
}

// Journal is the append-only record of every workflow ID started, flushed
// in batches. Verification reads it back from disk, so it never depends on
// memory, and memory stays bounded however many workflows a run starts.
type Journal struct {
	mu    sync.Mutex
	f     *os.File
	w     *bufio.Writer
	enc   *json.Encoder
	err   error
	count int64
	last  time.Time
}

// CreateJournal creates (or truncates) path.
func CreateJournal(path string) (*Journal, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	return newJournal(f), nil
}

func newJournal(f *os.File) *Journal {
	w := bufio.NewWriterSize(f, 64*1024)
	return &Journal{f: f, w: w, enc: json.NewEncoder(w), last: time.Now()}
}

// For returns the journal as one scenario writes to it.
func (j *Journal) For(scenario string) ScenarioJournal {
	return ScenarioJournal{j: j, scenario: scenario}
}

// ScenarioJournal stamps every entry with its scenario (and the time).
type ScenarioJournal struct {
	j        *Journal
	scenario string
}

// Started appends e (implements scenarios.Journal).
func (s ScenarioJournal) Started(e JournalEntry) {
	e.Scenario = s.scenario
	if e.At == 0 {
		e.At = time.Now().UnixMilli()
	}
	s.j.add(e)
}

func (j *Journal) add(e JournalEntry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	j.err = j.enc.Encode(e)
	j.count++
	// Flush in batches: when the buffer fills (bufio does that) or a second
	// has passed, so a killed run loses at most a second of its journal.
	if now := time.Now(); now.Sub(j.last) >= time.Second {
		j.last = now
		if j.err == nil {
			j.err = j.w.Flush()
		}
	}
}

// Count is the number of entries written.
func (j *Journal) Count() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.count
}

// Flush writes buffered entries to the file.
func (j *Journal) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil {
		j.err = j.w.Flush()
	}
	return j.err
}

// Close flushes and closes the journal.
func (j *Journal) Close() error {
	err := j.Flush()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadJournal calls fn for each entry of the journal at path, in order. A
// truncated last line (the run was killed mid-write) is ignored; any other
// malformed line is an error naming its line number.
func ReadJournal(path string, fn func(JournalEntry) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return readJournal(f, fn)
}

// ReadJournalFrom calls fn for each whole entry of the journal at path
// from byte offset on, and returns the offset after the last one: a
// journal still being written ends in a line cut mid-way, which is left
// for the next read. Verification during the load follows the journal so.
func ReadJournalFrom(path string, offset int64, fn func(JournalEntry) error) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return offset, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, err
	}
	r := bufio.NewReaderSize(f, 64*1024)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return offset, nil // an unterminated rest: not whole yet
		}
		if err != nil {
			return offset, err
		}
		var e JournalEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return offset, fmt.Errorf("journal at byte %d: %w", offset, err)
		}
		if err := fn(e); err != nil {
			return offset, err
		}
		offset += int64(len(line))
	}
}

func readJournal(r io.Reader, fn func(JournalEntry) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var (
		line    int
		pending error
	)
	for sc.Scan() {
		line++
		if pending != nil {
			return pending // a bad line that was not the last
		}
		var e JournalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			pending = fmt.Errorf("journal line %d: %w", line, err)
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return sc.Err()
}
