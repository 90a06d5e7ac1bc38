// Package workers is the worker process: `squall worker` registers every
// scenario's workflows and activities on one task queue. `squall run` starts
// these as child processes so faults can kill and pause them.
package workers

import (
	"context"
	"fmt"
	"strconv"

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
	return a
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
