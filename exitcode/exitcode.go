// Package exitcode defines, once, how squall's commands end: each kind of
// error has its own exit code, so a CI job can tell a regression from a
// typo from a lost cluster from a cancelled run.
package exitcode

import (
	"errors"
	"fmt"
)

// The exit codes: the contract CI scripts rely on.
const (
	Pass = 0
	// Fail: the run completed and its verdict failed (a workflow lost, an
	// invariant or threshold broken), or compare found a regression.
	Fail = 1
	// Usage: bad input, found before any load started (flags, options,
	// files, ports, an unreachable cluster, no worker for the workflow type).
	Usage = 2
	// RunError: something broke after the load started (the cluster was
	// lost, verification was aborted); the report holds what was gathered.
	RunError = 3
	// Interrupted: the run was stopped (Ctrl-C, SIGTERM) before its planned
	// load was done; its report is written but covers only part of it.
	Interrupted = 4
)

// UsageError marks bad input: the CLI exits 2 and prints the message alone.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef builds a UsageError.
func Usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// IsUsage reports whether err is (or wraps) a UsageError.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// ErrVerdictFailed: the run completed but its verdict is "fail".
var ErrVerdictFailed = errors.New("verdict: fail")

// ErrInterrupted: the run was stopped before its planned load was done.
var ErrInterrupted = errors.New("interrupted: the report covers only part of the planned load")

// Of maps an error to its exit code. Errors of no known kind happened
// while running: RunError.
func Of(err error) int {
	switch {
	case err == nil:
		return Pass
	case IsUsage(err):
		return Usage
	case errors.Is(err, ErrVerdictFailed):
		return Fail
	case errors.Is(err, ErrInterrupted):
		return Interrupted
	default:
		return RunError
	}
}
