package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"
)

// Resume is what a resumed run records about the gap it continues after.
type Resume struct {
	// Stopped is the time of the last record the killed driver got to disk:
	// it died within a flush interval (a second) of it.
	Stopped time.Time `json:"stopped"`
	// Resumed is when the new driver took the schedule up again.
	Resumed time.Time `json:"resumed"`
	// Recorded is how many iterations the intervals on disk account for
	// (started or dropped): iterations 0..Recorded-1.
	Recorded int64 `json:"recorded"`
	// From is the first iteration the resumed driver schedules. Those from
	// Recorded to From-1 were due around the crash: none is started again
	// (it may have been started unrecorded, and the same ID must not run
	// twice); any that did start and reached the journal is verified.
	From int64 `json:"from"`
	// ShiftSeconds is how far the rest of the schedule moved: the gap.
	ShiftSeconds float64 `json:"shift_s"`
	// Origin is the schedule's t=0 from here on (moved by the shift), so
	// a run resumed twice finds it.
	Origin time.Time `json:"origin"`
}

// Unaccounted is the number of iterations due around the crash that the
// resumed run neither counts as started nor starts again.
func (r Resume) Unaccounted() int64 { return r.From - r.Recorded }

// AppendStream opens an existing result stream for appending, after
// cutting a torn last line (the writer was killed mid-write).
func AppendStream(path string) (*Stream, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, fmt.Errorf("open result stream: %w", err)
	}
	s := &Stream{f: f, w: newStreamWriter(f), stop: make(chan struct{}), done: make(chan struct{})}
	go s.flushLoop()
	return s, nil
}

// AppendJournal opens an existing journal for appending, after cutting a
// torn last line.
func AppendJournal(path string) (*Journal, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	return newJournal(f), nil
}

// openAppend opens path to append whole lines: a partial last line (no
// newline) is cut off first, so the next line written is not glued to it.
func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	end, err := lastNewline(f)
	if err == nil {
		err = f.Truncate(end)
	}
	if err == nil {
		_, err = f.Seek(end, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// lastNewline is the offset just after f's last '\n' (0 if none).
func lastNewline(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	const chunk = 64 * 1024
	buf := make([]byte, chunk)
	for end := st.Size(); end > 0; {
		start := max(end-chunk, 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
