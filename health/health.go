// Package health holds the server-health oracles of a run: checks that do
// not ask whether the workload finished, but whether the server stayed
// healthy while it ran. Each becomes a named invariant in the verdict:
//
//   - server-logs-clean: every server process's log holds no panic, failed
//     assertion or fatal error, and no process exited without squall asking;
//   - replay-deterministic: a sample of completed workflows of every type
//     replays against the workflow code squall ran;
//   - no-stuck-work: no workflow task kept failing or timing out, and no
//     activity kept retrying, past the run.
//
// Each check can be made a warning (reported, not failing) or switched
// off with --health CHECK=fail|warn|off.
package health

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/squallbench/squall/scenarios"
)

// The checks, as --health names them.
const (
	CheckLogs   = "logs"
	CheckReplay = "replay"
	CheckStuck  = "stuck"
)

// Checks lists every check --health knows, in report order.
var Checks = []string{CheckLogs, CheckReplay, CheckStuck}

// Mode says what a check's finding does to the verdict.
type Mode string

const (
	Fail Mode = "fail" // a finding fails the verdict (the default)
	Warn Mode = "warn" // a finding is reported, the verdict unaffected
	Off  Mode = "off"  // the check does not run
)

// DefaultReplaySample is how many completed workflows of each type are
// replayed when --replay-sample is not given.
const DefaultReplaySample = 20

// Flags are the raw health flags of `squall run`.
type Flags struct {
	Checks       []string // CHECK=MODE
	ReplaySample int
	ExportDir    string
}

// AddFlags adds the health flags to fl.
func AddFlags(fl *pflag.FlagSet, f *Flags) {
	fl.StringArrayVar(&f.Checks, "health", nil, "server-health check CHECK=fail|warn|off, CHECK one of "+strings.Join(Checks, ", ")+" or all (repeatable; default: all fail)")
	fl.IntVar(&f.ReplaySample, "replay-sample", DefaultReplaySample, "replay at most this many completed workflows of each type against squall's workflow code (0: none)")
	fl.StringVar(&f.ExportDir, "export-histories", "", "also write the sampled workflows' histories as JSON (temporal workflow show --output json format) into this directory, for your own replayer")
}

// Config is what the flags say, validated.
type Config struct {
	modes        map[string]Mode
	ReplaySample int
	ExportDir    string
}

// Parse validates the flags; every problem is one message for the usage
// error.
func (f Flags) Parse() (Config, []string) {
	c := Config{modes: map[string]Mode{}, ReplaySample: f.ReplaySample, ExportDir: f.ExportDir}
	var problems []string
	for _, kv := range f.Checks {
		name, mode, ok := strings.Cut(kv, "=")
		name, m := strings.TrimSpace(name), Mode(strings.TrimSpace(mode))
		switch {
		case !ok || (m != Fail && m != Warn && m != Off):
			problems = append(problems, fmt.Sprintf("bad --health %q: want CHECK=fail|warn|off", kv))
		case name == "all":
			for _, n := range Checks {
				c.modes[n] = m
			}
		case slices.Contains(Checks, name):
			c.modes[name] = m
		default:
			problems = append(problems, fmt.Sprintf("bad --health %q: unknown check %q (one of %s, all)", kv, name, strings.Join(Checks, ", ")))
		}
	}
	if f.ReplaySample < 0 {
		problems = append(problems, fmt.Sprintf("bad --replay-sample %d: must be 0 or more", f.ReplaySample))
	}
	return c, problems
}

// Mode is the mode of check (fail unless the flags say otherwise).
func (c Config) Mode(check string) Mode {
	if m, ok := c.modes[check]; ok {
		return m
	}
	return Fail
}

// On says whether check runs.
func (c Config) On(check string) bool { return c.Mode(check) != Off }

// invariant turns a check's outcome into the verdict's invariant: a
// check in warn mode that found something is reported as a warning.
func invariant(name string, mode Mode, ok bool, detail string) scenarios.Invariant {
	inv := scenarios.Invariant{Name: name, OK: ok, Detail: detail}
	if !ok && mode == Warn {
		inv.Warn = true
		inv.Detail += " (warning only: --health set it to warn)"
	}
	return inv
}

// quote shortens s for a report line.
func quote(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
