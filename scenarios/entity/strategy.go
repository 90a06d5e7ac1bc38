package entity

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Strategy kinds: when an entity continues as new.
const (
	KindEvents    = "events"    // after N processed events (transactions)
	KindSuggested = "suggested" // when the server suggests it
	KindHybrid    = "hybrid"    // events, suggestion or elapsed time, whichever first
	KindAge       = "age"       // after the run has lived MaxAge (a timer: also while idle)
	KindNever     = "never"     // never: the server terminates the run at its history limit
)

// CAN reasons recorded in the state.
const (
	ReasonEvents    = "events"
	ReasonSuggested = "suggested"
	ReasonAge       = "age"
)

// Strategy decides when an entity run continues as new.
type Strategy struct {
	Kind   string        `json:"kind"`
	Events int           `json:"events,omitempty"`  // events and hybrid
	MaxAge time.Duration `json:"max_age,omitempty"` // hybrid and age: run age
}

// ParseStrategy parses the `can` option: events:N, age:DURATION,
// suggested, hybrid or never. hybridEvents and maxAge are hybrid's thresholds.
func ParseStrategy(s string, hybridEvents int, maxAge time.Duration) (Strategy, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, KindEvents+":"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, KindEvents+":"))
		if err != nil || n < 1 {
			return Strategy{}, fmt.Errorf("can=%s: want events:N with N a whole number of 1 or more", s)
		}
		return Strategy{Kind: KindEvents, Events: n}, nil
	case strings.HasPrefix(s, KindAge+":"):
		d, err := time.ParseDuration(strings.TrimPrefix(s, KindAge+":"))
		if err != nil || d < time.Second {
			return Strategy{}, fmt.Errorf("can=%s: want age:DURATION with a duration of 1s or more, e.g. age:30s", s)
		}
		return Strategy{Kind: KindAge, MaxAge: d}, nil
	case s == KindSuggested || s == KindNever:
		return Strategy{Kind: s}, nil
	case s == KindHybrid:
		if hybridEvents < 1 || maxAge <= 0 {
			return Strategy{}, fmt.Errorf("can=hybrid needs hybrid-events >= 1 and max-age > 0")
		}
		return Strategy{Kind: KindHybrid, Events: hybridEvents, MaxAge: maxAge}, nil
	default:
		return Strategy{}, fmt.Errorf("can=%q: want events:N, age:DURATION, suggested, hybrid or never", s)
	}
}

// String renders the strategy for reports.
func (s Strategy) String() string {
	switch s.Kind {
	case KindEvents:
		return fmt.Sprintf("events:%d", s.Events)
	case KindAge:
		return fmt.Sprintf("age:%s", s.MaxAge)
	case KindHybrid:
		return fmt.Sprintf("hybrid (events %d, suggestion, age %s)", s.Events, s.MaxAge)
	default:
		return s.Kind
	}
}

// decide returns why the run should continue as new now ("" if it should
// not): processed transactions in this run, the server's suggestion and the
// run's age.
func (s Strategy) decide(processed int, suggested bool, age time.Duration) string {
	switch s.Kind {
	case KindEvents:
		if processed >= s.Events {
			return ReasonEvents
		}
	case KindSuggested:
		if suggested {
			return ReasonSuggested
		}
	case KindAge:
		if age >= s.MaxAge {
			return ReasonAge
		}
	case KindHybrid:
		switch {
		case processed >= s.Events:
			return ReasonEvents
		case suggested:
			return ReasonSuggested
		case age >= s.MaxAge:
			return ReasonAge
		}
	}
	return ""
}

// timed says whether the strategy keeps an age timer (so an idle run
// continues as new too).
func (s Strategy) timed() bool { return s.Kind == KindHybrid || s.Kind == KindAge }
