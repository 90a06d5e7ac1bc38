// Package squalltest runs the real squall binary in end-to-end tests, the
// way a user (or CI) does, and reads back the report it wrote.
package squalltest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squallbench/squall/reports"
)

// command is a binary a test needs: the one an environment variable
// names (the Makefile builds it and sets it), or one built once per test
// process from its package.
type command struct {
	env, pkg, name, make string
	tags                 string // build tags, if any

	once sync.Once
	path string
	err  error
}

func (c *command) get(t testing.TB) string {
	t.Helper()
	if b := os.Getenv(c.env); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("%s=%s: %v (run '%s')", c.env, b, err, c.make)
		}
		return abs
	}
	c.once.Do(func() {
		dir, err := os.MkdirTemp("", "squall-test-"+c.name)
		if err != nil {
			c.err = err
			return
		}
		c.path = filepath.Join(dir, c.name)
		cmd := exec.Command("go", "build", "-tags", c.tags, "-o", c.path, c.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			c.err = errors.New(string(out))
		}
	})
	if c.err != nil {
		t.Fatalf("build %s: %v", c.name, c.err)
	}
	return c.path
}

var squallCmd = &command{env: "SQUALL_BIN", pkg: "github.com/squallbench/squall/cmd/squall", name: "squall", make: "make build"}

// Binary returns the path of a squall binary: $SQUALL_BIN (the Makefile
// builds bin/squall and sets it), or one built once per test process.
func Binary(t testing.TB) string {
	t.Helper()
	return squallCmd.get(t)
}

var leanCmd = &command{env: "SQUALL_LEAN_BIN", pkg: "github.com/squallbench/squall/cmd/squall", name: "squall-lean", make: "make build", tags: "squall_lean"}

// LeanBinary returns the path of a squall built without the Temporal
// server and container engine (-tags squall_lean): $SQUALL_LEAN_BIN (the
// Makefile builds bin/squall-lean and sets it), or one built once per test
// process.
func LeanBinary(t testing.TB) string {
	t.Helper()
	return leanCmd.get(t)
}

// Result is what one squall invocation did.
type Result struct {
	Exit   int
	Stdout string
	Stderr string
	Dir    string          // the run directory (--out), when Run chose it
	Report *reports.Report // report.json, if one was written
}

// Exec runs squall with args and returns its exit code and output.
func Exec(t testing.TB, timeout time.Duration, args ...string) Result {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = HermeticEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("squall %v did not finish within %s\nstdout:\n%s\nstderr:\n%s", args, timeout, out.String(), errb.String())
	}
	res := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Exit = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return res
}

// HermeticEnv is this process's environment without anything that points
// squall at a cluster (TEMPORAL_*, squall's own key and DSN variables, the
// user's temporal.toml): a test's squall talks to what the test says.
func HermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "TEMPORAL_") && k != "SQUALL_API_KEY" && k != "SQUALL_DSN" {
			env = append(env, kv)
		}
	}
	return append(env, "TEMPORAL_CONFIG_FILE="+os.DevNull)
}

// Run runs `squall run ARGS --out DIR` (DIR a fresh temp dir) and reads the
// report it wrote. The run directory is kept if the test fails.
func Run(t testing.TB, timeout time.Duration, args ...string) Result {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	res := Exec(t, timeout, append(append([]string{"run"}, args...), "--out", dir)...)
	res.Dir = dir
	rep, err := reports.ReadReport(filepath.Join(dir, reports.FileJSON))
	switch {
	case err == nil:
		res.Report = rep
	case !errors.Is(err, fs.ErrNotExist):
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("squall %v\nexit %d\nstdout:\n%s\nstderr:\n%s", args, res.Exit, res.Stdout, res.Stderr)
			if b, err := os.ReadFile(filepath.Join(dir, "worker-0.log")); err == nil && len(b) > 0 {
				t.Logf("worker-0.log (tail):\n%s", tail(b, 3000))
			}
		}
	})
	return res
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Scenario returns the named scenario of rep, failing the test if absent.
func Scenario(t testing.TB, rep *reports.Report, name string) reports.Scenario {
	t.Helper()
	if rep == nil {
		t.Fatalf("no report.json written")
	}
	for _, s := range rep.Scenarios {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("report has no scenario %q", name)
	return reports.Scenario{}
}

// SkipIfShort skips slow end-to-end tests under -short, and on non-Linux
// systems where child-process management (Pdeathsig) is not available.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("end-to-end tests need Linux")
	}
}

// InvariantsHold logs every invariant of s, fails t for each one that did
// not hold, and for each name in want that s did not report at all.
func InvariantsHold(t testing.TB, s reports.Scenario, want ...string) {
	t.Helper()
	reported := map[string]bool{}
	for _, i := range s.Invariants {
		t.Logf("%v %s: %s", i.OK, i.Name, i.Detail)
		reported[i.Name] = true
		if !i.OK {
			t.Errorf("invariant %s failed: %s", i.Name, i.Detail)
		}
	}
	for _, n := range want {
		if !reported[n] {
			t.Errorf("invariant %s not reported", n)
		}
	}
}
