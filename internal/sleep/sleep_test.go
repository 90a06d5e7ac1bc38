package sleep

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		start := time.Now()
		if !For(ctx, 3*time.Second) || time.Since(start) != 3*time.Second {
			t.Errorf("For(3s) returned after %s", time.Since(start))
		}
		if !For(ctx, 0) || !For(ctx, -time.Second) || time.Since(start) != 3*time.Second {
			t.Error("a d <= 0 waited or reported ctx done")
		}
		if !Until(ctx, start.Add(5*time.Second)) || time.Since(start) != 5*time.Second {
			t.Errorf("Until(start+5s) returned at %s", time.Since(start))
		}
	})
}

func TestForStopsWhenTheContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if For(ctx, time.Hour) {
			t.Error("For reported a full hour passed")
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("For returned %s after start, want 1s (when ctx ended)", d)
		}
		if For(ctx, 0) || Until(ctx, start) {
			t.Error("a done ctx reported live")
		}
	})
}
