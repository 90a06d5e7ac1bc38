package bench

import (
	"testing"
	"time"
)

func TestHistogramQuantileScale(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	// Quantiles are asked for on 0–1; 3 significant digits of precision.
	checks := map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.99: 990 * time.Millisecond, 0.999: 999 * time.Millisecond, 1: 1000 * time.Millisecond}
	for q, want := range checks {
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.001 || diff < -0.001 {
			t.Errorf("Quantile(%v) = %v, want %v (±0.1%%)", q, got, want)
		}
	}
	if h.Count() != 1000 {
		t.Errorf("Count = %d", h.Count())
	}
	if got := NewHistogram().Quantile(0.99); got != 0 {
		t.Errorf("empty histogram quantile = %v, want 0", got)
	}
}

func TestHistogramClampsAndMerges(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	a.Record(0)             // below range: clamped to 1 µs
	a.Record(2 * time.Hour) // above range: clamped to 1 h
	b.Record(10 * time.Millisecond)
	b.Record(20 * time.Millisecond)
	a.Merge(b)
	if a.Count() != 4 {
		t.Fatalf("merged count = %d, want 4", a.Count())
	}
	if m := a.Max(); m < 59*time.Minute || m > 61*time.Minute {
		t.Errorf("max = %v, want about 1h (clamped)", m)
	}
	if b.Count() != 2 {
		t.Errorf("merge changed its source: count %d", b.Count())
	}
}

func TestHistogramEncodeRoundTrip(t *testing.T) {
	h := NewHistogram()
	for i := 0; i < 500; i++ {
		h.Record(time.Duration(i*i) * time.Microsecond)
	}
	enc, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeHistogram(enc)
	if err != nil {
		t.Fatal(err)
	}
	if d.Count() != h.Count() || d.Quantile(0.99) != h.Quantile(0.99) || d.Max() != h.Max() {
		t.Errorf("round trip changed the histogram: count %d/%d p99 %v/%v", d.Count(), h.Count(), d.Quantile(0.99), h.Quantile(0.99))
	}
	if _, err := DecodeHistogram("not a histogram"); err == nil {
		t.Error("decoding garbage succeeded")
	}
}
