package largestate

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/squallbench/squall/scenarios"
)

func TestDirStore(t *testing.T) {
	ctx := context.Background()
	st := DirStore{Dir: t.TempDir()}
	ref, err := st.Put(ctx, "run-1/0", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Size != 5 || ref.SHA256 != Checksum([]byte("hello")) {
		t.Fatalf("ref %+v", ref)
	}
	if b, err := st.Get(ctx, ref); err != nil || string(b) != "hello" {
		t.Fatalf("get %q %v", b, err)
	}
	// Corruption behind the store's back is caught by the claim check.
	if err := os.WriteFile(filepath.Join(st.Dir, "objects", "run-1", "0"), []byte("jello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, ref); !errors.Is(err, ErrCorrupt) {
		t.Errorf("corrupt object: %v", err)
	}
	if _, err := st.Put(ctx, "run-1/1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "other/0", []byte("y")); err != nil {
		t.Fatal(err)
	}
	keys, err := st.List(ctx, "run-1/")
	if err != nil || len(keys) != 2 || keys[0] != "run-1/0" || keys[1] != "run-1/1" {
		t.Fatalf("list %v %v", keys, err)
	}
	for _, k := range keys {
		if err := st.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Delete(ctx, "run-1/0"); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if keys, _ := st.List(ctx, "run-1/"); len(keys) != 0 {
		t.Errorf("left %v", keys)
	}
	ops, err := st.Ops()
	if err != nil || len(ops) != 6 || ops[0].Op != "put" || ops[0].SHA256 != ref.SHA256 || ops[5].Op != "delete" {
		t.Errorf("ops %+v %v", ops, err)
	}
	for _, bad := range []string{"", "../x", "/abs", `a\b`} {
		if _, err := st.Put(ctx, bad, nil); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}

func TestChunkDeterministicAndCompressible(t *testing.T) {
	a, b := Chunk(7, 3, 100_000), Chunk(7, 3, 100_000)
	if !bytes.Equal(a, b) || len(a) != 100_000 || bytes.Equal(a, Chunk(7, 4, 100_000)) || bytes.Equal(a, Chunk(8, 3, 100_000)) {
		t.Fatal("chunks must be exactly sized, deterministic, and differ by step and seed")
	}
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	_, _ = w.Write(a)
	_ = w.Close()
	if r := float64(len(a)) / float64(buf.Len()); r < 2 || r > 20 {
		t.Errorf("compression ratio %.1f: records should compress like real ones", r)
	}
	sum, n := Expected(7, 2, 1000)
	if n != 2000 || sum != Checksum(append(Chunk(7, 0, 1000), Chunk(7, 1, 1000)...)) {
		t.Error("Expected disagrees with the chunks")
	}
}

func TestPredictGrow(t *testing.T) {
	for _, tc := range []struct {
		size, limit int64
		want        scenarios.Expect
		ok          bool
	}{
		{4 << 20, 2 << 20, "over", true},
		{1 << 20, 2 << 20, scenarios.ExpectCompleted, true},
		{2 << 20, 2 << 20, "", false},      // exactly at: metadata decides
		{2<<20 - 1000, 2 << 20, "", false}, // too close to call
		{2<<20 - 20<<10, 2 << 20, scenarios.ExpectCompleted, true},
	} {
		got, ok := predictGrow(tc.size, tc.limit, "over")
		if got != tc.want || ok != tc.ok {
			t.Errorf("%d under %d: %q %v, want %q %v", tc.size, tc.limit, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMeasuringCodecRoundTrip(t *testing.T) {
	c := &measuringCodec{inner: converter.NewZlibCodec(converter.ZlibCodecOptions{})}
	data := Chunk(1, 0, 200_000)
	enc, err := c.Encode([]*commonpb.Payload{{Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := c.Decode(enc)
	if err != nil || !bytes.Equal(dec[0].Data, data) {
		t.Fatalf("round trip: %v", err)
	}
	s := c.stats()
	if s.RawBytes != 200_000 || s.EncodedBytes >= s.RawBytes || s.Ratio < 2 || s.DecodedBytes != 200_000 || s.EncodeCalls != 1 {
		t.Errorf("stats %+v", s)
	}
}

func newEnv() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	Register(env)
	return env
}

// The claim check: only references in the workflow, the data checked
// end to end, the store empty afterwards.
func TestExternalWorkflow(t *testing.T) {
	dir := t.TempDir()
	env := newEnv()
	env.ExecuteWorkflow(WorkflowExternal, ExternalInput{Dir: dir, Prefix: "wf-1", Seed: 3, Steps: 5, ChunkSize: 50_000})
	var r ExternalResult
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if err := env.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	sum, n := Expected(3, 5, 50_000)
	if r.SHA256 != sum || r.Size != n || r.Objects != 5 || r.Deleted != 5 {
		t.Errorf("result %+v, want %d bytes %s", r, n, sum)
	}
	if keys, _ := (DirStore{Dir: dir}).List(context.Background(), ""); len(keys) != 0 {
		t.Errorf("objects left: %v", keys)
	}
}

// A corrupted object fails the processing (no silent data loss) and the
// store is still cleaned up.
func TestExternalWorkflowDetectsCorruption(t *testing.T) {
	dir := t.TempDir()
	env := newEnv()
	env.OnActivity(ActivityProcessExternal, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in ProcessInput) (DataDigest, error) {
			p := filepath.Join(dir, "objects", filepath.FromSlash(in.Refs[1].Key))
			if err := os.WriteFile(p, []byte("tampered"), 0o644); err != nil {
				return DataDigest{}, err
			}
			return ProcessExternal(ctx, in)
		})
	env.ExecuteWorkflow(WorkflowExternal, ExternalInput{Dir: dir, Prefix: "wf-2", Seed: 3, Steps: 3, ChunkSize: 10_000})
	if err := env.GetWorkflowError(); err == nil {
		t.Fatal("a corrupted object went unnoticed")
	}
	if keys, _ := (DirStore{Dir: dir}).List(context.Background(), ""); len(keys) != 0 {
		t.Errorf("objects left after the failure: %v", keys)
	}
}

func TestIncrementalWorkflow(t *testing.T) {
	dir := t.TempDir()
	env := newEnv()
	var saved [][]int64
	env.SetOnActivityStartedListener(func(info *activity.Info, ctx context.Context, args converter.EncodedValues) {
		if info.ActivityType.Name == ActivitySaveCheckpoint {
			var in CheckpointInput
			_ = args.Get(&in)
			saved = append(saved, in.IDs)
		}
	})
	env.ExecuteWorkflow(WorkflowIncremental, IncrementalInput{Dir: dir, Prefix: "inc", Items: 2_500, BatchSize: 300, CheckpointEvery: 1000})
	var r IncrementalResult
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if err := env.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	v := r.Verify
	if r.Processed != 2500 || v.Unique != 2500 || v.Duplicates != 0 || v.Missing != 0 || v.SHA256 != ExpectedIDs(2500) || r.Deleted != r.Checkpoints {
		t.Errorf("result %+v", r)
	}
	// Only deltas: 4 batches (1200 ids), 4 more (1200), the rest (100).
	if len(saved) != 3 || len(saved[0]) != 1200 || len(saved[1]) != 1200 || len(saved[2]) != 100 || saved[1][0] != 1200 {
		lens := []int{}
		for _, s := range saved {
			lens = append(lens, len(s))
		}
		t.Errorf("checkpoint deltas of %v ids", lens)
	}
}

func TestVerifyCheckpointsFindsGapsAndDuplicates(t *testing.T) {
	ctx := context.Background()
	st := DirStore{Dir: t.TempDir()}
	put := func(key string, ids []int64) Ref {
		b, _ := json.Marshal(ids)
		r, err := st.Put(ctx, key, b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	refs := []Ref{put("a", []int64{0, 1, 2}), put("b", []int64{2, 4, 9})}
	r, err := VerifyCheckpoints(ctx, VerifyInput{Dir: st.Dir, Refs: refs, Items: 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.IDs != 6 || r.Unique != 4 || r.Duplicates != 1 || r.Missing != 1 || r.Outside != 1 || r.SHA256 == ExpectedIDs(5) {
		t.Errorf("%+v", r)
	}
}

// A small dataset fits: the grow workflow completes with the whole state.
func TestGrowWorkflowSmall(t *testing.T) {
	env := newEnv()
	env.ExecuteWorkflow(WorkflowGrow, GrowInput{Seed: 9, Steps: 4, ChunkSize: 10_000})
	var r GrowResult
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	_ = env.GetWorkflowResult(&r)
	if sum, n := Expected(9, 4, 10_000); r.SHA256 != sum || r.Size != n {
		t.Errorf("result %+v", r)
	}
}

// The grow child's activities time out well within its run timeout, so a
// lost attempt is retried before the deadline ends the workflow.
func TestGrowActivitiesTimeOutWithinTheRunTimeout(t *testing.T) {
	env := newEnv()
	var got []time.Duration
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		got = append(got, info.Deadline.Sub(info.StartedTime))
	})
	in := GrowInput{Seed: 9, Steps: 2, ChunkSize: 1000, RunTimeout: 20 * time.Second, ActivityTimeout: GrowActivityTimeout(20 * time.Second)}
	env.ExecuteWorkflow(WorkflowGrow, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d activities", len(got))
	}
	for _, d := range got {
		// The test environment's clock moves a little between the two.
		if d < 5*time.Second || d > 6*time.Second {
			t.Errorf("activity StartToClose %s, want 5s (a quarter of the 20s run timeout)", d)
		}
	}
	if GrowActivityTimeout(10*time.Minute) != activityTimeout {
		t.Error("a long run timeout must keep the default StartToClose")
	}
}

// A stuck-timeout too short to recover a lost attempt is refused.
func TestValidateRefusesShortStuckTimeout(t *testing.T) {
	s, ok := scenarios.Get(Name)
	if !ok {
		t.Fatal("not registered")
	}
	for _, tc := range []struct {
		raw  map[string]string
		want string
	}{
		{map[string]string{"stuck-timeout": "3s"}, "stuck-timeout 3s is too short"},
		{map[string]string{"stuck-timeout": "3s", "mode": "external,incremental"}, ""}, // no grow workflow: no run timeout
		{map[string]string{"stuck-timeout": "4s"}, ""},
	} {
		v, err := s.ParseOptions(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Validate(v, scenarios.Load{})
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.raw, err, tc.want)
		}
	}
}
