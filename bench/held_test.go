package bench

import (
	"testing"
	"time"
)

// A fault window holds the iterations in flight during it or due in it,
// whenever they complete; work due after the heal, or done before the
// injection, is not its.
func TestRecorderHoldsTheWorkOfAFaultWindow(t *testing.T) {
	r := NewRecorder(time.Now())
	r.Started(0, false)
	r.Done(Completed, 10*time.Millisecond, 10*time.Millisecond) // before the window: not held
	now := time.Now()
	r.Hold("pause", now.Add(-2*time.Second))
	for range 3 {
		r.Started(0, false)
	}
	r.Done(Completed, 4900*time.Millisecond, 4900*time.Millisecond) // due before the injection, in flight across it
	r.Done(Completed, 1500*time.Millisecond, 1500*time.Millisecond) // due inside the window
	r.Done(Failed, time.Second, time.Second)
	r.Release("pause", now.Add(-time.Second))
	r.Started(0, false)
	r.Done(Completed, 200*time.Millisecond, 200*time.Millisecond) // due after the heal: not held
	iv := r.Cut(time.Now())
	held, err := DecodeHistogram(iv.Hists[HeldPrefix+"pause"])
	if err != nil {
		t.Fatal(err)
	}
	if held.Count() != 2 || held.Max() < 4800*time.Millisecond {
		t.Errorf("held %d, max %s: want the 2 completions the window held, max about 4.9 s", held.Count(), held.Max())
	}
	failed, err := DecodeHistogram(iv.Hists[HeldFailedPrefix+"pause"])
	if err != nil || failed.Count() != 1 {
		t.Errorf("held failures: %v %v, want 1", failed, err)
	}
}
