package faults

import (
	"context"
	"fmt"
	"sync"
	"syscall"

	"github.com/squallbench/squall/cluster"
)

// processFault kills (SIGKILL, restarted on heal) or pauses (SIGSTOP,
// SIGCONT on heal) child processes: the server or workers.
type processFault struct {
	targets []*cluster.Child
	kill    bool
	restart func(context.Context, *cluster.Child) error

	mu   sync.Mutex
	done []*cluster.Child // the ones acted on, to heal
}

var _ Fault = (*processFault)(nil)

func (f *processFault) Inject(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.targets {
		var err error
		if f.kill {
			err = c.Kill()
		} else {
			err = c.Signal(syscall.SIGSTOP)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		f.done = append(f.done, c)
	}
	return nil
}

func (f *processFault) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var first error
	for _, c := range f.done {
		var err error
		if f.kill {
			err = f.restart(ctx, c)
		} else {
			err = c.Signal(syscall.SIGCONT)
		}
		if err != nil && first == nil {
			first = fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	f.done = nil
	return first
}
