package capacity

import (
	"fmt"
	"strings"
)

// Case is what one search runs on: squall's worker processes and, on a
// cluster of separate service processes (--topology services), its
// shape. Zero host counts and shards are the run's defaults.
type Case struct {
	Workers  int `json:"workers"`
	History  int `json:"history_hosts,omitempty"`
	Matching int `json:"matching_hosts,omitempty"`
	Shards   int `json:"shards,omitempty"`
}

// Label names the case for a reader: "2 worker(s)", or with a shape
// "2 history host(s), 8 shards, 1 worker(s)".
func (c Case) Label() string {
	var parts []string
	if c.History > 0 {
		parts = append(parts, fmt.Sprintf("%d history host(s)", c.History))
	}
	if c.Matching > 0 {
		parts = append(parts, fmt.Sprintf("%d matching host(s)", c.Matching))
	}
	if c.Shards > 0 {
		parts = append(parts, fmt.Sprintf("%d shards", c.Shards))
	}
	return strings.Join(append(parts, fmt.Sprintf("%d worker(s)", c.Workers)), ", ")
}

// Key names the case in entry names: "w2", or "h2-s8-w1" with a shape.
func (c Case) Key() string {
	var b strings.Builder
	for _, p := range []struct {
		tag string
		n   int
	}{{"h", c.History}, {"m", c.Matching}, {"s", c.Shards}} {
		if p.n > 0 {
			fmt.Fprintf(&b, "%s%d-", p.tag, p.n)
		}
	}
	fmt.Fprintf(&b, "w%d", c.Workers)
	return b.String()
}

// Cases is every combination of the lists, in order (the last list
// varies fastest); an empty list is one default (0) value.
func Cases(workers, history, matching, shards []int) []Case {
	or0 := func(l []int) []int {
		if len(l) == 0 {
			return []int{0}
		}
		return l
	}
	var out []Case
	for _, h := range or0(history) {
		for _, m := range or0(matching) {
			for _, s := range or0(shards) {
				for _, w := range or0(workers) {
					out = append(out, Case{Workers: w, History: h, Matching: m, Shards: s})
				}
			}
		}
	}
	return out
}
