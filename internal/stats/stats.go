// Package stats holds the small statistics several packages need and must
// agree on, so one figure is computed one way everywhere.
package stats

import "slices"

// Median is the middle of v, and for an even count the mean of the two
// middle values, so it sits between them rather than leaning to one side.
// ok is false for an empty v. v is not modified.
func Median(v []float64) (m float64, ok bool) {
	n := len(v)
	if n == 0 {
		return 0, false
	}
	s := slices.Sorted(slices.Values(v))
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}
