package faults

import (
	"github.com/squallbench/squall/scenarios"
)

// The network faults act on the proxy between every SDK client of the run
// (driver and workers) and the frontend; squall puts it there whenever one
// of them is scheduled.
func init() {
	both := []string{"upstream", "downstream"}
	Register(&Kind{
		Name:        "net-latency",
		Description: "add latency (each direction) between clients/workers and the frontend",
		Params: []scenarios.Option{
			{Name: "latency", Kind: scenarios.Duration, Default: "100ms", Help: "added delay per direction", Min: scenarios.MinOf(0)},
			{Name: "jitter", Kind: scenarios.Duration, Default: "0s", Help: "random ± variation", Min: scenarios.MinOf(0)},
			// Toxiproxy counts latency in whole milliseconds: one direction
			// halves the smallest step (1 ms each way added ~30 % to a
			// noop p50 of 27 ms here).
			{Name: "direction", Kind: scenarios.Enum, Default: "both", Choices: []string{"both", "upstream", "downstream"},
				Help: "which way: both, upstream (client to frontend) or downstream"},
		},
		Needs: NeedProxy,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			streams := both
			if d := p.String("direction"); d != "both" {
				streams = []string{d}
			}
			return &toxicFault{proxy: env.Proxy, typ: "latency", streams: streams, attrs: map[string]any{
				"latency": p.Duration("latency").Milliseconds(), "jitter": p.Duration("jitter").Milliseconds()}}, nil
		},
	})
	Register(&Kind{
		Name:        "net-partition",
		Description: "blackhole: connections stay open but no data passes until healed",
		Needs:       NeedProxy,
		New: func(env *Env, _ scenarios.Values) (Fault, error) {
			// Toxiproxy's timeout toxic with timeout 0 holds data forever.
			return &toxicFault{proxy: env.Proxy, typ: "timeout", streams: both, attrs: map[string]any{"timeout": 0}}, nil
		},
	})
	Register(&Kind{
		Name:        "net-reset",
		Description: "reset (TCP RST) connections between clients/workers and the frontend",
		Params: []scenarios.Option{
			{Name: "after", Kind: scenarios.Duration, Default: "0s", Help: "reset a connection this long after data flows", Min: scenarios.MinOf(0)},
		},
		Needs: NeedProxy,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			return &toxicFault{proxy: env.Proxy, typ: "reset_peer", streams: []string{"upstream"},
				attrs: map[string]any{"timeout": p.Duration("after").Milliseconds()}}, nil
		},
	})
	Register(&Kind{
		Name:        "net-bandwidth",
		Description: "limit bandwidth (each direction) between clients/workers and the frontend",
		Params: []scenarios.Option{
			{Name: "kbps", Kind: scenarios.Int, Default: "64", Help: "KB per second per direction", Min: scenarios.MinOf(1)},
		},
		Needs: NeedProxy,
		New: func(env *Env, p scenarios.Values) (Fault, error) {
			return &toxicFault{proxy: env.Proxy, typ: "bandwidth", streams: both, attrs: map[string]any{"rate": p.Int("kbps")}}, nil
		},
	})
}
