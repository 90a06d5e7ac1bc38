//go:build !squall_lean

package cluster

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/persistence"
)

// staticFaultConfig is the server's own static fault-injection config, the
// only path that supports ExecuteAndTimeout (it is fixed at start-up).
func staticFaultConfig(rules []PersistenceRule) config.FaultInjectionTargets {
	t := config.FaultInjectionTargets{DataStores: map[config.DataStoreName]config.FaultInjectionDataStoreConfig{}}
	for _, r := range rules {
		ds := t.DataStores[config.DataStoreName(r.Store)]
		if ds.Methods == nil {
			ds.Methods = map[string]config.FaultInjectionMethodConfig{}
		}
		m := ds.Methods[r.Method]
		if m.Errors == nil {
			m.Errors = map[string]float64{}
		}
		m.Errors[r.Error] = r.Rate
		ds.Methods[r.Method] = m
		t.DataStores[config.DataStoreName(r.Store)] = ds
	}
	return t
}

// runtimeFaults is switched at run time through the server's control port;
// it serves every error kind but ExecuteAndTimeout (the server's runtime
// injector cannot execute the operation before failing it).
type runtimeFaults struct {
	rules atomic.Pointer[[]PersistenceRule]
	mu    sync.Mutex
	rng   *rand.Rand
}

func (f *runtimeFaults) inject(t config.FaultInjectionTarget) error {
	rules := f.rules.Load()
	if rules == nil {
		return nil
	}
	for _, r := range *rules {
		if (r.Store != "*" && r.Store != string(t.Store)) || (r.Method != "*" && r.Method != t.Method) {
			continue
		}
		f.mu.Lock()
		hit := f.rng.Float64() < r.Rate
		f.mu.Unlock()
		if hit {
			return persistenceError(r, t)
		}
	}
	return nil
}

func persistenceError(r PersistenceRule, t config.FaultInjectionTarget) error {
	msg := fmt.Sprintf("squall fault injection at %s.%s", t.Store, t.Method)
	switch r.Error {
	case "Timeout":
		return &persistence.TimeoutError{Msg: msg}
	case "Unavailable":
		return serviceerror.NewUnavailable(msg)
	case "ResourceExhausted":
		return &serviceerror.ResourceExhausted{Cause: enums.RESOURCE_EXHAUSTED_CAUSE_SYSTEM_OVERLOADED, Scope: enums.RESOURCE_EXHAUSTED_SCOPE_SYSTEM, Message: msg}
	default:
		return &persistence.ShardOwnershipLostError{Msg: msg}
	}
}

// serveControl serves PUT /persistence-faults (a JSON list of rules; an
// empty list heals) on loopback.
func (f *runtimeFaults) serveControl(port int) (func(), error) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, Usagef("control port %d is in use (%v): pick another --control-port", port, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /persistence-faults", func(w http.ResponseWriter, r *http.Request) {
		var rules []PersistenceRule
		if err := json.NewDecoder(r.Body).Decode(&rules); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rule := range rules {
			if err := rule.Validate(); err != nil || rule.Error == "ExecuteAndTimeout" {
				http.Error(w, fmt.Sprintf("rule %s: %v (ExecuteAndTimeout needs a restart with --persistence-fault)", rule, err), http.StatusBadRequest)
				return
			}
		}
		if len(rules) == 0 {
			f.rules.Store(nil)
		} else {
			f.rules.Store(&rules)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	return func() { _ = srv.Close() }, nil
}
