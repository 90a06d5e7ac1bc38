package faults

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/squallbench/squall/internal/sleep"
)

// Window is what became of one scheduled fault; the runner writes it into
// the result stream as fault-inject and fault-heal records.
type Window struct {
	Kind       string            `json:"kind"`
	Spec       string            `json:"spec"`
	Params     map[string]string `json:"params"`
	InjectedAt time.Time         `json:"injected_at"`
	HealedAt   time.Time         `json:"healed_at"`
	Error      string            `json:"error,omitempty"`
	Skipped    string            `json:"skipped,omitempty"`
	// Evidence is what the fault saw of the cluster, for faults that look
	// (a topology node's shards and rings, a rolling restart's steps).
	Evidence any `json:"evidence,omitempty"`
}

// evidencer is a fault that records what it saw.
type evidencer interface{ Evidence() any }

// Recorder receives fault events as they happen.
type Recorder interface {
	// Injecting is called as the injection begins (InjectedAt set);
	// Injected once Inject returned, which for a rolling walk is its end.
	Injecting(w Window)
	Injected(w Window)
	Healed(w Window)
}

// Run executes the schedule from start: each fault is injected at its
// offset and healed after its duration. When ctx ends (the load finished,
// Ctrl-C, an error), active faults are healed at once and pending ones are
// skipped. Heal is always called for every fault whose Inject was called,
// even if Inject failed. Run returns when every fault is healed or skipped.
func Run(ctx context.Context, env *Env, start time.Time, specs []Spec, rec Recorder) {
	var wg sync.WaitGroup
	for _, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runOne(ctx, env, start, s, rec)
		}()
	}
	wg.Wait()
}

func runOne(ctx context.Context, env *Env, start time.Time, s Spec, rec Recorder) {
	w := Window{Kind: s.Kind.Name, Spec: s.Text, Params: s.Raw}
	if !sleep.Until(ctx, start.Add(s.At)) {
		w.Skipped = "the load ended before it was due"
		rec.Healed(w)
		return
	}
	f, err := s.Kind.New(env, s.Params)
	if err != nil {
		w.Error = fmt.Sprintf("set up: %v", err)
		rec.Healed(w)
		return
	}
	w.InjectedAt = time.Now()
	rec.Injecting(w)
	if err := f.Inject(ctx); err != nil {
		w.Error = fmt.Sprintf("inject: %v", err)
	}
	rec.Injected(w)
	sleep.Until(ctx, w.InjectedAt.Add(s.For))
	// Heal on a fresh context: ctx may be why we are healing.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := f.Heal(hctx); err != nil && w.Error == "" {
		w.Error = fmt.Sprintf("heal: %v", err)
	}
	w.HealedAt = time.Now()
	if e, ok := f.(evidencer); ok {
		w.Evidence = e.Evidence()
	}
	rec.Healed(w)
}
