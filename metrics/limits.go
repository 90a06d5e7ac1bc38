package metrics

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
)

// Refusal is how often, over an interval, answers of one kind said
// RESOURCE_EXHAUSTED: where they were counted (Layer), which Temporal
// service refused, why (Cause and Scope, as the server labels them) and,
// when the cause is a configured limit, the dynamic config key that sets
// it.
type Refusal struct {
	Layer   string  `json:"layer"`             // LayerService, LayerPersistence or LayerClient
	Service string  `json:"service,omitempty"` // frontend, history, matching, worker; "" not known
	Cause   string  `json:"cause"`             // RPS_LIMIT, PERSISTENCE_LIMIT, … (UNSPECIFIED: none given)
	Scope   string  `json:"scope,omitempty"`   // NAMESPACE or SYSTEM
	Key     string  `json:"key,omitempty"`     // the dynamic config key that sets the limit (LimitKey)
	PerS    float64 `json:"per_s"`             // refusals per second over the interval
}

// Where refusals are counted.
const (
	// LayerService: service_errors_resource_exhausted, an RPC a service
	// answered with RESOURCE_EXHAUSTED (one refusal passed from history
	// through frontend is counted by both).
	LayerService = "service"
	// LayerPersistence: persistence_errors_resource_exhausted, a call a
	// service's own persistence client refused before it reached the
	// database (its QPS limits).
	LayerPersistence = "persistence"
	// LayerClient: RESOURCE_EXHAUSTED answers the driver itself got, each
	// attempt of the SDK's retries counted.
	LayerClient = "client"
)

// What a cause says about the cluster.
const (
	// KindLimit: a limit someone configured bit. Raising it is the
	// answer; it is not saturation.
	KindLimit = "configured limit"
	// KindSaturation: the server ran out of something it cannot be told
	// to have more of (buffers, the database).
	KindSaturation = "saturation"
	// KindBusyWorkflow: one workflow receives more than it can take
	// (its lock, its pending updates): the workload's shape, not the
	// cluster's size.
	KindBusyWorkflow = "busy workflow"
	// KindCircuitBreaker: a destination the server calls out to kept
	// failing, so the server stopped calling it for a while.
	KindCircuitBreaker = "circuit breaker"
	// KindUnknown: the answer named no cause.
	KindUnknown = "unspecified"
)

// Cause describes one resource_exhausted_cause.
type Cause struct {
	Name    string // RPS_LIMIT
	Kind    string // KindLimit, KindSaturation, …
	Meaning string // for people
}

// causes: what each value of enumspb.ResourceExhaustedCause means in
// server v1.32.2, from where the server raises it.
var causes = map[string]Cause{
	"RPS_LIMIT": {"RPS_LIMIT", KindLimit,
		"requests per second over a rate limit (frontend, history or matching RPC limits, per namespace or per host)"},
	"CONCURRENT_LIMIT": {"CONCURRENT_LIMIT", KindLimit,
		"too many requests at once: frontend long polls per namespace, in-flight updates per workflow, concurrent batch operations"},
	"PERSISTENCE_LIMIT": {"PERSISTENCE_LIMIT", KindLimit,
		"a service's persistence client refused a call over its QPS limit (System Persistence Max QPS Reached), before it reached the database"},
	"APS_LIMIT": {"APS_LIMIT", KindLimit,
		"the namespace's actions-per-second limit (Temporal Cloud); a self-hosted v1.32 server raises it for no limit of its own"},
	"OPS_LIMIT": {"OPS_LIMIT", KindLimit,
		"the namespace's operations-per-second limit (Temporal Cloud)"},
	"WORKER_DEPLOYMENT_LIMITS": {"WORKER_DEPLOYMENT_LIMITS", KindLimit,
		"too many worker deployments or versions registered"},
	"SYSTEM_OVERLOADED": {"SYSTEM_OVERLOADED", KindSaturation,
		"the server is overloaded: a task queue's write buffer or a cache is full, or the database said so"},
	"PERSISTENCE_STORAGE_LIMIT": {"PERSISTENCE_STORAGE_LIMIT", KindSaturation,
		"the database is out of storage"},
	"BUSY_WORKFLOW": {"BUSY_WORKFLOW", KindBusyWorkflow,
		"one workflow is busy: its lock could not be taken in time, or it has too many pending updates or signals in flight"},
	"CIRCUIT_BREAKER_OPEN": {"CIRCUIT_BREAKER_OPEN", KindCircuitBreaker,
		"calls to an outbound destination (Nexus, callbacks) are paused after repeated failures"},
	"UNSPECIFIED": {"UNSPECIFIED", KindUnknown, "the answer named no cause"},
}

// CauseOf describes a cause by its canonical name (an unknown name is
// treated as saturation: a refusal nobody configured).
func CauseOf(name string) Cause {
	if c, ok := causes[name]; ok {
		return c
	}
	return Cause{Name: name, Kind: KindSaturation, Meaning: "a cause this squall does not know"}
}

// CanonicalCause turns a resource_exhausted_cause label ("RpsLimit", as
// the server's metrics spell it) or an enum name into the enum's short
// canonical name: RPS_LIMIT. An empty label is UNSPECIFIED.
func CanonicalCause(label string) string {
	if label == "" {
		return "UNSPECIFIED"
	}
	if c, err := enumspb.ResourceExhaustedCauseFromString(label); err == nil {
		return strings.TrimPrefix(enumspb.ResourceExhaustedCause_name[int32(c)], "RESOURCE_EXHAUSTED_CAUSE_")
	}
	return strings.ToUpper(label)
}

// CanonicalScope does the same for resource_exhausted_scope: NAMESPACE,
// SYSTEM, or "" when unspecified.
func CanonicalScope(label string) string {
	if label == "" {
		return ""
	}
	s, err := enumspb.ResourceExhaustedScopeFromString(label)
	if err != nil {
		return strings.ToUpper(label)
	}
	if s == enumspb.RESOURCE_EXHAUSTED_SCOPE_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(enumspb.ResourceExhaustedScope_name[int32(s)], "RESOURCE_EXHAUSTED_SCOPE_")
}

// Frontend operations that other rate limiters than the namespace's
// execution limiter govern (service/frontend/configs/quotas.go; a test
// holds these lists against the server's own).
var (
	visibilityOps = set("CountWorkflowExecutions", "ScanWorkflowExecutions", "ListOpenWorkflowExecutions",
		"ListClosedWorkflowExecutions", "ListWorkflowExecutions", "ListArchivedWorkflowExecutions",
		"CountActivityExecutions", "ListActivityExecutions", "CountNexusOperationExecutions", "ListNexusOperationExecutions",
		"GetWorkerTaskReachability", "ListSchedules", "CountSchedules", "ListBatchOperations", "DescribeTaskQueueWithReachability",
		"ListDeployments", "GetDeploymentReachability", "ListWorkerDeployments")
	namespaceReplicationOps = set("RegisterNamespace", "UpdateNamespace", "UpdateWorkerBuildIdCompatibility",
		"UpdateWorkerVersioningRules", "SetWorkerDeploymentCurrentVersion", "SetWorkerDeploymentRampingVersion",
		"DeleteWorkerDeploymentVersion", "UpdateTaskQueueConfig")
	workerDeploymentReadOps = set("DescribeWorkerDeployment", "DescribeWorkerDeploymentVersion")
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// LimitKey names the dynamic config key that sets the limit behind a
// refusal, as server v1.32.2 wires its limiters: which service refused
// (for LayerClient the frontend, which answers clients), the cause, the
// scope and the operation refused. "" when the cause is no configured
// limit or the server has no key for it (APS_LIMIT); for a
// PERSISTENCE_LIMIT passed on by a service (LayerService) the key is
// that of whichever service's persistence client refused, which the
// persistence layer's own count names.
func LimitKey(layer, service, cause, scope, operation string) string {
	if layer == LayerClient || service == "" {
		service = "frontend"
	}
	frontend := service == "frontend" || service == "internal-frontend"
	switch cause {
	case "RPS_LIMIT":
		switch {
		case frontend && scope == "SYSTEM":
			if namespaceReplicationOps[operation] {
				return "frontend.rps.namespaceReplicationInducingAPIs"
			}
			return "frontend.rps"
		case frontend && service == "internal-frontend" && visibilityOps[operation]:
			return "internal-frontend.globalNamespaceRPS.visibility"
		case frontend && visibilityOps[operation]:
			return "frontend.namespaceRPS.visibility"
		case frontend && namespaceReplicationOps[operation]:
			return "frontend.namespaceRPS.namespaceReplicationInducingAPIs"
		case frontend && workerDeploymentReadOps[operation]:
			return "frontend.globalNamespaceWorkerDeploymentReadRPS"
		case frontend:
			return "frontend.namespaceRPS"
		case service == "history" && scope == "":
			return "history.archivalBackendMaxRPS"
		case (service == "history" || service == "matching") && scope == "NAMESPACE":
			// Unset (0), the host's limit applies to each namespace.
			return service + ".namespaceRPS, else " + service + ".rps"
		case service == "history" || service == "matching":
			return service + ".rps"
		}
	case "CONCURRENT_LIMIT":
		switch {
		case frontend && (operation == "StartBatchOperation" || operation == "StartAdminBatchOperation"):
			return "frontend.MaxConcurrentBatchOperationPerNamespace"
		case frontend:
			return "frontend.namespaceCount"
		case service == "history" && operation == "UpdateWorkflowExecution":
			return "history.maxInFlightUpdates or history.maxInFlightUpdatePayloads"
		}
	case "PERSISTENCE_LIMIT":
		if layer != LayerPersistence {
			return ""
		}
		svc := service
		if svc == "internal-frontend" {
			svc = "frontend"
		}
		if scope == "NAMESPACE" {
			// Unset (0), the host's limit applies to each namespace.
			k := svc + ".persistenceNamespaceMaxQPS, else " + svc + ".persistenceMaxQPS"
			if svc == "history" {
				k += ", or history.persistencePerShardNamespaceMaxQPS"
			}
			return k
		}
		return svc + ".persistenceMaxQPS"
	case "WORKER_DEPLOYMENT_LIMITS":
		return "matching.maxDeployments, matching.maxVersionsInDeployment or matching.maxVersionsInTaskQueue"
	case "CIRCUIT_BREAKER_OPEN":
		return "history.outboundQueue.circuitBreakerSettings"
	}
	return ""
}

// refusalKey groups refusals that differ only in operation.
type refusalKey struct{ layer, service, cause, scope, key string }

// refusalTally sums refusal rates by kind.
type refusalTally map[refusalKey]float64

// add counts perS refusals a second, labelled as the server labels them.
func (t refusalTally) add(layer, service, causeLabel, scopeLabel, operation string, perS float64) {
	if perS <= 0 {
		return
	}
	cause, scope := CanonicalCause(causeLabel), CanonicalScope(scopeLabel)
	t[refusalKey{layer, service, cause, scope, LimitKey(layer, service, cause, scope, operation)}] += perS
}

// rates lists the tally, ordered by layer, then most frequent first.
func (t refusalTally) rates() []Refusal {
	if len(t) == 0 {
		return nil
	}
	out := make([]Refusal, 0, len(t))
	for k, n := range t {
		out = append(out, Refusal{Layer: k.layer, Service: k.service, Cause: k.cause, Scope: k.scope, Key: k.key, PerS: round(n)})
	}
	SortRefusals(out)
	return out
}

// SortRefusals orders refusals by layer (service, persistence, client),
// then most frequent first, then by name.
func SortRefusals(rs []Refusal) {
	order := map[string]int{LayerService: 0, LayerPersistence: 1, LayerClient: 2}
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if order[a.Layer] != order[b.Layer] {
			return order[a.Layer] < order[b.Layer]
		}
		if a.PerS != b.PerS {
			return a.PerS > b.PerS
		}
		return a.Service+a.Cause+a.Scope+a.Key < b.Service+b.Cause+b.Scope+b.Key
	})
}

// Same reports whether two refusals are of one kind (all but the rate).
func (r Refusal) Same(o Refusal) bool {
	return r.Layer == o.Layer && r.Service == o.Service && r.Cause == o.Cause && r.Scope == o.Scope && r.Key == o.Key
}

// Limit names the limit for people: "RPS_LIMIT (frontend.namespaceRPS)",
// or the cause's meaning when the server has no key for it.
func (r Refusal) Limit() string {
	if r.Key != "" {
		return fmt.Sprintf("%s (%s)", r.Cause, r.Key)
	}
	return fmt.Sprintf("%s (%s)", r.Cause, CauseOf(r.Cause).Meaning)
}

// Who says where the refusals were counted, for people: "frontend",
// "history's persistence client", "the driver".
func (r Refusal) Who() string {
	svc := r.Service
	if svc == "" {
		svc = "the server"
	}
	switch r.Layer {
	case LayerPersistence:
		return svc + "'s persistence client"
	case LayerClient:
		return "the server, as the driver saw it"
	}
	return svc
}

// Limits picks from refusals the configured limits that bit: one per
// limit (cause and key), highest rate first. The server's own count of a
// limit wins over the driver's (which sees only its own calls); the
// highest layer's rate is the limit's. A PERSISTENCE_LIMIT a service
// passed on (no key) is left out when a persistence client's own count
// names the key.
func Limits(rs []Refusal) []Refusal {
	keyedPersistence := slices.ContainsFunc(rs, func(r Refusal) bool {
		return r.Cause == "PERSISTENCE_LIMIT" && r.Key != "" && r.PerS > 0
	})
	var out []Refusal
	for _, r := range rs {
		if CauseOf(r.Cause).Kind != KindLimit || r.PerS <= 0 || (r.Cause == "PERSISTENCE_LIMIT" && r.Key == "" && keyedPersistence) {
			continue
		}
		i := slices.IndexFunc(out, func(o Refusal) bool { return o.Cause == r.Cause && o.Key == r.Key })
		switch {
		case i < 0:
			out = append(out, r)
		case (out[i].Layer == LayerClient) != (r.Layer == LayerClient):
			if out[i].Layer == LayerClient {
				out[i] = r
			}
		case r.PerS > out[i].PerS:
			out[i] = r
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].PerS != out[j].PerS {
			return out[i].PerS > out[j].PerS
		}
		return out[i].Cause+out[i].Key < out[j].Cause+out[j].Key // history.persistenceMaxQPS before …NamespaceMaxQPS
	})
	return out
}
