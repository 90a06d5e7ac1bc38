package bench

import (
	"math"
	"testing"
	"time"
)

func TestPacerDue(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		p     Pacer
		n     int64
		want  time.Duration
		slack time.Duration
	}{
		{"constant first", Constant{PerSec: 50}, 0, 0, 0},
		{"constant 50/s hit 1", Constant{PerSec: 50}, 1, 20 * ms, 0},
		{"constant 50/s hit 100", Constant{PerSec: 50}, 100, 2 * time.Second, 0},
		{"constant fractional", Constant{PerSec: 0.5}, 3, 6 * time.Second, 0},
		// Ramp 0→100/s over 10 s: H(t) = 5t², so hit 125 is due at 5 s.
		{"ramp from zero mid", Ramp{From: 0, To: 100, Over: 10 * time.Second}, 125, 5 * time.Second, ms},
		{"ramp end", Ramp{From: 0, To: 100, Over: 10 * time.Second}, 500, 10 * time.Second, ms},
		{"ramp after end holds To", Ramp{From: 0, To: 100, Over: 10 * time.Second}, 600, 11 * time.Second, ms},
		{"flat ramp is constant", Ramp{From: 20, To: 20, Over: 10 * time.Second}, 40, 2 * time.Second, ms},
		// Down-ramp 100→0 over 10 s: H(t) = 100t − 5t²; H(2) = 180.
		{"down ramp", Ramp{From: 100, To: 0.001, Over: 10 * time.Second}, 180, 2 * time.Second, 5 * ms},
		{"steps first stage", Steps{{10, 10 * time.Second}, {20, 10 * time.Second}}, 50, 5 * time.Second, 0},
		{"steps second stage", Steps{{10, 10 * time.Second}, {20, 10 * time.Second}}, 140, 12 * time.Second, 0},
		{"steps last holds", Steps{{10, 10 * time.Second}, {20, 10 * time.Second}}, 340, 22 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.Due(tt.n)
			if diff := got - tt.want; diff > tt.slack || diff < -tt.slack {
				t.Errorf("Due(%d) = %v, want %v ± %v", tt.n, got, tt.want, tt.slack)
			}
		})
	}
}

func TestPacerDueIsMonotonic(t *testing.T) {
	for _, p := range []Pacer{
		Constant{PerSec: 33},
		Ramp{From: 1, To: 200, Over: 30 * time.Second},
		Ramp{From: 200, To: 5, Over: 30 * time.Second},
		Steps{{5, time.Second}, {500, 2 * time.Second}, {1, time.Second}},
	} {
		prev := time.Duration(-1)
		for n := int64(0); n < 5000; n++ {
			d := p.Due(n)
			if d < prev {
				t.Fatalf("%s: Due(%d) = %v before Due(%d) = %v", p, n, d, n-1, prev)
			}
			prev = d
		}
	}
}

func TestPacerRate(t *testing.T) {
	r := Ramp{From: 10, To: 110, Over: 10 * time.Second}
	if got := r.Rate(5 * time.Second); math.Abs(got-60) > 1e-9 {
		t.Errorf("ramp rate at 5s = %v, want 60", got)
	}
	if got := r.Rate(time.Minute); got != 110 {
		t.Errorf("ramp rate after end = %v, want 110", got)
	}
	s := Steps{{10, 10 * time.Second}, {20, 10 * time.Second}}
	if got := s.Rate(15 * time.Second); got != 20 {
		t.Errorf("steps rate at 15s = %v, want 20", got)
	}
}

func TestParseRate(t *testing.T) {
	good := map[string]float64{"50/s": 50, "50": 50, "3000/m": 50, "180000/h": 50, "5/100ms": 50, "1/2s": 0.5, " 7.5/s ": 7.5}
	for in, want := range good {
		got, err := ParseRate(in)
		if err != nil || math.Abs(got-want) > 1e-9 {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"abc", "", "0/s", "-5/s", "5/x", "5/-1s", "NaN/s", "5/0s", "/s"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted bad input", in)
		}
	}
}

func TestParseSteps(t *testing.T) {
	st, err := ParseSteps("10/s:20s, 40/s:1m")
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0] != (Step{10, 20 * time.Second}) || st[1] != (Step{40, time.Minute}) {
		t.Errorf("ParseSteps = %+v", st)
	}
	for _, in := range []string{"10/s", "10/s:", "abc:10s", "10/s:-1s", "10/s:10s,"} {
		if _, err := ParseSteps(in); err == nil {
			t.Errorf("ParseSteps(%q) accepted bad input", in)
		}
	}
}
