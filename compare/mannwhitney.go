package compare

import (
	"math"
	"sort"
)

// exactLimit is the largest total sample size whose Mann–Whitney p-value is
// computed from the exact distribution of the rank sum; above it the
// normal approximation is close enough (benchstat draws the line at 50 too).
const exactLimit = 50

// MannWhitney returns the two-sided p-value of the Mann–Whitney U test
// (Wilcoxon rank-sum) that x and y come from the same distribution. It
// makes no assumption about the shape of the distribution, which is why
// benchmark tools use it: latency is skewed and run-to-run noise is not
// normal. Ties get mid-ranks. Up to exactLimit values in all, the p-value
// is exact, conditional on the ties, by counting every way to pick len(x)
// of the ranks; above, it is the normal approximation with tie and
// continuity correction.
func MannWhitney(x, y []float64) float64 {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return 1
	}
	ranks, ties := midRanks(x, y)
	// Doubled ranks are integers even with mid-ranks.
	var r1 int
	for i := range n1 {
		r1 += ranks[i]
	}
	n := n1 + n2
	if n <= exactLimit {
		return exactP(ranks, n1, r1)
	}
	u := float64(r1)/2 - float64(n1*(n1+1))/2
	mu := float64(n1*n2) / 2
	variance := float64(n1*n2) / 12 * (float64(n+1) - ties/float64(n*(n-1)))
	if variance <= 0 {
		return 1 // every value the same
	}
	z := (math.Abs(u-mu) - 0.5) / math.Sqrt(variance)
	if z <= 0 {
		return 1
	}
	return math.Min(1, math.Erfc(z/math.Sqrt2))
}

// midRanks returns the doubled mid-ranks of x then y (in that order) and
// the tie term Σ(t³−t) over groups of t equal values.
func midRanks(x, y []float64) ([]int, float64) {
	type v struct {
		val float64
		idx int
	}
	all := make([]v, 0, len(x)+len(y))
	for i, a := range x {
		all = append(all, v{a, i})
	}
	for i, a := range y {
		all = append(all, v{a, len(x) + i})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].val < all[j].val })
	ranks := make([]int, len(all))
	var ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].val == all[i].val {
			j++
		}
		// Ranks i+1..j, their mean doubled is i+1+j.
		for k := i; k < j; k++ {
			ranks[all[k].idx] = i + 1 + j
		}
		t := float64(j - i)
		ties += t*t*t - t
		i = j
	}
	return ranks, ties
}

// exactP counts, over all ways to choose n1 of the (doubled) ranks, those
// whose sum is at least as far from its mean as r1: the two-sided p-value.
func exactP(ranks []int, n1, r1 int) float64 {
	total := 0
	for _, r := range ranks {
		total += r
	}
	// ways[k][s]: subsets of k ranks among those seen so far summing to s.
	ways := make([][]float64, n1+1)
	for k := range ways {
		ways[k] = make([]float64, total+1)
	}
	ways[0][0] = 1
	for _, r := range ranks {
		for k := n1; k >= 1; k-- {
			for s := total; s >= r; s-- {
				ways[k][s] += ways[k-1][s-r]
			}
		}
	}
	mean := float64(n1) * float64(total) / float64(len(ranks))
	dev := math.Abs(float64(r1) - mean)
	var all, extreme float64
	for s, w := range ways[n1] {
		if w == 0 {
			continue
		}
		all += w
		if math.Abs(float64(s)-mean) >= dev-1e-9 {
			extreme += w
		}
	}
	return extreme / all
}

// minP is the smallest two-sided p-value the rank test can give with n1
// and n2 samples: below it no difference can ever be significant.
func minP(n1, n2 int) float64 {
	// 2 / C(n1+n2, n1)
	c := 1.0
	for i := 1; i <= n1; i++ {
		c = c * float64(n2+i) / float64(i)
	}
	return math.Min(1, 2/c)
}
