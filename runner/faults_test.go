package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A schedule file gives the same faults as --fault, before them, skipping
// comments and blank lines; a bad line is named by file and line.
func TestFaultFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chaos.faults")
	schedule := "# the mixed schedule\nworker-kill at=2s for=1s\n\n  net-latency at=4s for=1s latency=50ms  \n"
	if err := os.WriteFile(path, []byte(schedule), 0o644); err != nil {
		t.Fatal(err)
	}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, format) }
	f := Flags{FaultFile: path, Faults: []string{"server-kill at=6s for=1s"}, Workers: 1, Duration: 10 * time.Second}
	specs := validateFaults(f, true, bad)
	if len(problems) != 0 || len(specs) != 3 {
		t.Fatalf("%d specs, problems %v; want 3, none", len(specs), problems)
	}
	for i, want := range []string{"worker-kill", "net-latency", "server-kill"} {
		if specs[i].Kind.Name != want {
			t.Errorf("fault %d is %s, want %s (the file's first, in order)", i, specs[i].Kind.Name, want)
		}
	}

	if err := os.WriteFile(path, []byte("worker-kill at=2s for=1s\nnonsense at=1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	validateFaults(f, true, func(format string, a ...any) { msgs = append(msgs, fmt.Sprintf(format, a...)) })
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0], path+":2: ") {
		t.Fatalf("problems %q: want one, naming %s:2", msgs, path)
	}
}
