package metrics

import (
	"fmt"
	"sync"

	"github.com/prometheus/procfs"
)

// procFS is /proc, opened once: ReadProc runs for every process at every
// sample of a run.
var procFS = sync.OnceValues(procfs.NewDefaultFS)

// ProcUsage is what /proc says about one process.
type ProcUsage struct {
	CPUSeconds float64 // user + system, since the process started
	RSSBytes   float64 // resident set now
	// RSSAnonBytes is the part of the resident set the process itself
	// allocated (heap, stacks). The rest is file pages, mostly its own
	// binary's: shared, clean, and as large as the binary is wide, so a
	// big binary shows a big RSS that is not memory it holds.
	RSSAnonBytes float64
	// PeakRSSBytes is the largest resident set so far (VmHWM): unlike a
	// child's wait status Maxrss, it counts only this process's own pages,
	// none its parent shared with it before exec.
	PeakRSSBytes float64
}

// ReadProc reads pid's CPU time from /proc/PID/stat and its resident set
// from /proc/PID/status.
func ReadProc(pid int) (ProcUsage, error) {
	var u ProcUsage
	fs, err := procFS()
	if err != nil {
		return u, err
	}
	p, err := fs.Proc(pid)
	if err != nil {
		return u, err
	}
	st, err := p.Stat()
	if err != nil {
		return u, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	u.CPUSeconds = st.CPUTime()
	s, err := p.NewStatus()
	if err != nil {
		return u, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	u.RSSBytes, u.RSSAnonBytes, u.PeakRSSBytes = float64(s.VmRSS), float64(s.RssAnon), float64(s.VmHWM)
	return u, nil
}
