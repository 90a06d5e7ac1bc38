package workers

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// Every knob set survives the trip through `squall worker` flags and lands
// in the SDK's worker options.
func TestTuningArgsRoundTrip(t *testing.T) {
	in := Tuning{WorkflowPollers: 4, ActivityPollers: 3, WorkflowSlots: 50, ActivitySlots: 60, StickyCacheSize: 1000,
		ActivitiesPerSecond: 7, TaskQueueActivitiesPerSecond: 2.5, DisableEagerActivities: true,
		StickyScheduleToStart: 1500 * time.Millisecond}
	var out Tuning
	f := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	AddFlags(f, &out)
	if err := f.Parse(in.Args()); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("args %v parsed back as %+v, want %+v", in.Args(), out, in)
	}
	o := in.options()
	if o.TaskQueueActivitiesPerSecond != 2.5 || !o.DisableEagerActivities || o.StickyScheduleToStartTimeout != 1500*time.Millisecond || o.WorkerActivitiesPerSecond != 7 || o.MaxConcurrentActivityTaskPollers != 3 {
		t.Fatalf("worker options %+v do not carry the tuning", o)
	}
	if len((Tuning{}).Args()) != 0 {
		t.Fatalf("zero tuning renders flags: %v", (Tuning{}).Args())
	}
	if err := (Tuning{TaskQueueActivitiesPerSecond: -1}).Validate(); err == nil {
		t.Fatal("a negative task-queue rate was accepted")
	}
}
