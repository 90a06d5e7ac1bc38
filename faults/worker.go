package faults

import (
	"fmt"

	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/scenarios"
)

var workerParam = scenarios.Option{Name: "worker", Kind: scenarios.String, Default: "0",
	Help: "which worker process: its index (0-based) or all"}

func pickWorkers(env *Env, which string) ([]*cluster.Child, error) {
	if which == "all" {
		return env.Workers, nil
	}
	var i int
	if _, err := fmt.Sscanf(which, "%d", &i); err != nil || i < 0 || i >= len(env.Workers) {
		return nil, fmt.Errorf("worker=%s: want all or an index below %d (--workers)", which, len(env.Workers))
	}
	return env.Workers[i : i+1], nil
}

func init() {
	Register(&Kind{
		Name:        "worker-kill",
		Description: "SIGKILL worker process(es); restart them when healed (after for=)",
		Params:      []scenarios.Option{workerParam},
		Needs:       NeedWorkers,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			ws, err := pickWorkers(env, p.String("worker"))
			return &processFault{targets: ws, kill: true, restart: env.Restart}, err
		},
	})
	Register(&Kind{
		Name:        "worker-pause",
		Description: "SIGSTOP worker process(es); SIGCONT when healed",
		Params:      []scenarios.Option{workerParam},
		Needs:       NeedWorkers,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			ws, err := pickWorkers(env, p.String("worker"))
			return &processFault{targets: ws}, err
		},
	})
}
