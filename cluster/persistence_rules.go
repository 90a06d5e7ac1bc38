package cluster

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PersistenceRule injects Error into calls of Store.Method ("*" matches
// any) with probability Rate. It drives the server's own fault-injection
// datastore layer.
type PersistenceRule struct {
	Store  string  `json:"store"`
	Method string  `json:"method"`
	Error  string  `json:"error"`
	Rate   float64 `json:"rate"`
}

// Errors the datastore layer can inject. ExecuteAndTimeout performs the
// write and then reports a timeout to the caller: the most valuable fault,
// since the caller must cope with not knowing whether it happened.
var PersistenceErrors = []string{"Timeout", "Unavailable", "ResourceExhausted", "ShardOwnershipLost", "ExecuteAndTimeout"}

// PersistenceStores are the datastore names the server wraps.
var PersistenceStores = []string{"ShardStore", "TaskStore", "MetadataStore", "ExecutionStore", "Queue", "QueueV2", "ClusterMDStore", "NexusEndpointStore"}

// Validate checks a rule's names and rate.
func (r PersistenceRule) Validate() error {
	if r.Store != "*" && !contains(PersistenceStores, r.Store) {
		return fmt.Errorf("unknown store %q (known: *, %s)", r.Store, strings.Join(PersistenceStores, ", "))
	}
	if !contains(PersistenceErrors, r.Error) {
		return fmt.Errorf("unknown error %q (known: %s)", r.Error, strings.Join(PersistenceErrors, ", "))
	}
	if r.Rate <= 0 || r.Rate > 1 {
		return fmt.Errorf("rate %g: want above 0 and at most 1", r.Rate)
	}
	if r.Method == "" {
		return errors.New("empty method (use * for all)")
	}
	if r.Error == "ExecuteAndTimeout" && (r.Store == "*" || r.Method == "*") {
		return errors.New("ExecuteAndTimeout needs a named store and method (the server's static fault config)")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParsePersistenceRule reads STORE.METHOD=ERROR:RATE (the --persistence-fault flag).
func ParsePersistenceRule(s string) (PersistenceRule, error) {
	target, spec, ok := strings.Cut(s, "=")
	store, method, ok2 := strings.Cut(target, ".")
	errName, rate, ok3 := strings.Cut(spec, ":")
	if !ok || !ok2 || !ok3 {
		return PersistenceRule{}, fmt.Errorf("bad persistence fault %q: want STORE.METHOD=ERROR:RATE, e.g. ExecutionStore.UpdateWorkflowExecution=ExecuteAndTimeout:0.05", s)
	}
	r := PersistenceRule{Store: store, Method: method, Error: errName}
	var err error
	if r.Rate, err = strconv.ParseFloat(rate, 64); err != nil {
		return r, fmt.Errorf("bad persistence fault %q: rate %q is not a number", s, rate)
	}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("bad persistence fault %q: %w", s, err)
	}
	return r, nil
}

// String renders r as the flag form.
func (r PersistenceRule) String() string {
	return fmt.Sprintf("%s.%s=%s:%g", r.Store, r.Method, r.Error, r.Rate)
}
