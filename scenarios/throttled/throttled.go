// Package throttled is the throttled-api scenario: workflows call a rate-limited third-party API through one of six
// strategies, and the API's own request log proves whether its limit held.
//
// The API is a fake service (package fakes) in the driver process: it
// accepts at most api-limit requests in any api-window (a sliding window)
// and answers 429 above it, logging every request with its arrival time.
// An iteration is one caller workflow making calls-per-workflow concurrent
// calls. The strategies (option limiter; several, comma-separated, run side
// by side, iterations round-robin, each against its own API instance):
//
//   - worker: per-worker limits (WorkerActivitiesPerSecond,
//     MaxConcurrentActivityExecutionSize) on `workers` SDK worker instances
//     polling the strategy's own activity queue: the limit multiplies with
//     the worker count;
//   - task-queue: TaskQueueActivitiesPerSecond, enforced by the server
//     across all `workers` worker instances;
//   - semaphore, token-bucket, sliding-window: workflow-side
//     limiters, in one central limiter workflow per strategy (deterministic:
//     workflow time, workflow timers; see Gate) that callers ask for
//     permits by signal;
//   - none: no limiter, to show the violation.
//
// The worker instances of the worker and task-queue strategies run in the
// driver process (started with the run's address and namespace), because
// TaskQueueActivitiesPerSecond is a worker option the worker processes do
// not expose and the per-worker arithmetic needs a known worker count;
// each instance is an independent SDK worker with its own pollers and
// limiter, so N instances multiply a per-worker limit exactly as N
// processes do.
package throttled

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/fakes"
)

// Name is the scenario's registry name.
const Name = "throttled-api"

// Strategies besides the workflow-side Gate kinds.
const (
	KindWorker    = "worker"
	KindTaskQueue = "task-queue"
	KindNone      = "none"
)

// Kinds lists every strategy.
var Kinds = []string{KindWorker, KindTaskQueue, KindSemaphore, KindTokenBucket, KindSlidingWindow, KindNone}

// limiterMaxEvents: the limiter workflow continues as new beyond this.
const limiterMaxEvents = 2000

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name: Name,
		Description: "workflows call a rate-limited fake API (429 above api-limit per api-window) through worker, task-queue or " +
			"workflow-side limiters (semaphore, token-bucket, sliding-window) or none; the API's own log proves the limit held",
		Options: []scenarios.Option{
			{Name: "limiter", Kind: scenarios.String, Default: KindSlidingWindow,
				Help: "one or more (comma-separated, run side by side, iterations round-robin, each against its own API) of: " + strings.Join(Kinds, ", ")},
			{Name: "api-limit", Kind: scenarios.Int, Default: "20", Min: scenarios.MinOf(1), Help: "requests the API accepts per api-window"},
			{Name: "api-window", Kind: scenarios.Duration, Default: "10s", Min: scenarios.MinOf(0.001), Help: "the API's sliding window"},
			{Name: "api-latency", Kind: scenarios.Duration, Default: "20ms", Min: scenarios.MinOf(0), Help: "the API's answer time"},
			{Name: "calls-per-workflow", Kind: scenarios.Int, Default: "1", Min: scenarios.MinOf(1), Help: "API calls per iteration (concurrent)"},
			{Name: "permits", Kind: scenarios.Int, Default: "0", Min: scenarios.MinOf(0),
				Help: "semaphore permits, token-bucket calls in flight (0: max(1, api-limit/10))"},
			{Name: "burst", Kind: scenarios.Int, Default: "0", Min: scenarios.MinOf(0), Help: "token-bucket capacity (0: max(1, api-limit/10))"},
			{Name: "workers", Kind: scenarios.Int, Default: "1", Min: scenarios.MinOf(0),
				Help: "worker and task-queue strategies: SDK worker instances (in the driver process) polling the strategy's activity queue; " +
					"worker strategy with 0: the run's worker processes instead (their --activities-per-second and --activity-slots; the bound is then unknown here)"},
			{Name: "worker-rate", Kind: scenarios.Float, Default: "0", Min: scenarios.MinOf(0),
				Help: "worker strategy: WorkerActivitiesPerSecond of each worker (0: 0.9*(api-limit-1)/api-window, what one worker may do)"},
			{Name: "activity-slots", Kind: scenarios.Int, Default: "0", Min: scenarios.MinOf(0),
				Help: "worker strategy: MaxConcurrentActivityExecutionSize of each worker (0: SDK default)"},
			{Name: "queue-rate", Kind: scenarios.Float, Default: "0", Min: scenarios.MinOf(0),
				Help: "task-queue strategy: TaskQueueActivitiesPerSecond (0: (api-limit-2)/(api-window+1s), leaving room for the server's burst of one second's worth per partition; one partition assumed, the embedded server's setting)"},
			{Name: "limiter-max-grants", Kind: scenarios.Int, Default: "0", Min: scenarios.MinOf(0),
				Help: "workflow-side strategies: the limiter workflow continues as new after this many grants (0: only at 2,000 events or when the server suggests it)"},
			{Name: "retry-interval", Kind: scenarios.Duration, Default: "1s", Min: scenarios.MinOf(0.001),
				Help: "first backoff after a failed call (doubling, at most api-window)"},
		},
		// Demand above the default API's limit (3 calls a second against 20
		// per 10 s, i.e. 2 a second): the limiter must visibly hold work
		// back, and limiter=none is caught (429s and a peak over the
		// limit). The backlog (about 20 calls) drains within the grace.
		Defaults: scenarios.Defaults{Rate: "3/s", Duration: 20 * time.Second, Grace: 2 * time.Minute},
		Proves: "demand (3 calls/s) is 1.5x the API's limit (20 per 10 s): the sliding-window limiter queues calls and the API's " +
			"own log shows no window over the limit and every call accepted; with --option limiter=none the same run fails " +
			"rate-limit-respected",
		Validate: func(o scenarios.Values, _ scenarios.Load) error { _, _, _, err := configure(o); return err },
		Register: Register,
		New:      newDriver,
	})
}

// lane is one strategy of a run, with its own API instance.
type lane struct {
	kind      string
	api       *fakes.Service
	queue     string // worker, task-queue: the activity queue
	workers   []worker.Worker
	limiterID string // workflow-side strategies
	gate      Gate
	config    string // how it is configured and what it promises

	meter *meter // the API's arrivals, aggregated as they come
	calls *calls // successes per call of the callers in flight

	mu       sync.Mutex
	started  int // acked caller workflows
	done     int
	stats    *LimiterStats
	statsErr string
	report   *LaneReport // made by Finish
}

type driver struct {
	env    scenarios.Env
	limit  int
	window time.Duration
	calls  int
	retry  time.Duration
	lanes  []*lane
}

// configure checks the options and builds the limiter kinds and the
// workflow-side gates (no side effects: it is also the scenario's
// Validate, run before any server starts).
func configure(o scenarios.Values) (d *driver, kinds []string, gates map[string]Gate, err error) {
	d = &driver{limit: int(o.Int("api-limit")), window: o.Duration("api-window"),
		calls: int(o.Int("calls-per-workflow")), retry: o.Duration("retry-interval")}
	var problems []string
	for _, k := range strings.Split(o.String("limiter"), ",") {
		k = strings.TrimSpace(k)
		switch {
		case !slices.Contains(Kinds, k):
			problems = append(problems, fmt.Sprintf("limiter %q is not one of %s", k, strings.Join(Kinds, ", ")))
		case slices.Contains(kinds, k):
			problems = append(problems, fmt.Sprintf("limiter %q named twice", k))
		default:
			kinds = append(kinds, k)
		}
	}
	permits, burst := int(o.Int("permits")), int(o.Int("burst"))
	gates = map[string]Gate{}
	for _, k := range kinds {
		if k == KindSemaphore || k == KindTokenBucket || k == KindSlidingWindow {
			g, err := NewGate(k, d.limit, d.window, permits, burst, time.Time{})
			if err != nil {
				problems = append(problems, err.Error())
			}
			gates[k] = g
		}
	}
	if lat := o.Duration("api-latency"); lat >= callStartToClose/2 {
		// An attempt is recovered only by its StartToClose; a latency near
		// it makes every attempt time out (or hold its permit that long).
		problems = append(problems, fmt.Sprintf("api-latency %s must stay below half the call's StartToClose timeout (%s): slower answers time the calls out", lat, callStartToClose))
	}
	if o.Int("workers") == 0 && slices.Contains(kinds, KindTaskQueue) {
		problems = append(problems, "limiter task-queue needs workers >= 1: TaskQueueActivitiesPerSecond is not a setting of the worker processes, so the scenario runs its own")
	}
	if len(problems) > 0 {
		return nil, nil, nil, errors.New(strings.Join(problems, "; "))
	}
	return d, kinds, gates, nil
}

func newDriver(ctx context.Context, env scenarios.Env, o scenarios.Values) (_ scenarios.Driver, err error) {
	d, kinds, gates, err := configure(o)
	if err != nil {
		return nil, err
	}
	d.env = env
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()
	nWorkers := int(o.Int("workers"))
	workerRate := o.Float("worker-rate")
	if workerRate == 0 {
		workerRate = 0.9 * float64(d.limit-1) / d.window.Seconds()
		if workerRate <= 0 {
			workerRate = 0.9 / d.window.Seconds()
		}
	}
	queueRate := o.Float("queue-rate")
	if queueRate == 0 {
		// The server's limiter admits a burst of ceil(rate) and, measured,
		// one more task at start-up: rate*window + ceil(rate) + 1 <= limit.
		queueRate = float64(max(d.limit-2, 1)) / (d.window + time.Second).Seconds()
	}
	for _, k := range kinds {
		l := &lane{kind: k, meter: newMeter(d.window), calls: newCalls()}
		d.lanes = append(d.lanes, l)
		l.api, err = fakes.Start(fakes.Config{Name: "throttled-api." + k, Limit: d.limit, Window: d.window, Latency: o.Duration("api-latency"),
			OnRequest: l.onRequest})
		if err != nil {
			return nil, err
		}
		switch k {
		case KindWorker, KindTaskQueue:
			if nWorkers == 0 {
				// The run's own worker processes on the run's task queue,
				// with the tuning flags of squall run.
				l.config = "the run's worker processes (squall run --workers N --activities-per-second R --activity-slots S): each admits <= R x window + 1 polled activities; " +
					"but the activities share the workflows' task queue there, so the server hands many out eagerly with the workflow task, and eager activities " +
					"bypass WorkerActivitiesPerSecond (SDK 1.50, server default system.enableActivityEagerExecution=true) unless squall run has --disable-eager-activities"
				break
			}
			l.queue = fmt.Sprintf("%s-%s-%s", env.TaskQueue, Name, k)
			opts := worker.Options{}
			if k == KindWorker {
				opts.WorkerActivitiesPerSecond = workerRate
				opts.MaxConcurrentActivityExecutionSize = int(o.Int("activity-slots"))
				l.config = fmt.Sprintf("%d worker(s) x WorkerActivitiesPerSecond %.3g (each admits <= %.3g per %s; together <= %.3g)",
					nWorkers, workerRate, workerRate*d.window.Seconds()+1, d.window, float64(nWorkers)*(workerRate*d.window.Seconds()+1))
				if s := o.Int("activity-slots"); s > 0 {
					l.config += fmt.Sprintf(", %d activity slots each", s)
				}
			} else {
				opts.TaskQueueActivitiesPerSecond = queueRate
				l.config = fmt.Sprintf("TaskQueueActivitiesPerSecond %.3g on the queue, enforced by the server across %d worker(s) (<= %.3g per %s: rate x window + a burst of ceil(rate) + 1 at start-up)",
					queueRate, nWorkers, queueRate*d.window.Seconds()+math.Ceil(queueRate)+1, d.window)
			}
			for i := 0; i < nWorkers; i++ {
				w := env.NewWorker(l.queue, opts)
				registerActivity(w)
				if err := w.Start(); err != nil {
					return nil, fmt.Errorf("start %s worker %d on %s: %w", k, i, l.queue, err)
				}
				l.workers = append(l.workers, w)
			}
		case KindNone:
			l.config = "no limiter: every call goes out at once; 429s are retried with backoff"
		default:
			g := gates[k]
			l.gate = g
			l.config = g.Describe()
			l.limiterID = fmt.Sprintf("%s-%s-limiter-%s", Name, env.RunID, k)
			g.Last = time.Time{} // the workflow starts its bucket at its own first task
			if _, err := env.Start(ctx, scenarios.StartSpec{ID: l.limiterID, Workflow: WorkflowLimiter,
				Args: []any{LimiterInput{Gate: g, MaxEvents: limiterMaxEvents, MaxGrants: int(o.Int("limiter-max-grants"))}}}); err != nil {
				return nil, fmt.Errorf("start limiter: %w", err)
			}
		}
	}
	return d, nil
}

// WorkflowID names iteration n of a run.
func WorkflowID(runID string, n int64) string { return fmt.Sprintf("%s-%s-%d", Name, runID, n) }

func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	l := d.lanes[int(it.N%int64(len(d.lanes)))]
	id := WorkflowID(d.env.RunID, it.N)
	in := CallerInput{URL: l.api.URL, Calls: d.calls, Limiter: l.limiterID, ActivityQueue: l.queue,
		RetryInterval: d.retry, MaxRetry: max(d.window, d.retry)}
	// The calls are known before the workflow may make them: the API's
	// successes are counted against them as they come.
	keys := make([]string, d.calls)
	for i := range keys {
		keys[i] = Key(id, i)
	}
	l.calls.expect(keys)
	run, err := d.env.Start(ctx, scenarios.StartSpec{ID: id, Workflow: WorkflowCaller, Args: []any{in}})
	if err != nil {
		// The workflow may exist all the same: its calls stay counted, but
		// none is demanded.
		l.calls.settle(keys, false, false)
		return err
	}
	l.mu.Lock()
	l.started++
	l.mu.Unlock()
	var res CallerResult
	if err := scenarios.Await(ctx, run, &res); err != nil {
		// Its calls are judged after the run, when the workflow is over.
		l.calls.settle(keys, true, false)
		return err
	}
	l.calls.settle(keys, true, true)
	l.mu.Lock()
	l.done++
	l.mu.Unlock()
	for _, c := range res.Calls {
		d.env.Observe("call."+l.kind, c.Total)
		if l.limiterID != "" {
			d.env.Observe("limiter-wait."+l.kind, c.Wait)
		}
	}
	return nil
}

func (l *lane) onRequest(e fakes.Entry) {
	l.meter.add(e.At)
	if e.Status == http.StatusOK {
		l.calls.success(e.Key)
	}
}

// Finish stops the limiter workflows (they end once every granted call is
// released) and collects their counts.
func (d *driver) Finish(ctx context.Context) error {
	var errs []error
	for _, l := range d.lanes {
		if l.limiterID == "" {
			continue
		}
		if err := d.env.Client.SignalWorkflow(ctx, l.limiterID, "", SignalStop, nil); err != nil {
			l.statsErr = "stop signal: " + err.Error()
			errs = append(errs, fmt.Errorf("stop limiter %s: %w", l.limiterID, err))
			continue
		}
	}
	for _, l := range d.lanes {
		if l.limiterID == "" || l.statsErr != "" {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, d.drainWait())
		var st LimiterStats
		err := scenarios.AwaitResult(wctx, d.env.Client.GetWorkflow(wctx, l.limiterID, ""), &st)
		cancel()
		if err != nil {
			l.statsErr = err.Error()
			errs = append(errs, fmt.Errorf("limiter %s: %w", l.limiterID, err))
			continue
		}
		l.stats = &st
	}
	var reports []LaneReport
	for _, l := range d.lanes {
		r := d.report(l)
		l.mu.Lock()
		l.report = &r
		l.mu.Unlock()
		reports = append(reports, r)
	}
	d.env.Emit("strategies", reports)
	return errors.Join(errs...)
}

// drainWait bounds the wait for a stopped limiter to end. It ends when
// every granted call is released; a call whose attempt was lost holds its
// permit until the attempt's StartToClose, and a failed one backs off up
// to MaxRetry before it asks again.
func (d *driver) drainWait() time.Duration {
	return max(2*time.Minute, callStartToClose+2*max(d.window, d.retry)+30*time.Second)
}

// APIs are the API instances, for the api-errors and api-latency faults.
func (d *driver) APIs() []scenarios.APIControl {
	var out []scenarios.APIControl
	for _, l := range d.lanes {
		if l.api != nil {
			out = append(out, l.api)
		}
	}
	return out
}

func (d *driver) Close() error {
	var errs []error
	for _, l := range d.lanes {
		for _, w := range l.workers {
			w.Stop()
		}
		l.workers = nil
		if l.api != nil {
			errs = append(errs, l.api.Close())
		}
	}
	return errors.Join(errs...)
}
