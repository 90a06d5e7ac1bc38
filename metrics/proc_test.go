package metrics

import (
	"os"
	"runtime/debug"
	"syscall"
	"testing"
	"time"
)

func TestReadProcOfThisProcess(t *testing.T) {
	before, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn some CPU so the second reading must be higher: utime counts in
	// 10 ms ticks.
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.CPUSeconds <= before.CPUSeconds {
		t.Errorf("CPU %v → %v after 300 ms of spinning (%d loops): want it to grow", before.CPUSeconds, after.CPUSeconds, x)
	}
	if after.CPUSeconds-before.CPUSeconds > 5 {
		t.Errorf("CPU grew by %v s in 300 ms: wrong unit?", after.CPUSeconds-before.CPUSeconds)
	}
	// A Go test binary is resident with more than 1 MiB and far less than 10 GiB.
	if after.RSSBytes < 1<<20 || after.RSSBytes > 10<<30 {
		t.Errorf("RSS %v bytes: implausible", after.RSSBytes)
	}
}

func TestReadProcAnonFollowsWhatTheProcessHolds(t *testing.T) {
	// Give back the heap's free pages first, so the runtime's scavenger has
	// none left to return between the two readings.
	debug.FreeOSMemory()
	before, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.RSSAnonBytes <= 0 || before.RSSAnonBytes > before.RSSBytes {
		t.Fatalf("anonymous %v of RSS %v bytes: want a part of it", before.RSSAnonBytes, before.RSSBytes)
	}
	// 64 MiB mapped outside the Go heap (which could reuse pages it
	// already holds) and written page by page are resident and anonymous.
	held, err := syscall.Mmap(-1, 0, 64<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Munmap(held) }()
	for i := 0; i < len(held); i += 4096 {
		held[i] = 1
	}
	after, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// The Go runtime may hand some of its own free pages back meanwhile:
	// allow it a quarter of the mapping.
	if grew := after.RSSAnonBytes - before.RSSAnonBytes; grew < 48<<20 {
		t.Errorf("anonymous RSS grew by %.0f MiB after writing 64 MiB: want about 64", grew/(1<<20))
	}
	if grew := after.RSSBytes - before.RSSBytes; grew < 48<<20 {
		t.Errorf("RSS grew by %.0f MiB after writing 64 MiB: want about 64", grew/(1<<20))
	}
}

func TestReadProcGone(t *testing.T) {
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("read a process that cannot exist")
	}
}

func TestSamplerProcsOnly(t *testing.T) {
	var got []Sample
	s := &Sampler{Start: time.Now(), Procs: func() []Proc { return []Proc{{Name: "driver", Pid: os.Getpid()}, {Name: "server", Pid: 0}} },
		Emit: func(smp Sample) { got = append(got, smp) }}
	s.Begin(t.Context())
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	s.Tick(time.Now())
	s.Stop(t.Context())
	if len(got) != 1 {
		t.Fatalf("%d samples, want 1: %+v", len(got), got)
	}
	sig := got[0].Signals
	if sig["driver_rss_mb"] <= 1 {
		t.Errorf("driver RSS %v MiB", sig["driver_rss_mb"])
	}
	if c, ok := sig["driver_cpu_cores"]; !ok || c <= 0 || c > 64 {
		t.Errorf("driver CPU %v cores (present %v) after spinning", c, ok)
	}
	if _, ok := sig["server_rss_mb"]; ok {
		t.Error("a process with pid 0 (down) was sampled")
	}
}
