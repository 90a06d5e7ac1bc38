package faults

import (
	"context"
	"fmt"
	"strings"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/scenarios"
)

// PersistenceRule is one datastore fault rule (see cluster.PersistenceRule).
type PersistenceRule = cluster.PersistenceRule

// persistenceFault switches the embedded server's own fault-injection
// datastore layer on for its window. Errors other than ExecuteAndTimeout
// are switched at run time; ExecuteAndTimeout (the write happens, the
// caller sees a timeout) exists only in the server's static config, so for
// it the server is restarted with the rule, and restarted without on heal —
// the window then includes two clean restarts, which the report shows.
type persistenceFault struct {
	env   *Env
	rules []PersistenceRule
}

var _ Fault = (*persistenceFault)(nil)

func (f *persistenceFault) Inject(ctx context.Context) error {
	return f.env.Persistence(ctx, f.rules)
}

func (f *persistenceFault) Heal(ctx context.Context) error {
	return f.env.Persistence(ctx, nil)
}

func init() {
	Register(&Kind{
		Name: "persistence-errors",
		Description: "the server's own datastore fault injection: errors by store and method " +
			"(Timeout, Unavailable, ResourceExhausted, ShardOwnershipLost, ExecuteAndTimeout)",
		Params: []scenarios.Option{
			{Name: "store", Kind: scenarios.String, Default: "ExecutionStore", Help: "datastore: " + strings.Join(cluster.PersistenceStores, ", ") + " or *"},
			{Name: "method", Kind: scenarios.String, Default: "*", Help: "datastore method, e.g. UpdateWorkflowExecution, or *"},
			{Name: "error", Kind: scenarios.Enum, Default: "Timeout", Choices: cluster.PersistenceErrors, Help: "what the caller sees"},
			{Name: "rate", Kind: scenarios.Float, Default: "0.05", Help: "probability per call, 0-1 (or 5%)", Min: scenarios.MinOf(0)},
		},
		Needs: NeedEmbedded,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			r := PersistenceRule{Store: p.String("store"), Method: p.String("method"), Error: p.String("error"), Rate: p.Float("rate")}
			if err := r.Validate(); err != nil {
				return nil, fmt.Errorf("persistence-errors: %w", err)
			}
			return &persistenceFault{env: env, rules: []PersistenceRule{r}}, nil
		},
	})
}
