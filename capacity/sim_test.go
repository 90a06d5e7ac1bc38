package capacity

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/squallbench/squall/bench"
	"github.com/squallbench/squall/metrics"
)

// system is a simulated cluster: one server whose capacity (completions
// per second) may change over time, so p99 grows like base/(1−ρ) and above
// capacity the backlog piles up. A probe takes probeTime of the system's
// clock (30 s of load and the cluster's start and drain), and sees the
// capacity at its middle. With p99<500 ms and base 10 ms a probe passes
// below ρ = 0.98: the knee is 0.98 × the capacity of the moment.
type system struct {
	capAt     func(t time.Duration) float64
	base      time.Duration
	probeTime time.Duration
	now       time.Duration
	probes    int
}

var simEpoch = time.Unix(1_700_000_000, 0)

// simSLO is the simulated systems' objective.
var simSLO = SLO{{Name: "p99", Q: 0.99, Bound: 500}}

const simKnee = 0.98 // p99 = base/(1−ρ) reaches 500 ms at ρ = 0.98 with base 10 ms

func newSystem(capAt func(time.Duration) float64) *system {
	return &system{capAt: capAt, base: 10 * time.Millisecond, probeTime: 40 * time.Second}
}

func (s *system) clock() time.Time { return simEpoch.Add(s.now) }

func (s *system) Probe(_ context.Context, t Task) (Probe, error) {
	s.probes++
	c := s.capAt(s.now + s.probeTime/2)
	pr := Judge(Criteria{SLO: simSLO}, t.Rate, intervals(t.Rate, c, s.base), nil)
	pr.Start = s.clock()
	// The server's CPU follows the load: all of it at capacity.
	pr.Signals = map[string]float64{metrics.SigMachineCores: 2, metrics.SigServerCPU: 2 * min(t.Rate/c, 1)}
	s.now += s.probeTime
	return pr, nil
}

// truth is the capacity a search over [0, end) should find: the knee's
// geometric mean over that time (what a probe at a random moment of it
// meets, on average in log rate).
func (s *system) truth(end time.Duration) float64 {
	sum, n := 0.0, 0
	for t := time.Duration(0); t < end; t += time.Second {
		sum += math.Log(simKnee * s.capAt(t))
		n++
	}
	return math.Exp(sum / float64(n))
}

// intervals renders 20 steady seconds of the system at rate with
// capacity c. In flight obeys Little's law (rate × latency) while the
// system keeps up, and grows by the excess once it does not. All the
// latencies go into the first interval's histograms (Judge merges them
// all the same; one histogram instead of twenty keeps 40-seed tests fast).
func intervals(rate, c float64, base time.Duration) []Interval {
	rho := rate / c
	var ivs []Interval
	backlog := 0.0
	h := bench.NewHistogram()
	for i := range 20 {
		done := rate
		lat := time.Duration(float64(base) / (1 - rho))
		inFlight := rate * lat.Seconds()
		if rho >= 1 {
			// Saturated: the queue's own wait (as at ρ = 0.999) and the
			// backlog's, so that latency never falls as the rate rises.
			done = c
			backlog += rate - c
			lat = time.Duration(backlog/c*float64(time.Second)) + 1000*base
			inFlight = backlog + c*lat.Seconds()
		}
		for range int(done) {
			h.Record(lat)
		}
		ivs = append(ivs, Interval{Start: simEpoch.Add(time.Duration(i) * time.Second), End: simEpoch.Add(time.Duration(i+1) * time.Second),
			Counts: bench.Counts{Started: int64(rate), Completed: int64(done)}, InFlight: int64(math.Round(inFlight))})
	}
	ivs[0].Corrected, ivs[0].Uncorrected = h, h
	return ivs
}

// A drifting system: how its capacity moves, around c0 = 45/s.
type drift struct {
	name  string
	capAt func(seed uint64) func(time.Duration) float64
}

const c0 = 45.0

var drifts = []drift{
	// A slow sine: ±12 % over 20 minutes (a probe is 40 s), at a random
	// phase.
	{"slow sine", func(seed uint64) func(time.Duration) float64 {
		phase := rand.New(rand.NewPCG(seed, 1)).Float64() * 2 * math.Pi
		return func(t time.Duration) float64 { return c0 * (1 + 0.12*math.Sin(2*math.Pi*t.Minutes()/20+phase)) }
	}},
	// A step: 20 % slower from a random moment on (another job started).
	{"step", func(seed uint64) func(time.Duration) float64 {
		at := time.Duration(rand.New(rand.NewPCG(seed, 2)).Float64() * float64(25*time.Minute))
		return func(t time.Duration) float64 {
			if t >= at {
				return c0 * 0.8
			}
			return c0
		}
	}},
	// A random walk pulled back to its mean (Ornstein–Uhlenbeck): the
	// log of the capacity moves a minute at a time with a 5-minute memory,
	// 8 % (sd) from its mean in the long run. A walk without the pull would
	// be a different machine every search, with no capacity to agree on.
	{"random walk", func(seed uint64) func(time.Duration) float64 {
		rng := rand.New(rand.NewPCG(seed, 3))
		const sd, memory = 0.08, 5.0
		keep := math.Exp(-1 / memory)
		walk := []float64{sd * rng.NormFloat64()}
		return func(t time.Duration) float64 {
			m := int(t.Minutes())
			for len(walk) <= m+1 {
				walk = append(walk, walk[len(walk)-1]*keep+sd*math.Sqrt(1-keep*keep)*rng.NormFloat64())
			}
			f := t.Minutes() - float64(m)
			return c0 * math.Exp(walk[m]*(1-f)+walk[m+1]*f)
		}
	}},
	// Bimodal: each probe's moment is fast (46/s) or, a third of the
	// time, slow (36/s), as the embedded server near its knee holds in
	// one probe and collapses in the next.
	{"bimodal", func(seed uint64) func(time.Duration) float64 {
		rng := rand.New(rand.NewPCG(seed, 4))
		var slots []float64
		return func(t time.Duration) float64 {
			i := int(t / (40 * time.Second))
			for len(slots) <= i {
				c := 46.0
				if rng.Float64() < 1.0/3 {
					c = 36
				}
				slots = append(slots, c)
			}
			return slots[i]
		}
	}},
}

// spread is the middle 80 % of values, relative to their median: what
// three runs will usually show.
func spread(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	lo, hi := s[len(s)/10], s[len(s)-1-len(s)/10]
	return (hi - lo) / median(s)
}
