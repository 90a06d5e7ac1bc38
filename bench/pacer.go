// Package bench is the load engine: pacers, open- and closed-loop executors,
// HDR recorders, the result stream, the journal and live progress.
package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// A Pacer is a pure function of the schedule: when is the n-th start due?
// Knowing the intended time of every start is what lets the executor measure
// latency from it (no coordinated omission) and count late starts.
type Pacer interface {
	// Due is the offset from the run's start at which start n (0-based) is due.
	Due(n int64) time.Duration
	// Rate is the intended rate, starts per second, at offset t.
	Rate(t time.Duration) float64
	String() string
}

// Constant paces PerSec starts per second.
type Constant struct{ PerSec float64 }

func (c Constant) Due(n int64) time.Duration  { return secs(float64(n) / c.PerSec) }
func (c Constant) Rate(time.Duration) float64 { return c.PerSec }
func (c Constant) String() string             { return fmt.Sprintf("constant %s", FormatRate(c.PerSec)) }

// Ramp goes linearly from From to To starts per second over Over, then holds To.
type Ramp struct {
	From, To float64
	Over     time.Duration
}

func (r Ramp) Due(n int64) time.Duration {
	D := r.Over.Seconds()
	hitsInRamp := (r.From + r.To) / 2 * D // area under the ramp
	x := float64(n)
	if D <= 0 || x >= hitsInRamp {
		return secs(D + (x-hitsInRamp)/r.To)
	}
	// Cumulative starts H(t) = From·t + a·t², a = (To−From)/(2D); solve H(t) = n.
	a := (r.To - r.From) / (2 * D)
	if math.Abs(a) < 1e-12 {
		return secs(x / r.From)
	}
	return secs((-r.From + math.Sqrt(r.From*r.From+4*a*x)) / (2 * a))
}

func (r Ramp) Rate(t time.Duration) float64 {
	if t >= r.Over {
		return r.To
	}
	return r.From + (r.To-r.From)*t.Seconds()/r.Over.Seconds()
}

func (r Ramp) String() string {
	return fmt.Sprintf("ramp %s→%s over %s", FormatRate(r.From), FormatRate(r.To), r.Over)
}

// Step is one stage of a Steps pacer.
type Step struct {
	PerSec float64
	For    time.Duration
}

// Steps holds each rate for its duration; the last one holds forever.
type Steps []Step

func (s Steps) Due(n int64) time.Duration {
	x := float64(n)
	var at float64
	for i, st := range s {
		hits := st.PerSec * st.For.Seconds()
		if x < hits || i == len(s)-1 {
			return secs(at + x/st.PerSec)
		}
		x -= hits
		at += st.For.Seconds()
	}
	return 0
}

func (s Steps) Rate(t time.Duration) float64 {
	for i, st := range s {
		if t < st.For || i == len(s)-1 {
			return st.PerSec
		}
		t -= st.For
	}
	return 0
}

func (s Steps) String() string {
	parts := make([]string, len(s))
	for i, st := range s {
		parts[i] = fmt.Sprintf("%s for %s", FormatRate(st.PerSec), st.For)
	}
	return "steps " + strings.Join(parts, ", ")
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// ParseRate reads "50/s", "3000/m", "5/100ms", "2/1h" or a bare "50" (per
// second) and returns starts per second.
func ParseRate(s string) (float64, error) {
	num, unit, hasUnit := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("bad rate %q: want a count per time unit, e.g. 50/s or 3000/m", s)
	}
	if n <= 0 {
		return 0, fmt.Errorf("bad rate %q: must be above zero", s)
	}
	if !hasUnit {
		return n, nil
	}
	unit = strings.TrimSpace(unit)
	per, ok := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "ms": time.Millisecond}[unit]
	if !ok {
		// "5/100ms", "10/2s": a count per explicit duration.
		if first := strings.IndexAny(unit, "0123456789."); first != 0 {
			return 0, fmt.Errorf("bad rate %q: unit %q must be s, m, h, ms or a duration like 100ms", s, unit)
		}
		per, err = time.ParseDuration(unit)
		if err != nil || per <= 0 {
			return 0, fmt.Errorf("bad rate %q: unit %q must be s, m, h, ms or a duration like 100ms", s, unit)
		}
	}
	return n / per.Seconds(), nil
}

// FormatRate renders starts per second for humans.
func FormatRate(perSec float64) string {
	return strconv.FormatFloat(perSec, 'f', -1, 64) + "/s"
}

// ShowRate is a rate for people: three significant digits (28.3/s).
func ShowRate(perSec float64) string {
	if perSec >= 1000 {
		return strconv.FormatFloat(perSec, 'f', 0, 64) + "/s" // 1280/s, not 1.28e+03/s
	}
	return strconv.FormatFloat(perSec, 'g', 3, 64) + "/s"
}

// ParseSteps reads "10/s:20s,20/s:20s,40/s:30s" (rate:duration, comma-separated).
func ParseSteps(s string) (Steps, error) {
	var out Steps
	for _, part := range strings.Split(s, ",") {
		r, d, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("bad step %q in --steps: want rate:duration, e.g. 20/s:30s", part)
		}
		rate, err := ParseRate(r)
		if err != nil {
			return nil, fmt.Errorf("--steps: %w", err)
		}
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil || dur <= 0 {
			return nil, fmt.Errorf("bad step duration %q in --steps: want a positive duration, e.g. 30s", d)
		}
		out = append(out, Step{PerSec: rate, For: dur})
	}
	return out, nil
}
