package faults

import (
	"slices"
	"strings"
	"testing"
)

// net-latency acts on both directions unless told one.
func TestNetLatencyDirection(t *testing.T) {
	for spec, want := range map[string][]string{
		"net-latency at=0s for=5s latency=1ms":                      {"upstream", "downstream"},
		"net-latency at=0s for=5s latency=1ms direction=upstream":   {"upstream"},
		"net-latency at=0s for=5s latency=1ms direction=downstream": {"downstream"},
	} {
		s, err := ParseSpec(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		f, err := s.Kind.New(&Env{}, s.Params)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.(*toxicFault).streams; !slices.Equal(got, want) {
			t.Errorf("%s: streams %v, want %v", spec, got, want)
		}
	}
	if _, err := ParseSpec("net-latency at=0s for=5s direction=sideways"); err == nil || !strings.Contains(err.Error(), "not one of") {
		t.Errorf("bad direction: %v", err)
	}
}
