package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/squallbench/squall/bench/fakefrontend"
	"github.com/squallbench/squall/metrics"
)

// omesScenario is Temporal's load generator's scenario closest to squall's
// noop: one workflow per iteration, started and waited for. Against the
// fake its activity never runs (the fake completes every workflow at
// once), so both tools pay the same two round trips per workflow.
const omesScenario = "workflow_with_single_noop_activity"

// omesResult is what one omes run against the fake measured. omes keeps
// no per-workflow latency outside its Prometheus metrics, so the
// comparison is about throughput, CPU and memory.
type omesResult struct {
	rate       float64
	expected   int64 // rate × step
	started    int64 // starts the fake answered
	cpu        float64
	rssMax     float64 // bytes
	rssAnonMax float64 // bytes, the anonymous part
	// The load phase as the fake saw it: from the first start answered to
	// the last, the process's CPU and the starts in between.
	loadCPU    float64
	loadStarts int64
	runErr     string
}

func (r omesResult) perCore() float64 {
	if r.loadCPU <= 0 {
		return 0
	}
	return float64(r.loadStarts) / r.loadCPU
}

func (r omesResult) cpuPer1k() float64 {
	if r.started == 0 {
		return 0
	}
	return 1000 * r.cpu / float64(r.started)
}

// held: omes started what the rate asked for. Its rate limiter is a
// ticker that drops ticks it cannot keep up with, so falling behind shows
// as missing starts, not as late ones.
func (r omesResult) held() (bool, string) {
	switch {
	case r.runErr != "":
		return false, r.runErr
	case float64(r.started) < 0.99*float64(r.expected):
		return false, fmt.Sprintf("started %d of the %d the rate asks for", r.started, r.expected)
	}
	return true, ""
}

// omesCeiling runs omes at the same rising rates, a fresh fake per rate,
// and returns the highest rate it held (nil if none).
func omesCeiling(ctx context.Context, o options) (*omesResult, error) {
	fmt.Printf("omes (%s) against the fake: scenario %s, --max-concurrent 10000, %s per rate\n", o.omes, omesScenario, o.step)
	var best *omesResult
	for _, rate := range o.rates {
		r, err := omesRun(ctx, o, rate)
		if err != nil {
			return best, err
		}
		ok, why := r.held()
		fmt.Printf("omes %6g/s: %d started, CPU %.2f s (%.0f wf/s per core in the load phase; %.3f s per 1k over the whole run), RSS max %.0f MB (anonymous %.0f MB)",
			rate, r.started, r.cpu, r.perCore(), r.cpuPer1k(), r.rssMax/(1<<20), r.rssAnonMax/(1<<20))
		if !ok {
			fmt.Printf(": FELL BEHIND (%s)\n", why)
			break
		}
		fmt.Println(": held")
		best = &r
		if ctx.Err() != nil {
			return best, ctx.Err()
		}
	}
	return best, nil
}

func omesRun(ctx context.Context, o options, rate float64) (omesResult, error) {
	r := omesResult{rate: rate, expected: int64(rate * o.step.Seconds())}
	fake, err := fakefrontend.Start("127.0.0.1:0")
	if err != nil {
		return r, err
	}
	defer fake.Close()
	dir := filepath.Join(o.out, fmt.Sprintf("omes-%g", rate))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, err
	}
	// The fake has no operator service, so omes must not register its
	// search attributes; --max-concurrent matches squall's --max-in-flight
	// default, so neither tool is held back by a concurrency bound.
	args := []string{"run-scenario",
		"--scenario", omesScenario,
		"--server-address", fake.Addr(),
		"--do-not-register-search-attributes",
		"--run-id", fmt.Sprintf("driverbench%g", rate),
		"--max-iterations-per-second", fmt.Sprintf("%g", rate),
		"--max-concurrent", "10000",
		"--duration", o.step.String(),
		"--log-level", "warn"}
	var firstCPU float64
	var firstStarts, lastStarts int64
	var out bytes.Buffer
	// omes writes files of its own (logs, metrics) where it runs.
	cpu, werr := sampled(ctx, o.omes, args, dir, &out, func(u metrics.ProcUsage, _ time.Duration) {
		r.rssMax, r.rssAnonMax = max(r.rssMax, u.RSSBytes), max(r.rssAnonMax, u.RSSAnonBytes)
		if n := fake.Calls()["StartWorkflowExecution"]; n > lastStarts {
			if lastStarts == 0 {
				firstCPU, firstStarts = u.CPUSeconds, n
			}
			lastStarts = n
			r.loadCPU, r.loadStarts = u.CPUSeconds-firstCPU, n-firstStarts
		}
	})
	r.cpu = cpu
	if errors.Is(werr, errNotStarted) {
		return r, werr
	}
	r.started = fake.Calls()["StartWorkflowExecution"]
	if werr != nil {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		r.runErr = fmt.Sprintf("omes exited (%v): %s", werr, strings.TrimSpace(tail(out.String(), 5)))
	}
	if err := os.WriteFile(filepath.Join(dir, "omes.log"), out.Bytes(), 0o644); err != nil {
		return r, err
	}
	return r, nil
}
