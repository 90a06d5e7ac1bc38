package orders

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/scenarios/orders/orderstore"
)

// Registered names of the workflows and activities.
const (
	WorkflowBatched   = "squall.orders-batch.batched"
	WorkflowMapReduce = "squall.orders-batch.mapreduce"
	WorkflowParent    = "squall.orders-batch.parent" // children and per-order-children modes
	WorkflowSlice     = "squall.orders-batch.slice"  // one child: a slice of the batch
	ActivityApply     = "squall.orders-batch.apply"
	ActivityReduce    = "squall.orders-batch.reduce"
)

// ErrThreshold is the error type of a batch that failed as a whole because
// more than the threshold of its orders failed. Its details are the Totals.
const ErrThreshold = "FailureThresholdExceeded"

// Register adds the scenario's workflows and activities to a worker.
func Register(r worker.Registry) {
	r.RegisterWorkflowWithOptions(BatchedWorkflow, workflow.RegisterOptions{Name: WorkflowBatched})
	r.RegisterWorkflowWithOptions(MapReduceWorkflow, workflow.RegisterOptions{Name: WorkflowMapReduce})
	r.RegisterWorkflowWithOptions(ParentWorkflow, workflow.RegisterOptions{Name: WorkflowParent})
	r.RegisterWorkflowWithOptions(SliceWorkflow, workflow.RegisterOptions{Name: WorkflowSlice})
	r.RegisterActivityWithOptions(ApplyRange, activity.RegisterOptions{Name: ActivityApply})
	r.RegisterActivityWithOptions(Reduce, activity.RegisterOptions{Name: ActivityReduce})
}

// Input is a top-level batch workflow's input: references, never orders.
type Input struct {
	StoreURL string
	Batch    int64
	Orders   int64
	// BatchSize orders per activity; at most Parallel activities in flight.
	BatchSize int64
	Parallel  int
	// Slices: children mode splits the batch into this many child workflows
	// (per-order-children: one per order); at most MaxChildren run at once.
	Slices      int64
	MaxChildren int
	Retry       Retry
	// Threshold: the batch fails as a whole when more than this fraction of
	// its orders failed.
	Threshold float64
	// InjectDuplicates re-applies orders [0,n) from a separate activity
	// after processing: a deliberate double application (verifier self-test).
	InjectDuplicates int64
}

// Retry is the retry policy of the apply activities. MaxAttempts bounds
// the attempts at each order: attempts the store answered. Attempts that
// never got an answer (the store refused the request with a 503, a worker
// died mid-call) do not count against it; they are retried until Deadline
// (the activity's schedule-to-close timeout), so an infrastructure fault
// does not turn into failed orders unless it outlasts Deadline.
//
// AttemptTimeout is each attempt's start-to-close timeout: an attempt
// whose worker died is noticed only when it expires (the activity does not
// heartbeat on a schedule), so Deadline must leave room for it.
type Retry struct {
	MaxAttempts    int32
	Interval       time.Duration
	Deadline       time.Duration
	AttemptTimeout time.Duration
}

// DefaultAttemptTimeout is the apply attempts' start-to-close timeout
// when the input names none (histories recorded before it was an option).
const DefaultAttemptTimeout = time.Minute

func (r Retry) attemptTimeout() time.Duration {
	if r.AttemptTimeout > 0 {
		return r.AttemptTimeout
	}
	return DefaultAttemptTimeout
}

// MaxBackoff is the longest wait between two attempts.
func (r Retry) MaxBackoff() time.Duration { return 20 * r.Interval }

func (r Retry) policy() *temporal.RetryPolicy {
	p := &temporal.RetryPolicy{InitialInterval: r.Interval, BackoffCoefficient: 2, MaximumInterval: r.MaxBackoff()}
	if r.Deadline <= 0 {
		// Inputs without a deadline (histories recorded before it existed)
		// keep the old meaning: MaxAttempts Temporal attempts.
		p.MaximumAttempts = r.MaxAttempts
	}
	return p
}

// SliceInput is a child workflow's input: orders [From,To) of a batch.
type SliceInput struct {
	StoreURL  string
	Batch     int64
	From, To  int64
	BatchSize int64
	Parallel  int
	Retry     Retry
}

// Totals are what a batch (or a slice of it) amounts to.
type Totals struct {
	Orders     int64
	Successful int64
	Failed     int64
	Amount     int64 // cents, over the successful orders
	// Duplicates: orders the store reported as already applied by someone else.
	Duplicates int64
	Activities int64 // activity executions (not attempts)
	Children   int64 // child workflows run
	// Errors: activities or children that failed outright; their orders are
	// counted as failed although the store may have applied some.
	Errors int64
	// Injected: orders deliberately re-applied (InjectDuplicates).
	Injected int64
}

func (t *Totals) add(o Totals) {
	t.Orders += o.Orders
	t.Successful += o.Successful
	t.Failed += o.Failed
	t.Amount += o.Amount
	t.Duplicates += o.Duplicates
	t.Activities += o.Activities
	t.Children += o.Children
	t.Errors += o.Errors
	t.Injected += o.Injected
}

func (t *Totals) addRange(r RangeResult) {
	t.Orders += r.To - r.From
	t.Successful += r.Successful
	t.Failed += r.Failed
	t.Amount += r.Amount
	t.Duplicates += r.Duplicates
	t.Activities++
}

// ApplyInput is one apply activity's input: a range of a batch.
type ApplyInput struct {
	StoreURL    string
	Batch       int64
	From, To    int64
	MaxAttempts int32
}

// RangeResult is what applying one range did.
type RangeResult struct {
	From, To   int64
	Successful int64
	Failed     int64
	Amount     int64
	Duplicates int64
}

// Ranges splits [from,to) into consecutive ranges of at most size orders.
func Ranges(from, to, size int64) [][2]int64 {
	var out [][2]int64
	for f := from; f < to; f += size {
		out = append(out, [2]int64{f, min(f+size, to)})
	}
	return out
}

// Slices splits [0,n) into k near-equal consecutive slices (the first n%k
// get one more order).
func Slices(n, k int64) [][2]int64 {
	out := make([][2]int64, 0, k)
	var f int64
	for i := range k {
		size := n / k
		if i < n%k {
			size++
		}
		out = append(out, [2]int64{f, f + size})
		f += size
	}
	return out
}

// ChildID is the workflow ID of child i of the parent parentID.
func ChildID(parentID string, i int64) string { return fmt.Sprintf("%s-c%d", parentID, i) }

func activityCtx(ctx workflow.Context, r Retry) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    r.attemptTimeout(),
		ScheduleToCloseTimeout: r.Deadline,
		RetryPolicy:            r.policy(),
	})
}

func applyFuture(ctx workflow.Context, url string, batch int64, rg [2]int64, r Retry) workflow.Future {
	return workflow.ExecuteActivity(ctx, ActivityApply, ApplyInput{StoreURL: url, Batch: batch, From: rg[0], To: rg[1], MaxAttempts: r.MaxAttempts})
}

// settleRange turns an apply activity's outcome into totals: an activity
// that failed outright (retries exhausted on errors other than refused
// orders) counts its whole range as failed.
func settleRange(ctx workflow.Context, t *Totals, rg [2]int64, f workflow.Future) RangeResult {
	var r RangeResult
	if err := f.Get(ctx, &r); err != nil {
		workflow.GetLogger(ctx).Warn("apply activity failed", "from", rg[0], "to", rg[1], "error", err)
		r = RangeResult{From: rg[0], To: rg[1], Failed: rg[1] - rg[0]}
		t.Errors++
	}
	t.addRange(r)
	return r
}

// groups runs the apply activities over [from,to) in bounded parallel
// groups: at most parallel in flight, each group awaited as a whole, so
// the history grows by groups, not by one workflow task per order.
func groups(ctx workflow.Context, url string, batch, from, to, size int64, parallel int, r Retry) Totals {
	ctx = activityCtx(ctx, r)
	var t Totals
	rs := Ranges(from, to, size)
	for g := 0; g < len(rs); g += parallel {
		grp := rs[g:min(g+parallel, len(rs))]
		fs := make([]workflow.Future, len(grp))
		for i, rg := range grp {
			fs[i] = applyFuture(ctx, url, batch, rg, r)
		}
		for i, f := range fs {
			settleRange(ctx, &t, grp[i], f)
		}
	}
	return t
}

// window runs start(0..n-1) keeping at most limit in flight (a rolling
// window: a new one starts as soon as any finishes).
func window(ctx workflow.Context, n, limit int, start func(i int) workflow.Future, done func(i int, f workflow.Future)) {
	sel := workflow.NewSelector(ctx)
	next, inflight := 0, 0
	for next < n || inflight > 0 {
		for inflight < limit && next < n {
			i := next
			sel.AddFuture(start(i), func(f workflow.Future) {
				inflight--
				done(i, f)
			})
			next++
			inflight++
		}
		sel.Select(ctx)
	}
}

// finish applies the verifier self-test and the failure threshold.
func finish(ctx workflow.Context, in Input, t Totals) (Totals, error) {
	if in.InjectDuplicates > 0 {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			ActivityID: "inject-duplicates", StartToCloseTimeout: in.Retry.attemptTimeout(), RetryPolicy: in.Retry.policy(),
		})
		var r RangeResult
		err := workflow.ExecuteActivity(actx, ActivityApply, ApplyInput{StoreURL: in.StoreURL, Batch: in.Batch,
			From: 0, To: min(in.InjectDuplicates, in.Orders), MaxAttempts: 1}).Get(ctx, &r)
		if err != nil {
			return t, fmt.Errorf("inject duplicates: %w", err)
		}
		t.Injected = r.Duplicates
		t.Activities++
	}
	if t.Orders > 0 && float64(t.Failed)/float64(t.Orders) > in.Threshold {
		return t, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d of %d orders failed (%.2f%%), above the threshold of %.2f%%", t.Failed, t.Orders,
				100*float64(t.Failed)/float64(t.Orders), 100*in.Threshold), ErrThreshold, nil, t)
	}
	workflow.GetLogger(ctx).Info("batch complete", "orders", t.Orders, "successful", t.Successful, "failed", t.Failed)
	return t, nil
}

// BatchedWorkflow processes a whole batch in one workflow through batched
// activities in bounded parallel groups (mode batched).
func BatchedWorkflow(ctx workflow.Context, in Input) (Totals, error) {
	t := groups(ctx, in.StoreURL, in.Batch, 0, in.Orders, in.BatchSize, in.Parallel, in.Retry)
	return finish(ctx, in, t)
}

// MapReduceWorkflow maps apply activities over chunks of the batch (a
// rolling window of at most Parallel in flight), then one reduce activity
// aggregates the chunk results into the totals (mode mapreduce).
func MapReduceWorkflow(ctx workflow.Context, in Input) (Totals, error) {
	actx := activityCtx(ctx, in.Retry)
	rs := Ranges(0, in.Orders, in.BatchSize)
	results := make([]RangeResult, len(rs))
	var mapped Totals // only for the activity and error counts
	window(ctx, len(rs), in.Parallel,
		func(i int) workflow.Future { return applyFuture(actx, in.StoreURL, in.Batch, rs[i], in.Retry) },
		func(i int, f workflow.Future) { results[i] = settleRange(ctx, &mapped, rs[i], f) })
	var t Totals
	if err := workflow.ExecuteActivity(actx, ActivityReduce, ReduceInput{StoreURL: in.StoreURL, Batch: in.Batch, Results: results}).Get(ctx, &t); err != nil {
		return t, fmt.Errorf("reduce: %w", err)
	}
	t.Activities = mapped.Activities + 1
	t.Errors = mapped.Errors
	return finish(ctx, in, t)
}

// ParentWorkflow fans the batch out to Slices child workflows, at most
// MaxChildren at once (a rolling window), and aggregates their totals
// (modes children and per-order-children).
func ParentWorkflow(ctx workflow.Context, in Input) (Totals, error) {
	parentID := workflow.GetInfo(ctx).WorkflowExecution.ID
	sl := Slices(in.Orders, in.Slices)
	var t Totals
	window(ctx, len(sl), in.MaxChildren,
		func(i int) workflow.Future {
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: ChildID(parentID, int64(i))})
			return workflow.ExecuteChildWorkflow(cctx, WorkflowSlice, SliceInput{StoreURL: in.StoreURL, Batch: in.Batch,
				From: sl[i][0], To: sl[i][1], BatchSize: in.BatchSize, Parallel: in.Parallel, Retry: in.Retry})
		},
		func(i int, f workflow.Future) {
			var ct Totals
			if err := f.Get(ctx, &ct); err != nil {
				workflow.GetLogger(ctx).Warn("child failed", "slice", i, "error", err)
				ct = Totals{Orders: sl[i][1] - sl[i][0], Failed: sl[i][1] - sl[i][0], Errors: 1}
			}
			ct.Children = 1
			t.add(ct)
		})
	return finish(ctx, in, t)
}

// SliceWorkflow is one child: orders [From,To) through batched activities.
// It reports its counts and leaves the threshold to the parent.
func SliceWorkflow(ctx workflow.Context, in SliceInput) (Totals, error) {
	return groups(ctx, in.StoreURL, in.Batch, in.From, in.To, in.BatchSize, in.Parallel, in.Retry), nil
}

// progress is carried from one attempt of an apply activity to the next in
// its heartbeat details: what earlier attempts achieved, and which orders
// are still to apply.
type progress struct {
	Successful, Amount, Duplicates int64
	Pending                        []int64
	// Tries counts the attempts the store answered: the attempts at each
	// pending order (MaxAttempts bounds them, not Temporal's attempt count).
	Tries int32
}

// ApplyRange fetches orders [From,To) from the store and applies them.
// Orders the store refuses make the attempt fail (so Temporal retries it)
// after recording progress in a heartbeat; the next attempt applies only
// what is still pending. The MaxAttempts-th attempt the store answers
// returns what it could not apply as failed instead of an error. A request
// the store did not answer (503, connection error) fails the attempt
// without counting: Temporal retries it until the Retry deadline.
func ApplyRange(ctx context.Context, in ApplyInput) (RangeResult, error) {
	info := activity.GetInfo(ctx)
	res := RangeResult{From: in.From, To: in.To}
	var p progress
	var ids []int64
	if activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &p) == nil {
		ids = p.Pending
	} else {
		p = progress{}
		ids = make([]int64, 0, in.To-in.From)
		for id := in.From; id < in.To; id++ {
			ids = append(ids, id)
		}
	}
	cl := orderstore.DefaultClient
	if len(ids) > 0 {
		orders, err := cl.Orders(ctx, in.StoreURL, in.Batch, ids[0], ids[len(ids)-1]+1)
		if err != nil {
			return res, err
		}
		amount := make(map[int64]int64, len(orders))
		for _, o := range orders {
			amount[o.ID] = o.Amount
		}
		status, err := cl.Apply(ctx, in.StoreURL, in.Batch, orderstore.ApplyRequest{
			IDs: ids, Owner: info.WorkflowExecution.ID + "/" + info.ActivityID, Attempt: info.Attempt,
			ScheduledMS: info.ScheduledTime.UnixMilli(), StartedMS: info.StartedTime.UnixMilli(),
		})
		if err != nil {
			return res, err
		}
		var pending []int64
		for i, st := range []byte(status) {
			switch st {
			case orderstore.StatusApplied, orderstore.StatusMine:
				p.Successful++
				p.Amount += amount[ids[i]]
			case orderstore.StatusDuplicate:
				p.Duplicates++
			default:
				pending = append(pending, ids[i])
			}
		}
		p.Pending = pending
		p.Tries++
	}
	if len(p.Pending) > 0 && p.Tries < in.MaxAttempts {
		activity.RecordHeartbeat(ctx, p)
		return res, temporal.NewApplicationError(fmt.Sprintf("order store refused %d of %d orders (attempt %d of %d at them; activity attempt %d)",
			len(p.Pending), len(ids), p.Tries, in.MaxAttempts, info.Attempt), "OrdersRefused")
	}
	res.Successful, res.Amount, res.Duplicates = p.Successful, p.Amount, p.Duplicates
	res.Failed = int64(len(p.Pending))
	return res, nil
}

// ReduceInput is the reduce activity's input: the map results (small
// records, one per chunk, never orders).
type ReduceInput struct {
	StoreURL string
	Batch    int64
	Results  []RangeResult
}

// Reduce aggregates map results into totals and records them in the store.
func Reduce(ctx context.Context, in ReduceInput) (Totals, error) {
	var t Totals
	for _, r := range in.Results {
		t.addRange(r)
	}
	t.Activities = 0 // counted by the workflow
	info := activity.GetInfo(ctx)
	err := orderstore.DefaultClient.Reduce(ctx, in.StoreURL, in.Batch, orderstore.ReduceRequest{
		Successful: t.Successful, Failed: t.Failed, Amount: t.Amount, StartedMS: info.StartedTime.UnixMilli()})
	return t, err
}
