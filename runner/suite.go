package runner

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/squallbench/squall/cluster"
)

// A suite file runs several scenarios in one invocation: one run
// directory, one report, one verdict. Each entry names a scenario and,
// like the command line, its options, load shape, faults and thresholds;
// what an entry leaves out comes from the command line, then from the
// scenario's defaults.
//
//	shared-server: false        # default: a fresh server (and database) per entry
//	entries:
//	  - scenario: noop
//	    name: noop-20           # unique label in the report (default: the scenario)
//	    rate: 20/s
//	    duration: 30s
//	    options: {activities: 2}
//	    faults: ["worker-kill at=10s for=3s"]
//	    fault-every: 10m          # a soak: a fault every 10 minutes, of
//	    fault-kinds: [worker-kill, "server-pause for=20s"]   # these kinds in turn
//	    thresholds: ["p99<2s", "failed==0"]

// suiteEntry is one entry; pointer fields tell "left out" from "zero".
type suiteEntry struct {
	Scenario    string            `yaml:"scenario"`
	Name        string            `yaml:"name"`
	Options     map[string]string `yaml:"options"`
	Rate        *string           `yaml:"rate"`
	Ramp        *time.Duration    `yaml:"ramp"`
	Steps       *string           `yaml:"steps"`
	Concurrency *int              `yaml:"concurrency"`
	Duration    *time.Duration    `yaml:"duration"`
	Iterations  *int64            `yaml:"iterations"`
	MaxInFlight *int              `yaml:"max-in-flight"`
	LateAfter   *time.Duration    `yaml:"late-after"`
	Grace       *time.Duration    `yaml:"grace"`
	VerifyWait  *time.Duration    `yaml:"verify-wait"`
	Workers     *int              `yaml:"workers"`
	Faults      []string          `yaml:"faults"`
	FaultEvery  *time.Duration    `yaml:"fault-every"`
	FaultKinds  []string          `yaml:"fault-kinds"`
	FaultFor    *time.Duration    `yaml:"fault-for"`
	FaultOrder  *string           `yaml:"fault-order"`
	FaultSeed   *uint64           `yaml:"fault-seed"`
	Thresholds  []string          `yaml:"thresholds"`
	line        int
}

// Suite is a validated suite: one plan per entry.
type Suite struct {
	Plans        []*Plan
	SharedServer bool
}

// LoadSuite reads and validates a suite file against the command line's
// flags (base): every entry is checked before anything starts, and every
// problem is reported at once as FILE:LINE: ....
func LoadSuite(path string, base Flags) (*Suite, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, cluster.Usagef("--suite: %v", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, cluster.Usagef("%s", yamlErr(path, err))
	}
	var problems []string
	bad := func(line int, format string, a ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", path, line, fmt.Sprintf(format, a...)))
	}
	if len(root.Content) == 0 {
		return nil, cluster.Usagef("%s: empty suite: give entries: with at least one scenario", path)
	}
	doc := root.Content[0]
	checkKeys(doc, []string{"shared-server", "entries"}, func(n *yaml.Node, msg string) { bad(n.Line, "%s", msg) })
	s := &Suite{}
	if sh := mapValue(doc, "shared-server"); sh != nil {
		if err := sh.Decode(&s.SharedServer); err != nil {
			problems = append(problems, yamlErr(path, err))
		}
	}
	entries := mapValue(doc, "entries")
	if entries == nil || entries.Kind != yaml.SequenceNode || len(entries.Content) == 0 {
		return nil, cluster.Usagef("%s: no entries: list the scenarios to run under entries:", path)
	}
	names := map[string]int{}
	for i, node := range entries.Content {
		// Each entry is decoded on its own, so one bad value does not
		// hide the problems of the others.
		var e suiteEntry
		e.line = node.Line
		checkKeys(node, entryKeys, func(n *yaml.Node, msg string) { bad(n.Line, "%s", msg) })
		if err := node.Decode(&e); err != nil {
			problems = append(problems, yamlErr(path, err))
			continue
		}
		if e.Scenario == "" {
			bad(e.line, "entry %d has no scenario:", i+1)
			continue
		}
		f := e.flags(base)
		if prev, dup := names[f.Entry]; dup {
			bad(e.line, "entry name %q is used by the entry at line %d too: give each a distinct name:", f.Entry, prev)
		}
		names[f.Entry] = e.line
		if !s.SharedServer && base.DB != "" {
			bad(e.line, "--db names one database, but every entry gets a fresh server: drop --db or set shared-server: true")
		}
		p, err := Validate(f)
		if err != nil {
			for _, msg := range strings.Split(err.Error(), "; ") {
				bad(e.line, "%s", msg)
			}
			continue
		}
		s.Plans = append(s.Plans, p)
	}
	if len(problems) > 0 {
		return nil, cluster.Usagef("%s", strings.Join(problems, "; "))
	}
	return s, nil
}

var entryKeys = []string{"scenario", "name", "options", "rate", "ramp", "steps", "concurrency", "duration", "iterations",
	"max-in-flight", "late-after", "grace", "verify-wait", "workers", "faults", "fault-every", "fault-kinds", "fault-for",
	"fault-order", "fault-seed", "thresholds"}

// flags is the command line's flags with the entry's fields on top.
func (e suiteEntry) flags(base Flags) Flags {
	f := base
	f.Set = map[string]bool{}
	for k, v := range base.Set {
		f.Set[k] = v
	}
	f.Scenario, f.Entry = e.Scenario, e.Name
	if f.Entry == "" {
		f.Entry = e.Scenario
	}
	if len(e.Options) > 0 {
		keys := make([]string, 0, len(e.Options))
		for k := range e.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		f.Options = append([]string(nil), base.Options...)
		for _, k := range keys {
			f.Options = append(f.Options, k+"="+e.Options[k])
		}
	}
	// An entry that sets a load shape replaces the command line's whole shape.
	if e.Rate != nil || e.Ramp != nil || e.Steps != nil || e.Concurrency != nil {
		f.Rate, f.Ramp, f.Steps, f.Concurrency = "", 0, "", 0
		for _, k := range []string{"rate", "ramp", "steps", "concurrency"} {
			delete(f.Set, k)
		}
	}
	if e.Duration != nil || e.Iterations != nil {
		f.Duration, f.Iterations = 0, 0
		delete(f.Set, "duration")
		delete(f.Set, "iterations")
	}
	setStr(&f.Rate, e.Rate, f.Set, "rate")
	setVal(&f.Ramp, e.Ramp, f.Set, "ramp")
	setStr(&f.Steps, e.Steps, f.Set, "steps")
	setVal(&f.Concurrency, e.Concurrency, f.Set, "concurrency")
	setVal(&f.Duration, e.Duration, f.Set, "duration")
	setVal(&f.Iterations, e.Iterations, f.Set, "iterations")
	setVal(&f.MaxInFlight, e.MaxInFlight, f.Set, "max-in-flight")
	setVal(&f.LateAfter, e.LateAfter, f.Set, "late-after")
	setVal(&f.Grace, e.Grace, f.Set, "grace")
	setVal(&f.VerifyWait, e.VerifyWait, f.Set, "verify-wait")
	setVal(&f.Workers, e.Workers, f.Set, "workers")
	if len(e.Faults) > 0 {
		f.Faults = append(append([]string(nil), base.Faults...), e.Faults...)
	}
	setVal(&f.FaultEvery, e.FaultEvery, f.Set, "fault-every")
	if len(e.FaultKinds) > 0 {
		f.FaultKinds, f.Set["fault-kinds"] = e.FaultKinds, true
	}
	setVal(&f.FaultFor, e.FaultFor, f.Set, "fault-for")
	setStr(&f.FaultOrder, e.FaultOrder, f.Set, "fault-order")
	setVal(&f.FaultSeed, e.FaultSeed, f.Set, "fault-seed")
	if len(e.Thresholds) > 0 {
		f.Thresholds = append(append([]string(nil), base.Thresholds...), e.Thresholds...)
	}
	return f
}

func setStr(dst *string, v *string, set map[string]bool, name string) {
	if v != nil {
		*dst, set[name] = *v, true
	}
}

func setVal[T any](dst *T, v *T, set map[string]bool, name string) {
	if v != nil {
		*dst, set[name] = *v, true
	}
}

// checkKeys reports keys of a mapping node that are not in known.
func checkKeys(n *yaml.Node, known []string, bad func(*yaml.Node, string)) {
	if n.Kind != yaml.MappingNode {
		bad(n, "want a mapping (key: value lines)")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ok := false
		for _, name := range known {
			ok = ok || k.Value == name
		}
		if !ok {
			bad(k, fmt.Sprintf("unknown key %q (known: %s)", k.Value, strings.Join(known, ", ")))
		}
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// yamlErr renders the parser's messages ("yaml: line 3: ...") as
// FILE:3: ..., one per problem.
func yamlErr(path string, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	var out []string
	for _, m := range strings.Split(msg, "\n  ") {
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if n, tail, ok := strings.Cut(rest, ":"); ok {
				if _, err := strconv.Atoi(n); err == nil {
					out = append(out, path+":"+n+":"+tail)
					continue
				}
			}
		}
		out = append(out, path+": "+m)
	}
	return strings.Join(out, "; ")
}
