package orders

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/scenarios/orders/orderstore"
)

// fakeApply is a mocked apply activity: it settles each order of its range
// by the model (as a store would after maxAttempts attempts) and checks that
// no order is handed out twice and that at most limit run at once.
type fakeApply struct {
	m           orderstore.Model
	maxAttempts int
	mu          sync.Mutex
	seen        map[int64]int
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	calls       atomic.Int64
}

func newFake(m orderstore.Model, maxAttempts int) *fakeApply {
	return &fakeApply{m: m, maxAttempts: maxAttempts, seen: map[int64]int{}}
}

func (f *fakeApply) apply(_ context.Context, in ApplyInput) (RangeResult, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	f.calls.Add(1)
	time.Sleep(time.Millisecond) // let concurrent activities overlap
	r := RangeResult{From: in.From, To: in.To}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := in.From; id < in.To; id++ {
		f.seen[id]++
		c := f.m.Class(id)
		if c == orderstore.ClassPermanent || (c == orderstore.ClassTransient && f.maxAttempts < 2) {
			r.Failed++
			continue
		}
		r.Successful++
		r.Amount += f.m.Amount(id)
	}
	return r, nil
}

func reduceFake(_ context.Context, in ReduceInput) (Totals, error) {
	var t Totals
	for _, r := range in.Results {
		t.addRange(r)
	}
	t.Activities = 0
	return t, nil
}

func newEnv(t *testing.T, f *fakeApply) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(BatchedWorkflow, workflow.RegisterOptions{Name: WorkflowBatched})
	env.RegisterWorkflowWithOptions(MapReduceWorkflow, workflow.RegisterOptions{Name: WorkflowMapReduce})
	env.RegisterWorkflowWithOptions(ParentWorkflow, workflow.RegisterOptions{Name: WorkflowParent})
	env.RegisterWorkflowWithOptions(SliceWorkflow, workflow.RegisterOptions{Name: WorkflowSlice})
	env.RegisterActivityWithOptions(ApplyRange, activity.RegisterOptions{Name: ActivityApply})
	env.RegisterActivityWithOptions(Reduce, activity.RegisterOptions{Name: ActivityReduce})
	if f != nil {
		env.OnActivity(ActivityApply, mock.Anything, mock.Anything).Return(f.apply)
		env.OnActivity(ActivityReduce, mock.Anything, mock.Anything).Return(reduceFake)
	}
	env.SetTestTimeout(time.Minute)
	return env
}

func TestModesWithMockedActivities(t *testing.T) {
	m := orderstore.Model{Seed: 7, FailureRate: 0.04, TransientRate: 0.05}
	const orders = 1234
	cases := []struct {
		name, wf        string
		slices          int64
		wantActivities  int64
		wantChildren    int64
		parallel, maxCh int
	}{
		{"batched", WorkflowBatched, 0, 13, 0, 3, 0},
		{"mapreduce", WorkflowMapReduce, 0, 14, 0, 4, 0},
		{"children", WorkflowParent, 5, 5 * 3, 5, 2, 2},
		{"per-order-children", WorkflowParent, 40, 40, 40, 1, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := int64(orders)
			if c.name == "per-order-children" {
				n = 40
			}
			pred := m.Predict(n, 3)
			f := newFake(m, 3)
			env := newEnv(t, f)
			var childStarts atomic.Int64
			var childInFlight, childMax atomic.Int64
			env.SetOnChildWorkflowStartedListener(func(*workflow.Info, workflow.Context, converter.EncodedValues) {
				childStarts.Add(1)
				v := childInFlight.Add(1)
				for {
					m := childMax.Load()
					if v <= m || childMax.CompareAndSwap(m, v) {
						break
					}
				}
			})
			env.SetOnChildWorkflowCompletedListener(func(*workflow.Info, converter.EncodedValue, error) {
				childInFlight.Add(-1)
			})
			env.ExecuteWorkflow(c.wf, Input{StoreURL: "http://unused", Orders: n, BatchSize: 100, Parallel: c.parallel,
				Slices: c.slices, MaxChildren: c.maxCh, Retry: Retry{MaxAttempts: 3, Interval: time.Second}, Threshold: 0.1})
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow failed: %v", err)
			}
			var got Totals
			if err := env.GetWorkflowResult(&got); err != nil {
				t.Fatal(err)
			}
			if got.Orders != n || got.Successful != pred.Successful || got.Failed != pred.Failed || got.Amount != pred.Amount {
				t.Fatalf("totals %+v, want %+v", got, pred)
			}
			if got.Activities != c.wantActivities || got.Children != c.wantChildren {
				t.Fatalf("%d activities, %d children; want %d, %d", got.Activities, got.Children, c.wantActivities, c.wantChildren)
			}
			if int64(len(f.seen)) != n {
				t.Fatalf("%d distinct orders handed to activities, want %d", len(f.seen), n)
			}
			for id, k := range f.seen {
				if k != 1 {
					t.Fatalf("order %d handed out %d times", id, k)
				}
			}
			if mx := f.maxInFlight.Load(); c.slices == 0 && mx > int64(c.parallel) {
				t.Fatalf("%d activities in flight, parallel is %d", mx, c.parallel)
			}
			if c.slices > 0 {
				if childStarts.Load() != c.slices {
					t.Fatalf("%d children started, want %d", childStarts.Load(), c.slices)
				}
				if childMax.Load() > int64(c.maxCh) {
					t.Fatalf("%d children in flight, max-children is %d", childMax.Load(), c.maxCh)
				}
			}
		})
	}
}

// The threshold, on both sides: at or below it the batch completes and
// returns its counts; above it the batch fails as a whole, the counts in
// the error's details.
func TestFailureThresholdBothSides(t *testing.T) {
	const orders = 2000
	for _, c := range []struct {
		name      string
		rate      float64
		threshold float64
		wantFail  bool
	}{
		{"below", 0.05, 0.10, false},
		{"above", 0.15, 0.10, true},
		{"zero-threshold-with-failures", 0.01, 0, true},
		{"all-fail-threshold-one", 1, 1, false},
	} {
		for _, wf := range []string{WorkflowBatched, WorkflowMapReduce, WorkflowParent} {
			t.Run(c.name+"/"+wf, func(t *testing.T) {
				m := orderstore.Model{Seed: 3, FailureRate: c.rate}
				pred := m.Predict(orders, 2)
				f := newFake(m, 2)
				env := newEnv(t, f)
				env.ExecuteWorkflow(wf, Input{StoreURL: "http://unused", Orders: orders, BatchSize: 100, Parallel: 5,
					Slices: 4, MaxChildren: 2, Retry: Retry{MaxAttempts: 2, Interval: time.Second}, Threshold: c.threshold})
				err := env.GetWorkflowError()
				var got Totals
				if c.wantFail {
					var app *temporal.ApplicationError
					if !errors.As(err, &app) || app.Type() != ErrThreshold {
						t.Fatalf("want a %s failure, got %v", ErrThreshold, err)
					}
					if derr := app.Details(&got); derr != nil {
						t.Fatalf("threshold failure without totals: %v", derr)
					}
				} else {
					if err != nil {
						t.Fatalf("workflow failed: %v", err)
					}
					if err := env.GetWorkflowResult(&got); err != nil {
						t.Fatal(err)
					}
				}
				if got.Successful != pred.Successful || got.Failed != pred.Failed || got.Amount != pred.Amount {
					t.Fatalf("totals %+v, want %+v", got, pred)
				}
			})
		}
	}
}

// runBatched runs the batched workflow with the real apply activity
// against store, served through h (the store's handler, or a wrapper that
// injects failures), and returns the workflow's totals and the ledger.
func runBatched(t *testing.T, store *orderstore.Store, h http.Handler, in Input) (Totals, orderstore.Ledger) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	in.StoreURL = srv.URL
	env := newEnv(t, nil)
	env.ExecuteWorkflow(WorkflowBatched, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var got Totals
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	l, _ := store.Ledger(in.Batch)
	return got, l
}

// The real apply activity against a real store: refused orders are
// retried (bounded), and a retry re-sends only what is still pending, so
// no attempt is wasted on an order already applied.
func TestApplyRetriesOnlyPendingOrders(t *testing.T) {
	m := orderstore.Model{Seed: 11, FailureRate: 0.03, TransientRate: 0.1}
	store := orderstore.New(m, nil)
	const orders = 1000
	if err := store.Open(0, orders); err != nil {
		t.Fatal(err)
	}
	got, l := runBatched(t, store, store.Handler(), Input{Orders: orders, BatchSize: 50, Parallel: 4,
		Retry: Retry{MaxAttempts: 3, Interval: 100 * time.Millisecond}, Threshold: 0.5, InjectDuplicates: 2})
	pred := m.Predict(orders, 3)
	if got.Successful != pred.Successful || got.Failed != pred.Failed || got.Amount != pred.Amount {
		t.Fatalf("workflow totals %+v, predicted %+v", got, pred)
	}
	if l.Applied != pred.Successful || l.Failed != pred.Failed || l.Amount != pred.Amount || l.NeverAttempted != 0 {
		t.Fatalf("ledger %+v, predicted %+v", l, pred)
	}
	// Attempts: 1 per ok order, 2 per transient, 3 per permanent, plus the
	// two deliberately re-applied orders.
	var want int64
	for id := range int64(orders) {
		switch m.Class(id) {
		case orderstore.ClassOK:
			want++
		case orderstore.ClassTransient:
			want += 2
		default:
			want += 3
		}
	}
	want += 2
	if l.Attempts != want {
		t.Fatalf("%d apply attempts, want %d (retries must re-send only pending orders)", l.Attempts, want)
	}
	if l.RetryDuplicates != 0 || l.ForeignDuplicates != 2 || got.Injected != 2 {
		t.Fatalf("retry dups %d, foreign dups %d, injected %d; want 0, 2, 2", l.RetryDuplicates, l.ForeignDuplicates, got.Injected)
	}
}

// An apply that reached the store but whose answer was lost (the worker
// killed, the connection cut) leaves no heartbeat: the retry re-sends the
// whole range. Those orders come back as the activity's own (StatusMine),
// count as successful once, and are recorded as retry duplicates, not hidden.
func TestApplyAfterLostAnswer(t *testing.T) {
	m := orderstore.Model{Seed: 5}
	store := orderstore.New(m, nil)
	var applies atomic.Int64
	h := store.Handler()
	lossy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/apply") && applies.Add(1) == 1 {
			h.ServeHTTP(httptest.NewRecorder(), r) // applied; the answer is lost
			http.Error(w, "connection reset", http.StatusBadGateway)
			return
		}
		h.ServeHTTP(w, r)
	})
	if err := store.Open(0, 100); err != nil {
		t.Fatal(err)
	}
	got, l := runBatched(t, store, lossy, Input{Orders: 100, BatchSize: 100, Parallel: 1,
		Retry: Retry{MaxAttempts: 3, Interval: 100 * time.Millisecond}, Threshold: 0})
	pred := m.Predict(100, 3)
	if got.Successful != 100 || got.Amount != pred.Amount || got.Duplicates != 0 {
		t.Fatalf("workflow totals %+v, want 100 ok, %d cents, no duplicates", got, pred.Amount)
	}
	if l.Applied != 100 || l.RetryDuplicates != 100 || l.ForeignDuplicates != 0 || l.Amount != pred.Amount {
		t.Fatalf("ledger %+v: want 100 applied, 100 retry duplicates, none foreign", l)
	}
}

// The api-errors fault on the store: requests it refuses with 503 never
// reach the ledger and do not count against max-attempts, so the outcome is
// exactly the prediction; a fault that outlasts apply-deadline makes the
// activities give up and their orders count as failed (Errors says so).
func TestApplyRidesOutStoreFaults(t *testing.T) {
	m := orderstore.Model{Seed: 3, FailureRate: 0.02, TransientRate: 0.1}
	const orders, size = 1000, 50
	run := func(t *testing.T, store *orderstore.Store, h http.Handler, deadline time.Duration) (Totals, orderstore.Ledger) {
		if err := store.Open(0, orders); err != nil {
			t.Fatal(err)
		}
		return runBatched(t, store, h, Input{Orders: orders, BatchSize: size, Parallel: 1,
			Retry: Retry{MaxAttempts: 3, Interval: 10 * time.Millisecond, Deadline: deadline}, Threshold: 1})
	}
	t.Run("refused requests are retried and cost no order attempts", func(t *testing.T) {
		// Every third request is refused, before it reaches the store: with
		// one activity at a time, each activity sees a refused attempt
		// before each answered one (the SDK test suite caps an unlimited
		// retry policy at 10 attempts, so the pattern is fixed, not drawn).
		store := orderstore.New(m, nil)
		inner := store.Handler()
		var n, refused atomic.Int64
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1)%3 == 1 {
				refused.Add(1)
				http.Error(w, "injected failure", http.StatusServiceUnavailable)
				return
			}
			inner.ServeHTTP(w, r)
		})
		got, l := run(t, store, h, 10*time.Minute)
		pred := m.Predict(orders, 3)
		if got.Successful != pred.Successful || got.Failed != pred.Failed || got.Amount != pred.Amount || got.Errors != 0 {
			t.Fatalf("workflow totals %+v, predicted %+v", got, pred)
		}
		if l.Applied != pred.Successful || l.Failed != pred.Failed || l.NeverAttempted != 0 || l.MaxAttempts != 3 {
			t.Fatalf("ledger %+v, predicted %+v with at most 3 attempts per order", l, pred)
		}
		if refused.Load() < orders/size {
			t.Fatalf("only %d requests refused", refused.Load())
		}
	})
	t.Run("a fault past the deadline fails the orders, and says so", func(t *testing.T) {
		store := orderstore.New(m, nil)
		store.SetFaults(1, 0)
		got, l := run(t, store, store.Handler(), 300*time.Millisecond)
		if got.Failed != orders || got.Errors != orders/size || l.NeverAttempted != orders || store.Refused() == 0 {
			t.Fatalf("workflow totals %+v, ledger %+v, %d refused: want every order failed by %d activities past their deadline, none attempted",
				got, l, store.Refused(), orders/size)
		}
	})
}

func TestNewPlanRefusesOversizedHistories(t *testing.T) {
	for _, c := range []struct {
		mode    string
		orders  int64
		batch   int64
		slices  int64
		wantErr bool
	}{
		{ModeBatched, 100_000, 100, 0, false},
		{ModeMapReduce, 100_000, 100, 0, false},
		{ModeChildren, 100_000, 100, 100, false},
		{ModePerOrder, 2_000, 100, 0, false},
		{ModePerOrder, 10_000, 100, 0, true},
		{ModeBatched, 1_000_000, 100, 0, true},
		{ModeBatched, 100_000, 1, 0, true},
		{ModeChildren, 1_000_000, 100, 10_000, true},
		{ModeChildren, 1_000_000, 1, 10, true}, // each child too big
	} {
		err := NewPlan(c.mode, c.orders, c.batch, 10, c.slices, 20, false).Check(DefaultMaxHistoryEvents)
		if (err != nil) != c.wantErr {
			t.Errorf("%s orders=%d batch=%d slices=%d: err=%v, want error %v", c.mode, c.orders, c.batch, c.slices, err, c.wantErr)
		}
	}
	err := NewPlan(ModePerOrder, 10_000, 100, 10, 0, 20, false).Check(DefaultMaxHistoryEvents)
	if err == nil || !strings.Contains(err.Error(), "mode=children") {
		t.Fatalf("per-order refusal must name the mode to use instead: %v", err)
	}
}

// A request the store rejects as such (4xx: here an unknown batch) is a
// bug, not a fault: the activity fails at once, not after apply-deadline.
func TestApplyFailsFastOnRejectedRequest(t *testing.T) {
	store := orderstore.New(orderstore.Model{Seed: 1}, nil)
	srv := httptest.NewServer(store.Handler())
	defer srv.Close()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(ApplyRange, activity.RegisterOptions{Name: ActivityApply})
	_, err := env.ExecuteActivity(ActivityApply, ApplyInput{StoreURL: srv.URL, Batch: 7, From: 0, To: 10, MaxAttempts: 3})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !app.NonRetryable() {
		t.Fatalf("error %v: want a non-retryable application error", err)
	}
}
