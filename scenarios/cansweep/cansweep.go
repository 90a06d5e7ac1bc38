// Package cansweep is the continue-as-new threshold validator: for a list of
// history lengths it builds a workflow history of that length, then measures
// (a) cold replay time with the SDK's replayer, (b) workflow-task latency on
// a worker without a sticky cache (every task a full replay), (c) the
// history's size in bytes and (d) whether and where the server suggested
// continue-as-new, and recommends the largest length whose p99 task latency
// stays under a budget. One iteration is the whole sweep, and the
// scenario's defaults run exactly one:
//
//	squall run --scenario can-sweep --option lengths=1000,2000,5000
package cansweep

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/squallbench/squall/scenarios"
)

// Name is the scenario's registry name.
const Name = "can-sweep"

// DefaultLengths span short histories to past the server's 10,240-event
// warning, all below its 51,200-event limit.
const DefaultLengths = "1k,2k,5k,10k,20k,50k"

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name: Name,
		Description: "continue-as-new threshold validator: builds histories of several lengths and measures cold replay, " +
			"workflow-task latency without sticky cache, history bytes and the server's suggestion; recommends a threshold " +
			"(one iteration is the whole sweep; the defaults run one)",
		Proves: "one sweep over history lengths up to past the server's continue-as-new suggestion: cold replay and " +
			"uncached workflow-task latency grow with length, and a threshold is recommended against the budget",
		Options: []scenarios.Option{
			{Name: "lengths", Kind: scenarios.String, Default: DefaultLengths,
				Help: "history lengths in events, comma-separated (k = 1000); each must stay below the server's " +
					"limit.historyCount.error (51,200 by default)"},
			{Name: "budget", Kind: scenarios.Duration, Default: "1s", Min: scenarios.MinOf(0.001),
				Help: "p99 workflow-task latency budget (sticky cache disabled) the recommendation must meet"},
			{Name: "probes", Kind: scenarios.Int, Default: "20", Min: scenarios.MinOf(1),
				Help: "measured workflow tasks per length (each follows one activity; +1 for the task of the probe signal)"},
			{Name: "replays", Kind: scenarios.Int, Default: "5", Min: scenarios.MinOf(1),
				Help: "cold replays per length (a fresh replayer each)"},
			{Name: "batch", Kind: scenarios.Int, Default: "1", Min: scenarios.MinOf(1),
				Help: "activities per workflow task while building (1: a plain loop of activities, 6 events each)"},
			{Name: "payload", Kind: scenarios.Int, Default: "256", Min: scenarios.MinOf(0),
				Help: "bytes in every building activity's input and again in its result"},
			{Name: "task-timeout", Kind: scenarios.Duration, Default: "10s", Min: scenarios.MinOf(1),
				Help: "workflow task timeout of the sweep workflows (the server's default is 10s)"},
			{Name: "probe-timeout", Kind: scenarios.Duration, Default: "10m", Min: scenarios.MinOf(1),
				Help: "how long the probe phase of one length may take before the sweep gives up on it"},
		},
		// One sweep, run to its end (closed loop): it measures, and a second
		// sweep beside it would only distort the first. The grace is for
		// open-loop runs (--rate), where the load ends as the sweep starts.
		Defaults: scenarios.Defaults{Concurrency: 1, Iterations: 1, Grace: 30 * time.Minute},
		Validate: func(o scenarios.Values, _ scenarios.Load) error { _, err := configure(o); return err },
		Register: Register,
		New:      newDriver,
	})
}

// ParseLengths parses "1k,2k,5000" into sorted, distinct lengths.
func ParseLengths(s string) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ToLower(f))
		if f == "" {
			continue
		}
		mult := 1
		if strings.HasSuffix(f, "k") {
			mult, f = 1000, strings.TrimSuffix(f, "k")
		}
		n, err := strconv.ParseFloat(f, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("lengths: %q is not a history length (e.g. 1000 or 1k)", f)
		}
		l := int(n * float64(mult))
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lengths: none given")
	}
	sort.Ints(out)
	return out, nil
}

type config struct {
	lengths      []int
	budget       time.Duration
	probes       int
	replays      int
	batch        int
	payload      int
	taskTimeout  time.Duration
	probeTimeout time.Duration
}

// reserve is the number of events the probe phase adds after building:
// probe signal + its task (4), 6 per probe (activity scheduled, started,
// completed; workflow task scheduled, started, completed), the completion
// (1) and the task completed before the signal (1).
func (c config) reserve() int { return 6 + 6*c.probes }

type driver struct {
	env scenarios.Env
	cfg config

	mu   sync.Mutex // one sweep at a time: the sticky-cache switch is process-wide
	last *outcome
}

// configure parses and checks the options (no side effects: it is also
// the scenario's Validate, run before any server starts).
func configure(opts scenarios.Values) (*driver, error) {
	lengths, err := ParseLengths(opts.String("lengths"))
	if err != nil {
		return nil, err
	}
	c := config{lengths: lengths, budget: opts.Duration("budget"), probes: int(opts.Int("probes")),
		replays: int(opts.Int("replays")), batch: int(opts.Int("batch")), payload: int(opts.Int("payload")),
		taskTimeout: opts.Duration("task-timeout"), probeTimeout: opts.Duration("probe-timeout")}
	if min := c.reserve() + 6*c.batch + 20; lengths[0] < min {
		return nil, fmt.Errorf("lengths: %d is too short for %d probes and batch %d (at least %d events)", lengths[0], c.probes, c.batch, min)
	}
	// The probe phase is a chain of activities and workflow tasks; one lost
	// (its attempt gone with a server restart) is retried only when its
	// timeout expires. A probe-timeout shorter than that gives up on a
	// length that was merely recovering.
	if need := StepTimeout + c.taskTimeout; c.probeTimeout < need {
		return nil, fmt.Errorf("probe-timeout=%s is shorter than the recovery of one lost probe step (activity timeout %s + task-timeout %s): make it at least %s",
			c.probeTimeout, StepTimeout, c.taskTimeout, need)
	}
	return &driver{cfg: c}, nil
}

func newDriver(_ context.Context, env scenarios.Env, opts scenarios.Values) (scenarios.Driver, error) {
	d, err := configure(opts)
	if err != nil {
		return nil, err
	}
	d.env = env
	return d, nil
}

func (d *driver) Close() error { return nil }
