package squalltest

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// PostgresDSN starts (or finds) the project's loopback PostgreSQL with
// scripts/ensure-postgres.sh, names a database of the test's own and
// drops it (and its _visibility twin) when the test ends. It returns the
// DSN; short mode skips the test.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	SkipIfShort(t)
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "ensure-postgres.sh")
	out, err := exec.Command(script).Output()
	if err != nil {
		var stderr string
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s: %v\n%s", script, err, stderr)
	}
	return TestDatabase(t, strings.TrimSpace(string(out)))
}

// TestDatabase names a database of the test's own on the server of the
// admin DSN and drops it (and its _visibility twin) afterwards.
func TestDatabase(t testing.TB, admin string) string {
	t.Helper()
	db := fmt.Sprintf("squall_test_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		for _, name := range []string{db, db + "_visibility"} {
			cmd := exec.Command("psql", admin, "-qc", `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("drop database %s: %v\n%s", name, err, b)
			}
		}
	})
	return strings.Replace(admin, "/postgres?", "/"+db+"?", 1)
}
