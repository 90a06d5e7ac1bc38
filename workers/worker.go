// Package workers is the worker process: `squall worker` registers every
// scenario's workflows and activities on one task queue. `squall run` starts
// these as child processes so faults can kill and pause them.
package workers

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/worker"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/scenarios"
	_ "github.com/squallbench/squall/scenarios/all" // every scenario
)

// ReadyLine is printed on stdout once the worker polls.
const ReadyLine = "SQUALL-WORKER-READY"

// Tuning are the worker knobs that pass through `squall run` and are
// recorded in the report. Zero means the SDK default.
type Tuning struct {
	WorkflowPollers     int `json:"workflow_pollers"`
	ActivityPollers     int `json:"activity_pollers"`
	WorkflowSlots       int `json:"workflow_task_slots"`
	ActivitySlots       int `json:"activity_slots"`
	StickyCacheSize     int `json:"sticky_cache_size"`
	ActivitiesPerSecond int `json:"activities_per_second"`
	// AutoscalePollers uses the SDK's autoscaling poller behaviour (instead
	// of fixed poller counts): under a sticky backlog, the default poller
	// can starve the normal task queue for minutes.
	AutoscalePollers bool `json:"autoscale_pollers"`
	// TaskQueueActivitiesPerSecond is the server-enforced activity rate of
	// the whole task queue (all workers together); 0: none.
	TaskQueueActivitiesPerSecond float64 `json:"task_queue_activities_per_second"`
	// DisableEagerActivities stops the SDK from asking for activities to be
	// handed back with the workflow task that scheduled them. Eager
	// activities bypass ActivitiesPerSecond (measured with SDK 1.50, see
	// docs/scenarios.md, throttled-api: 15 calls in a 2 s window at 2/s per
	// worker; 5 without).
	DisableEagerActivities bool `json:"disable_eager_activities"`
	// StickyScheduleToStart is how long a workflow task waits on a worker's
	// sticky queue before the server hands it to any worker (SDK default
	// 5 s): after a worker is killed, its workflows wait this long.
	StickyScheduleToStart time.Duration `json:"sticky_schedule_to_start_timeout_ns"`
}

// Args renders t as `squall worker` flags.
func (t Tuning) Args() []string {
	var a []string
	add := func(flag string, v int) {
		if v != 0 {
			a = append(a, flag, strconv.Itoa(v))
		}
	}
	add("--workflow-pollers", t.WorkflowPollers)
	add("--activity-pollers", t.ActivityPollers)
	add("--workflow-slots", t.WorkflowSlots)
	add("--activity-slots", t.ActivitySlots)
	add("--sticky-cache-size", t.StickyCacheSize)
	add("--activities-per-second", t.ActivitiesPerSecond)
	if t.AutoscalePollers {
		a = append(a, "--autoscale-pollers")
	}
	if t.TaskQueueActivitiesPerSecond != 0 {
		a = append(a, "--task-queue-activities-per-second", strconv.FormatFloat(t.TaskQueueActivitiesPerSecond, 'g', -1, 64))
	}
	if t.DisableEagerActivities {
		a = append(a, "--disable-eager-activities")
	}
	if t.StickyScheduleToStart != 0 {
		a = append(a, "--sticky-schedule-to-start-timeout", t.StickyScheduleToStart.String())
	}
	return a
}

// AddFlags declares the worker tuning knobs on f (`squall worker`, and
// `squall run`, which passes them through with Args).
func AddFlags(f *pflag.FlagSet, t *Tuning) {
	f.IntVar(&t.WorkflowPollers, "workflow-pollers", 0, "worker: workflow task pollers (0: SDK default)")
	f.IntVar(&t.ActivityPollers, "activity-pollers", 0, "worker: activity task pollers (0: SDK default)")
	f.IntVar(&t.WorkflowSlots, "workflow-slots", 0, "worker: concurrent workflow tasks (0: SDK default)")
	f.IntVar(&t.ActivitySlots, "activity-slots", 0, "worker: concurrent activities (0: SDK default)")
	f.IntVar(&t.StickyCacheSize, "sticky-cache-size", 0, "worker: sticky workflow cache size (0: SDK default)")
	f.IntVar(&t.ActivitiesPerSecond, "activities-per-second", 0, "worker: activity rate limit per worker (0: none)")
	f.BoolVar(&t.AutoscalePollers, "autoscale-pollers", false, "worker: SDK autoscaling pollers instead of fixed counts")
	f.Float64Var(&t.TaskQueueActivitiesPerSecond, "task-queue-activities-per-second", 0,
		"worker: activity rate of the whole task queue, enforced by the server (0: none)")
	f.DurationVar(&t.StickyScheduleToStart, "sticky-schedule-to-start-timeout", 0,
		"worker: how long a workflow task waits for its sticky worker before any worker may take it (0: SDK default, 5s)")
	f.BoolVar(&t.DisableEagerActivities, "disable-eager-activities", false,
		"worker: no eager activities (they bypass --activities-per-second)")
}

// Validate rejects negative values.
func (t Tuning) Validate() error {
	for name, v := range map[string]int{
		"--workflow-pollers": t.WorkflowPollers, "--activity-pollers": t.ActivityPollers,
		"--workflow-slots": t.WorkflowSlots, "--activity-slots": t.ActivitySlots,
		"--sticky-cache-size": t.StickyCacheSize, "--activities-per-second": t.ActivitiesPerSecond,
	} {
		if v < 0 {
			return cluster.Usagef("bad %s %d: must be 0 (SDK default) or more", name, v)
		}
	}
	if t.StickyScheduleToStart < 0 {
		return cluster.Usagef("bad --sticky-schedule-to-start-timeout %s: must be 0 (SDK default) or more", t.StickyScheduleToStart)
	}
	if t.TaskQueueActivitiesPerSecond < 0 {
		return cluster.Usagef("bad --task-queue-activities-per-second %g: must be 0 (none) or more", t.TaskQueueActivitiesPerSecond)
	}
	return nil
}

func (t Tuning) options() worker.Options {
	if t.AutoscalePollers {
		o := t.fixed()
		o.WorkflowTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{})
		o.ActivityTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{})
		return o
	}
	return t.fixed()
}

func (t Tuning) fixed() worker.Options {
	return worker.Options{
		MaxConcurrentWorkflowTaskPollers:       t.WorkflowPollers,
		MaxConcurrentActivityTaskPollers:       t.ActivityPollers,
		MaxConcurrentWorkflowTaskExecutionSize: t.WorkflowSlots,
		MaxConcurrentActivityExecutionSize:     t.ActivitySlots,
		WorkerActivitiesPerSecond:              float64(t.ActivitiesPerSecond),
		TaskQueueActivitiesPerSecond:           t.TaskQueueActivitiesPerSecond,
		DisableEagerActivities:                 t.DisableEagerActivities,
		StickyScheduleToStartTimeout:           t.StickyScheduleToStart,
	}
}

// Run polls taskQueue until ctx ends, then stops the worker cleanly.
// ready is called once the worker has started polling.
func Run(ctx context.Context, conn cluster.Conn, taskQueue string, t Tuning, ready func()) error {
	if taskQueue == "" {
		return cluster.Usagef("missing --task-queue")
	}
	if err := t.Validate(); err != nil {
		return err
	}
	if t.AutoscalePollers && (t.WorkflowPollers != 0 || t.ActivityPollers != 0) {
		return cluster.Usagef("--autoscale-pollers replaces --workflow-pollers and --activity-pollers: give one or the other")
	}
	cl, err := conn.Dial(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	if t.StickyCacheSize > 0 {
		worker.SetStickyWorkflowCacheSize(t.StickyCacheSize)
	}
	w := worker.New(cl, taskQueue, t.options())
	scenarios.RegisterAll(w)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on %s: %w", taskQueue, err)
	}
	defer w.Stop()
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	return nil
}
