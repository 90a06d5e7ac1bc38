// Package historytest records workflow histories from a real embedded
// server into a package's testdata/ and replays them, so a change that
// makes workflow code non-deterministic fails a plain `go test`.
//
// Recording is opt-in (SQUALL_RECORD_HISTORIES=1) and needs the squall
// binary (it starts `squall server`); replaying needs nothing.
package historytest

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/internal/squalltest"
)

// RecordEnv is the environment variable that enables recording.
const RecordEnv = "SQUALL_RECORD_HISTORIES"

// Recording skips t unless recording was asked for.
func Recording(t *testing.T) {
	t.Helper()
	if os.Getenv(RecordEnv) == "" {
		t.Skip("set " + RecordEnv + "=1 to record testdata/ histories")
	}
}

// Record is how a recording test starts: it skips t unless recording was
// asked for, starts an embedded server (with extra `squall server` args)
// and a worker on task queue tq with what register adds (stopped when the
// test ends), and returns the client.
func Record(t *testing.T, tq string, register func(worker.Registry), serverArgs ...string) client.Client {
	t.Helper()
	Recording(t)
	cl := StartServer(t, serverArgs...)
	w := worker.New(cl, tq, worker.Options{})
	register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return cl
}

// StartServer starts an embedded server for the test, with args added to
// the `squall server` command line, and dials it.
func StartServer(t *testing.T, args ...string) client.Client {
	t.Helper()
	dir := t.TempDir()
	port, err := cluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster.Child{Name: "server", Bin: squalltest.Binary(t), LogPath: filepath.Join(dir, "server.log"),
		Args:        append(cluster.ServerOptions{DBPath: filepath.Join(dir, "t.db"), Port: port}.Args(), args...),
		ReadyPrefix: cluster.ReadyLine}
	addr, err := c.Start(context.Background(), 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(30 * time.Second) })
	cl, err := client.Dial(client.Options{HostPort: addr, Namespace: cluster.DefaultNamespace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Write records every run of workflow id, from runID (empty: the latest)
// on along its continue-as-new chain, as testdata/TYPE--ID.json (one run) or
// TYPE--ID--runN.json.
func Write(t *testing.T, cl client.Client, typ, id, runID string) {
	t.Helper()
	var runs []*historypb.History
	for first := true; first || runID != ""; first = false {
		h := fetch(t, cl, id, runID)
		runs = append(runs, h)
		runID = ""
		if n := len(h.Events); n > 0 {
			if a := h.Events[n-1].GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				runID = a.GetNewExecutionRunId()
			}
		}
	}
	for i, h := range runs {
		file := typ + "--" + id + ".json"
		if len(runs) > 1 {
			file = typ + "--" + id + "--run" + strconv.Itoa(i+1) + ".json"
		}
		save(t, filepath.Join("testdata", file), h)
	}
}

// WriteRun records the one run runID (empty: the latest) of workflow id to
// path, for histories named other than Write names them.
func WriteRun(t *testing.T, cl client.Client, id, runID, path string) {
	t.Helper()
	save(t, path, fetch(t, cl, id, runID))
}

func fetch(t *testing.T, cl client.Client, id, runID string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := cl.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	return h
}

func save(t *testing.T, path string, h *historypb.History) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := protojson.MarshalOptions{Indent: " "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s: %d events", filepath.Base(path), len(h.Events))
}

// Workflows maps workflow type names to workflow functions.
type Workflows map[string]any

// Register adds the workflows to a replayer under their names.
func (ws Workflows) Register(r worker.WorkflowReplayer) {
	for name, fn := range ws {
		r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	}
}

// ReplayAll is Replay with the workflows of ws, each of which must have a
// recorded history.
func ReplayAll(t *testing.T, ws Workflows) {
	t.Helper()
	names := make([]string, 0, len(ws))
	for name := range ws {
		names = append(names, name)
	}
	sort.Strings(names)
	Replay(t, ws.Register, names...)
}

// Replay replays every testdata/*.json history with the workflows register
// adds, and fails for any workflow type in want without a history.
func Replay(t *testing.T, register func(worker.WorkflowReplayer), want ...string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		base := filepath.Base(f)
		parts := strings.Split(strings.TrimSuffix(base, ".json"), "--")
		if len(parts) < 2 {
			t.Fatalf("%s: want TYPE--WORKFLOWID[--runN].json", f)
		}
		typ, id := parts[0], parts[1]
		seen[typ] = true
		t.Run(base, func(t *testing.T) { ReplayFile(t, register, f, id) })
	}
	for _, typ := range want {
		if !seen[typ] {
			t.Errorf("no recorded history of %s in testdata/", typ)
		}
	}
}

// ReplayFile replays the history in file with the workflows register adds,
// as workflow id (empty: the replayer's default), and returns the history.
// The workflow ID matters where workflow code derives IDs from its own (children).
func ReplayFile(t *testing.T, register func(worker.WorkflowReplayer), file, id string) *historypb.History {
	t.Helper()
	r := worker.NewWorkflowReplayer()
	register(r)
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	h, err := client.HistoryFromJSON(fh, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: id}}); err != nil {
		t.Fatalf("replay %s: %v", file, err)
	}
	return h
}
