package faults

import (
	"context"

	"github.com/squallbench/squall/scenarios"
)

// none is the control run: a window that injects nothing, so a fault run
// and its control produce reports of the same shape.
type none struct{}

var _ Fault = none{}

func (none) Inject(context.Context) error { return nil }
func (none) Heal(context.Context) error   { return nil }

func init() {
	Register(&Kind{
		Name:        "none",
		Description: "the control run: marks a window, injects nothing",
		New:         func(*Env, scenarios.Values) (Fault, error) { return none{}, nil },
	})
}
