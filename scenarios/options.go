package scenarios

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind is an option's type.
type Kind string

const (
	Int      Kind = "int"
	Float    Kind = "float"
	Duration Kind = "duration"
	String   Kind = "string"
	Bool     Kind = "bool"
	Enum     Kind = "enum"
)

// Option is one typed, validated scenario option (--option key=value).
type Option struct {
	Name    string
	Kind    Kind
	Default string
	Help    string
	Choices []string // for Enum
	Min     *float64 // inclusive lower bound for Int, Float, Duration (seconds)
}

// MinOf is a helper for Option.Min.
func MinOf(v float64) *float64 { return &v }

func (o Option) check() error {
	if o.Name == "" {
		return errors.New("empty name")
	}
	if _, err := o.parse(o.Default); err != nil {
		return fmt.Errorf("default of %s: %w", o.Name, err)
	}
	return nil
}

func (o Option) parse(s string) (any, error) {
	s = strings.TrimSpace(s)
	var v any
	var num float64
	switch o.Kind {
	case Int:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		v, num = i, float64(i)
	case Float:
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		if strings.HasSuffix(s, "%") {
			f /= 100
		}
		v, num = f, f
	case Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration (e.g. 500ms, 10s, 1m)", s)
		}
		v, num = d, d.Seconds()
	case Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", s)
		}
		return b, nil
	case Enum:
		if !slices.Contains(o.Choices, s) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(o.Choices, ", "))
		}
		return s, nil
	case String:
		return s, nil
	default:
		return nil, fmt.Errorf("unknown option kind %q", o.Kind)
	}
	if o.Min != nil && num < *o.Min {
		return nil, fmt.Errorf("%s is below the minimum %g", s, *o.Min)
	}
	return v, nil
}

// Values are parsed options, every declared option present (defaults filled in).
type Values map[string]any

// Int returns an Int option. Asking for an undeclared option is a programming error.
func (v Values) Int(name string) int64 { return v.must(name).(int64) }

// Float returns a Float option.
func (v Values) Float(name string) float64 { return v.must(name).(float64) }

// Duration returns a Duration option.
func (v Values) Duration(name string) time.Duration { return v.must(name).(time.Duration) }

// String returns a String or Enum option.
func (v Values) String(name string) string { return v.must(name).(string) }

// Bool returns a Bool option.
func (v Values) Bool(name string) bool { return v.must(name).(bool) }

func (v Values) must(name string) any {
	x, ok := v[name]
	if !ok {
		panic("scenarios: undeclared option " + name)
	}
	return x
}

// Display renders the values for reports (durations as strings).
func (v Values) Display() map[string]string {
	out := map[string]string{}
	for k, x := range v {
		out[k] = fmt.Sprint(x)
	}
	return out
}

// ParseOptions validates raw key=value options against s's declarations.
// Every problem is reported at once; unknown keys name the known ones.
func (s *Scenario) ParseOptions(raw map[string]string) (Values, error) {
	vals := Values{}
	known := map[string]Option{}
	for _, o := range s.Options {
		known[o.Name] = o
		d, _ := o.parse(o.Default)
		vals[o.Name] = d
	}
	var problems []string
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o, ok := known[k]
		if !ok {
			problems = append(problems, fmt.Sprintf("unknown option %q for scenario %s (known: %s)", k, s.Name, s.optionNames()))
			continue
		}
		x, err := o.parse(raw[k])
		if err != nil {
			problems = append(problems, fmt.Sprintf("option %s: %v", k, err))
			continue
		}
		vals[k] = x
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return vals, nil
}

func (s *Scenario) optionNames() string {
	if len(s.Options) == 0 {
		return "none"
	}
	var n []string
	for _, o := range s.Options {
		n = append(n, o.Name)
	}
	return strings.Join(n, ", ")
}
