package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/reports"
)

// Build identifies the squall binary in reports.
type Build struct{ Version, Commit string }

// Console is where a run talks to the user.
type Console struct {
	Out io.Writer // progress and summary
	TTY bool      // Out is a terminal: live progress line
}

// Run executes a suite (a single run is a suite of one plan). loadCtx
// ending stops new starts (Ctrl-C); ctx ending aborts verification too (a
// second Ctrl-C). Whatever was gathered is written to the run directory,
// which is returned even when err is not nil. Each entry gets a fresh
// cluster (server, database, workers) unless the suite shares one: state
// one scenario leaves behind must not slow the next. An interrupted or
// broken entry ends the suite; the report says which entries ran.
func Run(ctx, loadCtx context.Context, s *Suite, b Build, con Console) (*reports.Report, string, error) {
	announceTarget(con, s.Plans[0])
	if s.Plans[0].AutoDrivers > 0 {
		if len(s.Plans) > 1 {
			return nil, "", cluster.Usagef("--driver auto/n runs one scenario, not a suite: run each entry's drivers on their own, or use --driver i/n")
		}
		p := *s.Plans[0] // joining fixes the index, run id and directory of this run only
		if err := joinDrivers(ctx, &p, con); err != nil {
			return nil, "", err
		}
		s = &Suite{Plans: []*Plan{&p}, SharedServer: s.SharedServer}
	}
	label := s.Plans[0].Scenario.Name
	if len(s.Plans) > 1 {
		label = "suite"
	}
	var sess *Session
	var err error
	if s.Plans[0].Resume != nil {
		if len(s.Plans) > 1 {
			return nil, "", cluster.Usagef("--resume continues a single scenario's run, not a suite")
		}
		if err := checkResume(s.Plans[0]); err != nil {
			return nil, "", err
		}
		sess, err = Reopen(s.Plans[0], b, con)
	} else {
		sess, err = Open(s.Plans[0], label, len(s.Plans) > 1, b, con)
	}
	if err != nil {
		return nil, "", err
	}
	var runErr error
	for i, p := range s.Plans {
		if loadCtx.Err() != nil {
			break
		}
		o := EntryOptions{Fresh: i == 0 || !s.SharedServer}
		if len(s.Plans) > 1 && !s.SharedServer {
			o.ClusterLabel = p.Entry
		}
		if s.SharedServer {
			o.Served = s.Plans
		}
		if _, runErr = sess.Entry(ctx, loadCtx, p, o); runErr != nil {
			break
		}
	}
	return sess.Close(loadCtx, runErr)
}

// announceTarget makes the first line of a run against the user's cluster
// say which cluster it is and where its address came from, so an exported
// TEMPORAL_ADDRESS or profile is never a surprise.
func announceTarget(con Console, p *Plan) {
	switch {
	case !p.Embedded && !p.Container:
		fmt.Fprintf(con.Out, "target: %s\n", p.Conn.Describe())
	case p.Conn.Origin != "": // an address from the environment, ignored for --cluster
		fmt.Fprintf(con.Out, "target: the cluster squall starts (%s)\n", p.Conn.Origin)
	}
}

func newRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// cpuSeconds is the CPU time (user+system) used by this process — the
// driver — and by its waited-for children (embedded server and workers), so
// the report can say how much of the machine the load generator took.
func cpuSeconds() (self, children float64) {
	sec := func(u syscall.Rusage) float64 {
		return float64(u.Utime.Sec+u.Stime.Sec) + float64(u.Utime.Usec+u.Stime.Usec)/1e6
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = sec(ru)
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		children = sec(ru)
	}
	return self, children
}
