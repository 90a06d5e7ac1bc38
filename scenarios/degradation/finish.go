package degradation

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/squallbench/squall/scenarios"
)

var _ scenarios.Finisher = (*driver)(nil)

// Finish emits the run's summary and timeline and keeps the services'
// request logs in the run directory.
func (d *driver) Finish(context.Context) error {
	d.env.Emit("summary", d.summary())
	d.t.mu.Lock()
	tl := append([]Second(nil), d.t.tl...)
	d.t.mu.Unlock()
	d.env.Emit("timeline", tl)
	if d.env.Dir == "" {
		return nil
	}
	return errors.Join(d.primary.WriteLog(filepath.Join(d.env.Dir, "primary.jsonl")),
		d.secondary.WriteLog(filepath.Join(d.env.Dir, "secondary.jsonl")))
}

func (d *driver) summary() Summary {
	t := d.t
	t.mu.Lock()
	defer t.mu.Unlock()
	sum := t.sum
	sum.BySource, sum.Transitions = map[string]int{}, map[string]int{}
	for k, v := range t.sum.BySource {
		sum.BySource[k] = v
	}
	for k, v := range t.sum.Transitions {
		sum.Transitions[k] = v
	}
	if sum.Answers > 0 {
		sum.DegradedFraction = 1 - float64(sum.BySource[SourcePrimary])/float64(sum.Answers)
	}
	pc, sc := d.primary.Counts(), d.secondary.Counts()
	sum.PrimaryRequests, sum.PrimaryFailed, sum.SecondaryReqs, sum.SecondaryFailed = pc.Requests, pc.Failed, sc.Requests, sc.Failed
	if d.outage.judged() {
		if !t.outageFrom.IsZero() {
			sum.OutageFromS = t.outageFrom.Sub(t.loadStart).Seconds()
		}
		if !t.outageTo.IsZero() {
			sum.OutageToS = t.outageTo.Sub(t.loadStart).Seconds()
		}
		sum.Target = d.outage.target
	}
	return sum
}
