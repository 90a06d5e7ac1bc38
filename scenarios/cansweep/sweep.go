package cansweep

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/internal/sleep"
	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
)

// defaultStickyCacheSize is the SDK's default (restored after the sweep).
const defaultStickyCacheSize = 10000

// Row is one measured history length: a row of the sweep table.
type Row struct {
	Target int `json:"target_events"`
	// Events and Bytes of the finished history (Describe).
	Events int64 `json:"events"`
	Bytes  int64 `json:"bytes"`
	// BuiltEvents/BuiltBytes: the history when probing began.
	BuiltEvents  int     `json:"built_events"`
	BuiltBytes   int     `json:"built_bytes"`
	BuildSeconds float64 `json:"build_seconds"`
	// FetchMS: reading the whole history from the server (all pages).
	FetchMS float64 `json:"fetch_ms"`
	// Replay: cold replays of the whole history with the SDK's replayer.
	ReplayMS        Spread  `json:"replay_ms"`
	ReplayMSPer1k   float64 `json:"replay_ms_per_1k_events"` // median / (events/1000)
	ReplayErrors    int     `json:"replay_errors"`
	ReplayErrorText string  `json:"replay_error,omitempty"`
	// Task: workflow-task latency (started -> completed, server clock) of
	// the probe tasks on the worker without a sticky cache.
	TaskMS        TaskStats `json:"task_ms"`
	TaskStickyHit int       `json:"probe_tasks_on_sticky_queue"`
	TaskFailures  int       `json:"probe_task_failures"`
	// Suggested: the server suggested continue-as-new in this history; at
	// which length/size the workflow first saw it, and the history's own
	// record (first workflow task started event carrying the flag).
	Suggested         bool     `json:"suggested"`
	SuggestedAtEvents int      `json:"suggested_at_events,omitempty"`
	SuggestedAtBytes  int      `json:"suggested_at_bytes,omitempty"`
	SuggestedReasons  []string `json:"suggested_reasons,omitempty"`
	HistorySuggestAt  int64    `json:"history_suggested_at_event,omitempty"`
	UnderBudget       bool     `json:"p99_under_budget"`
	Error             string   `json:"error,omitempty"`
}

// Spread summarises a handful of repeated measurements, in milliseconds.
type Spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// TaskStats summarises the probe tasks, in milliseconds.
type TaskStats struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"` // nearest rank: with fewer than 100 probes, the max
	Max   float64 `json:"max"`
}

type outcome struct {
	rows []Row
	rec  Recommendation
	err  error
}

type sweepWF struct {
	length int
	id     string
	run    client.WorkflowRun
	built  time.Duration
	res    Result
	err    error
}

// Iterate runs the whole sweep: build every length in parallel on a worker
// with the default sticky cache, switch to a worker without one, probe the
// lengths one at a time (so tasks do not compete for the CPU), then fetch
// and replay each history in this process.
func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	o := d.sweep(ctx, it)
	d.last = o
	return o.err
}

func (d *driver) sweep(ctx context.Context, it scenarios.Iteration) *outcome {
	c := d.cfg
	o := &outcome{}
	queue := fmt.Sprintf("%s-can-sweep-%d", d.env.TaskQueue, it.N)

	// Phase 1: build, on a worker that keeps workflows in its sticky cache.
	worker.SetStickyWorkflowCacheSize(defaultStickyCacheSize)
	w1 := d.env.NewWorker(queue, worker.Options{MaxConcurrentWorkflowTaskPollers: 4, MaxConcurrentActivityTaskPollers: 4})
	Register(w1)
	if err := w1.Start(); err != nil {
		o.err = fmt.Errorf("start building worker on %s: %w", queue, err)
		return o
	}
	stopW1 := sync1(w1.Stop)
	defer stopW1()

	wfs := make([]*sweepWF, len(c.lengths))
	began := time.Now()
	for i, l := range c.lengths {
		w := &sweepWF{length: l, id: fmt.Sprintf("%s-%s-%d-%d", Name, d.env.RunID, it.N, l)}
		wfs[i] = w
		run, err := d.env.Start(ctx, scenarios.StartSpec{ID: w.id, Workflow: WorkflowName,
			Args:    []any{Input{Target: l - c.reserve(), Batch: c.batch, Payload: c.payload, Probes: c.probes}},
			Options: client.StartWorkflowOptions{TaskQueue: queue, WorkflowTaskTimeout: c.taskTimeout}})
		if err != nil {
			o.err = err
			d.abort(wfs[:i], o.err)
			return o
		}
		w.run = run
		d.logf("started %s: building %d events (batch %d, payload %d bytes)", w.id, l-c.reserve(), c.batch, c.payload)
	}
	if err := d.waitBuilt(ctx, wfs, began); err != nil {
		o.err = err
		d.abort(wfs, err)
		return o
	}
	stopW1()
	d.logf("all histories built in %s; switching to a worker without sticky cache", time.Since(began).Round(time.Millisecond))

	// Phase 2: probe, on a worker without a sticky cache: every workflow
	// task fetches and replays the whole history. The cache size is
	// process-wide; nothing else in the driver process runs workflows.
	worker.SetStickyWorkflowCacheSize(0)
	defer worker.SetStickyWorkflowCacheSize(defaultStickyCacheSize)
	w2 := d.env.NewWorker(queue, worker.Options{})
	Register(w2)
	if err := w2.Start(); err != nil {
		o.err = fmt.Errorf("start probing worker on %s: %w", queue, err)
		d.abort(wfs, o.err)
		return o
	}
	stopW2 := sync1(w2.Stop)
	defer stopW2()
	for _, w := range wfs {
		t := time.Now()
		if err := d.probe(ctx, w); err != nil {
			w.err = err
			d.abort([]*sweepWF{w}, err)
			d.logf("probing %d failed: %v", w.length, err)
			continue
		}
		d.logf("probed %d (%d tasks) in %s", w.length, c.probes+1, time.Since(t).Round(time.Millisecond))
	}
	stopW2()

	// Phase 3: measure each history.
	for _, w := range wfs {
		row := d.measure(ctx, w)
		d.logf("measured %d: %d events, %d bytes, task p99 %.1f ms, replay median %.1f ms, suggested at %d%s",
			w.length, row.Events, row.Bytes, row.TaskMS.P99, row.ReplayMS.Median, row.SuggestedAtEvents, errNote(row.Error))
		o.rows = append(o.rows, row)
		if row.Error != "" && o.err == nil {
			o.err = fmt.Errorf("length %d: %s", w.length, row.Error)
		}
	}
	o.rec = recommend(o.rows, c.budget)
	d.logf("recommendation: %s", o.rec.Summary)
	return o
}

// Finish emits the last sweep's table and recommendation. The report
// draws the sweep's plot from them (report.html and can-sweep.svg).
func (d *driver) Finish(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	o := d.last
	if o == nil || len(o.rows) == 0 {
		return nil
	}
	d.env.Emit("sweep", o.rows)
	d.env.Emit("recommendation", o.rec)
	return nil
}

// LogFile is the sweep's progress log in the run directory (tail -f it
// during a long sweep).
const LogFile = "can-sweep.log"

// logf appends one line to the progress log; logging never fails the sweep.
func (d *driver) logf(format string, a ...any) {
	if d.env.Dir == "" {
		return
	}
	f, err := os.OpenFile(filepath.Join(d.env.Dir, LogFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, a...))
}

// sync1 makes f idempotent.
func sync1(f func()) func() {
	done := false
	return func() {
		if !done {
			done = true
			f()
		}
	}
}

// waitBuilt polls every workflow's phase query until all have built their
// history (or one failed).
func (d *driver) waitBuilt(ctx context.Context, wfs []*sweepWF, began time.Time) error {
	pending := len(wfs)
	lastLog := time.Now()
	for pending > 0 {
		logged := false
		for _, w := range wfs {
			if w.built > 0 {
				continue
			}
			v, err := d.env.Client.QueryWorkflow(ctx, w.id, "", QueryPhase)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// A closed workflow (failed, terminated) cannot build any more.
				if desc, derr := d.env.Client.DescribeWorkflowExecution(ctx, w.id, ""); derr == nil &&
					desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
					return fmt.Errorf("%s ended while building (%s): %w", w.id, desc.GetWorkflowExecutionInfo().GetStatus(), err)
				}
				continue
			}
			var p Progress
			if err := v.Get(&p); err != nil {
				return fmt.Errorf("phase of %s: %w", w.id, err)
			}
			if p.Phase != PhaseBuilding {
				w.built = time.Since(began)
				pending--
				d.logf("built %d: %d events, %d bytes in %s", w.length, p.Length, p.Bytes, w.built.Round(time.Millisecond))
			} else if time.Since(lastLog) >= 10*time.Second {
				d.logf("building %d: at %d events, %d bytes", w.length, p.Length, p.Bytes)
				logged = true
			}
		}
		if logged {
			lastLog = time.Now()
		}
		if pending > 0 {
			if !sleep.For(ctx, time.Second) {
				return ctx.Err()
			}
		}
	}
	return nil
}

func (d *driver) probe(ctx context.Context, w *sweepWF) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.probeTimeout)
	defer cancel()
	if err := d.env.Client.SignalWorkflow(ctx, w.id, "", SignalProbe, nil); err != nil {
		return fmt.Errorf("signal %s: %w", w.id, err)
	}
	if err := scenarios.Await(ctx, w.run, &w.res); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	return nil
}

// abort terminates sweep workflows that cannot finish, so they do not keep
// the server busy; verification reports them.
func (d *driver) abort(wfs []*sweepWF, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, w := range wfs {
		if w == nil || w.run == nil {
			continue
		}
		_ = d.env.Client.TerminateWorkflow(ctx, w.id, "", "can-sweep aborted: "+cause.Error())
	}
}

// measure reads w's history and replays it.
func (d *driver) measure(ctx context.Context, w *sweepWF) Row {
	c := d.cfg
	row := Row{Target: w.length, BuildSeconds: w.built.Seconds(), BuiltEvents: w.res.BuiltLength, BuiltBytes: w.res.BuiltBytes,
		Suggested: w.res.SuggestedAtLength > 0, SuggestedAtEvents: w.res.SuggestedAtLength,
		SuggestedAtBytes: w.res.SuggestedAtBytes, SuggestedReasons: w.res.SuggestedReasons}
	if w.err != nil {
		row.Error = w.err.Error()
		return row
	}
	desc, err := d.env.Client.DescribeWorkflowExecution(ctx, w.id, "")
	if err != nil {
		row.Error = fmt.Sprintf("describe: %v", err)
		return row
	}
	row.Events = desc.GetWorkflowExecutionInfo().GetHistoryLength()
	row.Bytes = desc.GetWorkflowExecutionInfo().GetHistorySizeBytes()

	t0 := time.Now()
	var events []*historypb.HistoryEvent
	iter := d.env.Client.GetWorkflowHistory(ctx, w.id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			row.Error = fmt.Sprintf("read history: %v", err)
			return row
		}
		events = append(events, ev)
	}
	row.FetchMS = bench.MS(time.Since(t0))
	hist := &historypb.History{Events: events}

	probes := analyzeProbes(events)
	row.TaskStickyHit, row.TaskFailures, row.HistorySuggestAt = probes.sticky, probes.failures, probes.firstSuggested
	row.TaskMS = taskStats(probes.latencies)
	for _, l := range probes.latencies {
		d.env.Observe(fmt.Sprintf("workflow-task-nonsticky@%d", w.length), l)
	}
	row.UnderBudget = row.TaskMS.Count > 0 && row.TaskMS.P99 < bench.MS(c.budget)

	var times []time.Duration
	for range c.replays {
		rp := worker.NewWorkflowReplayer()
		rp.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
		runtime.GC() // start each replay from the same heap: the history fetch left garbage
		t := time.Now()
		err := rp.ReplayWorkflowHistory(nil, hist)
		times = append(times, time.Since(t))
		if err != nil {
			row.ReplayErrors++
			row.ReplayErrorText = err.Error()
		}
	}
	row.ReplayMS = spread(times)
	if row.Events > 0 {
		row.ReplayMSPer1k = row.ReplayMS.Median / (float64(row.Events) / 1000)
	}
	return row
}

type probeFacts struct {
	latencies      []time.Duration
	sticky         int   // probe tasks scheduled on a sticky queue (should be none but perhaps the first)
	failures       int   // probe tasks failed or timed out
	firstSuggested int64 // event id of the first task started with the suggestion (whole history)
}

// analyzeProbes finds the workflow tasks after the probe signal and their
// started -> completed latency (the server's timestamps: the time the task
// was handed to the worker until its completion was recorded; it includes
// fetching the history pages and replaying them).
func analyzeProbes(events []*historypb.HistoryEvent) probeFacts {
	var f probeFacts
	probing := false
	var started time.Time
	for _, ev := range events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			if ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName() == SignalProbe {
				probing = true
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			if probing && ev.GetWorkflowTaskScheduledEventAttributes().GetTaskQueue().GetKind() == enumspb.TASK_QUEUE_KIND_STICKY {
				f.sticky++
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			if f.firstSuggested == 0 && ev.GetWorkflowTaskStartedEventAttributes().GetSuggestContinueAsNew() {
				f.firstSuggested = ev.GetEventId()
			}
			started = ev.GetEventTime().AsTime()
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			if probing && !started.IsZero() {
				f.latencies = append(f.latencies, ev.GetEventTime().AsTime().Sub(started))
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			if probing {
				f.failures++
			}
		}
	}
	return f
}

func errNote(e string) string {
	if e == "" {
		return ""
	}
	return "; error: " + e
}

func spread(v []time.Duration) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return Spread{Min: bench.MS(s[0]), Median: bench.MS(s[len(s)/2]), Max: bench.MS(s[len(s)-1])}
}

// taskStats: nearest-rank quantiles over the few probe samples.
func taskStats(v []time.Duration) TaskStats {
	if len(v) == 0 {
		return TaskStats{}
	}
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return TaskStats{Count: len(s), P50: bench.MS(rank(0.5)), P99: bench.MS(rank(0.99)), Max: bench.MS(s[len(s)-1])}
}

// Invariants: the sweep measured every length, the histories replay
// deterministically, the probe tasks were full replays, and the workflow's
// view of the server's suggestion matches the history.
func (d *driver) Invariants(context.Context) []scenarios.Invariant {
	d.mu.Lock()
	defer d.mu.Unlock()
	o := d.last
	if o == nil {
		return []scenarios.Invariant{check.Fail("sweep-ran", "no sweep iteration ran")}
	}
	return []scenarios.Invariant{d.sweepComplete(o), d.replayDeterministic(o), d.probesFullReplay(o), d.suggestionConsistent(o)}
}

// sweepComplete: every length was built to its target (within one build
// step and the probe reserve's slack) and measured.
func (d *driver) sweepComplete(o *outcome) scenarios.Invariant {
	var p check.Problems
	slack := int64(6*d.cfg.batch + 12)
	for _, r := range o.rows {
		switch {
		case r.Error != "":
			p.Add("%d: %s", r.Target, r.Error)
		case r.Events < int64(r.Target)-slack || r.Events > int64(r.Target)+slack:
			p.Add("%d: history has %d events", r.Target, r.Events)
		}
	}
	if len(o.rows) == 0 && o.err != nil {
		p.Add("%v", o.err)
	}
	return p.Invariant("sweep-complete", fmt.Sprintf("%d lengths built and measured: %v", len(o.rows), d.cfg.lengths))
}

func (d *driver) replayDeterministic(o *outcome) scenarios.Invariant {
	var p check.Problems
	for _, r := range o.rows {
		if r.Error == "" && r.ReplayErrors > 0 {
			p.Add("%d: %d of %d replays failed: %s", r.Target, r.ReplayErrors, d.cfg.replays, r.ReplayErrorText)
		}
	}
	return p.Invariant("replay-deterministic", fmt.Sprintf("every history replayed %d times without a nondeterminism error", d.cfg.replays))
}

// probesFullReplay: every probe task was measured, none failed, and none
// but perhaps the first (scheduled on the building worker's sticky queue
// before the server moved it on) ran from a sticky cache.
func (d *driver) probesFullReplay(o *outcome) scenarios.Invariant {
	var p check.Problems
	want := d.cfg.probes + 1
	for _, r := range o.rows {
		if r.Error == "" && (r.TaskMS.Count != want || r.TaskStickyHit > 1 || r.TaskFailures > 0) {
			p.Add("%d: %d probe tasks measured (want %d), %d on a sticky queue, %d failed or timed out",
				r.Target, r.TaskMS.Count, want, r.TaskStickyHit, r.TaskFailures)
		}
	}
	return p.Invariant("probes-full-replay", fmt.Sprintf("%d probe tasks per length, on the normal queue of a worker without sticky cache", want))
}

// suggestionConsistent: the workflow saw the suggestion (or not) where
// the history's workflow-task-started events carry it, at most one build
// step later.
func (d *driver) suggestionConsistent(o *outcome) scenarios.Invariant {
	var p check.Problems
	for _, r := range o.rows {
		if r.Error != "" {
			continue
		}
		w, h := int64(r.SuggestedAtEvents), r.HistorySuggestAt
		if (h == 0) != (w == 0) || w < h || w-h > int64(6*d.cfg.batch+6) {
			p.Add("%d: workflow saw the suggestion at event %d, the history carries it from event %d", r.Target, w, h)
		}
	}
	return p.Invariant("suggestion-consistent", "the workflow's GetContinueAsNewSuggested matches the history's workflow-task-started flags")
}
