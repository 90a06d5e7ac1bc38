// Package largestate is the large-state scenario: payloads and state at and beyond Temporal's 2 MiB payload limit,
// in four modes, run side by side (iterations round-robin over the modes
// named in `mode`):
//
//   - inline: the dataset is loaded into workflow state and the whole
//     state handed to an activity after every chunk, so it travels through
//     history. Past the payload limit the worker's SDK (1.50, on the worker
//     processes) refuses to send the command: the workflow task fails with
//     PayloadsTooLarge and is retried forever — the workflow is stuck, and
//     ends only by its run timeout (stuck-timeout). That is this mode's
//     expected outcome: the grow workflow runs as the child of an observer
//     workflow, which completes and reports how the child ended; the child
//     is journaled with the end state the limit predicts (verification
//     holds it to it), and the invariants check it stopped exactly where
//     the limit says and why.
//   - inline-server: the same on a worker without the SDK's check
//     (DisablePayloadErrorLimit, an own worker in the driver process): the
//     server rejects the command and terminates the workflow.
//   - external: claim check — the data lives in a blob store (BlobStore; a
//     directory in the run directory, reachable by the worker processes on
//     the same machine), only reference, size and checksum in history; the
//     workflow processes through the references and deletes the objects;
//     the store's own operation log proves nothing was orphaned.
//   - compressed: the inline workflow again, with the SDK's zlib payload
//     codec on client and worker. The worker processes use the default
//     converter, so this mode runs its own worker in the driver process on
//     its own task queue, through an Env with the codec (sharing the run's
//     connection); compression ratio and codec CPU time are measured.
//   - incremental: items processed in batches with periodic checkpoints of
//     only the ids added since the last one, continue-as-new carrying only the references.
//
// Every mode checks its data end to end against the seed: the driver
// regenerates the dataset and compares checksums.
package largestate

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/squallbench/squall/scenarios"
	"github.com/squallbench/squall/scenarios/check"
)

// Name is the scenario's registry name.
const Name = "large-state"

// Modes.
const (
	ModeInline       = "inline"
	ModeInlineServer = "inline-server"
	ModeExternal     = "external"
	ModeCompressed   = "compressed"
	ModeIncremental  = "incremental"
)

// Modes lists every mode, in the default order.
var Modes = []string{ModeInline, ModeInlineServer, ModeExternal, ModeCompressed, ModeIncremental}

// limitMargin: datasets within this of the limit are refused (the
// encoding adds a little to the raw bytes; the outcome would be a guess).
const limitMargin = 16 << 10

// minActivityTimeout: a grow activity moves up to a few MiB; below this
// StartToClose an honest attempt on a loaded machine may time out.
const minActivityTimeout = time.Second

func init() {
	scenarios.Register(&scenarios.Scenario{
		Name: Name,
		Description: "state at and beyond the 2 MiB payload limit: inline (terminated at the limit, the expected outcome), external claim check " +
			"(directory blob store, cleanup verified), zlib payload codec (ratio and CPU), incremental checkpoints; checksums end to end",
		Proves: "datasets of 4 MiB, twice the 2 MiB payload limit, in every mode: inline is terminated at the limit (the " +
			"expected outcome), the claim check, compression and checkpoints carry it with checksums intact",
		Options: []scenarios.Option{
			{Name: "mode", Kind: scenarios.String, Default: strings.Join(Modes, ","),
				Help: "one or more (comma-separated, side by side, iterations round-robin) of: " + strings.Join(Modes, ", ")},
			{Name: "chunk-size", Kind: scenarios.Int, Default: "524288", Min: scenarios.MinOf(1024), Help: "bytes loaded per step (inline, compressed, external)"},
			{Name: "steps", Kind: scenarios.Int, Default: "8", Min: scenarios.MinOf(1), Help: "steps per dataset: the dataset is steps x chunk-size (default 4 MiB)"},
			{Name: "items", Kind: scenarios.Int, Default: "100000", Min: scenarios.MinOf(1), Help: "incremental: ids to process"},
			{Name: "batch-size", Kind: scenarios.Int, Default: "1000", Min: scenarios.MinOf(1), Help: "incremental: ids per activity"},
			{Name: "checkpoint-every", Kind: scenarios.Int, Default: "10000", Min: scenarios.MinOf(1), Help: "incremental: checkpoint after this many new ids"},
			{Name: "max-events", Kind: scenarios.Int, Default: "0", Min: scenarios.MinOf(0),
				Help: "incremental: continue as new at a checkpoint beyond this history length (0: when the server suggests it)"},
			{Name: "stuck-timeout", Kind: scenarios.Duration, Default: "20s", Min: scenarios.MinOf(1),
				Help: "inline, compressed: run timeout of the grow workflow (one stuck at the limit ends by it); its activities time out after a quarter of it"},
			{Name: "payload-limit", Kind: scenarios.Int, Default: fmt.Sprint(check.PayloadBytesError), Min: scenarios.MinOf(1024),
				Help: "the cluster's limit.blobSize.error, to predict where inline and compressed state must stop"},
			{Name: "seed", Kind: scenarios.Int, Default: "1", Help: "seed of the datasets"},
		},
		// One dataset every two seconds, round-robin over the modes: a few
		// of each in the plain run, a few MiB in flight at a time.
		Defaults: scenarios.Defaults{Rate: "1/2s", Duration: 30 * time.Second, Grace: 2 * time.Minute},
		Validate: func(o scenarios.Values, _ scenarios.Load) error { _, err := configure(o); return err },
		Register: Register,
		New:      newDriver,
	})
}

type driver struct {
	env     scenarios.Env
	modes   []string
	chunk   int
	steps   int
	items   int64
	batch   int64
	every   int
	maxEv   int
	limit   int64
	seed    int64
	blobDir string

	// Predicted end state of the grow child per mode.
	predict map[string]scenarios.Expect

	stuck time.Duration

	codec       *measuringCodec
	zenv        scenarios.Env // the compressed mode's: its client and workers use the zlib codec
	zlibQueue   string
	serverQueue string // inline-server
	workers     []worker.Worker

	t *tally
}

// configure checks the options and predicts each mode's outcome (no side
// effects: it is also the scenario's Validate, run before any server starts).
func configure(o scenarios.Values) (*driver, error) {
	d := &driver{chunk: int(o.Int("chunk-size")), steps: int(o.Int("steps")), items: o.Int("items"),
		batch: o.Int("batch-size"), every: int(o.Int("checkpoint-every")), maxEv: int(o.Int("max-events")),
		limit: o.Int("payload-limit"), seed: o.Int("seed"), predict: map[string]scenarios.Expect{}, stuck: o.Duration("stuck-timeout")}
	var problems []string
	for _, m := range strings.Split(o.String("mode"), ",") {
		m = strings.TrimSpace(m)
		switch {
		case !slices.Contains(Modes, m):
			problems = append(problems, fmt.Sprintf("mode %q is not one of %s", m, strings.Join(Modes, ", ")))
		case slices.Contains(d.modes, m):
			problems = append(problems, fmt.Sprintf("mode %q named twice", m))
		default:
			d.modes = append(d.modes, m)
		}
	}
	dataset := int64(d.chunk) * int64(d.steps)
	if dataset > 64<<20 {
		problems = append(problems, fmt.Sprintf("dataset of %d bytes: keep steps x chunk-size within 64 MiB", dataset))
	}
	grows := false
	if slices.Contains(d.modes, ModeInline) || slices.Contains(d.modes, ModeInlineServer) {
		grows = true
		if p, ok := predictGrow(dataset, d.limit, scenarios.ExpectTimedOut); ok {
			d.predict[ModeInline] = p
			d.predict[ModeInlineServer], _ = predictGrow(dataset, d.limit, scenarios.ExpectTerminated)
		} else {
			problems = append(problems, fmt.Sprintf("inline: the dataset (%d bytes) is within %d bytes of the payload limit %d: the outcome would be a guess; change steps or chunk-size",
				dataset, limitMargin, d.limit))
		}
	}
	if slices.Contains(d.modes, ModeCompressed) {
		grows = true
		// Predict with the very codec: zlib of the final state.
		var buf bytes.Buffer
		zw := zlib.NewWriter(&buf)
		for s := 0; s < d.steps; s++ {
			_, _ = zw.Write(Chunk(d.seed, s, d.chunk))
		}
		_ = zw.Close()
		if p, ok := predictGrow(int64(buf.Len()), d.limit, scenarios.ExpectTimedOut); ok {
			d.predict[ModeCompressed] = p
		} else {
			problems = append(problems, fmt.Sprintf("compressed: the compressed dataset (%d bytes) is within %d bytes of the payload limit %d; change steps or chunk-size",
				buf.Len(), limitMargin, d.limit))
		}
	}
	if grows && GrowActivityTimeout(d.stuck) < minActivityTimeout {
		problems = append(problems, fmt.Sprintf("stuck-timeout %s is too short: the grow workflow's activities would time out after %s, and a lost attempt "+
			"must be recovered well within the run timeout; give stuck-timeout=%s or more", d.stuck, GrowActivityTimeout(d.stuck), 4*minActivityTimeout))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	d.t = newTally(d.modes, d.predict, int64(d.chunk)*int64(d.steps), d.items)
	return d, nil
}

func newDriver(ctx context.Context, env scenarios.Env, o scenarios.Values) (_ scenarios.Driver, err error) {
	d, err := configure(o)
	if err != nil {
		return nil, err
	}
	d.env = env
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()
	d.blobDir, err = filepath.Abs(filepath.Join(env.Dir, "blobs"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.blobDir, 0o755); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	if slices.Contains(d.modes, ModeCompressed) {
		d.codec = &measuringCodec{inner: converter.NewZlibCodec(converter.ZlibCodecOptions{}), observe: env.Observe}
		d.zenv, err = env.WithDataConverter(ctx, client.Options{
			Logger: log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		}, converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), d.codec))
		if err != nil {
			return nil, fmt.Errorf("compressed mode: client with the zlib codec: %w", err)
		}
		d.zlibQueue = env.TaskQueue + "-" + Name + "-zlib"
		w := d.zenv.NewWorker(d.zlibQueue, worker.Options{})
		registerGrow(w)
		if err := w.Start(); err != nil {
			return nil, fmt.Errorf("compressed mode: worker on %s: %w", d.zlibQueue, err)
		}
		d.workers = append(d.workers, w)
	}
	if slices.Contains(d.modes, ModeInlineServer) {
		d.serverQueue = env.TaskQueue + "-" + Name + "-unguarded"
		w := env.NewWorker(d.serverQueue, worker.Options{DisablePayloadErrorLimit: true})
		registerGrow(w)
		if err := w.Start(); err != nil {
			return nil, fmt.Errorf("inline-server mode: worker on %s: %w", d.serverQueue, err)
		}
		d.workers = append(d.workers, w)
	}
	return d, nil
}

// predictGrow says how a grow workflow whose final state is size bytes
// (as it travels) ends under limit, over it ending as over says; ok is
// false too close to call.
func predictGrow(size, limit int64, over scenarios.Expect) (scenarios.Expect, bool) {
	switch {
	case size > limit:
		return over, true
	case size < limit-limitMargin:
		return scenarios.ExpectCompleted, true
	}
	return "", false
}

// WorkflowID names iteration n of a run.
func WorkflowID(runID string, n int64) string { return fmt.Sprintf("%s-%s-%d", Name, runID, n) }

func (d *driver) Iterate(ctx context.Context, it scenarios.Iteration) error {
	mode := d.modes[int(it.N%int64(len(d.modes)))]
	id := WorkflowID(d.env.RunID, it.N)
	oc := &outcome{mode: mode, id: id, seed: d.seed + it.N, histID: id}
	env, spec := d.env, scenarios.StartSpec{ID: id}
	switch mode {
	case ModeInline, ModeInlineServer, ModeCompressed:
		spec.Workflow = WorkflowObserver
		spec.Args = []any{GrowInput{Seed: oc.seed, Steps: d.steps, ChunkSize: d.chunk, RunTimeout: d.stuck, ActivityTimeout: GrowActivityTimeout(d.stuck)}}
		switch mode {
		case ModeCompressed:
			env, spec.Options.TaskQueue = d.zenv, d.zlibQueue
		case ModeInlineServer:
			spec.Options.TaskQueue = d.serverQueue
		}
	case ModeExternal:
		spec.Workflow = WorkflowExternal
		spec.Args = []any{ExternalInput{Dir: d.blobDir, Prefix: id, Seed: oc.seed, Steps: d.steps, ChunkSize: d.chunk}}
	case ModeIncremental:
		spec.Workflow = WorkflowIncremental
		spec.Args = []any{IncrementalInput{Dir: d.blobDir, Prefix: id, Items: d.items, BatchSize: d.batch, CheckpointEvery: d.every, MaxEvents: d.maxEv}}
	}
	grow := spec.Workflow == WorkflowObserver
	run, err := env.Start(ctx, spec)
	if err != nil {
		// It may have started all the same, and with it the child.
		if grow {
			d.env.ExpectChild(ChildID(id), d.predict[mode], false)
		}
		d.t.failed(mode)
		return err
	}
	switch mode {
	case ModeInline, ModeInlineServer, ModeCompressed:
		var r ObserverResult
		err = scenarios.Await(ctx, run, &r)
		// The child ends as the limit predicts, not necessarily completed;
		// if the observer failed, it may not have started it.
		d.env.ExpectChild(ChildID(id), d.predict[mode], err == nil)
		if err == nil {
			oc.obs = &r
			oc.histID, oc.histRun = r.ChildID, r.ChildRunID
		}
	case ModeExternal:
		var r ExternalResult
		if err = scenarios.Await(ctx, run, &r); err == nil {
			oc.ext = &r
		}
	case ModeIncremental:
		var r IncrementalResult
		if err = scenarios.Await(ctx, run, &r); err == nil {
			oc.inc = &r
		}
	}
	if err != nil {
		d.t.failed(mode)
		return err
	}
	d.inspect(ctx, oc)
	d.t.judge(d, oc)
	return nil
}

func (d *driver) Close() error {
	for _, w := range d.workers {
		w.Stop()
	}
	d.workers = nil
	if d.zenv.Client != nil {
		d.zenv.Client.Close()
		d.zenv.Client = nil
	}
	return nil
}
