package metrics

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/service/frontend/configs"
)

func TestCanonicalCauseAndScope(t *testing.T) {
	for label, want := range map[string]string{
		"RpsLimit":         "RPS_LIMIT", // as the server's metrics spell it
		"PersistenceLimit": "PERSISTENCE_LIMIT",
		"SystemOverloaded": "SYSTEM_OVERLOADED",
		"RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT": "CONCURRENT_LIMIT", // the enum's own name
		"":             "UNSPECIFIED",
		"Unspecified":  "UNSPECIFIED",
		"SomethingNew": "SOMETHINGNEW",
		"RESOURCE_EXHAUSTED_CAUSE_CIRCUIT_BREAKER_OPEN": "CIRCUIT_BREAKER_OPEN",
	} {
		if got := CanonicalCause(label); got != want {
			t.Errorf("CanonicalCause(%q) = %q, want %q", label, got, want)
		}
	}
	for label, want := range map[string]string{"Namespace": "NAMESPACE", "System": "SYSTEM", "Unspecified": "", "": "",
		"RESOURCE_EXHAUSTED_SCOPE_SYSTEM": "SYSTEM"} {
		if got := CanonicalScope(label); got != want {
			t.Errorf("CanonicalScope(%q) = %q, want %q", label, got, want)
		}
	}
	if CauseOf("RPS_LIMIT").Kind != KindLimit || CauseOf("PERSISTENCE_LIMIT").Kind != KindLimit ||
		CauseOf("SYSTEM_OVERLOADED").Kind != KindSaturation || CauseOf("BUSY_WORKFLOW").Kind != KindBusyWorkflow ||
		CauseOf("NEW_CAUSE").Kind != KindSaturation {
		t.Error("cause kinds wrong")
	}
}

// Which key governs a refusal, as server v1.32.2 wires its limiters.
func TestLimitKey(t *testing.T) {
	cases := []struct {
		layer, service, cause, scope, op, want string
	}{
		{LayerService, "frontend", "RPS_LIMIT", "NAMESPACE", "StartWorkflowExecution", "frontend.namespaceRPS"},
		{LayerService, "frontend", "RPS_LIMIT", "NAMESPACE", "PollWorkflowTaskQueue", "frontend.namespaceRPS"},
		{LayerService, "frontend", "RPS_LIMIT", "NAMESPACE", "ListWorkflowExecutions", "frontend.namespaceRPS.visibility"},
		{LayerService, "frontend", "RPS_LIMIT", "NAMESPACE", "UpdateNamespace", "frontend.namespaceRPS.namespaceReplicationInducingAPIs"},
		{LayerService, "frontend", "RPS_LIMIT", "NAMESPACE", "DescribeWorkerDeployment", "frontend.globalNamespaceWorkerDeploymentReadRPS"},
		{LayerService, "frontend", "RPS_LIMIT", "SYSTEM", "StartWorkflowExecution", "frontend.rps"},
		{LayerService, "frontend", "RPS_LIMIT", "SYSTEM", "RegisterNamespace", "frontend.rps.namespaceReplicationInducingAPIs"},
		{LayerService, "internal-frontend", "RPS_LIMIT", "NAMESPACE", "ListWorkflowExecutions", "internal-frontend.globalNamespaceRPS.visibility"},
		{LayerClient, "", "RPS_LIMIT", "NAMESPACE", "StartWorkflowExecution", "frontend.namespaceRPS"}, // the frontend answers clients
		{LayerService, "history", "RPS_LIMIT", "NAMESPACE", "RecordWorkflowTaskStarted", "history.namespaceRPS, else history.rps"},
		{LayerService, "history", "RPS_LIMIT", "SYSTEM", "RecordWorkflowTaskStarted", "history.rps"},
		{LayerService, "matching", "RPS_LIMIT", "SYSTEM", "AddWorkflowTask", "matching.rps"},
		{LayerService, "frontend", "CONCURRENT_LIMIT", "NAMESPACE", "PollWorkflowTaskQueue", "frontend.namespaceCount"},
		{LayerService, "frontend", "CONCURRENT_LIMIT", "NAMESPACE", "StartBatchOperation", "frontend.MaxConcurrentBatchOperationPerNamespace"},
		{LayerService, "history", "CONCURRENT_LIMIT", "NAMESPACE", "UpdateWorkflowExecution", "history.maxInFlightUpdates or history.maxInFlightUpdatePayloads"},
		{LayerPersistence, "history", "PERSISTENCE_LIMIT", "SYSTEM", "UpdateWorkflowExecution", "history.persistenceMaxQPS"},
		{LayerPersistence, "matching", "PERSISTENCE_LIMIT", "SYSTEM", "CreateTasks", "matching.persistenceMaxQPS"},
		{LayerPersistence, "frontend", "PERSISTENCE_LIMIT", "NAMESPACE", "GetWorkflowExecution", "frontend.persistenceNamespaceMaxQPS, else frontend.persistenceMaxQPS"},
		{LayerPersistence, "history", "PERSISTENCE_LIMIT", "NAMESPACE", "GetWorkflowExecution",
			"history.persistenceNamespaceMaxQPS, else history.persistenceMaxQPS, or history.persistencePerShardNamespaceMaxQPS"},
		// Passed on by a service: whose persistence client refused is not
		// known here; the persistence layer's own count names it.
		{LayerService, "frontend", "PERSISTENCE_LIMIT", "SYSTEM", "StartWorkflowExecution", ""},
		{LayerService, "history", "CIRCUIT_BREAKER_OPEN", "", "", "history.outboundQueue.circuitBreakerSettings"},
		{LayerService, "matching", "SYSTEM_OVERLOADED", "NAMESPACE", "AddActivityTask", ""},
		{LayerService, "history", "BUSY_WORKFLOW", "NAMESPACE", "SignalWorkflowExecution", ""},
		{LayerService, "frontend", "APS_LIMIT", "NAMESPACE", "StartWorkflowExecution", ""},
	}
	for _, c := range cases {
		if got := LimitKey(c.layer, c.service, c.cause, c.scope, c.op); got != c.want {
			t.Errorf("LimitKey(%s, %s, %s, %s, %s) = %q, want %q", c.layer, c.service, c.cause, c.scope, c.op, got, c.want)
		}
	}
}

// Every key squall names is one the server knows, so the advice "raise
// it" can be followed as written.
func TestLimitKeysAreServerKeys(t *testing.T) {
	keyPat := regexp.MustCompile(`[a-z-]+\.[A-Za-z.]*[A-Za-z]`)
	seen := map[string]bool{}
	for _, layer := range []string{LayerService, LayerPersistence, LayerClient} {
		for _, svc := range Services {
			for cause := range causes {
				for _, scope := range []string{"", "NAMESPACE", "SYSTEM"} {
					for _, op := range []string{"StartWorkflowExecution", "ListWorkflowExecutions", "RegisterNamespace", "DescribeWorkerDeployment",
						"StartBatchOperation", "UpdateWorkflowExecution", "PollWorkflowTaskQueue"} {
						for _, k := range keyPat.FindAllString(LimitKey(layer, svc, cause, scope, op), -1) {
							seen[k] = true
						}
					}
				}
			}
		}
	}
	if len(seen) < 20 {
		t.Fatalf("only %d keys named: %v", len(seen), slices.Sorted(maps.Keys(seen)))
	}
	for k := range seen {
		var lr dynamicconfig.YamlLoader
		lr.LoadValue(dynamicconfig.MakeKey(k), []byte("[{value: 1}]"))
		for _, w := range lr.Warnings {
			if strings.Contains(w.Error(), "unregistered key") {
				t.Errorf("%s: the server has no such dynamic config key", k)
			}
		}
	}
}

// The frontend operations squall routes to the visibility and namespace
// replication limiters are the server's own lists.
func TestOperationListsAreTheServers(t *testing.T) {
	ops := func(m map[string]int) map[string]bool {
		out := map[string]bool{}
		for full := range m {
			out[full[strings.LastIndexByte(full, '/')+1:]] = true
		}
		return out
	}
	if got, want := slices.Sorted(maps.Keys(visibilityOps)), slices.Sorted(maps.Keys(ops(configs.VisibilityAPIToPriority))); !slices.Equal(got, want) {
		t.Errorf("visibility operations %v, server %v", got, want)
	}
	if got, want := slices.Sorted(maps.Keys(namespaceReplicationOps)), slices.Sorted(maps.Keys(ops(configs.NamespaceReplicationInducingAPIToPriority))); !slices.Equal(got, want) {
		t.Errorf("namespace replication operations %v, server %v", got, want)
	}
}

// One limit counted by the server's frontend and by the driver is named
// once, at the server's rate; a PERSISTENCE_LIMIT passed on by services
// gives way to the persistence client's count, which names the key.
func TestLimits(t *testing.T) {
	rs := []Refusal{
		{Layer: LayerClient, Cause: "RPS_LIMIT", Scope: "NAMESPACE", Key: "frontend.namespaceRPS", PerS: 14},
		{Layer: LayerService, Service: "frontend", Cause: "RPS_LIMIT", Scope: "NAMESPACE", Key: "frontend.namespaceRPS", PerS: 12},
		{Layer: LayerService, Service: "frontend", Cause: "PERSISTENCE_LIMIT", Scope: "SYSTEM", PerS: 3},
		{Layer: LayerPersistence, Service: "history", Cause: "PERSISTENCE_LIMIT", Scope: "SYSTEM", Key: "history.persistenceMaxQPS", PerS: 2},
		{Layer: LayerService, Service: "matching", Cause: "SYSTEM_OVERLOADED", Scope: "NAMESPACE", PerS: 50},
		{Layer: LayerService, Service: "frontend", Cause: "CONCURRENT_LIMIT", Scope: "NAMESPACE", Key: "frontend.namespaceCount", PerS: 0},
	}
	got := Limits(rs)
	if len(got) != 2 {
		t.Fatalf("limits %+v, want RPS_LIMIT and PERSISTENCE_LIMIT", got)
	}
	if got[0].Cause != "RPS_LIMIT" || got[0].Layer != LayerService || got[0].PerS != 12 {
		t.Errorf("first %+v: want the frontend's own count of RPS_LIMIT", got[0])
	}
	if got[1].Key != "history.persistenceMaxQPS" || got[1].Layer != LayerPersistence {
		t.Errorf("second %+v: want the persistence client's count with its key", got[1])
	}
	if s := got[0].Limit(); s != "RPS_LIMIT (frontend.namespaceRPS)" {
		t.Errorf("Limit() = %q", s)
	}
	// Only the driver saw it (no server metrics): its count names the limit.
	if only := Limits(rs[:1]); len(only) != 1 || only[0].Layer != LayerClient {
		t.Errorf("driver-only limits %+v", only)
	}
	// Passed on with no persistence count: still named, without a key.
	if passed := Limits(rs[2:3]); len(passed) != 1 || !strings.Contains(passed[0].Limit(), "QPS") {
		t.Errorf("passed-on persistence limit %+v", passed)
	}
}
