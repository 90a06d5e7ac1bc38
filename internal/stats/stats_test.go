package stats

import (
	"slices"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want float64
	}{
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5}, // even: the mean of the middle two, not either one
		{[]float64{10, 0}, 5},
		{[]float64{5, 5, 1, 9}, 5},
		{[]float64{-2, -4, 100, 0, 1, 3}, 0.5},
	} {
		in := slices.Clone(tc.v)
		got, ok := Median(tc.v)
		if !ok || got != tc.want {
			t.Errorf("Median(%v) = %v, %v; want %v", tc.v, got, ok, tc.want)
		}
		if !slices.Equal(in, tc.v) {
			t.Errorf("Median reordered its input: %v, was %v", tc.v, in)
		}
	}
	if m, ok := Median(nil); ok || m != 0 {
		t.Errorf("Median(nil) = %v, %v; want 0, false", m, ok)
	}
}
