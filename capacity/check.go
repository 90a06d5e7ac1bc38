package capacity

import (
	"fmt"
	"math"
)

// Little's law: over a steady stretch, the work in flight equals the rate
// it completes at times the time each piece spends in flight. A probe
// where the two sides disagree measured something other than the cluster
// serving a steady load, and a fit must not believe it.
const (
	// littleFactor is how far apart the two sides may be, either way: the
	// in-flight count is sampled once a second, so it wobbles.
	littleFactor = 1.5
	// littleSlack is the absolute difference below which no verdict is
	// drawn. In flight is sampled once a second, where a start is often
	// just being issued (at 16/s one falls on every second), so a sample
	// can be one high; and with a few in flight the samples' mean wanders
	// by its sampling error, which is added at three standard errors
	// (measured on the embedded server: 1.5 in flight against 2.5 over 8
	// samples, and 1.6 against 0.6, in probes that were sound).
	littleSlack = 2.0
)

// Screen says why a judged probe must stay out of the fit ("": it
// counts); Judge applies it to every probe. Two reasons:
//
//   - The driver fell behind its own schedule (more late starts than the
//     criteria allow) and the cluster, seen from the actual starts, would
//     have passed: the driver, not the cluster, decided the probe. A probe
//     the cluster failed by itself as well (throughput, a growing backlog,
//     the SLO broken from the actual starts, a server objective) stays in:
//     on a machine the driver shares, an overloaded cluster starves the
//     driver too, and dropping those probes would drop the knee.
//   - Little's law does not hold over a steady probe (one whose backlog
//     did not grow; over a growing backlog it cannot hold, and the probe
//     failed on that): in flight on average ≠ throughput × mean corrected
//     latency. Latency counted from the intended start grows when starts
//     go out late while the in-flight count does not, so a driver that
//     distorted the probe shows here even below the late-start threshold.
func Screen(c Criteria, p Probe) string {
	c = c.withDefaults()
	limit := math.Max(c.MaxGrowthSeconds*p.Rate, 2)
	if p.LateOnlyFrac > c.MaxLate && !clusterFailed(c, p, limit) {
		what := "the cluster kept up"
		if p.UncorrectedMS > 0 {
			what = fmt.Sprintf("from the actual starts the cluster kept the SLO (%.0f ms)", p.UncorrectedMS)
		}
		return fmt.Sprintf("the driver fell behind: %.1f%% of starts late, while %s: the driver, not the cluster, decided this probe",
			p.LateOnlyFrac*100, what)
	}
	if p.InFlightGrowth > limit || p.MeanMS <= 0 || p.Throughput <= 0 {
		return ""
	}
	want := p.Throughput * p.MeanMS / 1000
	slack := littleSlack + 3*math.Sqrt(want/float64(max(p.Steady, 1)))
	if math.Abs(p.InFlightMean-want) > slack && (p.InFlightMean > want*littleFactor || p.InFlightMean < want/littleFactor) {
		return fmt.Sprintf("Little's law does not hold: %.1f in flight on average, but throughput × mean latency is %.1f/s × %.0f ms = %.1f",
			p.InFlightMean, p.Throughput, p.MeanMS, want)
	}
	return ""
}

// clusterFailed: the probe failed on something the driver's lateness
// cannot explain.
func clusterFailed(c Criteria, p Probe, growthLimit float64) bool {
	if p.Throughput < c.MinThroughput*p.Rate || p.InFlightGrowth > growthLimit {
		return true
	}
	if o, ok := c.SLO.Latency(); ok && p.UncorrectedMS > 0 && o.broken(p.UncorrectedMS) {
		return true
	}
	for _, o := range c.SLO {
		if v, ok := p.Objectives[o.Name]; ok && o.Server() && o.broken(v) {
			return true
		}
	}
	return false
}
