package faults

import (
	"github.com/squallbench/squall/cluster"
	"github.com/squallbench/squall/scenarios"
)

func init() {
	Register(&Kind{
		Name: "server-kill",
		Description: "SIGKILL the server squall started (restarted on the same database when healed); " +
			"with --topology services, target= one node or service: what it held and where its shards went is recorded",
		Params: []scenarios.Option{nodeTargetParam},
		Needs:  NeedEmbedded,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			if env.Topology != nil || p.String("target") != "" {
				return newNodeFault(env, p.String("target"), actKill)
			}
			return &processFault{targets: []*cluster.Child{env.Server}, kill: true, restart: env.Restart}, nil
		},
	})
	Register(&Kind{
		Name:        "server-pause",
		Description: "SIGSTOP the server squall started (a stall: nothing answers); SIGCONT when healed; with --topology services, target= one node or service",
		Params:      []scenarios.Option{nodeTargetParam},
		Needs:       NeedEmbedded,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			if env.Topology != nil || p.String("target") != "" {
				return newNodeFault(env, p.String("target"), actPause)
			}
			return &processFault{targets: []*cluster.Child{env.Server}}, nil
		},
	})
}
