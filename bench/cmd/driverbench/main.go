// Command driverbench measures squall's driver alone: it serves the fake
// frontend (bench/fakefrontend) in this process and runs `squall run`
// against it as a child, with no server and no workers of squall's own,
// sampling the child's resident set from /proc throughout.
//
// Ceiling mode (default): open loop at rising rates, one short run per
// rate, until the driver falls behind (1 % or more of its starts late or
// dropped, or a workflow not completed). The last line starts "ceiling:".
//
// Million mode (-workflows N): one run of N workflows at -rate; the
// driver's RSS curve (rss.csv), the verification time against the load
// time, and the report rebuilt offline by `squall report`. The last line
// starts "million:".
//
// With -omes PATH, ceiling mode also runs Temporal's own load generator at
// the same rates against a fresh fake (omes.go) and sets its figures beside
// squall's on the "ceiling:" line.
//
// It is a benchmark: run it on a quiet machine (make bench-driver).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/squallbench/squall/bench/fakefrontend"
	"github.com/squallbench/squall/metrics"
)

type options struct {
	squall    string
	out       string
	rates     []float64
	step      time.Duration
	workflows int64
	rate      float64
	extra     []string
	profile   bool
	omes      string
}

func main() {
	var o options
	var rates, extra string
	flag.StringVar(&o.squall, "squall", "bin/squall", "the squall binary to drive")
	flag.StringVar(&o.out, "out", "bin/driverbench", "directory for the runs (replaced)")
	flag.StringVar(&rates, "rates", "500,1000,2000,4000,8000,16000,32000", "ceiling mode: open-loop rates to try, per second, rising")
	flag.DurationVar(&o.step, "step", 15*time.Second, "ceiling mode: load duration per rate")
	flag.Int64Var(&o.workflows, "workflows", 0, "million mode: one run of this many workflows (0: ceiling mode)")
	flag.Float64Var(&o.rate, "rate", 2000, "million mode: the open-loop rate per second")
	flag.StringVar(&extra, "args", "", "more flags for squall run, space-separated")
	flag.BoolVar(&o.profile, "cpu-profile", false, "write the driver's CPU profile of each run (cpu.pprof in its directory)")
	flag.StringVar(&o.omes, "omes", "", "ceiling mode: also run this omes binary (Temporal's load generator) at the same rates against the fake")
	flag.Parse()
	for _, f := range strings.Split(rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			fmt.Fprintf(os.Stderr, "driverbench: bad -rates entry %q: give positive numbers, e.g. 500,1000,2000\n", f)
			os.Exit(2)
		}
		o.rates = append(o.rates, r)
	}
	o.extra = strings.Fields(extra)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	if o.workflows > 0 {
		err = million(ctx, o)
	} else {
		err = ceiling(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "driverbench:", err)
		os.Exit(1)
	}
}

// result is what one squall run against the fake measured.
type result struct {
	rate                float64
	dir                 string
	scheduled, started  int64
	completed, failed   int64
	late, dropped, lost int64
	journaled, verified int64
	p50, p99, maxLat    float64 // ms, from the intended start
	driverCPU           float64 // s
	loadSeconds         float64
	verifySeconds       float64
	verifiedDuring      int64 // settled by batches while the load ran
	batches             int
	cpuPer1k            float64
	rssMax              float64 // bytes
	rssAnonMax          float64 // bytes: the part the driver allocated, not its binary's pages
	// The load phase as the samples saw it: from the journal's first
	// growth to its last (start-up, verification and the report are
	// outside), the driver's CPU and the journal bytes in between.
	loadCPU, loadBytes, journalBytes float64
	verdict, runErr                  string
	invariantsOK                     bool
	invariantsFailedWhat             []string
}

func (r result) lateFraction() float64 {
	if r.scheduled == 0 {
		return 1
	}
	return float64(r.late+r.dropped) / float64(r.scheduled)
}

// perCore is workflows per CPU-second of the driver in its load phase
// (start and result of each workflow, journal, recorder).
func (r result) perCore() float64 {
	if r.loadCPU <= 0 || r.journalBytes == 0 {
		return 0
	}
	return float64(r.started) * r.loadBytes / r.journalBytes / r.loadCPU
}

// held: the driver kept up with the rate and every workflow checked out.
func (r result) held() (bool, string) {
	switch {
	case r.runErr != "":
		return false, r.runErr
	case r.lateFraction() >= 0.01:
		return false, fmt.Sprintf("%.1f%% of starts late or dropped", 100*r.lateFraction())
	case r.completed != r.scheduled || r.failed > 0 || r.lost > 0:
		return false, fmt.Sprintf("%d of %d scheduled completed (%d failed, %d lost)", r.completed, r.scheduled, r.failed, r.lost)
	case !r.invariantsOK:
		return false, "invariants broken: " + strings.Join(r.invariantsFailedWhat, ", ")
	}
	return true, ""
}

func ceiling(ctx context.Context, o options) error {
	fake, err := fakefrontend.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer fake.Close()
	if err := os.RemoveAll(o.out); err != nil {
		return err
	}
	fmt.Printf("fake frontend on %s; squall run --workers 0 against it, %s per rate\n", fake.Addr(), o.step)
	var best *result
	for _, rate := range o.rates {
		dir := filepath.Join(o.out, fmt.Sprintf("rate-%g", rate))
		// Verification after the load, as for any short run, keeps the
		// load phase's CPU about starts alone (a step's 100,000 starts
		// would otherwise verify as they go).
		args := []string{"--rate", fmt.Sprintf("%g/s", rate), "--duration", o.step.String(), "--verify-every", "0"}
		r, err := run(ctx, o, fake.Addr(), dir, args, nil)
		if err != nil {
			return err
		}
		r.rate = rate
		ok, why := r.held()
		fmt.Printf("rate %6g/s: %d started, %.2f%% late/dropped, p50 %.2f ms p99 %.2f ms, driver CPU %.2f s (%.0f wf/s per core in the load phase; %.3f s per 1k over the whole run), RSS max %.0f MB (anonymous %.0f MB)",
			rate, r.started, 100*r.lateFraction(), r.p50, r.p99, r.driverCPU, r.perCore(), r.cpuPer1k, r.rssMax/(1<<20), r.rssAnonMax/(1<<20))
		if !ok {
			fmt.Printf(": FELL BEHIND (%s)\n", why)
			break
		}
		fmt.Println(": held")
		best = &r
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if best == nil {
		return fmt.Errorf("the driver held none of the rates %v: start lower (-rates)", o.rates)
	}
	vsOmes := ""
	if o.omes != "" {
		ob, err := omesCeiling(ctx, o)
		if err != nil {
			return err
		}
		if ob == nil {
			vsOmes = fmt.Sprintf("; omes held none of the rates %v", o.rates)
		} else {
			vsOmes = fmt.Sprintf("; omes on the same fake: %g wf/s held, %.0f wf/s per core, CPU %.3f s per 1,000 workflows, RSS max %.0f MB (anonymous %.0f MB)",
				ob.rate, ob.perCore(), ob.cpuPer1k(), ob.rssMax/(1<<20), ob.rssAnonMax/(1<<20))
		}
	}
	fmt.Printf("ceiling: %g wf/s held with <1%% late starts; %.0f wf/s per driver core (load phase); driver CPU %.3f s per 1,000 workflows; added latency p50 %.2f ms p99 %.2f ms (the fake answers at once); RSS max %.0f MB (anonymous %.0f MB)%s\n",
		best.rate, best.perCore(), best.cpuPer1k, best.p50, best.p99, best.rssMax/(1<<20), best.rssAnonMax/(1<<20), vsOmes)
	return nil
}

func million(ctx context.Context, o options) error {
	fake, err := fakefrontend.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer fake.Close()
	if err := os.RemoveAll(o.out); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	dir := filepath.Join(o.out, "run")
	csv, err := os.Create(filepath.Join(o.out, "rss.csv"))
	if err != nil {
		return err
	}
	defer csv.Close()
	fmt.Fprintln(csv, "seconds,rss_mb,rss_anon_mb,cpu_s")
	fmt.Printf("fake frontend on %s; one squall run of %d workflows at %g/s (--workers 0); RSS sampled into %s\n", fake.Addr(), o.workflows, o.rate, csv.Name())
	// --max-in-flight bounds what a stall can pile up in memory; starts
	// past it are dropped, counted, and fail the run.
	args := []string{"--rate", fmt.Sprintf("%g/s", o.rate), "--iterations", strconv.FormatInt(o.workflows, 10), "--max-in-flight", "4000", "--verify-concurrency", "64",
		"--duration", (time.Duration(float64(o.workflows)/o.rate*float64(time.Second)) * 2).Round(time.Second).String()}
	r, err := run(ctx, o, fake.Addr(), dir, args, csv)
	if err != nil {
		return err
	}
	fmt.Printf("run: %d scheduled, %d started, %d completed, %d failed, %d late, %d dropped; verified %d journaled, %d lost; verdict %s\n",
		r.scheduled, r.started, r.completed, r.failed, r.late, r.dropped, r.journaled, r.lost, r.verdict)
	// Rebuild the report offline, from the stream alone, and compare.
	before, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(dir, "report.json"), filepath.Join(dir, "report.live.json")); err != nil {
		return err
	}
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, o.squall, "report", dir)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil && !isVerdictExit(err) {
		return fmt.Errorf("squall report %s: %w", dir, err)
	}
	rebuild := time.Since(t0)
	after, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return fmt.Errorf("squall report wrote no report.json: %w", err)
	}
	same := sameNumbers(before, after)
	// The million is about memory and verification at size, not the
	// ceiling: late starts are reported, every workflow must run, and
	// what verification is left after the load (the rest is verified in
	// batches during it, squall's default at this size) must stay within
	// a tenth of the load's time. A small run's load is seconds long, and
	// the fixed cost of verifying at all (a connection, the journal read)
	// is a good part of one: under a second is never too long.
	pct := 0.0
	if r.loadSeconds > 0 {
		pct = 100 * r.verifySeconds / r.loadSeconds
	}
	ok := r.runErr == "" && r.dropped == 0 && r.failed == 0 && r.completed == o.workflows && r.invariantsOK
	verdict := fmt.Sprintf("all ran (%.2f%% of starts late)", 100*float64(r.late)/float64(max(r.scheduled, 1)))
	if !ok {
		verdict = fmt.Sprintf("NOT ALL RAN (%d completed, %d failed, %d dropped, invariants ok %v%s)", r.completed, r.failed, r.dropped, r.invariantsOK, r.runErr)
	}
	if r.journaled != o.workflows || r.lost != 0 || r.verified != o.workflows {
		verdict = fmt.Sprintf("NOT VERIFIED (%d journaled, %d verified completed, %d lost)", r.journaled, r.verified, r.lost)
	}
	verifyNote := fmt.Sprintf("; %d verified during the load in %d batches", r.verifiedDuring, r.batches)
	tooLong := pct > 10 && r.verifySeconds > 1
	if tooLong {
		verifyNote += "; MORE than a tenth of the load"
	}
	rebuilt := "report rebuilt offline by squall report in " + rebuild.Round(time.Millisecond).String()
	if !same {
		rebuilt += " (DIFFERS from the live report)"
	} else {
		rebuilt += " (same numbers)"
	}
	fmt.Printf("million: %d workflows %s, %d verified completed, %d lost; RSS max %.0f MB (anonymous %.0f MB); verification after the load %.1f s vs load %.1f s (%.1f%%%s); driver CPU %.3f s per 1,000 workflows; %s\n",
		o.workflows, verdict, r.verified, r.lost, r.rssMax/(1<<20), r.rssAnonMax/(1<<20), r.verifySeconds, r.loadSeconds, pct, verifyNote, r.cpuPer1k, rebuilt)
	if !ok || !same || tooLong {
		return errors.New("the million run did not pass (see above)")
	}
	return nil
}

func isVerdictExit(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == 1
}

// sameNumbers: the report rebuilt offline says what the live one said
// (counts, latencies, verification), whatever the key order.
func sameNumbers(a, b []byte) bool {
	var ra, rb struct {
		Verdict   any              `json:"verdict"`
		Scenarios []map[string]any `json:"scenarios"`
	}
	if json.Unmarshal(a, &ra) != nil || json.Unmarshal(b, &rb) != nil || len(ra.Scenarios) != len(rb.Scenarios) {
		return false
	}
	for i := range ra.Scenarios {
		for _, k := range []string{"started", "completed", "failed", "lost", "late_starts", "dropped_starts", "latency_ms", "verification"} {
			x, _ := json.Marshal(ra.Scenarios[i][k])
			y, _ := json.Marshal(rb.Scenarios[i][k])
			if !bytes.Equal(x, y) {
				fmt.Fprintf(os.Stderr, "rebuilt report differs in %s: %s vs %s\n", k, x, y)
				return false
			}
		}
	}
	return true
}

// run runs squall against the fake into dir and reads its report; rss,
// when set, receives the RSS samples.
func run(ctx context.Context, o options, addr, dir string, args []string, rss *os.File) (result, error) {
	r := result{dir: dir}
	full := append([]string{"run", "--scenario", "noop", "--address", addr, "--workers", "0", "--health", "all=off", "--out", dir, "--overwrite"}, args...)
	if o.profile {
		full = append(full, "--cpu-profile", filepath.Join(dir, "cpu.pprof"))
	}
	full = append(full, o.extra...)
	var firstCPU, firstSize, lastSize float64
	var out bytes.Buffer
	_, werr := sampled(ctx, o.squall, full, "", &out, func(u metrics.ProcUsage, since time.Duration) {
		r.rssMax, r.rssAnonMax = max(r.rssMax, u.RSSBytes), max(r.rssAnonMax, u.RSSAnonBytes)
		if fi, err := os.Stat(filepath.Join(dir, "journal.jsonl")); err == nil && float64(fi.Size()) > lastSize {
			if lastSize == 0 {
				firstCPU, firstSize = u.CPUSeconds, float64(fi.Size())
			}
			lastSize = float64(fi.Size())
			r.loadCPU, r.loadBytes = u.CPUSeconds-firstCPU, lastSize-firstSize
		}
		if rss != nil {
			fmt.Fprintf(rss, "%.2f,%.1f,%.1f,%.2f\n", since.Seconds(), u.RSSBytes/(1<<20), u.RSSAnonBytes/(1<<20), u.CPUSeconds)
		}
	})
	if errors.Is(werr, errNotStarted) {
		return r, werr
	}
	if fi, err := os.Stat(filepath.Join(dir, "journal.jsonl")); err == nil {
		r.journalBytes = float64(fi.Size())
	}
	if werr != nil && !isVerdictExit(werr) {
		return r, fmt.Errorf("squall run (%v):\n%s", werr, tail(out.String(), 30))
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return r, fmt.Errorf("squall run wrote no report (%v):\n%s", err, tail(out.String(), 30))
	}
	if err := parseReport(b, &r); err != nil {
		return r, err
	}
	if werr != nil && r.runErr == "" && r.invariantsOK {
		r.runErr = "squall run exited 1:\n" + tail(out.String(), 10)
	}
	return r, nil
}

func parseReport(b []byte, r *result) error {
	var rep struct {
		Verdict any `json:"verdict"`
		Run     struct {
			DriverCPU float64 `json:"driver_cpu_s"`
			CPUPer1k  float64 `json:"driver_cpu_per_1k_workflows_s"`
			Error     string  `json:"error"`
		} `json:"run"`
		Scenarios []struct {
			Scheduled   int64   `json:"scheduled_starts"`
			Started     int64   `json:"started"`
			Completed   int64   `json:"completed"`
			Failed      int64   `json:"failed"`
			Lost        int64   `json:"lost"`
			Late        int64   `json:"late_starts"`
			Dropped     int64   `json:"dropped_starts"`
			LoadSeconds float64 `json:"load_seconds"`
			Latency     struct {
				Corrected struct{ P50, P99, Max float64 } `json:"corrected"`
			} `json:"latency_ms"`
			Verification *struct {
				Journaled int64            `json:"journaled"`
				ByStatus  map[string]int64 `json:"by_status"`
				Lost      int64            `json:"lost"`
				Duration  string           `json:"duration"`
				During    int64            `json:"verified_during_load"`
				Batches   int              `json:"batches_during_load"`
			} `json:"verification"`
			Invariants []struct {
				Name string `json:"name"`
				OK   bool   `json:"ok"`
			} `json:"invariants"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("report.json: %w", err)
	}
	if len(rep.Scenarios) != 1 {
		return fmt.Errorf("report.json: %d scenarios, want 1", len(rep.Scenarios))
	}
	s := rep.Scenarios[0]
	r.scheduled, r.started, r.completed, r.failed, r.lost = s.Scheduled, s.Started, s.Completed, s.Failed, s.Lost
	r.late, r.dropped, r.loadSeconds = s.Late, s.Dropped, s.LoadSeconds
	r.p50, r.p99, r.maxLat = s.Latency.Corrected.P50, s.Latency.Corrected.P99, s.Latency.Corrected.Max
	r.driverCPU, r.cpuPer1k, r.runErr = rep.Run.DriverCPU, rep.Run.CPUPer1k, rep.Run.Error
	r.verdict = fmt.Sprint(rep.Verdict)
	if v := s.Verification; v != nil {
		r.journaled, r.verified, r.lost = v.Journaled, v.ByStatus["completed"], max(r.lost, v.Lost)
		r.verifiedDuring, r.batches = v.During, v.Batches
		if d, err := time.ParseDuration(v.Duration); err == nil {
			r.verifySeconds = d.Seconds()
		}
	}
	r.invariantsOK = len(s.Invariants) > 0
	for _, inv := range s.Invariants {
		if !inv.OK {
			r.invariantsOK = false
			r.invariantsFailedWhat = append(r.invariantsFailedWhat, inv.Name)
		}
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var errNotStarted = errors.New("not started")

// sampled runs bin with args as a child in cwd ("": this one's), its
// output into out, and hands each /proc sample of it (every 250 ms, and
// how long it has run) to onSample, one at a time and none after sampled
// returns. It returns the child's CPU seconds as the kernel counted them at
// its exit, and its exit error; errNotStarted wraps a failed start.
func sampled(ctx context.Context, bin string, args []string, cwd string, out *bytes.Buffer, onSample func(metrics.ProcUsage, time.Duration)) (cpu float64, err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = cwd
	cmd.Stdout, cmd.Stderr = out, out
	// The child must not read a TEMPORAL_* setting meant for something else.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w: %w", bin, errNotStarted, err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if u, err := metrics.ReadProc(cmd.Process.Pid); err == nil {
				onSample(u, time.Since(start))
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	wg.Wait()
	if ps := cmd.ProcessState; ps != nil {
		cpu = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	return cpu, err
}
