package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// Share is one driver's part of a run split across several drivers:
// iteration n belongs to driver (n mod Of)+1. Every driver computes the
// intended start of its iterations from the same pacer and origin, so the
// union of all drivers' schedules is exactly the single-driver schedule,
// and iteration numbers (hence workflow IDs) never collide. The zero value
// is the whole schedule.
type Share struct {
	Index int // 1..Of
	Of    int
}

// ParseShare reads "i/n" (driver i of n).
func ParseShare(s string) (Share, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return Share{}, fmt.Errorf("bad --driver %q: want i/n, e.g. 2/3 (driver 2 of 3)", s)
	}
	if n < 1 || i < 1 || i > n {
		return Share{}, fmt.Errorf("bad --driver %q: want 1 ≤ i ≤ n, e.g. 2/3", s)
	}
	return Share{Index: i, Of: n}, nil
}

// Split reports whether the run is shared with other drivers.
func (s Share) Split() bool { return s.Of > 1 }

// Owns reports whether iteration n is this driver's.
func (s Share) Owns(n int64) bool { return n >= 0 && n%int64(s.of()) == s.first() }

func (s Share) String() string {
	if !s.Split() {
		return "1/1"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Of)
}

func (s Share) of() int {
	if s.Of < 1 {
		return 1
	}
	return s.Of
}

func (s Share) first() int64 {
	if s.Of < 1 || s.Index < 1 {
		return 0
	}
	return int64(s.Index - 1)
}

// loops is this driver's part of n closed-loop loops (the first n mod Of
// drivers take one more), at least one so every driver drives.
func (s Share) loops(n int) int {
	of := s.of()
	k := n / of
	if int(s.first()) < n%of {
		k++
	}
	return max(k, 1)
}
