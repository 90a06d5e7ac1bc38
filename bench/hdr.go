package bench

import (
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram is squall's one wrapper over HdrHistogram: values are durations
// recorded in microseconds (1 µs to 1 h, 3 significant digits), and quantiles
// are asked for on one scale, 0–1 (0.99 is p99). hdrhistogram-go itself takes
// 0–100; nothing else in squall calls it.
//
// Like the library, a Histogram is not safe for concurrent use: give each
// goroutine or interval its own and Merge them.
type Histogram struct{ h *hdr.Histogram }

const (
	hdrMin    = 1                                   // µs
	hdrMax    = int64(time.Hour / time.Microsecond) // values above are clamped
	hdrDigits = 3
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{h: hdr.New(hdrMin, hdrMax, hdrDigits)} }

// Record adds one duration; values outside the range are clamped to it.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	if us < hdrMin {
		us = hdrMin
	}
	if us > hdrMax {
		us = hdrMax
	}
	_ = h.h.RecordValue(us) // cannot fail: the value is in range
}

// Quantile returns the value at q, 0–1 (0.5 median, 0.999 p99.9).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.h.ValueAtQuantile(q*100)) * time.Microsecond
}

// Max returns the largest recorded value (at histogram precision).
func (h *Histogram) Max() time.Duration {
	return time.Duration(h.h.Max()) * time.Microsecond
}

// Mean returns the mean of the recorded values (at histogram precision):
// Little's law needs the mean, which no quantile stands in for.
func (h *Histogram) Mean() time.Duration {
	if h.h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.h.Mean() * float64(time.Microsecond))
}

// Count is the number of recorded values.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Merge adds every value of o into h.
func (h *Histogram) Merge(o *Histogram) { h.h.Merge(o.h) }

// Reset empties h for reuse.
func (h *Histogram) Reset() { h.h.Reset() }

// Encode returns the compact, compressed HdrHistogram encoding (base64), the
// form in which interval histograms travel in the result stream.
func (h *Histogram) Encode() (string, error) {
	b, err := h.h.Encode(hdr.V2CompressedEncodingCookieBase)
	return string(b), err
}

// DecodeHistogram reverses Encode.
func DecodeHistogram(s string) (*Histogram, error) {
	h, err := hdr.Decode([]byte(s))
	if err != nil {
		return nil, err
	}
	return &Histogram{h: h}, nil
}

// Quantiles of a latency histogram, in milliseconds: the one shape every
// report and scenario detail uses.
type Quantiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// QuantilesOf summarises h (nil or empty: zeros).
func QuantilesOf(h *Histogram) Quantiles {
	if h == nil || h.Count() == 0 {
		return Quantiles{}
	}
	return Quantiles{Count: h.Count(), P50: MS(h.Quantile(0.5)), P90: MS(h.Quantile(0.9)), P99: MS(h.Quantile(0.99)),
		P999: MS(h.Quantile(0.999)), Max: MS(h.Max())}
}

// MS is d in milliseconds, to the microsecond.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
