package faults

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/squallbench/squall/scenarios"
)

// apiFault switches the scenario's fake external services (order store,
// third-party APIs...) into error or slow mode for its window.
type apiFault struct {
	apis      []scenarios.APIControl
	errorRate float64
	latency   time.Duration
}

var _ Fault = (*apiFault)(nil)

func (f *apiFault) Inject(context.Context) error {
	for _, a := range f.apis {
		a.SetFaults(f.errorRate, f.latency)
	}
	return nil
}

func (f *apiFault) Heal(context.Context) error {
	for _, a := range f.apis {
		a.SetFaults(0, 0)
	}
	return nil
}

func pickAPIs(env *Env, name string) ([]scenarios.APIControl, error) {
	if name == "" || name == "all" {
		return env.APIs, nil
	}
	var names []string
	var picked []scenarios.APIControl
	for _, a := range env.APIs {
		names = append(names, a.Name())
		if a.Name() == name {
			picked = append(picked, a)
		}
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("api=%s: no such fake service (this scenario has: %s)", name, strings.Join(names, ", "))
	}
	return picked, nil
}

var apiParam = scenarios.Option{Name: "api", Kind: scenarios.String, Default: "all", Help: "which fake service (by name) or all"}

func init() {
	Register(&Kind{
		Name:        "api-errors",
		Description: "the scenario's fake external services fail a fraction of requests (HTTP 503)",
		Params: []scenarios.Option{apiParam,
			{Name: "rate", Kind: scenarios.Float, Default: "0.5", Help: "fraction of requests that fail, 0-1", Min: scenarios.MinOf(0)}},
		Needs: NeedFakeService,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			apis, err := pickAPIs(env, p.String("api"))
			return &apiFault{apis: apis, errorRate: p.Float("rate")}, err
		},
	})
	Register(&Kind{
		Name:        "api-latency",
		Description: "the scenario's fake external services answer slowly",
		Params: []scenarios.Option{apiParam,
			{Name: "latency", Kind: scenarios.Duration, Default: "500ms", Help: "added per request", Min: scenarios.MinOf(0)}},
		Needs: NeedFakeService,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			apis, err := pickAPIs(env, p.String("api"))
			return &apiFault{apis: apis, latency: p.Duration("latency")}, err
		},
	})
}
