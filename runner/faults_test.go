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

// --fault-every places a fault every interval through the load, of the
// kinds in turn; for= comes from the kind item, else --fault-for's default.
func TestFaultEveryCycles(t *testing.T) {
	f := Flags{Duration: time.Hour, Workers: 1, FaultEvery: 10 * time.Minute, FaultKinds: []string{"worker-kill", "server-pause for=20s"}}
	var problems []string
	specs := validateFaults(f, true, func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) })
	if len(problems) != 0 || len(specs) != 5 {
		t.Fatalf("%d specs, problems %v: want 5 (10m..50m within 1h), none", len(specs), problems)
	}
	for i, s := range specs {
		wantKind, wantFor := "worker-kill", DefaultFaultFor
		if i%2 == 1 {
			wantKind, wantFor = "server-pause", 20*time.Second
		}
		if s.Kind.Name != wantKind || s.At != time.Duration(i+1)*10*time.Minute || s.For != wantFor {
			t.Errorf("fault %d: %s at=%s for=%s, want %s at=%s for=%s", i, s.Kind.Name, s.At, s.For, wantKind, time.Duration(i+1)*10*time.Minute, wantFor)
		}
	}
	// Beside --fault, after it; a short gap caps the default length at half.
	f.Faults, f.FaultEvery, f.Duration, f.FaultKinds = []string{"net-latency at=5s for=1s"}, 20*time.Second, time.Minute, []string{"worker-kill"}
	specs = validateFaults(f, true, func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) })
	if len(problems) != 0 || len(specs) != 3 || specs[0].Kind.Name != "net-latency" || specs[1].For != 10*time.Second {
		t.Fatalf("specs %+v, problems %v: want net-latency, then 2 at 20s and 40s lasting 10s", specs, problems)
	}
}

// Random order draws each fault's kind with the seed: the same seed gives
// the same schedule (a resumed run re-derives it), another seed another.
func TestFaultEveryRandomIsSeeded(t *testing.T) {
	kinds := func(seed uint64) []string {
		f := Flags{Duration: 21 * time.Minute, Workers: 1, FaultEvery: time.Minute, FaultOrder: FaultOrderRandom, FaultSeed: seed,
			FaultKinds: []string{"worker-kill", "server-pause", "net-latency"}}
		var problems []string
		specs := validateFaults(f, true, func(format string, a ...any) { problems = append(problems, format) })
		if len(problems) != 0 || len(specs) != 20 {
			t.Fatalf("%d specs, problems %v: want 20", len(specs), problems)
		}
		var out []string
		for _, s := range specs {
			out = append(out, s.Kind.Name)
		}
		return out
	}
	a, b, c := kinds(7), kinds(7), kinds(8)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("seed 7 twice: %v and %v", a, b)
	}
	if strings.Join(a, ",") == strings.Join(c, ",") {
		t.Errorf("seeds 7 and 8 gave the same schedule %v", a)
	}
	seen := map[string]bool{}
	for _, k := range a {
		seen[k] = true
	}
	if len(seen) != 3 {
		t.Errorf("20 draws of 3 kinds gave only %v", a)
	}
}

// Bad --fault-every input is one line each, however many faults it would
// have placed.
func TestFaultEveryBadInput(t *testing.T) {
	base := Flags{Duration: time.Hour, Workers: 1, FaultEvery: 10 * time.Minute, FaultKinds: []string{"worker-kill"}}
	for _, tc := range []struct {
		name   string
		change func(*Flags)
		want   string
	}{
		{"kinds without every", func(f *Flags) { f.FaultEvery = 0 }, "--fault-kinds needs --fault-every"},
		{"every without kinds", func(f *Flags) { f.FaultKinds = nil }, "needs --fault-kinds"},
		{"every past the load", func(f *Flags) { f.FaultEvery = 2 * time.Hour }, "not shorter than --duration"},
		{"no duration", func(f *Flags) { f.Duration, f.Iterations = 0, 100 }, "give one"},
		{"at given", func(f *Flags) { f.FaultKinds = []string{"worker-kill at=5s"} }, "leave out at="},
		{"bad order", func(f *Flags) { f.FaultOrder = "sometimes" }, "bad --fault-order"},
		{"unknown kind", func(f *Flags) { f.FaultKinds = []string{"meteor"} }, "unknown fault kind"},
		{"overlapping", func(f *Flags) { f.FaultKinds = []string{"worker-kill for=15m"} }, "not shorter than --fault-every"},
		{"needs workers", func(f *Flags) { f.Workers = 0 }, "needs worker processes"},
	} {
		f := base
		tc.change(&f)
		var msgs []string
		validateFaults(f, true, func(format string, a ...any) { msgs = append(msgs, fmt.Sprintf(format, a...)) })
		if len(msgs) != 1 || !strings.Contains(msgs[0], tc.want) {
			t.Errorf("%s: problems %q, want one containing %q", tc.name, msgs, tc.want)
		}
	}
}
