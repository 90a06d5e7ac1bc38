package largestate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Registered names.
const (
	WorkflowGrow        = "squall.largestate.grow"        // inline and compressed: the state in history
	WorkflowObserver    = "squall.largestate.observer"    // inline: runs a grow child, reports how it ended
	WorkflowExternal    = "squall.largestate.external"    // claim check
	WorkflowIncremental = "squall.largestate.incremental" // checkpoints of processed ids

	ActivityProduce         = "squall.largestate.produce"
	ActivityDigest          = "squall.largestate.digest"
	ActivityProduceExternal = "squall.largestate.produce-external"
	ActivityProcessExternal = "squall.largestate.process-external"
	ActivityCleanup         = "squall.largestate.cleanup"
	ActivityProcessBatch    = "squall.largestate.process-batch"
	ActivitySaveCheckpoint  = "squall.largestate.save-checkpoint"
	ActivityVerify          = "squall.largestate.verify-checkpoints"
)

// Register adds every workflow and activity to a worker.
func Register(r worker.Registry) {
	registerGrow(r)
	r.RegisterWorkflowWithOptions(ExternalWorkflow, workflow.RegisterOptions{Name: WorkflowExternal})
	r.RegisterWorkflowWithOptions(IncrementalWorkflow, workflow.RegisterOptions{Name: WorkflowIncremental})
	r.RegisterActivityWithOptions(ProduceExternal, activity.RegisterOptions{Name: ActivityProduceExternal})
	r.RegisterActivityWithOptions(ProcessExternal, activity.RegisterOptions{Name: ActivityProcessExternal})
	r.RegisterActivityWithOptions(Cleanup, activity.RegisterOptions{Name: ActivityCleanup})
	r.RegisterActivityWithOptions(ProcessBatch, activity.RegisterOptions{Name: ActivityProcessBatch})
	r.RegisterActivityWithOptions(SaveCheckpoint, activity.RegisterOptions{Name: ActivitySaveCheckpoint})
	r.RegisterActivityWithOptions(VerifyCheckpoints, activity.RegisterOptions{Name: ActivityVerify})
}

// registerGrow registers what the own workers of the compressed and
// inline-server modes need.
func registerGrow(r worker.Registry) {
	r.RegisterWorkflowWithOptions(GrowWorkflow, workflow.RegisterOptions{Name: WorkflowGrow})
	r.RegisterActivityWithOptions(Produce, activity.RegisterOptions{Name: ActivityProduce})
	r.RegisterActivityWithOptions(Digest, activity.RegisterOptions{Name: ActivityDigest})
	r.RegisterWorkflowWithOptions(ObserverWorkflow, workflow.RegisterOptions{Name: WorkflowObserver})
}

// actx: the activities move at most a few MiB (seconds of work even on a
// loaded machine). StartToClose is also the recovery time when an attempt
// is lost without a failure (its start recorded by a write whose caller saw
// a timeout — ExecuteAndTimeout — or a worker killed mid-call), so it is
// kept short: measured with make chaos, 2 minutes showed up as a 122 s p99.
func actx(ctx workflow.Context) workflow.Context { return actxWithin(ctx, 0) }

// Activity timing of every workflow here. A workflow with a deadline of
// its own (the grow child's run timeout) passes a shorter StartToClose:
// a lost attempt must be recovered (its StartToClose, then the first
// retry interval) well before that deadline, or the deadline and not the
// payload limit ends it.
const (
	activityTimeout = 30 * time.Second
	retryInterval   = 200 * time.Millisecond
)

// GrowActivityTimeout is the grow child's StartToClose for a run timeout
// of runTimeout: a lost attempt costs a quarter of it, three quarters are
// left for the work.
func GrowActivityTimeout(runTimeout time.Duration) time.Duration {
	return min(activityTimeout, runTimeout/4)
}

func actxWithin(ctx workflow.Context, startToClose time.Duration) workflow.Context {
	if startToClose <= 0 {
		startToClose = activityTimeout
	}
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: startToClose,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: retryInterval, MaximumInterval: 5 * time.Second, MaximumAttempts: 10},
	})
}

// ---- inline / compressed: the state itself travels through history ----

// GrowInput describes a dataset of Steps chunks of ChunkSize bytes.
type GrowInput struct {
	Seed      int64 `json:"seed"`
	Steps     int   `json:"steps"`
	ChunkSize int   `json:"chunk_size"`
	// RunTimeout bounds the observer's child: a grow workflow stuck at the
	// limit (the SDK refusing to upload its command, retried forever)
	// ends by this timeout.
	RunTimeout time.Duration `json:"run_timeout,omitempty"`
	// ActivityTimeout is the StartToClose of its activities (0: the
	// default), kept within RunTimeout (see GrowActivityTimeout).
	ActivityTimeout time.Duration `json:"activity_timeout,omitempty"`
}

// ProduceInput asks for one chunk.
type ProduceInput struct {
	Seed int64 `json:"seed"`
	Step int   `json:"step"`
	Size int   `json:"size"`
}

// Produce loads one chunk of the dataset (generated from the seed).
func Produce(_ context.Context, in ProduceInput) ([]byte, error) {
	return Chunk(in.Seed, in.Step, in.Size), nil
}

// Digest processes the whole state handed to it: its checksum and size.
func Digest(_ context.Context, state []byte) (DataDigest, error) {
	return DataDigest{SHA256: Checksum(state), Size: int64(len(state))}, nil
}

// DataDigest is what a workflow reports about its data.
type DataDigest struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// GrowResult is a grow workflow's result.
type GrowResult struct {
	DataDigest
	Steps int `json:"steps"`
}

// GrowWorkflow is the anti-pattern of state carried in history: the dataset
// is loaded chunk by chunk into workflow state, and after every chunk the
// whole state is handed to an activity — so every step's activity input,
// in history, is the entire state so far. Past the 2 MiB payload limit:
// a worker with the SDK's payload check (the default since SDK 1.3x)
// refuses to send the command and fails the workflow task, which is
// retried forever — the workflow is stuck; a worker without it
// (DisablePayloadErrorLimit) sends it and the server terminates the
// workflow. With a payload codec (the compressed mode) the same state
// travels compressed.
func GrowWorkflow(ctx workflow.Context, in GrowInput) (GrowResult, error) {
	ctx = actxWithin(ctx, in.ActivityTimeout)
	var state []byte
	var d DataDigest
	for s := 0; s < in.Steps; s++ {
		var chunk []byte
		if err := workflow.ExecuteActivity(ctx, ActivityProduce, ProduceInput{Seed: in.Seed, Step: s, Size: in.ChunkSize}).Get(ctx, &chunk); err != nil {
			return GrowResult{}, err
		}
		state = append(state, chunk...)
		if err := workflow.ExecuteActivity(ctx, ActivityDigest, state).Get(ctx, &d); err != nil {
			return GrowResult{}, err
		}
	}
	return GrowResult{DataDigest: d, Steps: in.Steps}, nil
}

// ObserverResult says how an inline grow child ended.
type ObserverResult struct {
	ChildID    string      `json:"child_id"`
	ChildRunID string      `json:"child_run_id"`
	Status     string      `json:"status"` // completed, terminated, failed, ...
	Error      string      `json:"error,omitempty"`
	Result     *GrowResult `json:"result,omitempty"`
}

// ChildID is the ID of the grow child of observer workflow id.
func ChildID(id string) string { return id + "-inline" }

// ObserverWorkflow runs the inline grow workflow as a child and reports
// how it ended. The child's end at the payload limit (stuck until its run
// timeout, or terminated by the server) is the expected outcome of the
// inline modes; the observer completes either way, and the driver
// journals the child with the end state the limit predicts.
func ObserverWorkflow(ctx workflow.Context, in GrowInput) (ObserverResult, error) {
	id := ChildID(workflow.GetInfo(ctx).WorkflowExecution.ID)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id, WorkflowRunTimeout: in.RunTimeout})
	f := workflow.ExecuteChildWorkflow(cctx, WorkflowGrow, in)
	res := ObserverResult{ChildID: id}
	var we workflow.Execution
	if err := f.GetChildWorkflowExecution().Get(ctx, &we); err != nil {
		return res, fmt.Errorf("start child %s: %w", id, err)
	}
	res.ChildRunID = we.RunID
	var gr GrowResult
	err := f.Get(ctx, &gr)
	var terminated *temporal.TerminatedError
	var timeout *temporal.TimeoutError
	var canceled *temporal.CanceledError
	switch {
	case err == nil:
		res.Status, res.Result = "completed", &gr
	case errors.As(err, &terminated):
		res.Status, res.Error = "terminated", err.Error()
	case errors.As(err, &timeout):
		res.Status, res.Error = "timed_out", err.Error()
	case errors.As(err, &canceled):
		res.Status, res.Error = "canceled", err.Error()
	default:
		res.Status, res.Error = "failed", err.Error()
	}
	return res, nil
}

// ---- external: claim check ----

// ExternalInput describes a dataset kept in the blob store at Dir.
type ExternalInput struct {
	Dir       string `json:"dir"`
	Prefix    string `json:"prefix"` // object keys: <prefix>/<step>
	Seed      int64  `json:"seed"`
	Steps     int    `json:"steps"`
	ChunkSize int    `json:"chunk_size"`
}

// ProduceExternalInput asks for one chunk to be loaded into the store.
type ProduceExternalInput struct {
	Dir  string `json:"dir"`
	Key  string `json:"key"`
	Seed int64  `json:"seed"`
	Step int    `json:"step"`
	Size int    `json:"size"`
}

// ProduceExternal loads one chunk and stores it: only the reference
// returns to the workflow.
func ProduceExternal(ctx context.Context, in ProduceExternalInput) (Ref, error) {
	return DirStore{Dir: in.Dir}.Put(ctx, in.Key, Chunk(in.Seed, in.Step, in.Size))
}

// ProcessInput names the objects to process.
type ProcessInput struct {
	Dir  string `json:"dir"`
	Refs []Ref  `json:"refs"`
}

// ProcessExternal reads every object through its reference (verifying
// size and checksum) and processes the whole dataset: its checksum.
func ProcessExternal(ctx context.Context, in ProcessInput) (DataDigest, error) {
	st := DirStore{Dir: in.Dir}
	h := sha256.New()
	var n int64
	for _, r := range in.Refs {
		b, err := st.Get(ctx, r)
		if err != nil {
			return DataDigest{}, temporal.NewNonRetryableApplicationError("claim check failed", "Corrupt", err)
		}
		h.Write(b)
		n += int64(len(b))
		activity.RecordHeartbeat(ctx, r.Key)
	}
	return DataDigest{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// CleanupInput names the objects to delete.
type CleanupInput struct {
	Dir  string   `json:"dir"`
	Keys []string `json:"keys"`
}

// Cleanup deletes the objects (idempotent).
func Cleanup(ctx context.Context, in CleanupInput) (int, error) {
	st := DirStore{Dir: in.Dir}
	for _, k := range in.Keys {
		if err := st.Delete(ctx, k); err != nil {
			return 0, err
		}
	}
	return len(in.Keys), nil
}

// ExternalResult is the claim-check workflow's result.
type ExternalResult struct {
	DataDigest
	Objects int `json:"objects"`
	Deleted int `json:"deleted"`
}

// ExternalWorkflow keeps the dataset in the blob store and only the
// references (key, size, checksum) in its state and history; it processes
// the data through the references and cleans the store up.
func ExternalWorkflow(ctx workflow.Context, in ExternalInput) (ExternalResult, error) {
	ctx = actx(ctx)
	var refs []Ref
	for s := 0; s < in.Steps; s++ {
		var r Ref
		key := in.Prefix + "/" + strconv.Itoa(s)
		if err := workflow.ExecuteActivity(ctx, ActivityProduceExternal,
			ProduceExternalInput{Dir: in.Dir, Key: key, Seed: in.Seed, Step: s, Size: in.ChunkSize}).Get(ctx, &r); err != nil {
			return ExternalResult{}, err
		}
		refs = append(refs, r)
	}
	var res ExternalResult
	perr := workflow.ExecuteActivity(ctx, ActivityProcessExternal, ProcessInput{Dir: in.Dir, Refs: refs}).Get(ctx, &res.DataDigest)
	// Clean up whatever happened to the processing.
	keys := make([]string, len(refs))
	for i, r := range refs {
		keys[i] = r.Key
	}
	if err := workflow.ExecuteActivity(ctx, ActivityCleanup, CleanupInput{Dir: in.Dir, Keys: keys}).Get(ctx, &res.Deleted); err != nil {
		return res, errors.Join(perr, err)
	}
	res.Objects = len(refs)
	return res, perr
}

// ---- incremental: checkpoints of processed ids ----

// IncrementalInput is the incremental workflow's input and its state
// across continue-as-new.
type IncrementalInput struct {
	Dir             string `json:"dir"`
	Prefix          string `json:"prefix"` // checkpoint keys: <prefix>/<n>
	Items           int64  `json:"items"`
	BatchSize       int64  `json:"batch_size"`
	CheckpointEvery int    `json:"checkpoint_every"`
	// Carried across continue-as-new: the next item, the checkpoints so
	// far (references only), how many runs.
	Next        int64 `json:"next"`
	Checkpoints []Ref `json:"checkpoints,omitempty"`
	Runs        int   `json:"runs"`
	// MaxEvents > 0: continue as new beyond this history length, besides
	// the server's suggestion.
	MaxEvents int `json:"max_events,omitempty"`
}

// BatchInput is a batch of items [From, To).
type BatchInput struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// ProcessBatch processes items [From, To) and returns how many.
func ProcessBatch(_ context.Context, in BatchInput) (int64, error) {
	return in.To - in.From, nil
}

// CheckpointInput is one checkpoint: the ids added since the last one.
type CheckpointInput struct {
	Dir string  `json:"dir"`
	Key string  `json:"key"`
	IDs []int64 `json:"ids"`
}

// SaveCheckpoint persists the delta to the store: only the ids added
// since the last checkpoint, so a checkpoint never grows with the run.
func SaveCheckpoint(ctx context.Context, in CheckpointInput) (Ref, error) {
	b, err := json.Marshal(in.IDs)
	if err != nil {
		return Ref{}, err
	}
	return DirStore{Dir: in.Dir}.Put(ctx, in.Key, b)
}

// VerifyInput asks to check the checkpoints against Items.
type VerifyInput struct {
	Dir   string `json:"dir"`
	Refs  []Ref  `json:"refs"`
	Items int64  `json:"items"`
}

// VerifyResult is what the checkpoints add up to.
type VerifyResult struct {
	IDs        int64  `json:"ids"`
	Unique     int64  `json:"unique"`
	Duplicates int64  `json:"duplicates"`
	Missing    int64  `json:"missing"`
	Outside    int64  `json:"outside"` // ids not in 0..Items-1
	SHA256     string `json:"sha256"`  // of the unique ids, ascending, as decimal lines
}

// VerifyCheckpoints reads every checkpoint (checking its claim check) and
// counts the ids: each of 0..Items-1 must appear exactly once.
func VerifyCheckpoints(ctx context.Context, in VerifyInput) (VerifyResult, error) {
	st := DirStore{Dir: in.Dir}
	seen := make([]bool, in.Items)
	var r VerifyResult
	for _, ref := range in.Refs {
		b, err := st.Get(ctx, ref)
		if err != nil {
			return r, temporal.NewNonRetryableApplicationError("checkpoint claim check failed", "Corrupt", err)
		}
		var ids []int64
		if err := json.Unmarshal(b, &ids); err != nil {
			return r, temporal.NewNonRetryableApplicationError("checkpoint unreadable", "Corrupt", err)
		}
		for _, id := range ids {
			r.IDs++
			switch {
			case id < 0 || id >= in.Items:
				r.Outside++
			case seen[id]:
				r.Duplicates++
			default:
				seen[id] = true
				r.Unique++
			}
		}
	}
	h := sha256.New()
	var line []byte
	for id, ok := range seen {
		if !ok {
			r.Missing++
			continue
		}
		line = strconv.AppendInt(line[:0], int64(id), 10)
		h.Write(append(line, '\n'))
	}
	r.SHA256 = hex.EncodeToString(h.Sum(nil))
	return r, nil
}

// IncrementalResult is the incremental workflow's result.
type IncrementalResult struct {
	Processed   int64        `json:"processed"`
	Checkpoints int          `json:"checkpoints"`
	Runs        int          `json:"runs"`
	Verify      VerifyResult `json:"verify"`
	Deleted     int          `json:"deleted"`
}

// IncrementalWorkflow processes Items ids in batches and, every
// CheckpointEvery ids, saves only the ids added since the last checkpoint.
// It carries only the references across
// continue-as-new. At the end it verifies the checkpoints add up to every
// id exactly once, then removes them.
func IncrementalWorkflow(ctx workflow.Context, in IncrementalInput) (IncrementalResult, error) {
	ctx = actx(ctx)
	in.Runs++
	var delta []int64
	save := func() error {
		if len(delta) == 0 {
			return nil
		}
		var r Ref
		key := in.Prefix + "/" + strconv.Itoa(len(in.Checkpoints))
		if err := workflow.ExecuteActivity(ctx, ActivitySaveCheckpoint, CheckpointInput{Dir: in.Dir, Key: key, IDs: delta}).Get(ctx, &r); err != nil {
			return err
		}
		in.Checkpoints = append(in.Checkpoints, r)
		delta = nil
		return nil
	}
	for in.Next < in.Items {
		to := min(in.Next+in.BatchSize, in.Items)
		var n int64
		if err := workflow.ExecuteActivity(ctx, ActivityProcessBatch, BatchInput{From: in.Next, To: to}).Get(ctx, &n); err != nil {
			return IncrementalResult{}, err
		}
		if n != to-in.Next {
			return IncrementalResult{}, fmt.Errorf("batch [%d,%d): %d processed", in.Next, to, n)
		}
		for id := in.Next; id < to; id++ {
			delta = append(delta, id)
		}
		in.Next = to
		if len(delta) >= in.CheckpointEvery {
			if err := save(); err != nil {
				return IncrementalResult{}, err
			}
			info := workflow.GetInfo(ctx)
			if in.Next < in.Items && (info.GetContinueAsNewSuggested() || (in.MaxEvents > 0 && info.GetCurrentHistoryLength() >= in.MaxEvents)) {
				// Only at a checkpoint: nothing unsaved is left behind.
				return IncrementalResult{}, workflow.NewContinueAsNewError(ctx, WorkflowIncremental, in)
			}
		}
	}
	if err := save(); err != nil {
		return IncrementalResult{}, err
	}
	res := IncrementalResult{Processed: in.Next, Checkpoints: len(in.Checkpoints), Runs: in.Runs}
	if err := workflow.ExecuteActivity(ctx, ActivityVerify, VerifyInput{Dir: in.Dir, Refs: in.Checkpoints, Items: in.Items}).Get(ctx, &res.Verify); err != nil {
		return res, err
	}
	keys := make([]string, 0, len(in.Checkpoints))
	for _, r := range in.Checkpoints {
		keys = append(keys, r.Key)
	}
	slices.Sort(keys)
	if err := workflow.ExecuteActivity(ctx, ActivityCleanup, CleanupInput{Dir: in.Dir, Keys: keys}).Get(ctx, &res.Deleted); err != nil {
		return res, err
	}
	return res, nil
}
