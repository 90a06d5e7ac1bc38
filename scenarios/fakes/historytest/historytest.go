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

// StartServer starts an embedded server for the test and dials it.
func StartServer(t *testing.T) client.Client {
	t.Helper()
	dir := t.TempDir()
	port, err := cluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster.Child{Name: "server", Bin: squalltest.Binary(t), LogPath: filepath.Join(dir, "server.log"),
		Args:        []string{"server", "--db", filepath.Join(dir, "t.db"), "--port", strconv.Itoa(port)},
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
		h := &historypb.History{}
		it := cl.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, e)
		}
		runs = append(runs, h)
		runID = ""
		if n := len(h.Events); n > 0 {
			if a := h.Events[n-1].GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				runID = a.GetNewExecutionRunId()
			}
		}
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	for i, h := range runs {
		file := typ + "--" + id + ".json"
		if len(runs) > 1 {
			file = typ + "--" + id + "--run" + strconv.Itoa(i+1) + ".json"
		}
		b, err := protojson.MarshalOptions{Indent: " "}.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", file), b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s: %d events", file, len(h.Events))
	}
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
		t.Run(base, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			register(r)
			fh, err := os.Open(f)
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
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
	for _, typ := range want {
		if !seen[typ] {
			t.Errorf("no recorded history of %s in testdata/", typ)
		}
	}
}
