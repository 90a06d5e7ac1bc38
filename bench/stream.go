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

// Record kinds in the result stream.
const (
	KindRunStart      = "run-start"      // Data: the run's metadata
	KindScenarioStart = "scenario-start" // Data: the scenario's plan
	KindInterval      = "interval"       // Interval: one slice of the time series
	KindError         = "error"          // an iteration failed (WorkflowID, Error)
	KindLoadEnd       = "load-end"       // Data: the executor's Result
	KindVerify        = "verify"         // Data: the verification outcome
	KindDetail        = "detail"         // Data: {key: value}, scenario-specific results
	KindFaultInject   = "fault-inject"   // Data: the fault's kind and parameters
	KindFaultHeal     = "fault-heal"
	KindRunEnd        = "run-end"
	KindCapacity      = "capacity" // Data: a capacity search's outcome (capacity.Report)
	// KindServerSample: Data: one interval's server and process signals
	// (metrics.Sample): quantiles from the cluster's own metrics, CPU, RSS.
	KindServerSample = "server-sample"
	// KindResume: Data: the Resume of a run killed mid-load and taken up
	// again (`squall run --resume`): where, and what the gap cost.
	KindResume = "resume"
)

// Record is the one flat record type of the result stream (results.jsonl).
// Everything that happens in a run becomes one; reports are rebuilt from
// them offline, so a long soak never has to be re-run for another report.
type Record struct {
	Time       time.Time       `json:"t"`
	Kind       string          `json:"kind"`
	Scenario   string          `json:"scenario,omitempty"`
	WorkflowID string          `json:"workflow_id,omitempty"`
	Error      string          `json:"error,omitempty"`
	Interval   *Interval       `json:"interval,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// Stream appends records to a JSONL file, buffered, flushed at least every
// second and on Close. Safe for concurrent use.
type Stream struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	err  error
	stop chan struct{}
	done chan struct{}
}

// CreateStream creates (or truncates) path.
func CreateStream(path string) (*Stream, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create result stream: %w", err)
	}
	s := &Stream{f: f, w: newStreamWriter(f), stop: make(chan struct{}), done: make(chan struct{})}
	go s.flushLoop()
	return s, nil
}

func newStreamWriter(f *os.File) *bufio.Writer { return bufio.NewWriterSize(f, 256*1024) }

func (s *Stream) flushLoop() {
	defer close(s.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			if s.err == nil {
				s.err = s.w.Flush()
			}
			s.mu.Unlock()
		}
	}
}

// Write appends r. data, if not nil, is marshalled into r.Data.
func (s *Stream) Write(r Record, data any) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			b, _ = json.Marshal(map[string]string{"marshal_error": err.Error()})
		}
		r.Data = b
	}
	line, err := json.Marshal(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	if err != nil {
		s.err = err
		return
	}
	line = append(line, '\n')
	_, s.err = s.w.Write(line)
}

// Close flushes and closes the file, returning the first error seen.
func (s *Stream) Close() error {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = s.w.Flush()
	}
	if err := s.f.Close(); s.err == nil {
		s.err = err
	}
	return s.err
}

// ReadStream calls fn for every record in a result stream. A truncated last
// line (the run was killed mid-write) is ignored; any other malformed line
// is an error naming its line number.
func ReadStream(r io.Reader, fn func(Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1024*1024), 64*1024*1024)
	var (
		line    int
		pending error
	)
	for sc.Scan() {
		line++
		if pending != nil {
			return pending // a bad line that was not the last
		}
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			pending = fmt.Errorf("line %d: %w", line, err)
			continue
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Flush writes buffered records to the file, so a reader sees them.
func (s *Stream) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = s.w.Flush()
	}
	return s.err
}
