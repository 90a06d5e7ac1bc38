package metrics

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// Linux fixes it at 100 for user space on every architecture Go targets.
const clockTicks = 100

// ProcUsage is what /proc says about one process.
type ProcUsage struct {
	CPUSeconds float64 // user + system, since the process started
	RSSBytes   float64 // resident set now
}

// ReadProc reads pid's CPU time from /proc/PID/stat and its resident set
// from /proc/PID/status.
func ReadProc(pid int) (ProcUsage, error) {
	var u ProcUsage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after the last ')' are fixed: state is field 3, utime 14,
	// stime 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: %d fields after the name, want 13 or more", pid, len(f))
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return u, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	u.CPUSeconds = (ut + st) / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fs := strings.Fields(rest) // "12345 kB"
			if len(fs) >= 1 {
				kb, err := strconv.ParseFloat(fs[0], 64)
				if err != nil {
					return u, fmt.Errorf("/proc/%d/status: bad VmRSS %q", pid, rest)
				}
				u.RSSBytes = kb * 1024
			}
			break
		}
	}
	return u, nil
}
