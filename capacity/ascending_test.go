package capacity

import (
	"context"
	"math"
)

// ascending is the search squall ran before the interleaved one, kept
// here as the baseline its tests measure against: step the rate up
// geometrically from start until a rate fails, bisect between the last
// pass and the first fail to 5 %, every rate decided by a majority of
// three probes. Its answer is the highest passing rate of the bracket.
func ascending(ctx context.Context, p Prober, start, max float64) (float64, int, error) {
	const votes, resolution = 3, 0.05
	n := 0
	type vote struct {
		rate float64
		pass bool
	}
	var decided []vote
	decide := func(rate float64) (bool, error) {
		passed, probes := 0, 0
		for passed < 2 && probes-passed < 2 {
			pr, err := p.Probe(ctx, Task{Rate: rate, Phase: PhaseBracket, Search: 1, N: n + 1})
			if err != nil {
				return false, err
			}
			n++
			probes++
			if pr.Pass {
				passed++
			}
		}
		decided = append(decided, vote{rate, passed >= 2})
		return passed >= 2, nil
	}
	ok, err := decide(start)
	if err != nil || !ok {
		return 0, n, err
	}
	lastPass, firstFail := start, 0.0
	for firstFail == 0 && lastPass < max {
		next := math.Min(lastPass*2, max)
		ok, err := decide(next)
		if err != nil {
			return 0, n, err
		}
		if ok {
			lastPass = next
		} else {
			firstFail = next
		}
	}
	for firstFail > 0 && firstFail/lastPass-1 > resolution {
		mid := math.Sqrt(lastPass * firstFail)
		ok, err := decide(mid)
		if err != nil {
			return 0, n, err
		}
		if ok {
			lastPass = mid
		} else {
			firstFail = mid
		}
	}
	return lastPass, n, nil
}
