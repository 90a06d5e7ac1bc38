// Package sleep waits for a while unless the context ends first: the one
// context-aware sleep of every poll loop, retry backoff and schedule, so a
// cancelled run stops waiting at once instead of after its next tick.
package sleep

import (
	"context"
	"time"
)

// For waits d, or less when ctx ends first. It reports whether all of d
// passed with ctx still live: false means stop, ctx is done. A d <= 0
// does not wait.
func For(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Until waits until t, as For does.
func Until(ctx context.Context, t time.Time) bool { return For(ctx, time.Until(t)) }
