package faults

import (
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/scenarios"
)

func init() {
	Register(&Kind{
		Name:        "server-kill",
		Description: "SIGKILL the embedded server; restart it on the same SQLite file when healed",
		Needs:       NeedEmbedded,
		New: func(env *Env, _ scenarios.Values) (Fault, error) {
			return &processFault{targets: []*cluster.Child{env.Server}, kill: true, restart: env.Restart}, nil
		},
	})
	Register(&Kind{
		Name:        "server-pause",
		Description: "SIGSTOP the embedded server (a stall: nothing answers); SIGCONT when healed",
		Needs:       NeedEmbedded,
		New: func(env *Env, _ scenarios.Values) (Fault, error) {
			return &processFault{targets: []*cluster.Child{env.Server}}, nil
		},
	})
}
