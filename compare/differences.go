package compare

import (
	"fmt"
	"sort"
	"strings"

	"github.com/squallbench/squall/reports"
)

// differences lists what makes the runs incomparable: within each side
// (repeats must be repeats) and between the sides. Fault schedules are
// only noted: slowing the current side with a fault is how the gate's
// power is measured, and a fault is part of what is being compared.
//
// With allowVersions, a version that differs between the sides is a note;
// within a side, repeats must still share one build.
func differences(base, current *Side, allowVersions bool) (diffs, notes []string) {
	ref := base.Runs[0]
	otherFaults := map[string][]string{} // a fault schedule other than ref's → the runs that have it
	var order []string
	for _, side := range []*Side{base, current} {
		for _, r := range side.Runs {
			if r.Path == ref.Path {
				continue
			}
			plan, versions := runDiffs(ref, r)
			diffs = append(diffs, plan...)
			if !allowVersions {
				diffs = append(diffs, versions...)
			} else if side == base || r.Path == side.Runs[0].Path {
				notes = append(notes, versions...)
			} else {
				_, within := runDiffs(side.Runs[0], r)
				diffs = append(diffs, within...)
			}
			if f2 := faultSpecs(r.Report); f2 != faultSpecs(ref.Report) {
				if _, seen := otherFaults[f2]; !seen {
					order = append(order, f2)
				}
				otherFaults[f2] = append(otherFaults[f2], r.Path)
			}
		}
	}
	// One note per schedule, however many runs have it.
	for _, f2 := range order {
		runs := otherFaults[f2]
		where := runs[0]
		if len(runs) > 1 {
			where = fmt.Sprintf("%d runs (%s, ...)", len(runs), runs[0])
		}
		notes = append(notes, fmt.Sprintf("fault schedules differ: %s has [%s], %s [%s]", ref.Path, faultSpecs(ref.Report), where, f2))
	}
	return dedupe(diffs), dedupe(notes)
}

// runDiffs lists how b's plan and build differ from a's.
func runDiffs(a, b Run) (plan, versions []string) {
	var out []string
	d := func(what, va, vb string) {
		if va != vb {
			out = append(out, fmt.Sprintf("%s: %q in %s, %q in %s", what, va, a.Path, vb, b.Path))
		}
	}
	ra, rb := a.Report, b.Report
	d("squall version", ra.Run.SquallVersion, rb.Run.SquallVersion)
	d("server version", ra.Run.ServerVersion, rb.Run.ServerVersion)
	versions, out = out, nil
	d("scenarios", names(ra), names(rb))
	sb := map[string]*reports.Scenario{}
	for i := range rb.Scenarios {
		sb[rb.Scenarios[i].Label()] = &rb.Scenarios[i]
	}
	for _, x := range ra.Scenarios {
		y := sb[x.Label()]
		if y == nil {
			continue // already listed as a different set of scenarios
		}
		p := "scenario " + x.Label() + " "
		d(p+"executor", x.Executor, y.Executor)
		d(p+"pacer", x.Pacer, y.Pacer)
		d(p+"concurrency", fmt.Sprint(x.Concurrency), fmt.Sprint(y.Concurrency))
		d(p+"max in flight", fmt.Sprint(x.MaxInFlight), fmt.Sprint(y.MaxInFlight))
		d(p+"duration", x.Duration, y.Duration)
		d(p+"iterations", fmt.Sprint(x.Iterations), fmt.Sprint(y.Iterations))
		d(p+"late after", x.LateAfter, y.LateAfter)
		keys := map[string]bool{}
		for k := range x.Options {
			keys[k] = true
		}
		for k := range y.Options {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			va, oka := x.Options[k]
			vb, okb := y.Options[k]
			if !oka {
				va = "(unset)"
			}
			if !okb {
				vb = "(unset)"
			}
			d(p+"option "+k, va, vb)
		}
	}
	return out, versions
}

func names(r *reports.Report) string {
	n := make([]string, len(r.Scenarios))
	for i, s := range r.Scenarios {
		n[i] = s.Label()
	}
	return strings.Join(n, ",")
}

func faultSpecs(r *reports.Report) string {
	specs := make([]string, len(r.Faults))
	for i, f := range r.Faults {
		specs[i] = f.Spec
	}
	return strings.Join(specs, "; ")
}

func dedupe(v []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range v {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
