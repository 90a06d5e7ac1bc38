// Package workflow is the bring-your-own scenario: it drives a workflow
// type that the user's own workers serve (in any SDK language) on their
// task queue. Latency, verification, history sizes and faults work as for
// every scenario; only the workflow is the user's.
package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
)

// Name is the scenario's registry name.
const Name = "workflow"

// Histograms the scenario observes besides the harness's own.
const (
	HistSignal = "signal" // signal call, from the iteration's intended start plus signal-delay
	HistQuery  = "query"  // query call
	// HistUpdate is the update's outcome (accepted and completed, or
	// rejected), from the iteration's intended start plus update-delay (or,
	// with start=update-with-start, from the intended start).
	HistUpdate = "update"
)

// Start modes.
const (
	StartPlain           = "start"
	StartUpdateWithStart = "update-with-start"
)

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name: Name,
		Description: "bring your own workflow: start a workflow type your own workers serve (any SDK language) " +
			"on your task queue; templated input, optional signal and query, expected end state",
		Proves: "nothing by itself: it needs --option type= (your workflow); it then proves every start reaches the end " +
			"state --option expect names",
		Resumable: true,
		Options: []scenarios.Option{
			{Name: "type", Kind: scenarios.String, Default: "", Help: "workflow type name as your workers register it (required)"},
			{Name: "task-queue", Kind: scenarios.String, Default: "", Help: "task queue your workers poll (default: the run's, served by squall's workers); giving one implies --workers 0"},
			{Name: "input", Kind: scenarios.String, Default: "", Help: "the workflow's one argument: a JSON literal or @file.json, a template with {{.Iteration}}, {{.RunID}}, {{.Random}} (seeded per iteration)"},
			{Name: "args", Kind: scenarios.String, Default: "", Help: "instead of input: a JSON array (literal or @file.json, templated), one argument per element"},
			{Name: "id", Kind: scenarios.String, Default: "workflow-{{.RunID}}-{{.Iteration}}", Help: "workflow ID template; must contain {{.Iteration}}"},
			{Name: "expect", Kind: scenarios.Enum, Default: "completed", Choices: expectChoices(), Help: "the end state every workflow must reach"},
			{Name: "execution-timeout", Kind: scenarios.Duration, Default: "0s", Min: scenarios.MinOf(0), Help: "workflow execution timeout (0: none)"},
			{Name: "signal", Kind: scenarios.String, Default: "", Help: "signal name to send after the start (optional)"},
			{Name: "signal-input", Kind: scenarios.String, Default: "", Help: "the signal's argument: JSON literal or @file.json, templated like input"},
			{Name: "signal-delay", Kind: scenarios.Duration, Default: "0s", Min: scenarios.MinOf(0), Help: "send the signal this long after the start"},
			{Name: "update", Kind: scenarios.String, Default: "", Help: "update name to send after the start (optional); its outcome must be expect-update"},
			{Name: "update-input", Kind: scenarios.String, Default: "", Help: "the update's argument: JSON literal or @file.json, templated like input"},
			{Name: "update-delay", Kind: scenarios.Duration, Default: "0s", Min: scenarios.MinOf(0), Help: "send the update this long after the start"},
			{Name: "expect-update", Kind: scenarios.Enum, Default: "accepted", Choices: []string{"accepted", "rejected"},
				Help: "the outcome every update must have: accepted (and completed without error) or rejected by the workflow's validator"},
			{Name: "start", Kind: scenarios.Enum, Default: StartPlain, Choices: []string{StartPlain, StartUpdateWithStart},
				Help: "how each workflow starts: start, or update-with-start (needs update; the update creates the workflow)"},
			{Name: "query", Kind: scenarios.String, Default: "", Help: "query name to ask before waiting for the result (optional)"},
			{Name: "seed", Kind: scenarios.Int, Default: "1", Help: "seed of {{.Random}}"},
			{Name: "first-task-timeout", Kind: scenarios.Duration, Default: "10s", Min: scenarios.MinOf(1),
				Help: "how long the first workflows may wait for a worker to take their first task before the run stops as misconfigured"},
		},
		Defaults:   scenarios.Defaults{Rate: "10/s", Duration: 30 * time.Second},
		Validate:   func(v scenarios.Values, _ scenarios.Load) error { _, err := configure(v); return err },
		OwnWorkers: func(v scenarios.Values) bool { return v.String("task-queue") != "" },
		Register:   func(worker.Registry) {}, // the user's workers register the workflow
		New:        newDriver,
	})
}

func expectChoices() []string {
	out := make([]string, len(scenarios.Expects))
	for i, e := range scenarios.Expects {
		out[i] = e.String()
	}
	return out
}

// config is the options, parsed and checked.
type config struct {
	typ, taskQueue, signal, query string
	input, signalInput, id        *template
	update                        string
	updateInput                   *template
	updateDelay                   time.Duration
	expectReject, withStart       bool
	spread                        bool // args: one argument per array element
	expect                        scenarios.Expect
	timeout, signalDelay          time.Duration
	firstTask                     time.Duration
	seed                          int64
}

func configure(v scenarios.Values) (*config, error) {
	c := &config{typ: strings.TrimSpace(v.String("type")), taskQueue: v.String("task-queue"), signal: v.String("signal"),
		query: v.String("query"), timeout: v.Duration("execution-timeout"), signalDelay: v.Duration("signal-delay"),
		firstTask: v.Duration("first-task-timeout"), seed: v.Int("seed"), update: strings.TrimSpace(v.String("update")),
		updateDelay: v.Duration("update-delay"), expectReject: v.String("expect-update") == "rejected",
		withStart: v.String("start") == StartUpdateWithStart}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if c.typ == "" {
		bad("missing --option type=NAME: the workflow type your workers register (e.g. type=squall.noop)")
	}
	var err error
	if c.expect, err = scenarios.ParseExpect(v.String("expect")); err != nil {
		bad("expect: %v", err)
	}
	in, args := v.String("input"), v.String("args")
	switch {
	case in != "" && args != "":
		bad("give input (one argument) or args (a JSON array of arguments), not both")
	case args != "":
		c.spread = true
		if c.input, err = jsonTemplate("args", args, true); err != nil {
			bad("%v", err)
		}
	case in != "":
		if c.input, err = jsonTemplate("input", in, false); err != nil {
			bad("%v", err)
		}
	}
	if s := v.String("signal-input"); s != "" {
		if c.signal == "" {
			bad("signal-input needs signal=NAME")
		}
		if c.signalInput, err = jsonTemplate("signal-input", s, false); err != nil {
			bad("%v", err)
		}
	}
	if c.signal == "" && v.Duration("signal-delay") > 0 {
		bad("signal-delay needs signal=NAME")
	}
	if s := v.String("update-input"); s != "" {
		if c.update == "" {
			bad("update-input needs update=NAME")
		}
		if c.updateInput, err = jsonTemplate("update-input", s, false); err != nil {
			bad("%v", err)
		}
	}
	if c.update == "" && (c.updateDelay > 0 || c.withStart || c.expectReject) {
		bad("update-delay, expect-update and start=update-with-start need update=NAME")
	}
	if c.withStart && c.updateDelay > 0 {
		bad("start=update-with-start sends the update with the start: drop update-delay")
	}
	idSrc := v.String("id")
	if !strings.Contains(idSrc, ".Iteration") {
		bad("id template %q must contain {{.Iteration}}: every iteration needs its own workflow ID", idSrc)
	} else if c.id, err = parseTemplate("id", idSrc); err != nil {
		bad("%v", err)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return c, nil
}

// jsonTemplate reads a JSON option (literal or @file) as a template and
// checks it renders to valid JSON (an array if wantArray).
func jsonTemplate(name, src string, wantArray bool) (*template, error) {
	if path, ok := strings.CutPrefix(src, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: cannot read %s: %v", name, path, err)
		}
		src = string(b)
	}
	t, err := parseTemplate(name, src)
	if err != nil {
		return nil, err
	}
	probe, err := t.render(vars{Iteration: 0, RunID: "check", Random: 1})
	if err != nil {
		return nil, err
	}
	var x any
	if err := json.Unmarshal([]byte(probe), &x); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON once rendered (%v): %.80s", name, err, probe)
	}
	if _, isArray := x.([]any); wantArray && !isArray {
		return nil, fmt.Errorf("%s must be a JSON array (one element per workflow argument)", name)
	}
	return t, nil
}

type driver struct {
	env scenarios.Env
	cfg *config
	tq  string
	// watched counts iterations whose first workflow task is watched: the
	// first few tell whether any worker serves the type at all.
	watched chan struct{}

	mu                              sync.Mutex
	updatesAsExpected, updatesWrong int64
}

func newDriver(ctx context.Context, env scenarios.Env, v scenarios.Values) (scenarios.Driver, error) {
	cfg, err := configure(v)
	if err != nil {
		return nil, err
	}
	d := &driver{env: env, cfg: cfg, tq: cfg.taskQueue, watched: make(chan struct{}, watchFirst)}
	if d.tq == "" {
		d.tq = env.TaskQueue
	}
	for range watchFirst {
		d.watched <- struct{}{}
	}
	if err := awaitPollers(ctx, env.Client, d.tq, cfg.firstTask); err != nil {
		return nil, err
	}
	return d, nil
}

// watchFirst is how many of the first iterations are watched for a first
// workflow task that no worker can run.
const watchFirst = 3

func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	vv := vars{Iteration: it.N, RunID: d.env.RunID, Random: random(d.cfg.seed, it.N)}
	id, err := d.cfg.id.render(vv)
	if err != nil {
		return err
	}
	args, err := d.args(vv)
	if err != nil {
		return err
	}
	spec := scenarios.StartSpec{ID: id, Workflow: d.cfg.typ, Args: args, Expect: d.cfg.expect,
		Options: client.StartWorkflowOptions{TaskQueue: d.tq, WorkflowExecutionTimeout: d.cfg.timeout}}
	var run client.WorkflowRun
	if d.cfg.withStart {
		if err := d.sendUpdate(ctx, id, &spec, it, vv); err != nil {
			return err
		}
		run = d.env.Client.GetWorkflow(ctx, id, "")
	} else if run, err = d.env.Start(ctx, spec); err != nil {
		return err
	}
	select {
	case <-d.watched:
		if err := d.watchFirstTask(ctx, run); err != nil {
			return err
		}
	default:
	}
	if d.cfg.signal != "" {
		if err := d.sendSignal(ctx, run, it, vv); err != nil {
			return err
		}
	}
	if d.cfg.update != "" && !d.cfg.withStart {
		if err := d.sendUpdate(ctx, id, nil, it, vv); err != nil {
			return err
		}
	}
	if d.cfg.query != "" {
		began := time.Now()
		if _, err := d.env.Client.QueryWorkflow(ctx, run.GetID(), run.GetRunID(), d.cfg.query); err != nil {
			return &scenarios.WorkflowError{ID: run.GetID(), Err: fmt.Errorf("query %s: %w", d.cfg.query, err)}
		}
		d.env.Observe(HistQuery, time.Since(began))
	}
	if d.cfg.expect != scenarios.ExpectCompleted {
		// Any other end state is the workflow's result, not a failure of
		// the iteration: verification holds it to the expectation.
		_ = scenarios.AwaitResult(ctx, run, nil)
		return ctx.Err()
	}
	return scenarios.Await(ctx, run, nil)
}

func (d *driver) args(vv vars) ([]any, error) {
	if d.cfg.input == nil {
		return nil, nil
	}
	s, err := d.cfg.input.render(vv)
	if err != nil {
		return nil, err
	}
	if !d.cfg.spread {
		return []any{json.RawMessage(s)}, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal([]byte(s), &elems); err != nil {
		return nil, fmt.Errorf("args: %w", err)
	}
	out := make([]any, len(elems))
	for i, e := range elems {
		out[i] = e
	}
	return out, nil
}

func (d *driver) sendSignal(ctx context.Context, run client.WorkflowRun, it scenarios.Iteration, vv vars) error {
	var arg any
	if d.cfg.signalInput != nil {
		s, err := d.cfg.signalInput.render(vv)
		if err != nil {
			return err
		}
		arg = json.RawMessage(s)
	}
	due := time.Now().Add(d.cfg.signalDelay)
	if !it.Due.IsZero() {
		due = it.Due.Add(d.cfg.signalDelay)
	}
	if wait := time.Until(due); wait > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	if err := scenarios.Signal(ctx, d.env.Client, run.GetID(), d.cfg.signal, arg); err != nil {
		return &scenarios.WorkflowError{ID: run.GetID(), Err: fmt.Errorf("signal %s: %w", d.cfg.signal, err)}
	}
	d.env.Observe(HistSignal, time.Since(due))
	return nil
}

// sendUpdate sends the update to workflow id (with spec: as its
// update-with-start) at its due time and checks its outcome against
// expect-update.
func (d *driver) sendUpdate(ctx context.Context, id string, spec *scenarios.StartSpec, it scenarios.Iteration, vv vars) error {
	var args []any
	if d.cfg.updateInput != nil {
		s, err := d.cfg.updateInput.render(vv)
		if err != nil {
			return err
		}
		args = []any{json.RawMessage(s)}
	}
	due := time.Now().Add(d.cfg.updateDelay)
	if !it.Due.IsZero() {
		due = it.Due.Add(d.cfg.updateDelay)
	}
	if wait := time.Until(due); wait > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	opts := client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: d.cfg.update, Args: args,
		UpdateID: fmt.Sprintf("%s-%d", d.env.RunID, it.N), WaitForStage: client.WorkflowUpdateStageCompleted}
	var (
		h   client.WorkflowUpdateHandle
		err error
	)
	if spec != nil {
		h, err = d.env.UpdateWithStart(ctx, *spec, opts)
	} else {
		h, err = d.env.Client.UpdateWorkflow(ctx, opts)
	}
	if err == nil {
		err = h.Get(ctx, nil)
	}
	var appErr *temporal.ApplicationError
	rejected := errors.As(err, &appErr)
	if err != nil && !rejected {
		return &scenarios.WorkflowError{ID: id, Err: fmt.Errorf("update %s: %w", d.cfg.update, err)}
	}
	d.env.Observe(HistUpdate, time.Since(due))
	d.mu.Lock()
	defer d.mu.Unlock()
	if rejected != d.cfg.expectReject {
		d.updatesWrong++
		if rejected {
			return &scenarios.WorkflowError{ID: id, Err: fmt.Errorf("update %s: rejected or failed (expect-update=accepted): %w", d.cfg.update, err)}
		}
		return &scenarios.WorkflowError{ID: id, Err: fmt.Errorf("update %s: accepted (expect-update=rejected)", d.cfg.update)}
	}
	d.updatesAsExpected++
	return nil
}

// Invariants: the generic ones (every workflow reached its expected end
// state) are the point; with an update, every outcome was expect-update.
func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	if d.cfg.update == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	want := map[bool]string{false: "accepted", true: "rejected"}[d.cfg.expectReject]
	return []scenarios.Invariant{check.That("updates-as-expected", d.updatesWrong == 0 && d.updatesAsExpected > 0,
		"%d updates %s as expected, %d not", d.updatesAsExpected, want, d.updatesWrong)}
}

func (d *driver) Close() error { return nil }
