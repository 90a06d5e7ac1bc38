package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/cluster"
)

// Drivers started by an orchestrator that hands out no index (compose
// --scale) meet in the cluster itself: one coordinator workflow per
// rendezvous name (--run-id) takes one "join" update per driver, numbers
// them in the order they arrive and, once n have joined, answers all n at
// once with the same run id and start time. Each driver polls the
// coordinator's queue while it waits, so no other process is needed.
const (
	DriversWorkflow = "squall.drivers"
	DriversQueue    = "squall-drivers"
	joinUpdate      = "join"
	// DriversLead is how long after the last driver joins the schedule
	// starts: time for every driver to hear the answer and prepare its
	// scenario. A driver that needs longer counts late starts.
	DriversLead = 10 * time.Second
	// DefaultDriverTimeout is how long drivers wait, counted from the
	// first one's arrival, for all n.
	DefaultDriverTimeout = 2 * time.Minute
)

// DriversInput is what the first driver starts the coordinator with.
type DriversInput struct {
	N       int
	Timeout time.Duration
	Lead    time.Duration
}

// JoinRequest is one driver asking for its index.
type JoinRequest struct {
	Token string // unique per driver process: a retried update gets the same index
	N     int
}

// JoinRelease is what every driver gets once all have joined.
type JoinRelease struct {
	Index   int       // 1..Of, in the order the drivers joined
	Of      int       //
	RunID   string    // the run id every driver uses: the rendezvous name and the time of the first join
	StartAt time.Time // t=0 of the shared schedule
}

// DriversCoordinator is the coordinator workflow.
func DriversCoordinator(ctx workflow.Context, in DriversInput) error {
	first := workflow.Now(ctx)
	runID := workflow.GetInfo(ctx).WorkflowExecution.ID
	runID = strings.TrimPrefix(runID, DriversWorkflow+"-") + "-" + first.UTC().Format("20060102T150405Z")
	var (
		tokens   []string
		release  JoinRelease
		released bool
		expired  bool
	)
	err := workflow.SetUpdateHandlerWithOptions(ctx, joinUpdate,
		func(ctx workflow.Context, req JoinRequest) (JoinRelease, error) {
			i := slices.Index(tokens, req.Token)
			if i < 0 {
				tokens = append(tokens, req.Token)
				i = len(tokens) - 1
			}
			if len(tokens) == in.N && !released {
				released = true
				release = JoinRelease{Of: in.N, RunID: runID, StartAt: workflow.Now(ctx).Add(in.Lead)}
			}
			if err := workflow.Await(ctx, func() bool { return released || expired }); err != nil {
				return JoinRelease{}, err
			}
			if !released {
				return JoinRelease{}, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("only %d of %d drivers joined within %s of the first", len(tokens), in.N, in.Timeout), "DriversMissing", nil)
			}
			r := release
			r.Index = i + 1
			return r, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req JoinRequest) error {
			switch {
			case req.N != in.N:
				return fmt.Errorf("the drivers already waiting were started with auto/%d, this one with auto/%d: give every driver the same n", in.N, req.N)
			case slices.Contains(tokens, req.Token):
				return nil // a retry: same answer
			case released:
				return fmt.Errorf("all %d drivers have joined already: a further driver needs a fresh --run-id", in.N)
			case expired:
				return fmt.Errorf("the %s join window has closed", in.Timeout)
			}
			return nil
		}})
	if err != nil {
		return err
	}
	ok, err := workflow.AwaitWithTimeout(ctx, in.Timeout, func() bool { return released })
	if err != nil {
		return err
	}
	expired = !ok
	// Answer every waiting driver before the workflow ends.
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// autoDrivers parses "auto/n"; ok is false for anything else.
func autoDrivers(driver string) (n int, ok bool, err error) {
	rest, ok := strings.CutPrefix(driver, "auto/")
	if !ok {
		return 0, false, nil
	}
	n, err = strconv.Atoi(rest)
	if err != nil || n < 1 {
		return 0, true, fmt.Errorf("bad --driver %q: want auto/n with n ≥ 1, e.g. auto/3", driver)
	}
	return n, true, nil
}

// joinDrivers turns an auto/n plan into driver i of n: it meets the other
// drivers in the cluster, then fixes the index, the run id, the start time
// and the run directory ({driver} in --out) the way --driver i/n --run-id
// --start-at would have. Drivers other than 1 drop the fault schedule: it
// runs once, on driver 1.
func joinDrivers(ctx context.Context, p *Plan, con Console) error {
	if p.AutoDrivers == 0 {
		return nil
	}
	n := p.AutoDrivers
	conn := p.Conn
	if conn.Namespace == "" {
		conn.Namespace = cluster.DefaultNamespace
	}
	cl, err := conn.Dial(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	w := worker.New(cl, DriversQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(DriversCoordinator, workflow.RegisterOptions{Name: DriversWorkflow})
	if err := w.Start(); err != nil {
		return fmt.Errorf("driver coordination: %w", err)
	}
	defer w.Stop()

	timeout := p.DriverTimeout
	fmt.Fprintf(con.Out, "joining %d drivers under run id %s (waiting up to %s)...\n", n, p.RunID, timeout)
	rel, err := join(ctx, cl, p.RunID, n, timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(con.Out, "driver %d of %d, run %s, starting at %s\n", rel.Index, rel.Of, rel.RunID, rel.StartAt.Format(time.RFC3339Nano))

	p.Driver = fmt.Sprintf("%d/%d", rel.Index, rel.Of)
	p.Share = bench.Share{Index: rel.Index, Of: rel.Of}
	p.RunID = rel.RunID
	if p.StartAt.IsZero() {
		p.StartAt = rel.StartAt
	}
	p.Out = strings.ReplaceAll(p.Out, "{driver}", strconv.Itoa(rel.Index))
	if rel.Index != 1 && len(p.Faults) > 0 {
		fmt.Fprintf(con.Out, "faults run on driver 1 only: this driver skips its %d\n", len(p.Faults))
		p.Faults = nil
	}
	applyShare(p)
	return nil
}

// join asks the coordinator of name for this process's index, starting
// the coordinator if this is the first driver, and waits for the release.
func join(ctx context.Context, cl client.Client, name string, n int, timeout time.Duration) (JoinRelease, error) {
	// The coordinator answers or gives up within timeout of the first
	// driver; the margin covers a slow server, not the wait itself.
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	token := joinToken()
	start := cl.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID: DriversWorkflow + "-" + name, TaskQueue: DriversQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// A finished rendezvous may be reused: the run id carries the
		// time of its first join, so workflow IDs never collide.
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionTimeout: timeout + time.Minute,
	}, DriversWorkflow, DriversInput{N: n, Timeout: timeout, Lead: DriversLead})
	h, err := cl.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{UpdateName: joinUpdate, UpdateID: token,
			Args: []any{JoinRequest{Token: token, N: n}}, WaitForStage: client.WorkflowUpdateStageAccepted},
	})
	var rel JoinRelease
	if err == nil {
		err = h.Get(ctx, &rel)
	}
	if err != nil {
		return rel, joinError(ctx, name, n, timeout, err)
	}
	return rel, nil
}

func joinError(ctx context.Context, name string, n int, timeout time.Duration, err error) error {
	var app *temporal.ApplicationError
	var deadline *serviceerror.DeadlineExceeded
	switch {
	case errors.As(err, &app):
		// The coordinator's own verdict (fewer than n, wrong n, too late).
		return cluster.Usagef("--driver auto/%d --run-id %s: %s: start all %d drivers with the same --driver, --run-id and --address within --driver-timeout (%s) of the first",
			n, name, app.Message(), n, timeout)
	case ctx.Err() != nil || errors.As(err, &deadline):
		return cluster.Usagef("--driver auto/%d --run-id %s: no answer from the driver coordinator within %s: is every driver on the same cluster (--address)?", n, name, timeout)
	}
	return fmt.Errorf("driver coordination (run id %s): %w", name, err)
}

// joinToken tells this driver process apart from the others.
func joinToken() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
